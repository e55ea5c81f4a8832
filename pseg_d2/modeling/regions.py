"""Region voting: each region of an image is named as a whole, as training names masks.

Training only ever classifies pixel embeddings pooled under a mask, while a pixel's own embedding
sees its neighbourhood: each pixel names the part of an object it sees (a star's middle "circle",
its points "crescent"). Region voting cuts the image into regions without any vocabulary (the
pseudo-mask generator's K-Means clusters, split into connected regions), classifies each region's
pooled pixel embeddings as a mask feature, and gives every pixel of a region that class ranking and
the region's mean foreground score.
"""
import torch

from .pseudo_mask.generator import PSEUDO_MASK_GENERATOR_REGISTRY, ColorKMeansGenerator, KMeansPseudoMaskGenerator


def build_region_generator(cfg) -> KMeansPseudoMaskGenerator:
    """A frozen generator of ``cfg.MODEL.PSEUDO_MASK``'s kind (a second instance) that splits its clusters
    into regions as ``cfg.MODEL.PSEG.REGION_VOTING`` says (which also sets the colour generator's stride)."""
    voting = cfg.MODEL.PSEG.REGION_VOTING
    generator_class = PSEUDO_MASK_GENERATOR_REGISTRY.get(cfg.MODEL.PSEUDO_MASK.NAME)
    overrides = {"split_regions": True, "max_masks": voting.MAX_REGIONS, "min_region_area": voting.MIN_AREA,
                 "max_regions_per_cluster": voting.MAX_PER_CLUSTER}
    if issubclass(generator_class, ColorKMeansGenerator):
        overrides["stride"] = voting.COLOR_STRIDE
    return generator_class(cfg, **overrides).requires_grad_(False)


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
