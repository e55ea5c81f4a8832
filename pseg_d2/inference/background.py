"""Background rules: which vocabulary entry is background, and how its channel is scored.

``prompt``: background is a class like any other, encoded from its name. ``threshold``: the background
channel is a constant, so background wins where no class scores more. ``clamped_threshold``
(GroupViT's): background where a pixel's best score is below the threshold clamped to the image's
highest score. ``border`` (not in the paper): the constant, but a class scores how unlike the image's
border a pixel looks.

The border rule needs no vocabulary. Captions name objects, so nothing in training says what
background is, and a class's confidence on background pixels depends on the vocabulary: a vocabulary
of shape names can score the background more confidently than the objects. The border prior of
saliency detection does not: an image's border is mostly background, and a pixel whose feature is
close to the border's average feature is background too.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .combine import combine_masks
from .outputs import NetworkOutputs


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


class PromptBackground:
    """Background, if the vocabulary has it, is a class like any other: nothing to do."""

    def __init__(self, class_name: str = "background"):
        self.class_name = class_name

    def foreground(self, vocabulary: Sequence[str]) -> List[int]:
        """The indices of the vocabulary entries that the masks classify."""
        return list(range(len(vocabulary)))

    def rescore(self, scores: torch.Tensor, vocabulary: Sequence[str], outputs: NetworkOutputs,
                masks: torch.Tensor, combine: str, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """Foreground scores [B, C', H, W] -> the same, as the rule scores them."""
        return scores

    def fill(self, scores: torch.Tensor, vocabulary: Sequence[str],
             image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """Foreground scores [B, C', H, W] of padded images whose own sizes are ``image_sizes`` ->
        scores of the whole vocabulary [B, C, H, W]."""
        return scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_name!r})"


class ThresholdBackground(PromptBackground):
    """The background entry of the vocabulary (if any) scores the constant ``threshold`` everywhere."""

    def __init__(self, class_name: str = "background", threshold: float = 0.5):
        super().__init__(class_name)
        self.threshold = threshold

    def foreground(self, vocabulary: Sequence[str]) -> List[int]:
        return [i for i, name in enumerate(vocabulary) if name != self.class_name]

    def fill(self, scores: torch.Tensor, vocabulary: Sequence[str],
             image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        if self.class_name not in vocabulary:
            return scores
        index = list(vocabulary).index(self.class_name)
        background = self.background(scores, image_sizes)
        return torch.cat([scores[:, :index], background, scores[:, index:]], dim=1)

    def background(self, scores: torch.Tensor, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """Foreground scores [B, C', H, W] -> the background channel [B, 1, H, W]."""
        return scores.new_full((scores.shape[0], 1, *scores.shape[2:]), self.threshold)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_name!r}, threshold={self.threshold})"


class ClampedThresholdBackground(ThresholdBackground):
    """GroupViT's rule (``group_vit_seg.py``, ``GroupViTSegInference.encode_decode``): background (channel
    1, classes keep their raw scores) where a pixel's best score is strictly below ``min(threshold, the
    image's highest best score)``, else 0. An image whose best score stays under the threshold keeps its
    best class where that score is reached; under the constant rule it would be all background. With
    sliding windows each window is an image here, as in GroupViT. (GroupViT's maximum runs over all its
    groups, also those that own no pixel; here over the image's own pixels.)"""

    def background(self, scores: torch.Tensor, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        best = scores.amax(1, keepdim=True)  # [B, 1, H, W]
        image_max = torch.stack([b[:, :h, :w].amax() for b, (h, w) in zip(best, image_sizes)])  # own pixels only
        limit = image_max.clamp(max=self.threshold).view(-1, 1, 1, 1)
        return (best < limit).to(scores.dtype)


class BorderBackground(ThresholdBackground):
    """As ``threshold``, but a pixel's best class scores the cosine distance (in [0, 2],
    :func:`distinctness`) of its masks' features from the mean feature of the image's border ring
    (:func:`border_mean`), averaged over the pixel's masks as the combine rule weighs them: masks are
    background or not as a whole. Needs whole images (no sliding windows)."""

    def rescore(self, scores: torch.Tensor, vocabulary: Sequence[str], outputs: NetworkOutputs,
                masks: torch.Tensor, combine: str, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """``masks``: the mask logits at the scores' size [B, N, H, W]; ``image_sizes``: each image's own
        size in the padded batch. Without a background entry in ``vocabulary``, the scores stay."""
        if self.class_name not in vocabulary:
            return scores
        features = outputs.mask_features
        mixed = combine_masks(F.normalize(features, dim=-1), outputs.masks, combine)  # [B, E, h, w]
        reference = border_mean(mixed, image_sizes, tuple(scores.shape[-2:]))  # [B, E]
        per_mask = distinctness(features, reference[:, None], dim=-1)  # [B, N]
        weights = combine_masks(torch.ones_like(features[..., :1]), masks, combine).clamp(min=1e-6)
        distinct = combine_masks(per_mask[..., None], masks, combine) / weights  # [B, 1, H, W]
        return distinct * scores / scores.amax(1, keepdim=True)
