"""Gradient caching of the contrastive loss: large contrastive batches in micro-batches (the GradCache idea).

The contrastive loss couples every pair of the batch, so it cannot be split like the per-image mask
losses. One step runs in two passes over micro-batches:

1. without a graph, each micro-batch's image and text embeddings are computed and kept; the
   pseudo-masks of the whole batch are computed once;
2. the contrastive loss of the whole batch (negatives gathered from every rank, as usual) is
   differentiated with respect to the embeddings and the temperature only; then each micro-batch is
   run again with a graph, and its mask losses plus ``<embedding, cached gradient>`` are
   back-propagated. The RNG state of pass 1 is replayed, so dropout draws the same masks.

The parameter gradients equal those of the whole batch at once, except for batch-statistics layers
(BatchNorm in training mode sees micro-batches): use GroupNorm, LayerNorm or frozen BatchNorm.
"""
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, List

import torch
from detectron2.utils.events import get_event_storage
from torch.nn.parallel import DistributedDataParallel


class _RngState:
    """The CPU and (on CUDA) current-device RNG states, to replay a forward's random draws."""

    def __init__(self, device: torch.device):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        self.device = device

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


class _EmbeddingPass:
    """``grad_cache`` hook of pass 1: keeps a micro-batch's embeddings [n, E] and raw images."""

    def __init__(self):
        self.image_emb: List[torch.Tensor] = []
        self.text_emb: List[torch.Tensor] = []
        self.raw: List[torch.Tensor] = []
        self.mask_size = None

    def __call__(self, model, raw, layer_masks, image_emb, text_emb) -> Dict[str, torch.Tensor]:
        self.image_emb.append(image_emb.float())
        self.text_emb.append(text_emb.float())
        self.raw.append(raw)
        self.mask_size = layer_masks[-1].shape[-2:]
        return {}


class _ReplayPass:
    """``grad_cache`` hook of pass 2: the micro-batch's mask losses (normalised as for the whole batch)
    and the surrogate whose gradient is the cached contrastive gradient."""

    def __init__(self, targets, valid, num_masks, image_grad, text_grad, scale_grad):
        self.targets, self.valid, self.num_masks = targets, valid, num_masks
        self.image_grad, self.text_grad, self.scale_grad = image_grad, text_grad, scale_grad

    def __call__(self, model, raw, layer_masks, image_emb, text_emb) -> Dict[str, torch.Tensor]:
        losses = model.mask_losses(layer_masks, self.targets, self.valid, self.num_masks)
        surrogate = (
            (image_emb.float() * self.image_grad).sum()
            + (text_emb.float() * self.text_grad).sum()
            + model.scale() * self.scale_grad
        )
        return {**losses, "contrastive_surrogate": surrogate}


def grad_cached_backward(
    model: torch.nn.Module,
    batched_inputs: List[dict],
    micro_batch: int,
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward,
    autocast: Callable[[], ContextManager] = nullcontext,
) -> Dict[str, torch.Tensor]:
    """Accumulate into ``.grad`` the gradients of a P-Seg's losses on ``batched_inputs``, running at most
    ``micro_batch`` images at a time with a graph.

    Args:
        model: a ``PSeg`` in training mode, or its ``DistributedDataParallel`` wrapper (gradients are
            all-reduced once, after the last micro-batch).
        batched_inputs: this rank's training inputs; all images must have one size (training crops).
        backward: called on each micro-batch's loss, e.g. a gradient scaler's ``scale(l).backward()``.
        autocast: a context manager factory wrapped around every forward.
    Returns:
        the batch's weighted losses, detached, as the model's forward names them.
    """
    if micro_batch <= 0:
        raise ValueError(f"SOLVER.CONTRASTIVE_MICRO_BATCH must be > 0 to cache gradients, got {micro_batch}")
    module = model.module if isinstance(model, DistributedDataParallel) else model
    chunks = [batched_inputs[i : i + micro_batch] for i in range(0, len(batched_inputs), micro_batch)]

    embeddings = _EmbeddingPass()
    rng_states = []
    with torch.no_grad():
        for chunk in chunks:
            rng_states.append(_RngState(module.device))
            with autocast():
                module(chunk, grad_cache=embeddings)
    if len({raw.shape[-2:] for raw in embeddings.raw}) > 1:
        raise ValueError(
            "SOLVER.CONTRASTIVE_MICRO_BATCH needs training images of one size (INPUT.CROP_SIZE crops); got "
            f"{sorted({tuple(raw.shape[-2:]) for raw in embeddings.raw})}"
        )
    targets, valid = module.pseudo_mask_targets(torch.cat(embeddings.raw), embeddings.mask_size)
    num_masks = module.criterion.num_masks(valid)

    image_emb = torch.cat(embeddings.image_emb).requires_grad_()
    text_emb = torch.cat(embeddings.text_emb).requires_grad_()
    scale = module.scale().detach().requires_grad_()
    contrastive = module.contrastive_weight * module.contrastive_loss(image_emb, text_emb, scale)
    image_grad, text_grad, scale_grad = torch.autograd.grad(contrastive, [image_emb, text_emb, scale])

    totals: Dict[str, torch.Tensor] = {}
    start = 0
    for i, (chunk, rng) in enumerate(zip(chunks, rng_states)):
        part = slice(start, start + len(chunk))
        start += len(chunk)
        replay = _ReplayPass(
            targets[part], valid[part], num_masks, image_grad[part], text_grad[part], scale_grad / len(chunks)
        )
        rng.restore()
        last = i == len(chunks) - 1
        with model.no_sync() if isinstance(model, DistributedDataParallel) and not last else nullcontext():
            with autocast():
                losses = model(chunk, grad_cache=replay)
            backward(sum(losses.values()))
        for name, value in losses.items():
            if name != "contrastive_surrogate":
                totals[name] = totals.get(name, 0.0) + value.detach()

    totals["loss_contrastive"] = contrastive.detach()
    storage = get_event_storage()
    storage.put_scalar("contrastive_pairs", module.contrastive_loss.num_pairs, smoothing_hint=False)
    storage.put_scalar("logit_scale", scale.item(), smoothing_hint=False)
    return totals
