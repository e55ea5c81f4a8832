"""Symmetric image-text InfoNCE with negatives gathered from every rank."""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.utils import comm
from torch import nn


class AllGatherWithGrad(torch.autograd.Function):
    """``[n, ...]`` on each of R ranks -> ``[R * n, ...]``, rank order, on every rank. Backward: the
    gradient of this rank's slice summed over the ranks (each rank's loss uses every slice), as
    ``torch.distributed.nn.all_gather`` (deprecated) does; an all-reduce, which every backend has."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.contiguous()
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor)
        ctx.num = tensor.shape[0]
        return torch.cat(gathered)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        rank = dist.get_rank()
        return grad[rank * ctx.num : (rank + 1) * ctx.num]


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
        if comm.get_world_size() > 1:
            image_emb, text_emb = AllGatherWithGrad.apply(image_emb), AllGatherWithGrad.apply(text_emb)
        self.num_pairs = image_emb.shape[0]  # of the global batch, for logging
        # A matmul, not an einsum: the einsum's text gradient is not contiguous (the gather's
        # backward makes it so before reducing).
        logits = logit_scale * (image_emb @ text_emb.t())
        labels = torch.arange(logits.shape[0], device=logits.device)
        return F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)
