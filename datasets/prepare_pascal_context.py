"""Pascal Context (official 459-class annotations) -> 59- and 60-class Detectron2 labels.

Input, under ``VOCdevkit/VOC2010/`` (see datasets/README.md):

* ``trainval/<id>.mat``: the official per-image annotations (``trainval.tar.gz``); key
  ``LabelMap`` holds ids of the 459-class list (``labels.txt``), and
* ``ImageSets/Main/{train,val}.txt``: VOC2010's split (4998 / 5105 ids), or any lists given
  with ``--train-list`` / ``--val-list``;

or, with ``--detail-json``, the Detail API's ``trainval_merged.json`` (per image and category
one COCO-style compressed RLE in ``annos_segmentation``, painted in file order as the Detail
API's ``getMask`` does; the split comes from each image's ``phase``).

Output, under ``VOCdevkit/VOC2010/annotations_detectron2/``:

* ``pc59/{train,val}/<id>.png``: 0..58 for the 59 classes, 255 for everything else;
* ``pc60/{train,val}/<id>.png``: 0 = background (everything else), 1..59 for the 59 classes.

The 59 classes and their 459-list ids are the standard ones (MMSeg's ``pascal_context.py``
converter, the Detail API): ``PASCAL_CONTEXT_59`` below, in label order.

Usage: ``python datasets/prepare_pascal_context.py [--root R] [--detail-json FILE]``
"""

import json
import os
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util
import scipy.io

from pseg_d2.data.datasets.prepare_utils import (
    ConvertStats,
    convert_all,
    make_parser,
    read_id_list,
    require,
    run_cli,
    require_all,
)
from pseg_d2.data.datasets.register_pascal_context import VOC2010_DIR, pascal_context_label_dir

# (id in the official 459-class labels.txt, official name); the row index is the pc59 label.
PASCAL_CONTEXT_59 = (
    (2, "aeroplane"), (9, "bag"), (18, "bed"), (19, "bedclothes"), (22, "bench"),
    (23, "bicycle"), (25, "bird"), (31, "boat"), (33, "book"), (34, "bottle"),
    (44, "building"), (45, "bus"), (46, "cabinet"), (59, "car"), (65, "cat"),
    (68, "ceiling"), (72, "chair"), (80, "cloth"), (85, "computer"), (98, "cow"),
    (104, "cup"), (105, "curtain"), (113, "dog"), (115, "door"), (144, "fence"),
    (158, "floor"), (159, "flower"), (162, "food"), (187, "grass"), (189, "ground"),
    (207, "horse"), (220, "keyboard"), (232, "light"), (258, "motorbike"), (259, "mountain"),
    (260, "mouse"), (284, "person"), (295, "plate"), (296, "platform"), (308, "pottedplant"),
    (324, "road"), (326, "rock"), (347, "sheep"), (349, "shelves"), (354, "sidewalk"),
    (355, "sign"), (360, "sky"), (366, "snow"), (368, "sofa"), (397, "table"),
    (415, "track"), (416, "train"), (420, "tree"), (424, "truck"), (427, "tvmonitor"),
    (440, "wall"), (445, "water"), (454, "window"), (458, "wood"),
)  # fmt: skip
IGNORE = 255
MAX_RAW_ID = np.iinfo(np.uint16).max  # LabelMap is uint16

_ids = np.array([i for i, _ in PASCAL_CONTEXT_59])
PC59_LUT = np.full(MAX_RAW_ID + 1, IGNORE, dtype=np.uint8)
PC59_LUT[_ids] = np.arange(len(_ids))
PC60_LUT = np.zeros(MAX_RAW_ID + 1, dtype=np.uint8)
PC60_LUT[_ids] = np.arange(1, len(_ids) + 1)


def to_pc59_pc60(raw: np.ndarray) -> List[np.ndarray]:
    """459-class id map [H, W] -> [pc59 labels, pc60 labels]."""
    if raw.min() < 0 or raw.max() > MAX_RAW_ID:
        raise ValueError(f"459-class ids must lie in 0..{MAX_RAW_ID}")
    raw = raw.astype(np.int64)
    return [PC59_LUT[raw], PC60_LUT[raw]]


