"""Hungarian matching of N predicted masks to K pseudo-masks per image (no class cost)."""
from typing import List, Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .losses import pairwise_dice_cost, pairwise_focal_cost


class HungarianMatcher(nn.Module):
    """One-to-one assignment minimising ``cost_dice * dice + cost_focal * focal`` per image.

    Predictions left without a target are not penalised by the caller; empty targets never match.
    """

    def __init__(self, cost_dice: float = 1.0, cost_focal: float = 20.0):
        super().__init__()
        self.cost_dice = cost_dice
        self.cost_focal = cost_focal

    @torch.no_grad()
    def forward(
        self, pred_logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            pred_logits: [B, N, P] mask logits, flattened over pixels.
            targets: [B, K, P] binary pseudo-masks at the same resolution.
            valid: [B, K] bool, False for empty pseudo-masks.
        Returns:
            per image, (prediction indices, target indices), each a LongTensor of the same length.
        """
        pred_logits = pred_logits.float()
        targets = targets.float()
        cost = self.cost_dice * pairwise_dice_cost(pred_logits, targets) + self.cost_focal * pairwise_focal_cost(
            pred_logits, targets
        )
        cost = cost.cpu().numpy()  # one device-to-host copy for the whole batch
        valid = valid.cpu().numpy()
        indices = []
        for cost_b, valid_b in zip(cost, valid):
            columns = np.flatnonzero(valid_b)
            rows, picked = linear_sum_assignment(cost_b[:, columns])
            indices.append((torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(columns[picked], dtype=torch.long)))
        return indices
