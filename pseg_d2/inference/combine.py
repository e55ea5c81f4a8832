"""Combine rules: N masks and their class probabilities -> a per-class score map."""
import torch

COMBINE_RULES = ("sigmoid_sum", "query_softmax")


def combine_masks(class_probs: torch.Tensor, mask_logits: torch.Tensor, rule: str) -> torch.Tensor:
    """
    Args:
        class_probs: [B, N, C] per-mask values (class probabilities, or any per-mask quantity).
        mask_logits: [B, N, H, W].
        rule: ``sigmoid_sum`` (MaskFormer: sum_q p_q(c) sigmoid(m_q)) or ``query_softmax``
            (each pixel's mass split among the masks by a softmax over their logits).
    Returns:
        [B, C, H, W] class scores.
    """
    if rule == "sigmoid_sum":
        weights = mask_logits.sigmoid()
    elif rule == "query_softmax":
        weights = mask_logits.softmax(dim=1)
    else:
        raise ValueError(f"combine rule must be one of {COMBINE_RULES}, got {rule!r}")
    return torch.einsum("bqc,bqhw->bchw", class_probs, weights)


def classify(features: torch.Tensor, class_embeddings: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Features [..., E] (not normalised), class embeddings [C, E] (normalised), inverse temperature
    -> class probabilities [..., C]: a softmax over the scaled cosine similarities."""
    features = torch.nn.functional.normalize(features, dim=-1)
    return (scale * features @ class_embeddings.t()).softmax(-1)
