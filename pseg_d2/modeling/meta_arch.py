"""P-Seg: a MaskFormer supervised by pseudo-masks and captions, queried with any vocabulary."""
import math
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList
from detectron2.utils.events import get_event_storage
from torch import nn

from .background import border_mean, distinctness
from .combine import INFERENCE_RULES, combine_masks
from .contrastive import ContrastiveLoss
from .criterion import MaskCriterion
from .mask_features import MaskFeatureHead
from .matcher import HungarianMatcher
from .pamr import PAMR
from .pixel_decoder import build_pixel_decoder
from .prompts import class_embeddings, get_templates
from .pseudo_mask import build_pseudo_mask_generator
from .regions import build_region_generator, vote
from .sliding_window import sliding_window_scores
from .speed import apply_speed_switches
from .text_encoder import build_text_encoder
from .transformer_decoder import TransformerMaskDecoder

BACKGROUND_RULES = ("prompt", "threshold", "border")


@META_ARCH_REGISTRY.register()
class PSeg(nn.Module):
    """MaskFormer without a classifier: N masks and N mask features, classified by text embeddings.

    Training input: ``list[dict]`` with ``image`` [3, H, W] (uint8, cfg.INPUT.FORMAT) and ``text``
    [L] caption token ids. Returns ``{"loss_dice", "loss_focal", "loss_contrastive"}``, weighted, and
    ``loss_segment_contrastive`` when its weight is not 0.

    Inference input: ``list[dict]`` with ``image`` and optionally ``height``, ``width`` and
    ``vocabulary`` (list of C class names; falls back to ``self.vocabulary``). Returns
    ``[{"sem_seg": [C, height, width]}]``, as Detectron2's ``SemSegEvaluator`` reads it.
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
        transformer_in_feature: str,
        mask_weight: float,
        contrastive_weight: float,
        segment_contrastive_weight: float,
        deep_supervision: bool,
        logit_scale_init: float,
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        input_format: str,
        inference_combine: str,
        background_rule: str,
        background_threshold: float,
        background_class_name: str,
        prompt_templates: Sequence[str],
        sliding_window: int = 0,
        sliding_stride: int = 224,
        pamr: Optional[PAMR] = None,
        region_generator: Optional[nn.Module] = None,
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
            transformer_in_feature: backbone feature the queries cross-attend to.
            mask_weight, contrastive_weight: lambda_mask and lambda_contrastive.
            segment_contrastive_weight: weight of the contrastive loss whose image side is the
                best-matching pseudo-mask segment (see :meth:`segment_embeddings`; 0: off, the paper).
            deep_supervision: supervise the masks of every decoder layer.
            logit_scale_init: initial inverse temperature of the learnable ``logit_scale``.
            pixel_mean, pixel_std: input normalisation, in the input's channel order.
            input_format: ``RGB`` or ``BGR``, the channel order of input images.
            inference_combine: rule of :func:`combine_masks`, ``pixel`` or ``hybrid`` (see :meth:`predict_scores`).
            background_rule: ``prompt``, ``threshold`` or ``border`` (see ``add_pseg_config``).
            background_threshold: background score under the ``threshold`` and ``border`` rules.
            background_class_name: the vocabulary entry treated as background.
            prompt_templates: format strings ensembled into each class embedding.
            sliding_window, sliding_stride: infer on square windows of this side, this far apart,
                averaging overlapping scores (0: the whole image at once).
            pamr: refines each image's class scores with its colours before they are returned (None: off).
            region_generator: cuts images into regions that are named as a whole (None: off; see
                :mod:`pseg_d2.modeling.regions`).
            channels_last, compile_backbone, activation_checkpointing: speed switches, see
                :func:`apply_speed_switches`.
        """
        super().__init__()
        if segment_contrastive_weight and mask_feature_head.source != "mask_pooled":
            raise ValueError("MODEL.PSEG.SEGMENT_CONTRASTIVE_WEIGHT needs MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'")
        if background_rule not in BACKGROUND_RULES:
            raise ValueError(f"MODEL.PSEG.BACKGROUND_RULE must be one of {BACKGROUND_RULES}, got {background_rule!r}")
        if inference_combine not in INFERENCE_RULES:
            raise ValueError(f"MODEL.PSEG.INFERENCE_COMBINE must be one of {INFERENCE_RULES}, got {inference_combine!r}")
        if inference_combine in ("pixel", "hybrid") and mask_feature_head.source != "mask_pooled":
            raise ValueError(
                f"MODEL.PSEG.INFERENCE_COMBINE {inference_combine!r} needs MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'"
            )
        self.backbone = backbone
        self.pixel_decoder = pixel_decoder
        self.mask_decoder = mask_decoder
        self.mask_feature_head = mask_feature_head
        self.text_encoder = text_encoder
        self.pseudo_mask_generator = pseudo_mask_generator.requires_grad_(False)
        self.criterion = criterion
        self.contrastive_loss = ContrastiveLoss()
        self.transformer_in_feature = transformer_in_feature
        self.mask_weight = mask_weight
        self.contrastive_weight = contrastive_weight
        self.segment_contrastive_weight = segment_contrastive_weight
        self.deep_supervision = deep_supervision
        self.logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale_init)))
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.input_format = input_format
        self.size_divisibility = max(backbone.size_divisibility, 32)
        self.inference_combine = inference_combine
        self.background_rule = background_rule
        self.background_threshold = background_threshold
        self.background_class_name = background_class_name
        self.prompt_templates = list(prompt_templates)
        if sliding_window and (sliding_window % self.size_divisibility or not 0 < sliding_stride <= sliding_window):
            raise ValueError(
                f"MODEL.PSEG.SLIDING_WINDOW={sliding_window} must be a multiple of {self.size_divisibility} "
                f"and 0 < SLIDING_STRIDE={sliding_stride} <= it"
            )
        if sliding_window and background_rule == "border":
            raise ValueError(
                "MODEL.PSEG.BACKGROUND_RULE 'border' compares pixels with the image's border, which sliding "
                "windows do not see: set MODEL.PSEG.SLIDING_WINDOW 0 or choose another rule"
            )
        self.sliding_window, self.sliding_stride = sliding_window, sliding_stride
        self.pamr = pamr
        if region_generator is not None and mask_feature_head.source != "mask_pooled":
            raise ValueError("MODEL.PSEG.REGION_VOTING needs MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'")
        self.region_generator = region_generator
        # Vocabulary used when an input names none (set by users, e.g. PSegPredictor).
        self.vocabulary: Optional[List[str]] = None
        self._class_embedding_cache: Dict[Tuple[str, ...], torch.Tensor] = {}
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
            "mask_feature_head": MaskFeatureHead(p.MASK_FEATURE_SOURCE, p.HIDDEN_DIM, p.MASK_DIM, p.EMBED_DIM, p.MASK_POOLING),
            "text_encoder": build_text_encoder(cfg),
            "pseudo_mask_generator": build_pseudo_mask_generator(cfg),
            "criterion": MaskCriterion(HungarianMatcher(p.DICE_WEIGHT, p.FOCAL_WEIGHT), p.DICE_WEIGHT, p.FOCAL_WEIGHT),
            "transformer_in_feature": p.TRANSFORMER_IN_FEATURE,
            "mask_weight": p.MASK_WEIGHT,
            "contrastive_weight": p.CONTRASTIVE_WEIGHT,
            "segment_contrastive_weight": p.SEGMENT_CONTRASTIVE_WEIGHT,
            "deep_supervision": p.DEEP_SUPERVISION,
            "logit_scale_init": p.LOGIT_SCALE_INIT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "input_format": cfg.INPUT.FORMAT,
            "inference_combine": p.INFERENCE_COMBINE,
            "background_rule": p.BACKGROUND_RULE,
            "background_threshold": p.BACKGROUND_THRESHOLD,
            "background_class_name": p.BACKGROUND_CLASS_NAME,
            "prompt_templates": get_templates(p.PROMPT_TEMPLATES),
            "sliding_window": p.SLIDING_WINDOW,
            "sliding_stride": p.SLIDING_STRIDE,
            "pamr": PAMR(p.PAMR.ITERS, p.PAMR.DILATIONS) if p.PAMR.ENABLED else None,
            "region_generator": build_region_generator(cfg) if p.REGION_VOTING.ENABLED else None,
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
    def _preprocess(self, batched_inputs: List[dict]) -> Tuple[ImageList, torch.Tensor]:
        """-> normalised padded images, and the raw padded images [B, 3, H, W] as RGB 0-255 floats."""
        raw = [x["image"].to(self.device, non_blocking=True).float() for x in batched_inputs]
        normalised = ImageList.from_tensors([(x - self.pixel_mean) / self.pixel_std for x in raw], self.size_divisibility)
        raw = ImageList.from_tensors(raw, self.size_divisibility).tensor
        if self.input_format == "BGR":
            raw = raw.flip(1)
        return normalised, raw

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
        return self.inference(batched_inputs)

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

    def segment_embeddings(self, pixel_features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-pixel features [B, MASK_DIM, h, w], pseudo-masks [B, K, h, w] -> [B, K, E] normalised:
        each pseudo-mask segment's pooled pixel embeddings, as a mask feature.

        An empty segment takes the embedding of its image's largest one, which leaves the best
        segment of every image-text pair, all :class:`ContrastiveLoss` reads, unchanged.
        """
        segments = F.normalize(self.mask_feature_head.pool(targets, pixel_features), dim=-1)
        areas = targets.flatten(2).sum(-1)  # [B, K]
        fallback = segments[torch.arange(len(segments), device=segments.device), areas.argmax(1)]
        return torch.where(areas[..., None] > 0, segments, fallback[:, None])

    def losses(self, batched_inputs: List[dict], grad_cache: Optional[Callable] = None) -> Dict[str, torch.Tensor]:
        """The weighted losses of a batch; ``grad_cache`` (see :mod:`pseg_d2.engine.grad_cache`) takes
        over after the forward, as ``grad_cache(self, raw, layer_masks, image_emb, text_emb)``."""
        if any("text" not in x for x in batched_inputs):
            raise KeyError("P-Seg training inputs need a 'text' entry (caption token ids); use ImageTextDatasetMapper.")
        images, raw = self._preprocess(batched_inputs)
        tokens = torch.stack([x["text"] for x in batched_inputs]).to(self.device)
        pixel_features, mask_feats, layer_masks = self._decode(images.tensor, all_layers=self.deep_supervision)
        image_emb = F.normalize(mask_feats.mean(1), dim=-1)
        text_emb = self.text_encoder(tokens)
        if grad_cache is not None:
            if self.segment_contrastive_weight:
                raise ValueError("MODEL.PSEG.SEGMENT_CONTRASTIVE_WEIGHT is not supported with contrastive micro-batches")
            return grad_cache(self, raw, layer_masks, image_emb, text_emb)
        targets, valid = self.pseudo_mask_targets(raw, layer_masks[-1].shape[-2:])
        losses = self.mask_losses(layer_masks, targets, valid)
        logit_scale = self.scale()
        losses["loss_contrastive"] = self.contrastive_weight * self.contrastive_loss(image_emb, text_emb, logit_scale)
        if self.segment_contrastive_weight:
            segment_emb = self.segment_embeddings(pixel_features, targets)
            losses["loss_segment_contrastive"] = self.segment_contrastive_weight * self.contrastive_loss(
                segment_emb, text_emb, logit_scale
            )
        storage = get_event_storage()
        storage.put_scalar("contrastive_pairs", self.contrastive_loss.num_pairs, smoothing_hint=False)
        storage.put_scalar("logit_scale", logit_scale.item(), smoothing_hint=False)
        return losses

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def encode_vocabulary(self, vocabulary: Sequence[str]) -> torch.Tensor:
        """C class names -> [C, E] prompt-ensembled, normalised class embeddings, cached per vocabulary."""
        key = tuple(vocabulary)
        if key not in self._class_embedding_cache:
            encode = lambda texts: self.text_encoder(self.text_encoder.tokenize(texts).to(self.device))  # noqa: E731
            self._class_embedding_cache[key] = class_embeddings(vocabulary, self.prompt_templates, encode)
        return self._class_embedding_cache[key]

    def predict_scores(self, images: torch.Tensor, vocabulary: Sequence[str],
                       image_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> torch.Tensor:
        """Normalised images [B, 3, H, W] -> class scores [B, C, H, W].

        Mask rules classify the N mask features and combine them by their masks (:func:`combine_masks`);
        ``pixel`` classifies every pixel's own embedding (:meth:`MaskFeatureHead.dense`, at 1/4 scale);
        ``hybrid`` keeps the ``query_softmax`` score of the best class (so the masks decide background)
        but ranks the classes by the pixel's own embedding. Under the ``threshold`` background rule the
        background channel is the constant threshold; under ``border`` too, and the best class scores
        how unlike the image's border the pixel looks: the cosine distance (:func:`distinctness`) of each
        mask's feature from the mean feature of the border ring (:func:`border_mean`), averaged over the
        pixel's masks as the rule weights them (``pixel``: of the pixel's own embedding). The ring leaves
        out padding when ``image_sizes``, the images' own sizes, are given. With region voting, each
        region of the image then takes the class ranking of its pooled pixel embeddings and its mean
        best score (:mod:`pseg_d2.modeling.regions`).
        """
        text_emb = self.encode_vocabulary(vocabulary)
        classes = list(range(len(vocabulary)))
        use_constant = self.background_rule in ("threshold", "border") and self.background_class_name in vocabulary
        if use_constant:
            classes.remove(list(vocabulary).index(self.background_class_name))
        use_border = use_constant and self.background_rule == "border"
        classify = lambda feats: (self.scale() * F.normalize(feats, dim=-1) @ text_emb[classes].t()).softmax(-1)  # noqa: E731
        size = images.shape[-2:]
        upsample = partial(F.interpolate, size=size, mode="bilinear", align_corners=False)

        rule = self.inference_combine
        if rule == "pixel":  # no masks: the transformer decoder is not run
            pixel_features = self._pixel_features(images)[1]
            dense = self.mask_feature_head.dense(pixel_features)  # [B, h, w, E]
            class_scores = upsample(classify(dense).permute(0, 3, 1, 2))
            if use_border:
                reference = border_mean(dense.permute(0, 3, 1, 2), image_sizes, tuple(size))  # [B, E]
                distinct = upsample(distinctness(dense, reference[:, None, None], dim=-1)[:, None])  # [B, 1, H, W]
        else:
            pixel_features, mask_feats, (masks,) = self._decode(images)
            combine = "query_softmax" if rule == "hybrid" else rule
            full_masks = upsample(masks)
            class_scores = combine_masks(classify(mask_feats), full_masks, combine)
            if rule == "hybrid" and self.region_generator is None:  # region voting ranks the classes itself
                dense = self.mask_feature_head.dense(pixel_features)
                per_pixel = upsample(classify(dense).permute(0, 3, 1, 2))
                class_scores = class_scores.amax(1, keepdim=True) * per_pixel / per_pixel.amax(1, keepdim=True)
            if use_border:  # masks are background or not as a whole
                mixed = combine_masks(F.normalize(mask_feats, dim=-1), masks, combine)  # [B, E, h, w]
                per_mask = distinctness(mask_feats, border_mean(mixed, image_sizes, tuple(size))[:, None], dim=-1)
                weights = combine_masks(torch.ones_like(mask_feats[..., :1]), full_masks, combine).clamp(min=1e-6)
                distinct = combine_masks(per_mask[..., None], full_masks, combine) / weights  # [B, 1, H, W]
        if use_border:
            class_scores = distinct * class_scores / class_scores.amax(1, keepdim=True)
        if self.region_generator is not None:
            regions = self.region_generator.one_hot(self._raw(images), size)  # [B, R, H, W]
            # a tent filter: pooling the bilinearly upsampled pixel embeddings over each region, without upsampling them
            weights = F.interpolate(regions, size=pixel_features.shape[-2:], mode="bilinear", antialias=True)
            region_feats = self.mask_feature_head.pool(weights, pixel_features, damping=0.0)  # [B, R, E]
            class_scores = vote(class_scores, regions, classify(region_feats))
        if not use_constant:
            return class_scores
        scores = class_scores.new_full((images.shape[0], len(vocabulary), *size), self.background_threshold)
        scores[:, classes] = class_scores
        return scores

    @torch.no_grad()
    def inference(self, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        vocabulary = batched_inputs[0].get("vocabulary", self.vocabulary)
        if vocabulary is None:
            raise ValueError("No vocabulary: give inputs a 'vocabulary' list of class names or set model.vocabulary.")
        images, _ = self._preprocess(batched_inputs)
        predict = partial(self.predict_scores, vocabulary=vocabulary)
        if self.sliding_window:
            scores = [
                sliding_window_scores(predict, image[:, :h, :w], self.sliding_window, self.sliding_stride)
                for image, (h, w) in zip(images.tensor, images.image_sizes)
            ]
        else:
            scores = predict(images.tensor, image_sizes=images.image_sizes)
        results = []
        for score, x, size in zip(scores, batched_inputs, images.image_sizes):
            height, width = x.get("height", size[0]), x.get("width", size[1])
            if self.pamr is not None:  # at the network's input size, with the input image's colours
                score = self.pamr(x["image"][None].to(score), score[None, :, : size[0], : size[1]])[0]
            results.append({"sem_seg": sem_seg_postprocess(score, size, height, width)})
        return results
