"""``BaseTrainer``: Detectron2's ``DefaultTrainer`` set up for CPU and GPU runs alike, shared by the
P-Seg and P-Seg+ trainers."""
import inspect
import logging
import weakref

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultTrainer, TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import PSegCheckpointer, require_weights_file
from .step_seed import StepSeedHook
from .train_loop import build_train_loop


def create_ddp_model(model: torch.nn.Module, **kwargs) -> torch.nn.Module:
    """Wrap in DDP when distributed; CPU models get ``device_ids=None`` (Detectron2 passes a GPU id).
    Buffers are not broadcast at every forward (Detectron2's ``broadcast_buffers=False``)."""
    if comm.get_world_size() == 1:
        return model
    device_ids = [comm.get_local_rank()] if next(model.parameters()).is_cuda else None
    # torch 2.14 deprecates broadcast_buffers for forward_sync_buffers, which also syncs the buffers
    # once at construction: harmless here, every rank builds the same ones.
    renamed = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    sync = "forward_sync_buffers" if renamed else "broadcast_buffers"
    return DistributedDataParallel(model, device_ids=device_ids, **{sync: False}, **kwargs)


def check_test_datasets(cfg) -> None:
    """Raise a ``KeyError`` listing the registered names if a ``DATASETS.TEST`` entry is unknown."""
    unknown = [name for name in cfg.DATASETS.TEST if name not in DatasetCatalog.list()]
    if unknown:
        raise KeyError(
            f"DATASETS.TEST names unregistered datasets {unknown}; registered: {sorted(DatasetCatalog.list())}"
        )


class BaseTrainer(DefaultTrainer):
    """``DefaultTrainer`` with:

    - DDP on the CPU too (gloo), through :func:`create_ddp_model`;
    - the training step of :func:`build_train_loop` (bf16/fp16 autocast, gradient caching);
    - atomic, weights-only checkpoints (:class:`PSegCheckpointer`);
    - random state seeded per iteration (:class:`StepSeedHook`);
    - early errors for an unknown ``DATASETS.TEST`` name or a missing ``MODEL.WEIGHTS`` file;
    - ``train()`` returning the last evaluation's results.
    """

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        check_test_datasets(cfg)  # before training, not hours later at the first evaluation
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(model)
        self._trainer = build_train_loop(cfg, model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = PSegCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def build_hooks(self):
        hooks = super().build_hooks()
        base_seed = self.cfg.SEED if self.cfg.SEED >= 0 else comm.shared_random_seed()
        hooks.insert(0, StepSeedHook(base_seed))
        return hooks

    def resume_or_load(self, resume=True):
        if not (resume and self.checkpointer.has_checkpoint()):
            require_weights_file(self.cfg.MODEL.WEIGHTS)
        super().resume_or_load(resume=resume)

    def train(self):
        """Train, then return the final evaluation results (``{dataset: {"sem_seg": ...}}``, or None)."""
        super().train()
        return getattr(self, "_last_eval_results", None)
