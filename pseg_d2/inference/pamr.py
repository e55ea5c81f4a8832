"""PAMR: pixel-adaptive mask refinement (Araslanov & Roth, CVPR 2020) of per-class score maps.

Each iteration replaces every pixel's class scores by a weighted mean of its neighbours' scores, the
neighbours lying on 3 x 3 rings at several dilations. A neighbour's weight is a softmax, over all
neighbours, of how close its colour is to the pixel's, measured against the colour spread around
the pixel: scores flow within regions of one colour and stop at colour edges. Each step averages,
so scores stay within their range and a constant map stays constant.

The rule is the reference implementation's (1-stage-wseg ``models/mods/pamr.py``, which TCL uses with
10 iterations and dilations 1, 2, 4, 8, 12, 24): the colour spread of a pixel is the standard deviation
(unbiased) of the 3 x 3 windows around it at every dilation pooled together, each window including the
pixel itself, so the centre counts once per dilation; borders are replicated.
"""
from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def ring_offsets(dilations: Sequence[int]) -> List[Tuple[int, int]]:
    """The 8 neighbours (dy, dx) of a 3 x 3 ring at each dilation, in order."""
    return [(dy * d, dx * d) for d in dilations for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def neighbour_views(x: torch.Tensor, offsets: Sequence[Tuple[int, int]]) -> Iterator[torch.Tensor]:
    """[B, C, H, W] -> for each offset (dy, dx), [B, C, H, W] holding the value at (y + dy, x + dx), the
    border replicated outside the image (views of one padded copy)."""
    height, width = x.shape[-2:]
    pad = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    for dy, dx in offsets:
        yield padded[..., pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def pixel_affinities(image: torch.Tensor, dilations: Sequence[int], temperature: float) -> torch.Tensor:
    """Image [B, 3, H, W] -> neighbour weights [B, K, H, W] for the K = 8 * len(dilations) offsets of
    ``ring_offsets(dilations)``, summing to 1 over them.

    Per channel, kappa = -|I(neighbour) - I(pixel)| / (temperature * spread + 1e-8), the spread being the
    standard deviation of the pixel's 3 x 3 windows at all dilations (centre included once per dilation);
    the weights are the softmax over neighbours of kappa averaged over channels.
    """
    neighbours = torch.stack(list(neighbour_views(image, ring_offsets(dilations))), dim=2)  # [B, 3, K, H, W]
    centre = image.unsqueeze(2)  # [B, 3, 1, H, W]
    windows = torch.cat([neighbours, centre.expand(-1, -1, len(dilations), -1, -1)], dim=2)
    spread = windows.std(dim=2, keepdim=True)
    kappa = -(neighbours - centre).abs() / (temperature * spread + 1e-8)
    return kappa.mean(dim=1).softmax(dim=1)


class PAMR(nn.Module):
    """Refines class scores [B, C, H, W] with the colours of their image [B, 3, H, W] (any scale)."""

    def __init__(self, iters: int = 10, dilations: Sequence[int] = (1, 2, 4, 8, 12, 24), temperature: float = 0.1):
        """
        Args:
            iters: averaging rounds (0 returns the scores unchanged).
            dilations: ring radii in pixels, each giving 8 neighbours.
            temperature: how sharply colour differences cut a neighbour's weight, relative to the
                local colour spread (smaller: sharper).
        """
        super().__init__()
        if iters < 0 or not dilations or min(dilations) < 1 or temperature <= 0:
            raise ValueError(f"PAMR needs iters >= 0, dilations >= 1 and temperature > 0; got iters={iters}, "
                             f"dilations={list(dilations)}, temperature={temperature}")
        self.iters = iters
        self.dilations = tuple(int(d) for d in dilations)
        self.temperature = temperature

    @torch.no_grad()
    def forward(self, image: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Image [B, 3, H, W] and scores [B, C, H, W] -> refined scores [B, C, H, W]."""
        if image.dim() != 4 or scores.dim() != 4 or image.shape[0] != scores.shape[0] or \
                image.shape[-2:] != scores.shape[-2:]:
            raise ValueError(f"PAMR needs an image [B, 3, H, W] and scores [B, C, H, W] of the same B, H, W; "
                             f"got {tuple(image.shape)} and {tuple(scores.shape)}")
        offsets = ring_offsets(self.dilations)
        weights = pixel_affinities(image.to(scores.dtype), self.dilations, self.temperature)
        weights = weights.unsqueeze(2)  # [B, K, 1, H, W]
        for _ in range(self.iters):
            # One neighbour at a time: [B, C, K, H, W] at once would not fit for large images.
            scores = sum(weight * view for weight, view in zip(weights.unbind(1), neighbour_views(scores, offsets)))
        return scores

    def extra_repr(self) -> str:
        return f"iters={self.iters}, dilations={self.dilations}, temperature={self.temperature}"
