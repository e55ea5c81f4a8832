"""Mask-class combination: N masks and their class probabilities -> a per-class score map."""
import torch

COMBINE_RULES = ("sigmoid_sum", "query_softmax")
# Every MODEL.PSEG.INFERENCE_COMBINE value: the mask rules above; "pixel", which classifies each
# pixel's own embedding and uses no masks; "hybrid", query_softmax's best score with the pixel's own
# class ranking (see PSeg.predict_scores).
INFERENCE_RULES = COMBINE_RULES + ("pixel", "hybrid")


def combine_masks(class_probs: torch.Tensor, mask_logits: torch.Tensor, rule: str) -> torch.Tensor:
    """
    Args:
        class_probs: [B, N, C] per-query class probabilities.
        mask_logits: [B, N, H, W].
        rule: ``sigmoid_sum`` (MaskFormer: sum_q p_q(c) sigmoid(m_q)) or ``query_softmax``
            (each pixel's mass split among queries by a softmax over their mask logits).
    Returns:
        [B, C, H, W] class scores.
    """
    if rule == "sigmoid_sum":
        weights = mask_logits.sigmoid()
    elif rule == "query_softmax":
        weights = mask_logits.softmax(dim=1)
    else:
        raise ValueError(f"combine_masks rule must be one of {COMBINE_RULES}, got {rule!r}")
    return torch.einsum("bqc,bqhw->bchw", class_probs, weights)
