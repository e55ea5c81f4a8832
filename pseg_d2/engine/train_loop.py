"""The training step with P-Seg's speed and scale switches: autocast on any device, gradient caching,
JPEG decoding on the GPU."""
import logging
import time
from contextlib import nullcontext
from functools import partial
from typing import Callable, List, Optional, Tuple

import torch
from detectron2.engine import SimpleTrainer

from ..data.device_decode import decode_batch
from ..data.skips import SkipAccounting
from .grad_cache import grad_cached_backward

logger = logging.getLogger(__name__)

PRECISIONS = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class PSegStepTrainer(SimpleTrainer):
    """Detectron2's ``SimpleTrainer`` step, plus:

    - ``precision``: forwards under ``torch.autocast`` on the model's device (CUDA or CPU); float16
      uses a gradient scaler (CUDA only), bfloat16 needs none. Detectron2's ``AMPTrainer`` does the
      same on CUDA only.
    - ``contrastive_micro_batch``: gradients of the contrastive loss cached over micro-batches of this
      many images (:func:`grad_cached_backward`), so a large batch fits in memory.
    - ``decode``: applied to each batch from the loader, ``batch -> (batch, number of images dropped)``
      (:func:`decode_batch`, for INPUT.DECODE_DEVICE "cuda"); see :meth:`next_batch`.
    """

    def __init__(
        self, model, data_loader, optimizer, precision=None, contrastive_micro_batch: int = 0,
        decode: Optional[Callable[[List[dict]], Tuple[List[dict], int]]] = None,
    ):
        super().__init__(model, data_loader, optimizer)
        device = next(model.parameters()).device
        if precision == torch.float16 and device.type != "cuda":
            raise ValueError("SOLVER.AMP.PRECISION float16 needs CUDA; use bfloat16 on the CPU")
        self.autocast = partial(torch.autocast, device.type, dtype=precision) if precision is not None else nullcontext
        self.grad_scaler = torch.amp.GradScaler("cuda") if precision == torch.float16 else None
        self.contrastive_micro_batch = contrastive_micro_batch
        self.decode = decode
        self._decoded_left: List[dict] = []  # decoded inputs beyond the last full batch
        self._decode_failures = 0

    def backward(self, loss: torch.Tensor) -> None:
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward()

    def run_step(self):
        assert self.model.training, "[PSegStepTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = self.next_batch()
        data_time = time.perf_counter() - start

        self.optimizer.zero_grad()
        if self.contrastive_micro_batch:
            loss_dict = grad_cached_backward(self.model, data, self.contrastive_micro_batch, self.backward, self.autocast)
        else:
            with self.autocast():
                loss_dict = self.model(data)
            self.backward(sum(loss_dict.values()))
        self.after_backward()
        self._write_metrics(loss_dict, data_time)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def next_batch(self) -> List[dict]:
        """The loader's next batch; with ``decode``, decoded. Images that fail to decode are dropped,
        counted as skipped, and replaced from the following batches: every step keeps the loader's
        batch size, which the contrastive loss's gather across ranks needs."""
        if self.decode is None:
            return next(self._data_loader_iter)
        while True:
            batch = next(self._data_loader_iter)
            decoded, failed = self.decode(batch)
            if failed:
                self._count_decode_failures(failed)
            self._decoded_left.extend(decoded)
            if len(self._decoded_left) >= len(batch):
                data, self._decoded_left = self._decoded_left[: len(batch)], self._decoded_left[len(batch):]
                return data

    def _count_decode_failures(self, count: int) -> None:
        """In the loader's skip counts when it keeps them (:class:`SkipAccounting`), else in a warning."""
        if isinstance(self.data_loader, SkipAccounting):
            self.data_loader.skip_used("undecodable_image", count)
            return
        self._decode_failures += count
        logger.warning("dropped %d training JPEG(s) that failed to decode (%d so far)", count, self._decode_failures)

    def state_dict(self):
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])


def build_train_loop(cfg, model, data_loader, optimizer) -> SimpleTrainer:
    """Detectron2's ``SimpleTrainer`` when SOLVER.AMP.ENABLED and SOLVER.CONTRASTIVE_MICRO_BATCH are off
    and INPUT.DECODE_DEVICE is "cpu" (the default), else :class:`PSegStepTrainer`."""
    micro_batch = cfg.SOLVER.CONTRASTIVE_MICRO_BATCH
    if micro_batch < 0:
        raise ValueError(f"SOLVER.CONTRASTIVE_MICRO_BATCH must be >= 0, got {micro_batch}")
    decode = None
    if cfg.INPUT.DECODE_DEVICE == "cuda":  # the current CUDA device: Detectron2's launch sets it to each rank's GPU
        decode = partial(decode_batch, device="cuda", crop_size=cfg.INPUT.CROP_SIZE, image_format=cfg.INPUT.FORMAT)
    if not cfg.SOLVER.AMP.ENABLED and not micro_batch and decode is None:
        return SimpleTrainer(model, data_loader, optimizer)
    precision = None
    if cfg.SOLVER.AMP.ENABLED:
        if cfg.SOLVER.AMP.PRECISION not in PRECISIONS:
            raise ValueError(f"SOLVER.AMP.PRECISION must be one of {sorted(PRECISIONS)}, got {cfg.SOLVER.AMP.PRECISION!r}")
        precision = PRECISIONS[cfg.SOLVER.AMP.PRECISION]
    return PSegStepTrainer(model, data_loader, optimizer, precision, micro_batch, decode)
