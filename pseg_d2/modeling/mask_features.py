"""The N mask features in the joint image-text space, from one of two sources (a config choice)."""
import torch
from detectron2.layers import Conv2d
from torch import nn

from .mlp import MLP

MASK_FEATURE_SOURCES = ("query", "mask_pooled")


class MaskFeatureHead(nn.Module):
    """Decoder outputs -> N mask features [B, N, embed_dim] (not normalised).

    ``query``: the decoder's query outputs, projected by a 2-layer MLP (the paper's raw mask features).
    ``mask_pooled``: per-pixel embeddings averaged under each predicted (sigmoid) mask, then projected.
    """

    def __init__(self, source: str, hidden_dim: int, mask_dim: int, embed_dim: int):
        super().__init__()
        if source not in MASK_FEATURE_SOURCES:
            raise ValueError(f"MODEL.PSEG.MASK_FEATURE_SOURCE must be one of {MASK_FEATURE_SOURCES}, got {source!r}")
        self.source = source
        if source == "mask_pooled":
            self.pixel_embed = Conv2d(mask_dim, hidden_dim, 1)
        self.projection = MLP(hidden_dim, embed_dim, embed_dim, num_layers=2)

    def forward(self, queries: torch.Tensor, masks: torch.Tensor, mask_features: torch.Tensor) -> torch.Tensor:
        """queries [B, N, hidden], masks [B, N, H, W] logits, mask_features [B, mask_dim, H, W]."""
        if self.source == "query":
            return self.projection(queries)
        return self.pool(masks.sigmoid(), mask_features)

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
