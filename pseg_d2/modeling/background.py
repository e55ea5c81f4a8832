"""Vocabulary-free background: what looks like the image's border is background.

Captions name objects, so nothing in training says what background is, and a class's confidence on
background pixels depends on the vocabulary: a vocabulary of shape names can score the background
more confidently than the objects. The border prior of saliency detection needs no vocabulary: an
image's border is mostly background, and a pixel whose feature is close to the border's average
feature is background too.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


def border_cells(image_sizes: Sequence[Tuple[int, int]], padded: Tuple[int, int], grid: Tuple[int, int],
                 device: torch.device) -> torch.Tensor:
    """The outermost ring of each image's own cells [B, h, w] (bool) on a feature grid ``(h, w)`` that
    covers padded inputs of ``padded`` pixels; an image of ``image_sizes[i]`` pixels covers the cells
    its pixels fall in, the rest is padding."""
    h, w = grid
    sizes = torch.tensor(image_sizes, dtype=torch.long, device=device)  # [B, 2] pixels
    rows = (-(-sizes[:, 0] * h // padded[0]))[:, None, None]  # ceil(height * h / padded height)
    cols = (-(-sizes[:, 1] * w // padded[1]))[:, None, None]
    y = torch.arange(h, device=device)[None, :, None]
    x = torch.arange(w, device=device)[None, None, :]
    inside = (y < rows) & (x < cols)
    return inside & ((y == 0) | (x == 0) | (y == rows - 1) | (x == cols - 1))


def border_mean(features: torch.Tensor, image_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                padded: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Features [B, E, h, w] -> the mean of their normalised values on each image's border ring, [B, E].
    ``image_sizes`` (pixels) and ``padded`` (the padded input's size) leave padding out of the ring;
    without them, the whole grid is the image."""
    b, _, h, w = features.shape
    if image_sizes is None:
        image_sizes, padded = [(h, w)] * b, (h, w)
    ring = border_cells(image_sizes, padded, (h, w), features.device)[:, None]
    return (F.normalize(features, dim=1) * ring).sum((2, 3)) / ring.sum((2, 3)).clamp(min=1)


def distinctness(features: torch.Tensor, reference: torch.Tensor, dim: int) -> torch.Tensor:
    """1 - cosine similarity of ``features`` and ``reference`` (broadcast) along ``dim``: in [0, 2]."""
    return 1 - F.cosine_similarity(features, reference, dim=dim)
