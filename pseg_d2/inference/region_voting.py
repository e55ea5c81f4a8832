"""Region voting: each region of an image is named as a whole, as training names masks.

Training only ever classifies pixel embeddings pooled under a mask, while a pixel's own embedding
sees its neighbourhood: each pixel names the part of an object it sees (a star's middle "circle",
its points "crescent"). Region voting cuts the image into regions without any vocabulary (the
pseudo-mask generator's K-Means clusters, split into connected regions), classifies each region's
pooled pixel embeddings as a mask feature, and gives every pixel of a region that class ranking and
the region's mean best score.
"""
from typing import Callable

import torch
import torch.nn.functional as F

from ..modeling.pseudo_mask.generator import KMeansPseudoMaskGenerator
from .outputs import NetworkOutputs


def region_mean(maps: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Maps [B, C, H, W], one-hot regions [B, R, H, W] -> [B, C, H, W]: each pixel takes its region's mean."""
    sums = torch.einsum("bchw,brhw->brc", maps, regions)
    means = sums / regions.sum((2, 3))[..., None].clamp(min=1)
    return torch.einsum("brc,brhw->bchw", means, regions)


def vote(class_scores: torch.Tensor, regions: torch.Tensor, region_probs: torch.Tensor) -> torch.Tensor:
    """Class scores [B, C, H, W], one-hot regions [B, R, H, W], each region's class probabilities
    [B, R, C] -> [B, C, H, W]: a pixel's best class is its region's, and scores its region's mean
    best score; the other classes keep the region's ranking."""
    strength = region_mean(class_scores.amax(1, keepdim=True), regions)
    ranking = torch.einsum("brc,brhw->bchw", region_probs, regions)
    return strength * ranking / ranking.amax(1, keepdim=True).clamp(min=1e-12)


class RegionVoting:
    """A refiner of class scores: ``generator`` (frozen, splitting its clusters into connected regions)
    cuts each image into regions, and :func:`vote` names each region by its pooled pixel features."""

    def __init__(self, generator: KMeansPseudoMaskGenerator):
        if not generator.split_regions:
            raise ValueError("Region voting needs a generator that splits its clusters into connected regions")
        self.generator = generator.requires_grad_(False).eval()

    def __call__(self, scores: torch.Tensor, outputs: NetworkOutputs,
                 classify: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Class scores [B, C, H, W] -> [B, C, H, W]; ``classify``: features [..., E] -> probabilities [..., C]."""
        size = scores.shape[-2:]
        regions = self.generator.to(scores.device).one_hot(outputs.raw_images, size)  # [B, R, H, W]
        # a tent filter: pooling the bilinearly upsampled pixel features over each region, without upsampling them
        weights = F.interpolate(regions, size=outputs.pixel_features.shape[-2:], mode="bilinear", antialias=True)
        return vote(scores, regions, classify(outputs.pool(weights)))

    def __repr__(self) -> str:
        g = self.generator
        return f"RegionVoting({type(g).__name__}, max_regions={g.max_masks}, min_area={g.min_region_area})"
