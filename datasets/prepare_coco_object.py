"""COCO 2017 instance annotations -> COCO-Object semantic labels (81 classes), as GroupViT's.

Reads ``coco/annotations/instances_{train,val}2017.json`` and writes one PNG per image listed
there (images without annotations are all background) to
``coco/object_detectron2/{train,val}2017/<image id>.png``: 0 = background, 1..80 = the 80 thing
categories sorted by category id (``COCO_CLASSES``); the instances of a class merge into one region.

Rules (``--rule``):

* ``groupvit`` (default): GroupViT's labels. GroupViT (``convert_dataset/convert_coco_object.py``)
  maps the COCO-Stuff ``stuffthingmaps`` to COCO-Object: things -> 1..80, stuff and unlabelled -> 0.
  Those maps paint the instances as COCO-Stuff's tool does (``cocoSegmentationToPng`` of
  ``cocostuffapi``): in the json's annotation order, each on top of the earlier ones, crowd regions
  left out. So here: crowd regions are background (0) unless an instance covers them, a later
  instance wins where instances overlap, and every other pixel is 0.
* ``pseg``: crowd regions are 255 (ignored by the evaluator) unless a non-crowd instance covers
  them; overlapping instances are painted larger first (by mask pixel count; ties: lower annotation
  id first), so a small object on a larger one stays visible.

Masks are decoded with pycocotools (``COCO.annToMask``: polygons, RLE and uncompressed RLE).

Usage: ``python datasets/prepare_coco_object.py [--root $DETECTRON2_DATASETS] [--rule groupvit|pseg]``
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
RULES = ("groupvit", "pseg")


def label_of_category(coco: COCO) -> dict:
    """COCO category id -> label 1..80 (the json's categories sorted by id)."""
    cats = sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])
    names = [c["name"] for c in cats]
    if names != COCO_CLASSES:
        raise ValueError(f"expected the 80 COCO thing categories, got {len(names)}: {names[:5]}...")
    return {c["id"]: i + 1 for i, c in enumerate(cats)}


def semantic_label(coco: COCO, image_id: int, labels: dict, rule: str = "groupvit") -> np.ndarray:
    """Paint one image's instances into an 81-class label map [H, W] by ``rule`` (see the module doc)."""
    if rule not in RULES:
        raise ValueError(f"unknown COCO-Object rule {rule!r}; known: {', '.join(RULES)}")
    img = coco.imgs[image_id]
    label = np.zeros((img["height"], img["width"]), dtype=np.uint8)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))  # the json's order
    things = [ann for ann in anns if not ann.get("iscrowd", 0)]
    if rule == "groupvit":  # json order, later on top; crowd regions stay background
        for ann in things:
            label[coco.annToMask(ann) > 0] = labels[ann["category_id"]]
        return label
    for ann in anns:  # crowd regions first: any instance painted later wins over them
        if ann.get("iscrowd", 0):
            label[coco.annToMask(ann) > 0] = IGNORE
    masks = [(ann, coco.annToMask(ann) > 0) for ann in things]
    for ann, mask in sorted(masks, key=lambda am: (-int(am[1].sum()), am[0]["id"])):
        label[mask] = labels[ann["category_id"]]  # larger first: small objects stay on top
    return label


def prepare_split(root: str, split: str, rule: str = "groupvit") -> ConvertStats:
    """Convert every image of ``instances_<split>2017.json`` by ``rule``."""
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
        lambda image_id: [semantic_label(coco, image_id, labels, rule)],
        desc=f"COCO-Object {split}2017",
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    parser.add_argument("--rule", default="groupvit", choices=RULES,
                        help="groupvit: GroupViT's labels (default); pseg: crowd ignored, larger instances first")
    args = parser.parse_args(argv)
    return {split: prepare_split(args.root, split, args.rule) for split in args.splits}


if __name__ == "__main__":
    run_cli(main)
