"""``PSegTrainer``: the :class:`BaseTrainer` with P-Seg's image-text data, optimiser and evaluators."""
import logging
import os
from collections import Counter

import torch
from detectron2.data import MetadataCatalog, build_detection_test_loader
from detectron2.engine import HookBase
from detectron2.evaluation import SemSegEvaluator
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils import comm

from ..data import VocabularyDatasetMapper, build_image_text_train_loader
from ..data.image_text_loader import restart_data_order
from ..data.skips import SkipAccounting
from .base_trainer import BaseTrainer


def build_pseg_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The paper's AdamW (``SOLVER.BASE_LR``, ``WEIGHT_DECAY``, ``BETAS``, gradient clipping); no weight
    decay on norms, biases, the text positional embedding and the temperature. Detectron2's own
    ``build_optimizer`` is SGD: a ``DefaultTrainer`` subclass returns this from ``build_optimizer``."""
    if cfg.SOLVER.OPTIMIZER.upper() != "ADAMW":
        raise ValueError(f"SOLVER.OPTIMIZER={cfg.SOLVER.OPTIMIZER!r}: P-Seg trains with ADAMW")
    params = get_default_optimizer_params(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        weight_decay_norm=0.0,
        weight_decay_bias=0.0,
        overrides={
            "logit_scale": {"weight_decay": 0.0},
            "positional_embedding": {"weight_decay": 0.0},
        },
    )
    optimizer = torch.optim.AdamW(params, lr=cfg.SOLVER.BASE_LR, betas=tuple(cfg.SOLVER.BETAS), weight_decay=cfg.SOLVER.WEIGHT_DECAY)
    return maybe_add_gradient_clipping(cfg, optimizer)


class SkipCountLogger(HookBase):
    """Every ``period`` steps, sums the skipped-sample counts of all ranks and puts them into the event
    storage (``data_skipped/<reason>``), so they reach the log and ``metrics.json``; logs this rank's
    totals when training ends."""

    def __init__(self, accounting: SkipAccounting, period: int = 20):
        self.accounting = accounting
        self.period = period

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if next_iter % self.period and next_iter != self.trainer.max_iter:
            return
        skipped, used = Counter(), 0
        for rank_skipped, rank_used in comm.all_gather((dict(self.accounting.skipped), self.accounting.used)):
            skipped.update(rank_skipped)
            used += rank_used
        storage = self.trainer.storage
        for reason, count in skipped.items():
            storage.put_scalar(f"data_skipped/{reason}", count, smoothing_hint=False)
        total = used + sum(skipped.values())
        storage.put_scalar("data_skipped/fraction", sum(skipped.values()) / total if total else 0.0, smoothing_hint=False)

    def after_train(self):
        logging.getLogger(__name__).info(
            "Training samples used: %d; skipped by reason: %s", self.accounting.used, dict(self.accounting.skipped) or "none"
        )


class PSegTrainer(BaseTrainer):
    """Trains on image-text shards; evaluates every ``DATASETS.TEST`` entry with ``SemSegEvaluator``,
    querying the model with that dataset's class names."""

    @classmethod
    def build_train_loader(cls, cfg):
        return SkipAccounting(build_image_text_train_loader(cfg), cfg.DATALOADER.MAX_SKIP_FRACTION)

    def build_hooks(self):
        hooks = super().build_hooks()
        hooks.insert(1, SkipCountLogger(self._trainer.data_loader))  # before the writers, which come last
        return hooks

    def resume_or_load(self, resume=True):
        """Load weights, or resume the whole run; a resumed run replays or redraws its data order
        (``DATALOADER.RESUME_REPLAY``), so it never reads the first run's first batches again."""
        super().resume_or_load(resume=resume)
        if self.start_iter == 0:
            return
        if self.cfg.DATALOADER.RESUME_REPLAY:
            logging.getLogger(__name__).info(f"Replaying the first {self.start_iter} batches of the data order")
            for _ in range(self.start_iter):
                next(self._trainer._data_loader_iter)  # Detectron2's accessor of the training iterator
        else:
            restart_data_order(self._trainer.data_loader.loader, self.start_iter)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=VocabularyDatasetMapper(cfg, dataset_name), batch_size=cfg.TEST.IMS_PER_BATCH
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type", "sem_seg")
        if evaluator_type not in ("sem_seg", "cityscapes_sem_seg"):  # Cityscapes' trainId maps read as sem_seg
            raise ValueError(f"P-Seg evaluates semantic segmentation; {dataset_name!r} has evaluator_type {evaluator_type!r}")
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_pseg_optimizer(cfg, model)
