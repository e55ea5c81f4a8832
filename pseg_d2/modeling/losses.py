"""Mask losses (dice, sigmoid focal) and their pairwise forms used as matching costs.

Masks are flattened: ``logits`` and ``targets`` are ``[M, P]`` (M masks, P pixels), targets in {0, 1}.
"""
import torch
from fvcore.nn import sigmoid_focal_loss as _fvcore_sigmoid_focal_loss


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-mask dice loss ``1 - (2|p*t| + 1) / (|p| + |t| + 1)`` with ``p = sigmoid(logits)``. -> [M]"""
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return 1 - (numerator + 1) / (denominator + 1)


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Per-mask sigmoid focal loss (Lin et al.), averaged over pixels. -> [M]"""
    return _fvcore_sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none").mean(-1)


def pairwise_dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss of every prediction against every target: ``[B, N, P] x [B, K, P] -> [B, N, K]``."""
    probs = logits.sigmoid()
    numerator = 2 * torch.bmm(probs, targets.transpose(1, 2))
    denominator = probs.sum(-1)[:, :, None] + targets.sum(-1)[:, None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def pairwise_focal_cost(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Focal loss of every prediction against every target: ``[B, N, P] x [B, K, P] -> [B, N, K]``.

    Uses that the per-pixel loss is linear in the binary target, so all pairs are two matmuls.
    """
    probs = logits.sigmoid()
    loss_if_pos = alpha * (1 - probs) ** gamma * torch.nn.functional.softplus(-logits)
    loss_if_neg = (1 - alpha) * probs**gamma * torch.nn.functional.softplus(logits)
    cost = torch.bmm(loss_if_pos, targets.transpose(1, 2)) + torch.bmm(loss_if_neg, (1 - targets).transpose(1, 2))
    return cost / logits.shape[-1]
