"""``PSegPlusTrainer``: the :class:`BaseTrainer` for P-Seg+ (a ``SemanticSegmentor`` with a ViT
pyramid and UperNet) trained on pseudo labels: layer-wise-decayed AdamW, crop/flip sem-seg loader,
``SemSegEvaluator`` on datasets with the training classes."""
import os

from detectron2.data import DatasetMapper, MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.evaluation import SemSegEvaluator
from detectron2.solver.build import maybe_add_gradient_clipping

from ..engine.base_trainer import BaseTrainer
from .lr_scheduler import build_warmup_poly_lr_scheduler
from .mapper import SemSegTrainMapper
from .optimizer import build_layer_decay_adamw
from .pseudo_labels import register_pseudo_label_datasets


class PSegPlusTrainer(BaseTrainer):
    """Trains on ``DATASETS.TRAIN`` (``<source>_pseudo`` names are registered from
    ``DATASETS.PSEUDO_LABELS_ROOT``); evaluates ``DATASETS.TEST`` with ``SemSegEvaluator``."""

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
