"""COCO-Stuff-164k ``stuffthingmaps`` -> 171 contiguous Detectron2 labels.

Reads ``coco/stuffthingmaps/{train,val}2017/*.png`` (from ``stuffthingmaps_trainval2017.zip``;
pixel value = COCO-Stuff category id - 1, so 0..181 with gaps for the 11 unused thing ids,
255 = unlabelled) and writes ``coco/stuffthingmaps_detectron2/{train,val}2017/*.png`` with
labels 0..170 in category-id order (``COCO_STUFF_CLASSES``: 80 things, then 91 stuff) and 255
for unlabelled pixels and any value that is not one of the 171 categories.

Usage: ``python datasets/prepare_coco_stuff.py [--root $DETECTRON2_DATASETS]``
"""

import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from pseg_d2.data.datasets.class_names import COCO_STUFF_IDS
from pseg_d2.data.datasets.prepare_utils import (
    ConvertStats,
    convert_all,
    make_parser,
    require,
    run_cli,
)
from pseg_d2.data.datasets.register_coco_stuff import coco_stuff_label_dir

IGNORE = 255

# stuffthingmaps value (category id - 1) -> contiguous label; everything else -> 255.
STUFF_LUT = np.full(256, IGNORE, dtype=np.uint8)
STUFF_LUT[np.array(COCO_STUFF_IDS) - 1] = np.arange(len(COCO_STUFF_IDS))


def read_stuffthingmap(path: str) -> np.ndarray:
    """Raw values of one 8-bit ``stuffthingmaps`` PNG."""
    with Image.open(path) as img:
        if img.mode not in ("L", "P"):
            raise ValueError(f"{path}: expected an 8-bit single-channel PNG, got mode {img.mode}")
        return np.array(img, dtype=np.uint8)


def prepare_split(root: str, split: str) -> ConvertStats:
    """Convert every map of one split."""
    src_dir = require(
        os.path.join(root, "coco", "stuffthingmaps", f"{split}2017"),
        f"COCO-Stuff {split}2017 stuffthingmaps (stuffthingmaps_trainval2017.zip)",
    )
    names = sorted(f for f in os.listdir(src_dir) if f.endswith(".png"))
    if not names:
        raise FileNotFoundError(f"no .png files in {src_dir}")
    out_dir = coco_stuff_label_dir(root, split)
    return convert_all(
        names,
        lambda name: [os.path.join(out_dir, name)],
        lambda name: [STUFF_LUT[read_stuffthingmap(os.path.join(src_dir, name))]],
        desc=f"COCO-Stuff {split}2017",
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    args = parser.parse_args(argv)
    return {split: prepare_split(args.root, split) for split in args.splits}


if __name__ == "__main__":
    run_cli(main)
