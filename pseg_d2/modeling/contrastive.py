"""Symmetric image-text InfoNCE with negatives gathered from every rank."""
import torch
import torch.nn.functional as F
from detectron2.utils import comm
from open_clip.loss import gather_features
from torch import nn


class ContrastiveLoss(nn.Module):
    """``L = CE(s * x y^T, I) + CE(s * y x^T, I)`` over the global batch (the paper's Eq. 1 and 2).

    In distributed training the embeddings of all ranks are gathered with gradients, so every rank
    computes the loss of the concatenated batch and each sample sees all others as negatives.
    """

    def forward(self, image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image_emb: [n, d] L2-normalised image embeddings.
            text_emb: [n, d] L2-normalised embeddings of the aligned captions on this rank.
            logit_scale: scalar, the inverse temperature (already exponentiated).
        """
        world_size = comm.get_world_size()
        if world_size > 1:
            image_emb, text_emb = gather_features(
                image_emb, text_emb, gather_with_grad=True, rank=comm.get_rank(), world_size=world_size
            )
        self.num_pairs = image_emb.shape[0]  # of the global batch, for logging
        # A matmul, not an einsum: the einsum's text gradient is not contiguous, and the gathered
        # halves' gradients then came back wrong through gloo's all-gather backward.
        logits = logit_scale * (image_emb @ text_emb.t())
        labels = torch.arange(logits.shape[0], device=logits.device)
        return F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)
