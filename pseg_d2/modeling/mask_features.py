"""The N mask features in the joint image-text space, from one of two sources (a config choice)."""
import torch
from detectron2.layers import Conv2d
from torch import nn

from .mlp import MLP

MASK_FEATURE_SOURCES = ("query", "mask_pooled")
# How ``mask_pooled`` weighs pixels: each query's own sigmoid, or a softmax over queries (each pixel
# shared among the queries, so a query's feature is its segment's, never a diffuse image average).
MASK_POOLINGS = ("sigmoid", "query_softmax")


class MaskFeatureHead(nn.Module):
    """Decoder outputs -> N mask features [B, N, embed_dim] (not normalised).

    ``query``: the decoder's query outputs, projected by a 2-layer MLP (the paper's raw mask features).
    ``mask_pooled``: per-pixel embeddings averaged under each predicted mask (weighted as ``pooling``
    says, see ``MASK_POOLINGS``), then projected.
    """

    def __init__(self, source: str, hidden_dim: int, mask_dim: int, embed_dim: int, pooling: str = "sigmoid"):
        super().__init__()
        if source not in MASK_FEATURE_SOURCES:
            raise ValueError(f"MODEL.PSEG.MASK_FEATURE_SOURCE must be one of {MASK_FEATURE_SOURCES}, got {source!r}")
        if pooling not in MASK_POOLINGS:
            raise ValueError(f"MODEL.PSEG.MASK_POOLING must be one of {MASK_POOLINGS}, got {pooling!r}")
        self.source = source
        self.pooling = pooling
        if source == "mask_pooled":
            self.pixel_embed = Conv2d(mask_dim, hidden_dim, 1)
        self.projection = MLP(hidden_dim, embed_dim, embed_dim, num_layers=2)

    def forward(self, queries: torch.Tensor, masks: torch.Tensor, mask_features: torch.Tensor) -> torch.Tensor:
        """queries [B, N, hidden], masks [B, N, H, W] logits, mask_features [B, mask_dim, H, W]."""
        if self.source == "query":
            return self.projection(queries)
        weights = masks.sigmoid() if self.pooling == "sigmoid" else masks.softmax(dim=1)
        return self.pool(weights, mask_features)

    def pool(self, weights: torch.Tensor, mask_features: torch.Tensor, damping: float = 1.0) -> torch.Tensor:
        """``mask_pooled`` only: per-pixel embeddings averaged under soft masks, then projected.

        weights [B, M, H, W] in [0, 1], mask_features [B, mask_dim, H, W] -> [B, M, embed_dim].
        ``damping`` is added to each mask's total weight, so that a nearly empty mask pools towards zero
        (training's masks); 0 pools exactly (an empty mask gives zero).
        """
        if self.source != "mask_pooled":
            raise ValueError("pooling pixel embeddings needs MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'")
        pixels = self.pixel_embed(mask_features)
        total = (weights.sum((2, 3))[..., None] + damping).clamp(min=1e-6)
        pooled = torch.einsum("bqhw,bchw->bqc", weights, pixels) / total
        return self.projection(pooled)

    def dense(self, mask_features: torch.Tensor) -> torch.Tensor:
        """``mask_pooled`` only: every pixel's own feature, [B, mask_dim, H, W] -> [B, H, W, embed_dim].

        The projection applied to one pixel instead of a mask's average: a mask feature without the mask.
        """
        if self.source != "mask_pooled":
            raise ValueError("dense (per-pixel) features need MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'")
        return self.projection(self.pixel_embed(mask_features).permute(0, 2, 3, 1))
