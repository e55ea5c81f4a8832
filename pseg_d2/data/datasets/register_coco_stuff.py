"""COCO-Stuff-164k with 171 classes, as prepared by ``datasets/prepare_coco_stuff.py``.

Detectron2 registers COCO's panoptic "stuffonly" sets (54 merged classes) but not the
171-class COCO-Stuff semantic sets, so this registers ``coco_stuff_164k_sem_seg_{train,val}``:
labels 0..170 (80 things, then 91 stuff classes, each in category-id order), 255 = ignore.
"""

import os

from .catalog_utils import register_sem_seg
from .class_names import COCO_STUFF_CLASSES, COCO_STUFF_COLORS, COCO_STUFF_IDS
PREPARE_SCRIPT = "datasets/prepare_coco_stuff.py"


def coco_stuff_label_dir(root: str, split: str) -> str:
    """Folder of prepared label PNGs; ``split`` is "train" or "val"."""
    return os.path.join(root, "coco", "stuffthingmaps_detectron2", f"{split}2017")


def register_all_coco_stuff(root: str) -> None:
    """Register the COCO-Stuff datasets found under ``root`` (nothing is read until used)."""
    for split in ("train", "val"):
        register_sem_seg(
            f"coco_stuff_164k_sem_seg_{split}",
            os.path.join(root, "coco", f"{split}2017"),
            coco_stuff_label_dir(root, split),
            COCO_STUFF_CLASSES,
            COCO_STUFF_COLORS,
            # lets SemSegEvaluator write COCO category ids into sem_seg_predictions.json
            stuff_dataset_id_to_contiguous_id={cid: i for i, cid in enumerate(COCO_STUFF_IDS)},
            prepare_script=PREPARE_SCRIPT,
        )


register_all_coco_stuff(os.getenv("DETECTRON2_DATASETS", "datasets"))
