"""COCO 2017 instance annotations -> COCO-Object semantic labels (81 classes).

Reads ``coco/annotations/instances_{train,val}2017.json`` and writes one PNG per image listed
there (images without annotations are all background) to
``coco/object_detectron2/{train,val}2017/<image id>.png``:

* 0 = background, 1..80 = the 80 thing categories sorted by category id
  (``COCO_CLASSES``); every instance of a class is painted with the class label, so the
  instances of a class merge into one semantic region;
* crowd regions (``iscrowd=1``) are 255 (ignored by the evaluator), except where a non-crowd
  instance covers them: crowd regions are painted first;
* overlapping non-crowd instances: larger instances (by mask pixel count) are painted first,
  so smaller objects on top of larger ones stay visible (ties: lower annotation id first).

Masks are decoded with pycocotools (``COCO.annToMask``: polygons, RLE and uncompressed RLE).
GroupViT built its COCO-Object labels from the COCO-Stuff ``stuffthingmaps`` instead (stuff
-> 0, unlabelled -> 255); this converter needs only the instances json.

Usage: ``python datasets/prepare_coco_object.py [--root $DETECTRON2_DATASETS]``
"""

import os
from typing import Optional, Sequence

import numpy as np
from pycocotools.coco import COCO

from pseg_d2.data.datasets.class_names import COCO_CLASSES
from pseg_d2.data.datasets.prepare_utils import (
    ConvertStats,
    convert_all,
    make_parser,
    read_coco_instances,
    require,
    run_cli,
)
from pseg_d2.data.datasets.register_coco_object import coco_object_label_dir

IGNORE = 255


def label_of_category(coco: COCO) -> dict:
    """COCO category id -> label 1..80 (the json's categories sorted by id)."""
    cats = sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])
    names = [c["name"] for c in cats]
    if names != COCO_CLASSES:
        raise ValueError(f"expected the 80 COCO thing categories, got {len(names)}: {names[:5]}...")
    return {c["id"]: i + 1 for i, c in enumerate(cats)}


def semantic_label(coco: COCO, image_id: int, labels: dict) -> np.ndarray:
    """Paint one image's instances into an 81-class label map [H, W]."""
    img = coco.imgs[image_id]
    label = np.zeros((img["height"], img["width"]), dtype=np.uint8)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
    for ann in anns:  # crowd regions first: any instance painted later wins over them
        if ann.get("iscrowd", 0):
            label[coco.annToMask(ann) > 0] = IGNORE
    things = [(ann, coco.annToMask(ann) > 0) for ann in anns if not ann.get("iscrowd", 0)]
    for ann, mask in sorted(things, key=lambda am: (-int(am[1].sum()), am[0]["id"])):
        label[mask] = labels[ann["category_id"]]  # larger first: small objects stay on top
    return label


def prepare_split(root: str, split: str) -> ConvertStats:
    """Convert every image of ``instances_<split>2017.json``."""
    json_path = require(
        os.path.join(root, "coco", "annotations", f"instances_{split}2017.json"),
        f"COCO {split}2017 instances json (annotations_trainval2017.zip)",
    )
    require(os.path.join(root, "coco", f"{split}2017"), f"COCO {split}2017 images")
    coco = read_coco_instances(json_path, f"COCO {split}2017 instances json")
    labels = label_of_category(coco)
    out_dir = coco_object_label_dir(root, split)

    def outputs_of(image_id):
        name = os.path.splitext(coco.imgs[image_id]["file_name"])[0]
        return [os.path.join(out_dir, f"{name}.png")]

    return convert_all(
        sorted(coco.getImgIds()),
        outputs_of,
        lambda image_id: [semantic_label(coco, image_id, labels)],
        desc=f"COCO-Object {split}2017",
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    args = parser.parse_args(argv)
    return {split: prepare_split(args.root, split) for split in args.splits}


if __name__ == "__main__":
    run_cli(main)
