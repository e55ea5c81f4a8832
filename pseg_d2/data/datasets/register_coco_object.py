"""COCO-Object (80 COCO things + background), as prepared by ``datasets/prepare_coco_object.py``.

Registers ``coco_object_sem_seg_{train,val}``: label 0 = background, 1..80 = the COCO thing
categories sorted by category id; all instances of a class are one semantic region.
"""

import os

from .catalog_utils import register_sem_seg
from .class_names import COCO_CLASSES, COCO_OBJECT_COLORS
PREPARE_SCRIPT = "datasets/prepare_coco_object.py"


def coco_object_label_dir(root: str, split: str) -> str:
    """Folder of prepared label PNGs; ``split`` is "train" or "val"."""
    return os.path.join(root, "coco", "object_detectron2", f"{split}2017")


def register_all_coco_object(root: str) -> None:
    """Register the COCO-Object datasets found under ``root`` (nothing is read until used)."""
    for split in ("train", "val"):
        register_sem_seg(
            f"coco_object_sem_seg_{split}",
            os.path.join(root, "coco", f"{split}2017"),
            coco_object_label_dir(root, split),
            ["background"] + COCO_CLASSES,
            COCO_OBJECT_COLORS,
            prepare_script=PREPARE_SCRIPT,
        )


register_all_coco_object(os.getenv("DETECTRON2_DATASETS", "datasets"))