def mat_reader(mat_dir: str, ids: Sequence[str]) -> Callable[[str], np.ndarray]:
    """Raw 459-class maps from the official ``<id>.mat`` files."""
    require_all([os.path.join(mat_dir, f"{i}.mat") for i in ids], "Pascal Context .mat files")

    def read(image_id: str) -> np.ndarray:
        path = os.path.join(mat_dir, f"{image_id}.mat")
        mat = scipy.io.loadmat(path)
        if "LabelMap" not in mat:
            raise KeyError(f"{path} has no 'LabelMap' (keys: {sorted(mat)})")
        return mat["LabelMap"]

    return read


def detail_json_reader(json_path: str) -> Tuple[Dict[str, List[str]], Callable[[str], np.ndarray]]:
    """Image ids per phase ("train"/"val") and a reader of raw 459-class maps from the Detail
    API json: each annotation's RLE painted in file order, 0 where nothing is painted."""
    with open(json_path) as f:
        data = json.load(f)
    images = {os.path.splitext(img["file_name"])[0]: img for img in data["images"]}
    anns_by_image = defaultdict(list)
    for ann in data["annos_segmentation"]:
        anns_by_image[ann["image_id"]].append(ann)
    ids_by_phase = defaultdict(list)
    for image_id, img in sorted(images.items()):
        ids_by_phase[img["phase"]].append(image_id)

    def read(image_id: str) -> np.ndarray:
        img = images[image_id]
        raw = np.zeros((img["height"], img["width"]), dtype=np.uint16)
        for ann in anns_by_image[img["image_id"]]:
            raw[mask_util.decode(ann["segmentation"]) > 0] = ann["category_id"]
        return raw

    return ids_by_phase, read


def prepare_split(
    root: str, split: str, ids: Sequence[str], read_raw: Callable[[str], np.ndarray]
) -> ConvertStats:
    """Write pc59 and pc60 labels of ``ids``."""

    def outputs_of(image_id):
        return [
            os.path.join(pascal_context_label_dir(root, n, split), f"{image_id}.png")
            for n in (59, 60)
        ]

    return convert_all(
        ids, outputs_of, lambda i: to_pc59_pc60(read_raw(i)), desc=f"Pascal Context {split}"
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--mat-dir", help="folder of <id>.mat (default: VOCdevkit/VOC2010/trainval)"
    )
    parser.add_argument("--train-list", help="default: VOCdevkit/VOC2010/ImageSets/Main/train.txt")
    parser.add_argument("--val-list", help="default: VOCdevkit/VOC2010/ImageSets/Main/val.txt")
    parser.add_argument("--detail-json", help="use this trainval_merged.json instead of .mat files")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    args = parser.parse_args(argv)
    voc_dir = os.path.join(args.root, VOC2010_DIR)
    require(os.path.join(voc_dir, "JPEGImages"), "VOC2010 JPEGImages (VOCtrainval_03-May-2010.tar)")

    stats = {}
    if args.detail_json:
        ids_by_phase, read_raw = detail_json_reader(require(args.detail_json, "Detail API json"))
        for split in args.splits:
            if not ids_by_phase.get(split):
                raise ValueError(f"{args.detail_json} has no images with phase '{split}'")
            stats[split] = prepare_split(args.root, split, ids_by_phase[split], read_raw)
        return stats

    mat_dir = args.mat_dir or os.path.join(voc_dir, "trainval")
    require(mat_dir, "Pascal Context .mat folder (trainval.tar.gz)")
    for split in args.splits:
        list_path = getattr(args, f"{split}_list") or os.path.join(
            voc_dir, "ImageSets", "Main", f"{split}.txt"
        )
        ids = read_id_list(list_path, f"Pascal Context {split} list")
        stats[split] = prepare_split(args.root, split, ids, mat_reader(mat_dir, ids))
    return stats


if __name__ == "__main__":
    run_cli(main)
