"""P-Seg: a MaskFormer supervised by pseudo-masks and captions, queried with any vocabulary."""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import ImageList
from detectron2.utils.events import get_event_storage
from torch import nn

from ..inference import NetworkOutputs, SemanticInference, build_semantic_inference, class_embeddings
from .contrastive import ContrastiveLoss
from .criterion import MaskCriterion
from .mask_features import MaskFeatureHead
from .matcher import HungarianMatcher
from .pixel_decoder import build_pixel_decoder
from .pseudo_mask import build_pseudo_mask_generator
from .speed import apply_speed_switches
from .text_encoder import build_text_encoder
from .transformer_decoder import TransformerMaskDecoder


@META_ARCH_REGISTRY.register()
class PSeg(nn.Module):
    """MaskFormer without a classifier: N masks and N mask features, classified by text embeddings.

    Training input: ``list[dict]`` with ``image`` [3, H, W] (uint8, cfg.INPUT.FORMAT) and ``text``
    [L] caption token ids. Returns ``{"loss_dice", "loss_focal", "loss_contrastive"}``, weighted.

    Inference input: ``list[dict]`` with ``image`` and optionally ``height``, ``width`` and
    ``vocabulary`` (list of C class names). The network's outputs go to ``self.semantic_inference``
    (:class:`~pseg_d2.inference.SemanticInference`, built from ``MODEL.PSEG.TEST``), which returns
    ``[{"sem_seg": [C, height, width]}]``, as Detectron2's ``SemSegEvaluator`` reads it. Assign another
    pipeline to change the rules, or call ``pipeline(model, inputs)`` to run one without changing the model.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        pixel_decoder: nn.Module,
        mask_decoder: TransformerMaskDecoder,
        mask_feature_head: MaskFeatureHead,
        text_encoder: nn.Module,
        pseudo_mask_generator: nn.Module,
        criterion: MaskCriterion,
        semantic_inference: SemanticInference,
        transformer_in_feature: str,
        mask_weight: float,
        contrastive_weight: float,
        deep_supervision: bool,
        logit_scale_init: float,
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        input_format: str,
        channels_last: bool = False,
        compile_backbone: bool = False,
        activation_checkpointing: bool = False,
    ):
        """
        Args:
            backbone: image features, a dict of named maps.
            pixel_decoder: backbone features -> per-pixel mask features [B, MASK_DIM, H/4, W/4].
            mask_decoder: N queries -> per-layer (query features, mask logits).
            mask_feature_head: decoder outputs -> N mask features in the joint space.
            text_encoder: token ids -> normalised text embeddings; also ``tokenize(list[str])``.
            pseudo_mask_generator: frozen; raw RGB images -> cluster label maps [B, h, w].
            criterion: matched dice + focal loss against the pseudo-masks.
            semantic_inference: the inference rules the eval forward runs.
            transformer_in_feature: backbone feature the queries cross-attend to.
            mask_weight, contrastive_weight: lambda_mask and lambda_contrastive.
            deep_supervision: supervise the masks of every decoder layer.
            logit_scale_init: initial inverse temperature of the learnable ``logit_scale``.
            pixel_mean, pixel_std: input normalisation, in the input's channel order.
            input_format: ``RGB`` or ``BGR``, the channel order of input images.
            channels_last, compile_backbone, activation_checkpointing: speed switches, see
                :func:`apply_speed_switches`.
        """
        super().__init__()
        self.backbone = backbone
        self.pixel_decoder = pixel_decoder
        self.mask_decoder = mask_decoder
        self.mask_feature_head = mask_feature_head
        self.text_encoder = text_encoder
        self.pseudo_mask_generator = pseudo_mask_generator.requires_grad_(False)
        self.criterion = criterion
        self.contrastive_loss = ContrastiveLoss()
        self.semantic_inference = semantic_inference
        self.transformer_in_feature = transformer_in_feature
        self.mask_weight = mask_weight
        self.contrastive_weight = contrastive_weight
        self.deep_supervision = deep_supervision
        self.logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale_init)))
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.input_format = input_format
        self.size_divisibility = max(backbone.size_divisibility, 32)
        self._class_embedding_cache: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], torch.Tensor] = {}
        self.register_load_state_dict_post_hook(lambda module, keys: module._class_embedding_cache.clear())
        self.channels_last = channels_last
        apply_speed_switches(self, channels_last, compile_backbone, activation_checkpointing)

    @classmethod
    def from_config(cls, cfg):
        p = cfg.MODEL.PSEG
        if cfg.INPUT.FORMAT not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT must be RGB or BGR for P-Seg, got {cfg.INPUT.FORMAT!r}")
        backbone = build_backbone(cfg)
        in_channels = backbone.output_shape()[p.TRANSFORMER_IN_FEATURE].channels
        return {
            "backbone": backbone,
            "pixel_decoder": build_pixel_decoder(cfg, backbone.output_shape()),
            "mask_decoder": TransformerMaskDecoder(
                in_channels, p.HIDDEN_DIM, p.MASK_DIM, p.NUM_QUERIES, p.DEC_LAYERS, p.NHEADS, p.DIM_FEEDFORWARD, p.DROPOUT
            ),
            "mask_feature_head": MaskFeatureHead(p.MASK_FEATURE_SOURCE, p.HIDDEN_DIM, p.MASK_DIM, p.EMBED_DIM),
            "text_encoder": build_text_encoder(cfg),
            "pseudo_mask_generator": build_pseudo_mask_generator(cfg),
            "criterion": MaskCriterion(HungarianMatcher(p.DICE_WEIGHT, p.FOCAL_WEIGHT), p.DICE_WEIGHT, p.FOCAL_WEIGHT),
            "semantic_inference": build_semantic_inference(cfg),
            "transformer_in_feature": p.TRANSFORMER_IN_FEATURE,
            "mask_weight": p.MASK_WEIGHT,
            "contrastive_weight": p.CONTRASTIVE_WEIGHT,
            "deep_supervision": p.DEEP_SUPERVISION,
            "logit_scale_init": p.LOGIT_SCALE_INIT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "input_format": cfg.INPUT.FORMAT,
            "channels_last": p.CHANNELS_LAST,
            "compile_backbone": p.COMPILE,
            "activation_checkpointing": p.ACTIVATION_CHECKPOINTING,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def scale(self) -> torch.Tensor:
        """The inverse temperature ``exp(logit_scale)``, capped at 100 as CLIP does."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp()

    def train(self, mode: bool = True):
        """Switching modes drops cached class embeddings: the text encoder may change in training."""
        self._class_embedding_cache.clear()
        return super().train(mode)

    # ------------------------------------------------------------------ shared forward
    def preprocess(self, batched_inputs: List[dict]) -> ImageList:
        """-> normalised images, padded to ``size_divisibility``."""
        return self._normalised(self._images(batched_inputs))

    def _preprocess(self, batched_inputs: List[dict]) -> Tuple[ImageList, torch.Tensor]:
        """-> normalised padded images, and the raw padded images [B, 3, H, W] as RGB 0-255 floats."""
        images = self._images(batched_inputs)
        raw = ImageList.from_tensors(images, self.size_divisibility).tensor
        return self._normalised(images), raw.flip(1) if self.input_format == "BGR" else raw

    def _images(self, batched_inputs: List[dict]) -> List[torch.Tensor]:
        return [x["image"].to(self.device, non_blocking=True).float() for x in batched_inputs]

    def _normalised(self, images: List[torch.Tensor]) -> ImageList:
        return ImageList.from_tensors([(x - self.pixel_mean) / self.pixel_std for x in images], self.size_divisibility)

    def _raw(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, H, W] -> RGB 0-255 floats (padding takes the mean colour)."""
        raw = images * self.pixel_std + self.pixel_mean
        return raw.flip(1) if self.input_format == "BGR" else raw

    def predict_masks(self, images: torch.Tensor, all_layers: bool = False):
        """Normalised images [B, 3, H, W] -> the last decoder layer's mask features [B, N, E] (in the
        joint space, not normalised), and the mask logits [B, N, H/4, W/4] of each decoder layer
        (``all_layers``) or of the last one, last in the list."""
        return self._decode(images, all_layers)[1:]

    def _pixel_features(self, images: torch.Tensor):
        """-> backbone features (dict of maps), per-pixel features [B, MASK_DIM, H/4, W/4]."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.backbone(images)
        return features, self.pixel_decoder(features)

    def _decode(self, images: torch.Tensor, all_layers: bool = False):
        """-> per-pixel features [B, MASK_DIM, H/4, W/4], and :meth:`predict_masks`' outputs.

        Only the last layer's masks get features: earlier layers' masks are supervised, never classified.
        """
        features, pixel_features = self._pixel_features(images)
        outputs = self.mask_decoder(features[self.transformer_in_feature], pixel_features, all_layers=all_layers)
        queries, masks = outputs[-1]
        return pixel_features, self.mask_feature_head(queries, masks, pixel_features), [m for _, m in outputs]

    def forward(self, batched_inputs: List[dict], grad_cache: Optional[Callable] = None):
        if self.training:
            return self.losses(batched_inputs, grad_cache)
        return self.semantic_inference(self, batched_inputs)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def pseudo_mask_targets(self, raw_images: torch.Tensor, size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw RGB images [B, 3, H, W] -> binary pseudo-masks [B, K, h, w] at ``size``, and [B, K] non-empty."""
        targets = self.pseudo_mask_generator.one_hot(raw_images, size)
        return targets, targets.flatten(2).sum(-1) > 0

    def mask_losses(self, layer_masks, targets, valid, num_masks=None) -> Dict[str, torch.Tensor]:
        """Mask logits per decoder layer (list of [B, N, h, w]), pseudo-masks [B, K, h, w], valid [B, K]
        -> weighted mask losses."""
        losses = self.criterion(layer_masks, targets, valid, num_masks)
        return {name: self.mask_weight * value for name, value in losses.items()}

    def losses(self, batched_inputs: List[dict], grad_cache: Optional[Callable] = None) -> Dict[str, torch.Tensor]:
        """The weighted losses of a batch; ``grad_cache`` (see :mod:`pseg_d2.engine.grad_cache`) takes
        over after the forward, as ``grad_cache(self, raw, layer_masks, image_emb, text_emb)``."""
        if any("text" not in x for x in batched_inputs):
            raise KeyError("P-Seg training inputs need a 'text' entry (caption token ids); use ImageTextDatasetMapper.")
        images, raw = self._preprocess(batched_inputs)
        tokens = torch.stack([x["text"] for x in batched_inputs]).to(self.device)
        _, mask_feats, layer_masks = self._decode(images.tensor, all_layers=self.deep_supervision)
        image_emb = F.normalize(mask_feats.mean(1), dim=-1)
        text_emb = self.text_encoder(tokens)
        if grad_cache is not None:
            return grad_cache(self, raw, layer_masks, image_emb, text_emb)
        targets, valid = self.pseudo_mask_targets(raw, layer_masks[-1].shape[-2:])
        losses = self.mask_losses(layer_masks, targets, valid)
        logit_scale = self.scale()
        losses["loss_contrastive"] = self.contrastive_weight * self.contrastive_loss(image_emb, text_emb, logit_scale)
        storage = get_event_storage()
        storage.put_scalar("contrastive_pairs", self.contrastive_loss.num_pairs, smoothing_hint=False)
        storage.put_scalar("logit_scale", logit_scale.item(), smoothing_hint=False)
        return losses

    # ------------------------------------------------------------------ inference
    def network_outputs(self, images: torch.Tensor) -> NetworkOutputs:
        """Normalised padded images [B, 3, H, W] -> what inference reads (:class:`NetworkOutputs`)."""
        pixel_features, mask_features, (masks,) = self._decode(images)
        pool = lambda weights: self.mask_feature_head.pool(weights, pixel_features, damping=0.0)  # noqa: E731
        return NetworkOutputs(masks, mask_features, pixel_features, self._raw(images), pool)

    @torch.no_grad()
    def encode_vocabulary(self, vocabulary: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
        """C class names -> [C, E] prompt-ensembled, normalised class embeddings, cached per vocabulary and
        templates (the cache is dropped when the text encoder may change: mode switches, weight loads)."""
        key = (tuple(vocabulary), tuple(templates))
        if key not in self._class_embedding_cache:
            encode = lambda texts: self.text_encoder(self.text_encoder.tokenize(texts).to(self.device))  # noqa: E731
            self._class_embedding_cache[key] = class_embeddings(vocabulary, templates, encode)
        return self._class_embedding_cache[key]
