"""The synthetic world's evaluation splits (``tools/make_synthetic_world.py`` writes them).

Registers, for the root ``$DETECTRON2_DATASETS/synthetic``:

- ``synthetic_shapes_val``: val images, classes "background" + shape names;
- ``synthetic_colors_val``: the same images, classes "background" + colour names;
- ``synthetic_heldout_val``: held-out images (only never-trained (colour, shape) pairs),
  colour vocabulary;
- ``synthetic_heldout_shapes_val``: the held-out images, shape vocabulary;
- ``synthetic_colors_train`` / ``synthetic_shapes_train``: the first training images (the shards'
  pictures, written by ``--num-train-images``), for pseudo-labelling (P-Seg+), with ground truth.

Nothing is read at registration; loading a split that has not been generated raises a
FileNotFoundError that names the generator command.
"""
import json
import os
from typing import Dict, List, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog

from ...synthetic import COLORS, SHAPES, TRAIN_IMAGES
from .catalog_utils import unregister

# name -> (split, vocabulary)
SYNTHETIC_DATASETS: Dict[str, Tuple[str, str]] = {
    "synthetic_shapes_val": ("val", "shapes"),
    "synthetic_colors_val": ("val", "colors"),
    "synthetic_heldout_val": ("heldout", "colors"),
    "synthetic_heldout_shapes_val": ("heldout", "shapes"),
    "synthetic_colors_train": (TRAIN_IMAGES, "colors"),
    "synthetic_shapes_train": (TRAIN_IMAGES, "shapes"),
}
BACKGROUND_COLOR = [20, 20, 20]
SHAPE_COLORS = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                [148, 103, 189], [140, 86, 75], [227, 119, 194], [188, 189, 34]]


def synthetic_classes(vocabulary: str) -> List[str]:
    """"background" + the shape or colour names, in label-id order."""
    return ["background"] + list(SHAPES if vocabulary == "shapes" else COLORS)


def synthetic_colors(vocabulary: str) -> List[List[int]]:
    """Display RGB per class: the real colour for colours, a palette for shapes."""
    if vocabulary == "shapes":
        return [BACKGROUND_COLOR] + SHAPE_COLORS[: len(SHAPES)]
    return [BACKGROUND_COLOR] + [list(rgb) for rgb in COLORS.values()]


def _missing(root: str, split: str, what: str) -> str:
    extra = " --num-train-images <N>" if split == TRAIN_IMAGES else ""
    return (f"synthetic split '{split}' is missing or unfinished ({what} not found); "
            f"generate it with: python tools/make_synthetic_world.py --root {root}{extra}")


def load_synthetic_sem_seg(root: str, split: str, vocabulary: str) -> List[dict]:
    """Dataset dicts (file_name, sem_seg_file_name, height, width, image_id) of ``split``
    with the ``vocabulary`` ("shapes" or "colors") label maps."""
    split_dir = os.path.join(root, split)
    done_path = os.path.join(split_dir, "DONE")
    world_path = os.path.join(root, "world.json")
    for path in (done_path, world_path):
        if not os.path.exists(path):
            raise FileNotFoundError(_missing(root, split, path))
    with open(world_path) as f:
        spec = json.load(f)["spec"]
    if spec["shapes"] != list(SHAPES) or list(spec["colors"]) != list(COLORS):
        raise ValueError(f"{root} was generated with other class tables than this code's; "
                         "regenerate it with tools/make_synthetic_world.py")
    with open(done_path) as f:
        count = json.load(f)["count"]
    dicts = []
    for index in range(count):
        name = f"{index:06d}.png"
        dicts.append({
            "file_name": os.path.join(split_dir, "images", name),
            "sem_seg_file_name": os.path.join(split_dir, vocabulary, name),
            "height": spec["size"],
            "width": spec["size"],
            "image_id": index,
        })
    missing = [p for d in dicts for p in (d["file_name"], d["sem_seg_file_name"])
               if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(_missing(root, split, f"{missing[0]} and {len(missing) - 1} more"))
    return dicts


def register_synthetic(root: str) -> None:
    """Register (or re-register) the synthetic evaluation datasets for ``root``."""
    for name, (split, vocabulary) in SYNTHETIC_DATASETS.items():
        unregister(name)
        DatasetCatalog.register(
            name, lambda s=split, v=vocabulary: load_synthetic_sem_seg(root, s, v))
        MetadataCatalog.get(name).set(
            stuff_classes=synthetic_classes(vocabulary),
            stuff_colors=synthetic_colors(vocabulary),
            ignore_label=255,
            evaluator_type="sem_seg",
            image_root=os.path.join(root, split, "images"),
            sem_seg_root=os.path.join(root, split, vocabulary),
            vocabulary=vocabulary,
        )


register_synthetic(os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic"))
