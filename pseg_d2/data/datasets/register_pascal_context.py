"""Pascal Context (59 / 60 classes), as prepared by ``datasets/prepare_pascal_context.py``.

Registers ``pascal_context_59_sem_seg_{train,val}`` (59 classes, everything else ignored) and
``pascal_context_60_sem_seg_{train,val}`` (label 0 = background, i.e. everything outside the
59 classes, then the 59). Images are VOC2010's ``JPEGImages``.
"""

import os

from .catalog_utils import register_sem_seg
from .class_names import PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_60_COLORS

VOC2010_DIR = os.path.join("VOCdevkit", "VOC2010")
PREPARE_SCRIPT = "datasets/prepare_pascal_context.py"


def pascal_context_label_dir(root: str, num_classes: int, split: str) -> str:
    """Folder of prepared label PNGs for ``num_classes`` 59 or 60."""
    return os.path.join(root, VOC2010_DIR, "annotations_detectron2", f"pc{num_classes}", split)


def register_all_pascal_context(root: str) -> None:
    """Register the Pascal Context datasets found under ``root`` (nothing is read until used)."""
    image_root = os.path.join(root, VOC2010_DIR, "JPEGImages")
    for split in ("train", "val"):
        register_sem_seg(
            f"pascal_context_59_sem_seg_{split}",
            image_root,
            pascal_context_label_dir(root, 59, split),
            PASCAL_CONTEXT_59_CLASSES,
            PASCAL_CONTEXT_60_COLORS[1:],
            prepare_script=PREPARE_SCRIPT,
        )
        register_sem_seg(
            f"pascal_context_60_sem_seg_{split}",
            image_root,
            pascal_context_label_dir(root, 60, split),
            ["background"] + PASCAL_CONTEXT_59_CLASSES,
            PASCAL_CONTEXT_60_COLORS,
            prepare_script=PREPARE_SCRIPT,
        )


register_all_pascal_context(os.getenv("DETECTRON2_DATASETS", "datasets"))
