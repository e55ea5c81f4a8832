"""Sliding-window inference: class scores of a large image from overlapping square windows."""
from typing import Callable, List

import torch
import torch.nn.functional as F


def window_starts(length: int, window: int, stride: int) -> List[int]:
    """Offsets of windows covering ``length`` (>= ``window``): every ``stride``, the last flush with the end."""
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def sliding_window_scores(
    predict_scores: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, window: int, stride: int
) -> torch.Tensor:
    """
    Args:
        predict_scores: images [B, 3, window, window] -> class scores [B, C, window, window].
        image: [3, H, W] float, already normalised; padded with 0 at the bottom and right up to
            ``window`` where it is smaller (0 is the mean colour of a normalised image).
        window: side of the square windows.
        stride: step between windows (< ``window`` for overlapping windows).
    Returns:
        [C, H, W] scores, each pixel the average over the windows that contain it.
    """
    height, width = image.shape[-2:]
    padded = F.pad(image, (0, max(window - width, 0), 0, max(window - height, 0)))
    boxes = [
        (y, x)
        for y in window_starts(padded.shape[-2], window, stride)
        for x in window_starts(padded.shape[-1], window, stride)
    ]
    crops = torch.stack([padded[:, y : y + window, x : x + window] for y, x in boxes])
    window_scores = predict_scores(crops)  # [num_windows, C, window, window]
    total = window_scores.new_zeros(window_scores.shape[1], *padded.shape[-2:])
    count = window_scores.new_zeros(1, *padded.shape[-2:])
    for (y, x), scores in zip(boxes, window_scores):
        total[:, y : y + window, x : x + window] += scores
        count[:, y : y + window, x : x + window] += 1
    return (total / count)[:, :height, :width]
