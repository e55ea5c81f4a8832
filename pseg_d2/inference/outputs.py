"""What the network hands inference: one value per batch of padded images [B, 3, H, W]."""
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class NetworkOutputs:
    """The last decoder layer's outputs and what refiners read besides them.

    Attributes:
        masks: [B, N, H/4, W/4] mask logits.
        mask_features: [B, N, E] mask features in the joint image-text space, not normalised.
        pixel_features: [B, D, H/4, W/4] the pixel decoder's per-pixel features.
        raw_images: [B, 3, H, W] the input as RGB 0-255 floats (padding takes the mean colour).
        pool: soft masks [B, M, H/4, W/4] in [0, 1] -> [B, M, E]: pixel features averaged under each
            mask and projected as a mask feature (``MASK_FEATURE_SOURCE "mask_pooled"`` only).
    """

    masks: torch.Tensor
    mask_features: torch.Tensor
    pixel_features: torch.Tensor
    raw_images: torch.Tensor
    pool: Callable[[torch.Tensor], torch.Tensor]
