"""Pseudo-mask generators: a frozen feature extractor followed by batched K-Means.

A generator maps raw images ``[B, 3, H, W]`` (RGB, 0-255 floats) to pseudo-mask label maps ``[B, h, w]``
(values in ``[0, num_masks)``) at its feature resolution; the model resizes them to its mask resolution.
"""
import math

import timm
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.utils.registry import Registry
from torch import nn

from ..weights import load_local_weights
from .components import split_into_regions
from .kmeans import batched_kmeans

PSEUDO_MASK_GENERATOR_REGISTRY = Registry("PSEUDO_MASK_GENERATOR")
PSEUDO_MASK_GENERATOR_REGISTRY.__doc__ = """
Registry for pseudo-mask generators: ``cls(cfg, **overrides)`` (``@configurable``),
``forward(images [B,3,H,W] RGB 0-255) -> [B,h,w]``.
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class KMeansPseudoMaskGenerator(nn.Module):
    """Base: ``features(images) -> [B, D, h, w]``, clustered per image into K pseudo-masks, or split
    further into ``num_masks`` connected regions (:func:`split_into_regions`). Frozen."""

    def __init__(self, *, num_clusters: int, num_iters: int = 30, tol: float = 1e-3, seed: int = 0,
                 split_regions: bool = False, max_masks: int = 16, min_region_area: int = 4,
                 max_regions_per_cluster: int = 0):
        """
        Args:
            num_clusters: K, clusters per image.
            num_iters, tol: at most this many Lloyd iterations; stop once fewer than ``tol`` of the
                points change cluster.
            seed: of the K-Means initialisation (the same image always gets the same masks).
            split_regions: split each cluster into its 8-connected regions, one mask each (region
                voting's generator); regions under ``min_region_area`` feature cells or past the
                ``max_masks`` largest join their cluster's largest region, and a cluster with more than
                ``max_regions_per_cluster`` large regions (a texture) stays whole (0: no limit).
        """
        super().__init__()
        self.num_clusters = num_clusters
        self.num_iters = num_iters
        self.tol = tol
        self.seed = seed
        self.split_regions = split_regions
        self.max_masks = max_masks
        self.min_region_area = min_region_area
        self.max_regions_per_cluster = max_regions_per_cluster

    @classmethod
    def from_config(cls, cfg) -> dict:
        pm = cfg.MODEL.PSEUDO_MASK
        return {"num_clusters": pm.NUM_CLUSTERS, "num_iters": pm.KMEANS_ITERS, "tol": pm.KMEANS_TOL, "seed": pm.SEED}

    @property
    def num_masks(self) -> int:
        """Pseudo-masks per image: the label maps' values lie in ``[0, num_masks)``."""
        return self.max_masks if self.split_regions else self.num_clusters

    def features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feats = self.features(images).float()
        b, d, h, w = feats.shape
        generator = torch.Generator(device=feats.device).manual_seed(self.seed)
        labels = batched_kmeans(
            feats.flatten(2).transpose(1, 2), self.num_clusters, self.num_iters, self.tol, generator
        ).view(b, h, w)
        if not self.split_regions:
            return labels
        return split_into_regions(labels, self.max_masks, self.min_region_area, self.max_regions_per_cluster)

    @torch.no_grad()
    def one_hot(self, images: torch.Tensor, size) -> torch.Tensor:
        """Raw images [B, 3, H, W] -> binary pseudo-masks [B, num_masks, *size] (nearest resizing; a mask
        may be empty)."""
        labels = self(images).clone()  # leave inference mode
        one_hot = F.one_hot(labels, self.num_masks).permute(0, 3, 1, 2).float()
        return F.interpolate(one_hot, size=tuple(size), mode="nearest")

    def train(self, mode: bool = True):
        """Always stays in eval mode: the generator is frozen."""
        return super().train(False)


def dino_pos_embed(pos_embed: torch.Tensor, grid) -> torch.Tensor:
    """DINO's position table [1, 1 + N, D] (class token first, a square grid of N) for a grid of
    ``grid = (h, w)`` patches -> [1, 1 + h*w, D], resized as the official ``interpolate_pos_encoding``
    does: bicubic by the scale factors ``(h + 0.1) / sqrt(N)``, ``(w + 0.1) / sqrt(N)``, no antialiasing
    (timm's resizing antialiases and uses the output size)."""
    side = math.isqrt(pos_embed.shape[1] - 1)
    h, w = int(grid[0]), int(grid[1])
    if (h, w) == (side, side):
        return pos_embed
    table = pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table, scale_factor=((h + 0.1) / side, (w + 0.1) / side), mode="bicubic")
    return torch.cat([pos_embed[:, :1], table.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)


@PSEUDO_MASK_GENERATOR_REGISTRY.register()
class DINOKMeansGenerator(KMeansPseudoMaskGenerator):
    """K-Means over the last-layer patch tokens of a frozen self-supervised ViT (DINO ViT-S/8).

    Its weights come from ``MODEL.PSEUDO_MASK.VIT_WEIGHTS``, never from P-Seg checkpoints.
    """

    @configurable
    def __init__(self, *, vit_name: str, vit_weights: str, **kmeans):
        """``vit_name``: timm model name; ``vit_weights``: its local checkpoint; ``kmeans``: see the base class."""
        super().__init__(**kmeans)
        self.vit = timm.create_model(vit_name, pretrained=False, num_classes=0, dynamic_img_size=True)
        if self.vit.num_prefix_tokens != 1 or self.vit.no_embed_class:
            raise ValueError(f"MODEL.PSEUDO_MASK.VIT_NAME={vit_name!r}: a ViT with one class token (DINO's) is expected")
        self.vit.requires_grad_(False)
        # Loaded on first use, so evaluating a trained P-Seg needs no DINO weights; a missing file
        # still fails on the first training step, naming the config key.
        self.weights = vit_weights
        self.weights_loaded = False
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)

    @classmethod
    def from_config(cls, cfg) -> dict:
        pm = cfg.MODEL.PSEUDO_MASK
        return {**super().from_config(cfg), "vit_name": pm.VIT_NAME, "vit_weights": pm.VIT_WEIGHTS}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> L2-normalised tokens [B, D, H/p, W/p] (p: patch size)."""
        if not self.weights_loaded:
            load_local_weights(self.vit, self.weights, "MODEL.PSEUDO_MASK.VIT_WEIGHTS")
            self.weights_loaded = True
        patch = self.vit.patch_embed.patch_size[0]
        h, w = images.shape[-2] // patch, images.shape[-1] // patch
        x = (images[..., : h * patch, : w * patch] - self.mean) / self.std
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.is_cuda):
            tokens = self.forward_tokens(x)[:, 1:]
        tokens = F.normalize(tokens.float(), dim=-1)
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """timm's ``forward_features`` with DINO's own position-table resizing: normalised images
        [B, 3, H, W] -> tokens [B, 1 + (H/p) * (W/p), D], the class token first."""
        vit = self.vit
        patches = vit.patch_embed(x)  # [B, H/p, W/p, D]
        tokens = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), patches.flatten(1, 2)], dim=1)
        tokens = vit.norm_pre(tokens + dino_pos_embed(vit.pos_embed, patches.shape[1:3]))
        return vit.norm(vit.blocks(tokens))

    def state_dict(self, *args, **kwargs):
        return {}

    def _load_from_state_dict(self, *args, **kwargs):
        pass


@PSEUDO_MASK_GENERATOR_REGISTRY.register()
class ColorKMeansGenerator(KMeansPseudoMaskGenerator):
    """K-Means over average-pooled pixel colours: the paper's K-Means row."""

    @configurable
    def __init__(self, *, stride: int = 4, **kmeans):
        """``stride``: colours are average-pooled over ``stride`` x ``stride`` cells; ``kmeans``: see the base class."""
        super().__init__(**kmeans)
        self.stride = stride

    @classmethod
    def from_config(cls, cfg) -> dict:
        return {**super().from_config(cfg), "stride": cfg.MODEL.PSEUDO_MASK.COLOR_STRIDE}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> colour in [0, 1] [B, 3, H/s, W/s]."""
        return F.avg_pool2d(images / 255.0, self.stride) if self.stride > 1 else images / 255.0


def build_pseudo_mask_generator(cfg) -> KMeansPseudoMaskGenerator:
    return PSEUDO_MASK_GENERATOR_REGISTRY.get(cfg.MODEL.PSEUDO_MASK.NAME)(cfg)


def build_region_generator(cfg) -> KMeansPseudoMaskGenerator:
    """A second, frozen generator of ``MODEL.PSEUDO_MASK``'s kind that splits its clusters into connected
    regions as ``MODEL.PSEG.TEST.REGION_VOTING`` says (region voting's regions)."""
    voting = cfg.MODEL.PSEG.TEST.REGION_VOTING
    cls = PSEUDO_MASK_GENERATOR_REGISTRY.get(cfg.MODEL.PSEUDO_MASK.NAME)
    overrides = {"split_regions": True, "max_masks": voting.MAX_REGIONS, "min_region_area": voting.MIN_AREA,
                 "max_regions_per_cluster": voting.MAX_PER_CLUSTER}
    if issubclass(cls, ColorKMeansGenerator):
        overrides["stride"] = voting.COLOR_STRIDE
    return cls(cfg, **overrides).requires_grad_(False)
