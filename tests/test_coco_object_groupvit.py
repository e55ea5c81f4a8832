"""datasets/prepare_coco_object.py writes GroupViT's COCO-Object labels, pixel for pixel.

The reference below is written from GroupViT's published conversion and the COCO-Stuff tool it relies
on, not from this project's converter: COCO-Stuff paints each image's non-crowd instances in the
json's annotation order, each on top of the earlier ones, into its ``stuffthingmaps`` (value = category
id - 1; stuff 91..181; 255 unlabelled); GroupViT's ``convert_coco_object.py`` then maps thing values to
1..80 in category-id order and everything else (stuff, unlabelled) to 0.
"""
import json
import os

import numpy as np
import pytest

from pseg_d2.data.datasets.class_names import COCO_CLASSES, COCO_THING_IDS
from test_prepare_datasets import (
    box_mask,
    box_polygon,
    compressed_rle,
    load_script,
    read_png,
    uncompressed_rle,
    write_jpg,
)

H, W = 24, 32
PERSON, CAR, BUS, CAT, DOG, BED, TOOTHBRUSH = 1, 3, 6, 17, 18, 65, 90  # COCO category ids
STUFF = 120  # a stuffthingmaps stuff value (category 121)


def box(y0, y1, x0, x1, shape=(H, W)):
    return box_mask(shape, y0, y1, x0, x1).astype(bool)


# The json's annotations in file order: (image id, category id, mask, iscrowd, encoding).
ANNOTATIONS = [
    (7, CAR, box(2, 14, 2, 20), 0, "polygon"),
    (9, BUS, box(1, 5, 1, 9, (6, 10)), 0, "polygon"),  # another image's annotation in between
    (7, PERSON, box(12, 24, 0, 32), 1, "uncompressed"),  # a crowd band along the bottom
    (7, DOG, box(4, 8, 6, 10), 0, "rle"),  # small, on the car
    (7, TOOTHBRUSH, box(6, 10, 8, 14), 0, "polygon"),  # later and larger than the dog it overlaps
    (7, PERSON, box(16, 22, 24, 30), 0, "rle"),  # a person inside the crowd band
    (7, CAT, box(2, 6, 24, 28), 0, "polygon"),  # a small cat ...
    (7, BED, box(0, 12, 22, 32), 0, "rle"),  # ... that a later, larger bed covers
    (9, PERSON, box(3, 6, 6, 10, (6, 10)), 1, "uncompressed"),  # image 9's only other region is crowd
]
IMAGES = {7: (H, W), 9: (6, 10), 11: (5, 5)}  # image 11 has no annotations


def segmentation(mask, encoding):
    if encoding == "polygon":
        ys, xs = np.nonzero(mask)
        return box_polygon(int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
    return compressed_rle(mask.astype(np.uint8)) if encoding == "rle" else uncompressed_rle(mask.astype(np.uint8))


def write_instances(root):
    """An instances_val2017.json in COCO's official layout, and the images it lists."""
    images = []
    for image_id, (h, w) in IMAGES.items():
        name = f"{image_id:012d}.jpg"
        write_jpg(os.path.join(root, "coco", "val2017", name), h, w)
        images.append({"license": 1, "file_name": name, "coco_url": "", "height": h, "width": w,
                       "date_captured": "2013-11-14 11:18:45", "flickr_url": "", "id": image_id})
    annotations = []
    for ann_id, (image_id, category, mask, crowd, encoding) in enumerate(ANNOTATIONS, start=100):
        ys, xs = np.nonzero(mask)
        annotations.append({
            "segmentation": segmentation(mask, encoding), "area": float(mask.sum()), "iscrowd": crowd,
            "image_id": image_id, "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
            "category_id": category, "id": ann_id,
        })  # fmt: skip
    categories = [{"supercategory": "thing", "id": i, "name": n} for i, n in zip(COCO_THING_IDS, COCO_CLASSES)]
    data = {"info": {"description": "tiny COCO", "version": "1.0", "year": 2017}, "licenses": [{"id": 1, "name": ""}],
            "images": images, "annotations": annotations, "categories": categories}
    os.makedirs(os.path.join(root, "coco", "annotations"), exist_ok=True)
    with open(os.path.join(root, "coco", "annotations", "instances_val2017.json"), "w") as f:
        json.dump(data, f)


def stuffthingmap(image_id):
    """COCO-Stuff's map of one image: stuff on its top-left corner, then the non-crowd instances in json
    order, later on top (value = category id - 1); 255 where nothing is."""
    h, w = IMAGES[image_id]
    label = np.full((h, w), 255, dtype=np.uint8)
    label[:2, :2] = STUFF
    for owner, category, mask, crowd, _ in ANNOTATIONS:
        if owner == image_id and not crowd:
            label[mask] = category - 1
    return label


def groupvit_object_label(stuffthing):
    """GroupViT's mapping: thing value v (category v + 1) -> its rank among the 80 thing ids, 1-based;
    stuff (91..181) and unlabelled (255) -> 0."""
    rank = {category - 1: i + 1 for i, category in enumerate(sorted(COCO_THING_IDS))}
    out = np.zeros_like(stuffthing)
    for value, label in rank.items():
        out[stuffthing == value] = label
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("coco"))
    write_instances(root)
    load_script("coco_object").main(["--root", root, "--splits", "val"])
    pseg_root = str(tmp_path_factory.mktemp("coco_pseg"))
    write_instances(pseg_root)
    load_script("coco_object").main(["--root", pseg_root, "--splits", "val", "--rule", "pseg"])
    out = lambda r, i: read_png(os.path.join(r, "coco", "object_detectron2", "val2017", f"{i:012d}.png"))  # noqa: E731
    return {i: out(root, i) for i in IMAGES}, {i: out(pseg_root, i) for i in IMAGES}


@pytest.mark.parametrize("image_id", sorted(IMAGES))
def test_default_labels_are_groupvits_pixel_for_pixel(converted, image_id):
    groupvit, _ = converted
    np.testing.assert_array_equal(groupvit[image_id], groupvit_object_label(stuffthingmap(image_id)))


def test_the_cases_the_rules_differ_on(converted):
    groupvit, pseg = converted
    label = groupvit[7]
    # the first and last category ids are labels 1 and 80
    assert label[17, 25] == 1 and label[7, 12] == 80
    # crowd band: background except under the person; unlabelled pixels and stuff: background
    assert label[23, 0] == 0 and label[0, 0] == 0 and label[0, 15] == 0
    # later on top: the toothbrush over the dog, the bed over the cat (gone)
    assert label[7, 9] == 80 and label[5, 7] == COCO_THING_IDS.index(DOG) + 1
    assert not (label == COCO_THING_IDS.index(CAT) + 1).any()
    # the pseg rule: crowd ignored, larger first (the dog and the cat stay on top)
    assert pseg[7][23, 0] == 255 and pseg[7][7, 9] == COCO_THING_IDS.index(DOG) + 1
    assert pseg[7][3, 25] == COCO_THING_IDS.index(CAT) + 1 and pseg[9][5, 8] == 255 and groupvit[9][5, 8] == 0
    assert (groupvit[11] == 0).all() and groupvit[11].shape == (5, 5)
