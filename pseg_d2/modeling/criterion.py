"""The mask loss: matched dice + focal between predicted masks and pseudo-masks."""
from typing import Dict, List, Optional

import torch
from detectron2.utils import comm
from torch import nn

from .losses import dice_loss, sigmoid_focal_loss
from .matcher import HungarianMatcher


class MaskCriterion(nn.Module):
    """Hungarian-matched mask loss, averaged over all matched pairs of all ranks.

    Returns ``{"loss_dice", "loss_focal"}`` already weighted; with deep supervision, the masks of
    every decoder layer are matched and supervised, and their losses added.
    """

    def __init__(self, matcher: HungarianMatcher, dice_weight: float = 1.0, focal_weight: float = 20.0):
        super().__init__()
        self.matcher = matcher
        self.dice_weight = dice_weight
        self.focal_weight = focal_weight

    @staticmethod
    def num_masks(valid: torch.Tensor) -> torch.Tensor:
        """[B, K] bool -> the loss normaliser: non-empty pseudo-masks per rank, averaged over ranks (>= 1)."""
        num_masks = valid.sum().float()
        if comm.get_world_size() > 1:
            torch.distributed.all_reduce(num_masks)
            num_masks = num_masks / comm.get_world_size()
        return num_masks.clamp(min=1.0)

    def forward(
        self, layer_masks: List[torch.Tensor], targets: torch.Tensor, valid: torch.Tensor, num_masks: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            layer_masks: per supervised decoder layer, mask logits [B, N, H, W].
            targets: [B, K, H, W] binary pseudo-masks at the masks' resolution.
            valid: [B, K] bool, which pseudo-masks are non-empty.
            num_masks: the normaliser (default ``num_masks(valid)``); a micro-batch passes its whole batch's.
        """
        if num_masks is None:
            num_masks = self.num_masks(valid)
        flat_targets = targets.flatten(2)
        losses = {"loss_dice": 0.0, "loss_focal": 0.0}
        for masks in layer_masks:
            flat_masks = masks.flatten(2)
            indices = self.matcher(flat_masks, flat_targets, valid)
            batch_idx = torch.cat([torch.full_like(pred, b) for b, (pred, _) in enumerate(indices)])
            pred_idx = torch.cat([pred for pred, _ in indices])
            target_idx = torch.cat([target for _, target in indices])
            matched_pred = flat_masks[batch_idx, pred_idx].float()
            matched_target = flat_targets[batch_idx, target_idx].float()
            losses["loss_dice"] = losses["loss_dice"] + self.dice_weight * dice_loss(matched_pred, matched_target).sum() / num_masks
            losses["loss_focal"] = (
                losses["loss_focal"] + self.focal_weight * sigmoid_focal_loss(matched_pred, matched_target).sum() / num_masks
            )
        return losses
