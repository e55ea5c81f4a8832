"""``PSegPlusTrainer``: Detectron2's ``DefaultTrainer`` for P-Seg+ (a ``SemanticSegmentor`` with a ViT
pyramid and UperNet) trained on pseudo labels: layer-wise-decayed AdamW, crop/flip sem-seg loader,
``SemSegEvaluator`` on datasets with the training classes."""
import logging
import os
import weakref

from detectron2.data import DatasetMapper, MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.evaluation import SemSegEvaluator
from detectron2.solver.build import maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..engine.checkpoint import PSegCheckpointer
from ..engine.trainer import create_ddp_model
from .lr_scheduler import build_warmup_poly_lr_scheduler
from .mapper import SemSegTrainMapper
from .optimizer import build_layer_decay_adamw
from .pseudo_labels import register_pseudo_label_datasets


class PSegPlusTrainer(DefaultTrainer):
    """Trains on ``DATASETS.TRAIN`` (``<source>_pseudo`` names are registered from
    ``DATASETS.PSEUDO_LABELS_ROOT``); evaluates ``DATASETS.TEST`` with ``SemSegEvaluator``."""

    def __init__(self, cfg):
        # DefaultTrainer.__init__ with P-Seg's create_ddp_model (CPU gloo runs) and atomic checkpoints.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(model, broadcast_buffers=False)
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = PSegCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def train(self):
        """Train, then return the final evaluation results (``{dataset: {"sem_seg": ...}}``, or None)."""
        super().train()
        return getattr(self, "_last_eval_results", None)

    @classmethod
    def build_train_loader(cls, cfg):
        register_pseudo_label_datasets(cfg)
        for name in cfg.DATASETS.TRAIN:
            check_classes(cfg, name)
        return build_detection_train_loader(cfg, mapper=SemSegTrainMapper(cfg))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """Test-time resize only; TEST.IMS_PER_BATCH images per batch."""
        return build_detection_test_loader(cfg, dataset_name, mapper=DatasetMapper(cfg, is_train=False),
                                           batch_size=cfg.TEST.IMS_PER_BATCH)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return maybe_add_gradient_clipping(cfg, build_layer_decay_adamw(cfg, model))

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        if cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupPolyLR":
            return build_warmup_poly_lr_scheduler(cfg, optimizer)
        return super().build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        check_classes(cfg, dataset_name)
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)


def check_classes(cfg, dataset_name: str) -> None:
    """A closed-vocabulary model only trains on and evaluates datasets with MODEL.SEM_SEG_HEAD.NUM_CLASSES classes."""
    metadata = MetadataCatalog.get(dataset_name)
    classes = metadata.get("stuff_classes")
    if classes is None or len(classes) != cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES:
        raise ValueError(f"{dataset_name!r} has {None if classes is None else len(classes)} classes but the model "
                         f"predicts MODEL.SEM_SEG_HEAD.NUM_CLASSES={cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES}")
