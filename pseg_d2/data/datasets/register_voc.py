"""Pascal VOC 2012 semantic segmentation, as prepared by ``datasets/prepare_voc.py``.

Registers ``voc_2012_sem_seg_{train,val}`` (21 classes, "background" = 0) and
``voc_2012_sem_seg_val_nobg`` (the 20 object classes; background pixels are ignored). The
background-free labels are a second folder of PNGs written by the prepare script, so both
variants are plain ``load_sem_seg`` datasets that Detectron2's ``SemSegEvaluator`` reads as is.
"""

import os

from .catalog_utils import register_sem_seg
from .class_names import VOC_CLASSES, VOC_COLORS

VOC2012_DIR = os.path.join("VOCdevkit", "VOC2012")
PREPARE_SCRIPT = "datasets/prepare_voc.py"


def voc_label_dir(root: str, split: str, nobg: bool = False) -> str:
    """Folder of prepared label PNGs: 0..20 + 255, or 0..19 + 255 when ``nobg``."""
    folder = "annotations_detectron2_nobg" if nobg else "annotations_detectron2"
    return os.path.join(root, VOC2012_DIR, folder, split)


def register_all_voc(root: str) -> None:
    """Register the VOC datasets found under ``root`` (nothing is read until used)."""
    image_root = os.path.join(root, VOC2012_DIR, "JPEGImages")
    for split in ("train", "val"):
        register_sem_seg(
            f"voc_2012_sem_seg_{split}",
            image_root,
            voc_label_dir(root, split),
            ["background"] + VOC_CLASSES,
            VOC_COLORS,
            prepare_script=PREPARE_SCRIPT,
        )
    register_sem_seg(
        "voc_2012_sem_seg_val_nobg",
        image_root,
        voc_label_dir(root, "val", nobg=True),
        VOC_CLASSES,
        VOC_COLORS[1:],
        prepare_script=PREPARE_SCRIPT,
    )


register_all_voc(os.getenv("DETECTRON2_DATASETS", "datasets"))
