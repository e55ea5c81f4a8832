"""GroupViT's background rule: a threshold clamped per image to the image's best class score.

GroupViT (``segmentation/evaluation/group_vit_seg.py``, ``GroupViTSegInference.encode_decode``) marks a
pixel background when its best class score is below ``min(threshold, the image's highest score)``:

* the scores are GroupViT's raw pixel scores, not renormalised: a pixel takes its group's row of the
  group-class affinities (a softmax over classes times a second softmax, so rows need not sum to 1);
* the comparison is strict (``<``) and happens before any resizing, once per forward pass, so in
  sliding-window evaluation once per window, with the window's own maximum;
* the background channel is 1 where background wins and 0 elsewhere; mmseg then averages overlapping
  windows, resizes to the label size and takes the argmax (its softmax first does not change it).

Because the threshold never exceeds the image's maximum, an image whose best score is below the
threshold still keeps its best class where that score is reached, where a constant threshold would
make it all background. GroupViT's thresholds: 0.95 on Pascal VOC and COCO-Object, 0.35 on Pascal
Context.
"""
from typing import Optional

import torch


def clamped_background(scores: torch.Tensor, threshold: float, image_max: Optional[torch.Tensor] = None,
                       index: int = 0) -> torch.Tensor:
    """Foreground class scores [B, C, H, W] -> scores [B, C + 1, H, W] with GroupViT's background channel
    inserted at ``index``: 1 where a pixel's best score is below ``min(threshold, image_max)``, else 0.

    Args:
        scores: the foreground classes' scores, background excluded.
        threshold: GroupViT's ``bg_thresh``.
        image_max: [B], each image's highest score; by default the highest pixel score. (GroupViT takes
            the maximum over all its groups' affinities, including groups that own no pixel.)
        index: where the background channel goes (GroupViT: 0).
    """
    if scores.dim() != 4 or scores.shape[1] < 1:
        raise ValueError(f"clamped_background needs scores [B, C, H, W] with C >= 1; got {tuple(scores.shape)}")
    if not 0 <= index <= scores.shape[1]:
        raise ValueError(f"background index {index} is outside 0..{scores.shape[1]}")
    if image_max is None:
        image_max = scores.flatten(1).amax(1)
    limit = image_max.to(scores.dtype).clamp(max=threshold).view(-1, 1, 1, 1)  # [B, 1, 1, 1]
    background = (scores.amax(1, keepdim=True) < limit).to(scores.dtype)  # [B, 1, H, W]
    return torch.cat([scores[:, :index], background, scores[:, index:]], dim=1)
