"""Pascal VOC 2012 (official tarball layout) -> Detectron2 semantic-segmentation labels.

Reads ``VOCdevkit/VOC2012/SegmentationClass/*.png`` (palette PNGs: the palette index is the
class, 0 = background, 1..20 = objects, 255 = the "void" boundary band) for the ids listed in
``ImageSets/Segmentation/{train,val}.txt`` and writes, under ``VOCdevkit/VOC2012/``:

* ``annotations_detectron2/{train,val}/<id>.png``: 0 = background, 1..20, 255 = ignore;
* ``annotations_detectron2_nobg/val/<id>.png``: background -> 255, class k -> k - 1 (0..19).

Usage: ``python datasets/prepare_voc.py [--root $DETECTRON2_DATASETS]``
"""

import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from pseg_d2.data.datasets.prepare_utils import (
    ConvertStats,
    convert_all,
    make_parser,
    read_id_list,
    require,
    run_cli,
    require_all,
)
from pseg_d2.data.datasets.register_voc import VOC2012_DIR, voc_label_dir

NUM_CLASSES = 21  # background + 20
IGNORE = 255

# Lookup table for the background-free variant: 0 -> ignore, k -> k - 1, 255 -> 255.
NOBG_LUT = np.full(256, IGNORE, dtype=np.uint8)
NOBG_LUT[1:NUM_CLASSES] = np.arange(NUM_CLASSES - 1)


def read_voc_label(path: str) -> np.ndarray:
    """Palette indices of a VOC ``SegmentationClass`` PNG (not its RGB colours)."""
    with Image.open(path) as img:
        if img.mode not in ("P", "L"):
            raise ValueError(f"{path}: expected a palette PNG, got mode {img.mode}")
        label = np.array(img, dtype=np.uint8)
    bad = np.setdiff1d(np.unique(label), [*range(NUM_CLASSES), IGNORE])
    if bad.size:
        raise ValueError(f"{path}: unexpected label values {bad.tolist()}")
    return label


def prepare_split(voc_dir: str, root: str, split: str) -> ConvertStats:
    """Convert one split; ``val`` also gets the background-free labels."""
    ids = read_id_list(
        os.path.join(voc_dir, "ImageSets", "Segmentation", f"{split}.txt"), f"VOC {split} list"
    )
    src_dir = os.path.join(voc_dir, "SegmentationClass")
    require_all([os.path.join(src_dir, f"{i}.png") for i in ids], f"VOC {split} label PNGs")
    with_nobg = split == "val"

    def outputs_of(image_id):
        paths = [os.path.join(voc_label_dir(root, split), f"{image_id}.png")]
        if with_nobg:
            paths.append(os.path.join(voc_label_dir(root, split, nobg=True), f"{image_id}.png"))
        return paths

    def convert(image_id):
        label = read_voc_label(os.path.join(src_dir, f"{image_id}.png"))
        return [label, NOBG_LUT[label]] if with_nobg else [label]

    return convert_all(ids, outputs_of, convert, desc=f"VOC2012 {split}")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    args = parser.parse_args(argv)
    voc_dir = require(
        os.path.join(args.root, VOC2012_DIR), "VOC2012 folder (VOCtrainval_11-May-2012.tar)"
    )
    require(os.path.join(voc_dir, "JPEGImages"), "VOC2012 JPEGImages")
    return {split: prepare_split(voc_dir, args.root, split) for split in args.splits}


if __name__ == "__main__":
    run_cli(main)
