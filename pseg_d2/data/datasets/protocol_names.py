"""Class names and prompt templates of each evaluation protocol, as data: one place per protocol.

Benchmarks are the keys of ``configs/eval/<benchmark>.yaml``. Each list is in label order; benchmarks
with a background class list "background" first. Neither peer prompts "background": GroupViT and TCL
drop it from the prompts and decide background by a threshold.

* ``default``: this project's names (``class_names.py``: GroupViT's spellings on VOC and Context,
  official names on COCO) and, on ADE20K, one clean name per class (TCL's names without the stray
  space; Detectron2's ADE20K names are comma lists of synonyms). Its templates are the model's own.
* ``groupvit``: GroupViT's evaluation lists (``NVlabs/GroupViT``, ``segmentation/datasets``: VOC says
  "aeroplane", "table", "plant", "monitor"; Context says "airplane", "plant", "monitor") and its single
  template (``configs/default.yml``: ``evaluate.seg.template: simple``).
* ``tcl``: TCL's eight benchmarks (``kakaobrain/tcl``, ``configs/eval.yml``): the class lists of the
  mmsegmentation 0.27.0 datasets it pins (VOC21, Context60/59, COCO-Stuff, Cityscapes, ADE20K; the
  VOC/Context names "aeroplane", "diningtable", "pottedplant", "tvmonitor"), its own VOC20 and
  COCO-Object lists (``segmentation/datasets``), and its nine templates (``datasets/templates.py``,
  ``custom``: seven ImageNet templates, then "a photo of many {}." and "a photo of {}s.").
  ADE20K's "bed " keeps mmsegmentation's trailing space: with the template "a photo of {}s." it makes
  "a photo of bed s.", which CLIP's tokenizer reads differently from "a photo of beds.".
"""
from typing import Dict, List

from .class_names import COCO_CLASSES, COCO_STUFF_CLASSES, PASCAL_CONTEXT_59_CLASSES, VOC_CLASSES

BENCHMARKS = ("voc", "context60", "coco_object", "voc20", "context59", "coco_stuff", "cityscapes", "ade20k")
# The registered dataset each benchmark evaluates.
BENCHMARK_DATASETS = {
    "voc": "voc_2012_sem_seg_val",
    "context60": "pascal_context_60_sem_seg_val",
    "coco_object": "coco_object_sem_seg_val",
    "voc20": "voc_2012_sem_seg_val_nobg",
    "context59": "pascal_context_59_sem_seg_val",
    "coco_stuff": "coco_stuff_164k_sem_seg_val",
    "cityscapes": "cityscapes_fine_sem_seg_val",
    "ade20k": "ade20k_sem_seg_val",
}

GROUPVIT_TEMPLATES = ["a photo of a {}."]
TCL_TEMPLATES = [
    "itap of a {}.",
    "a bad photo of a {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
    "a photo of many {}.",
    "a photo of {}s.",
]

# ---- mmsegmentation 0.27.0's lists, as TCL evaluates them ----
TCL_VOC21_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]  # fmt: skip

TCL_CONTEXT60_CLASSES = [
    "background", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat",
    "book", "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass",
    "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate",
    "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky",
    "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water",
    "window", "wood",
]  # fmt: skip

TCL_CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
]  # fmt: skip

TCL_ADE20K_CLASSES = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
]  # fmt: skip


# ---- the protocols ----
ADE20K_CLASSES = [name.strip() for name in TCL_ADE20K_CLASSES]  # one clean name per class

CLASS_NAMES: Dict[str, Dict[str, List[str]]] = {
    "default": {
        "voc": ["background"] + VOC_CLASSES,
        "context60": ["background"] + PASCAL_CONTEXT_59_CLASSES,
        "coco_object": ["background"] + COCO_CLASSES,
        "voc20": VOC_CLASSES,
        "context59": PASCAL_CONTEXT_59_CLASSES,
        "coco_stuff": COCO_STUFF_CLASSES,
        "cityscapes": TCL_CITYSCAPES_CLASSES,
        "ade20k": ADE20K_CLASSES,
    },
    # GroupViT's lists are the ones class_names.py follows.
    "groupvit": {
        "voc": ["background"] + VOC_CLASSES,
        "context60": ["background"] + PASCAL_CONTEXT_59_CLASSES,
        "coco_object": ["background"] + COCO_CLASSES,
    },
    "tcl": {
        "voc": TCL_VOC21_CLASSES,
        "context60": TCL_CONTEXT60_CLASSES,
        "coco_object": ["background"] + COCO_CLASSES,  # TCL's COCOObjectDataset, as GroupViT's
        "voc20": TCL_VOC21_CLASSES[1:],  # TCL's PascalVOCDataset20
        "context59": TCL_CONTEXT60_CLASSES[1:],  # mmsegmentation's PascalContextDataset59
        "coco_stuff": COCO_STUFF_CLASSES,  # mmsegmentation's COCOStuffDataset: the same 171 names
        "cityscapes": TCL_CITYSCAPES_CLASSES,
        "ade20k": TCL_ADE20K_CLASSES,
    },
}
TEMPLATES: Dict[str, List[str]] = {"groupvit": GROUPVIT_TEMPLATES, "tcl": TCL_TEMPLATES}


def protocol_class_names(protocol: str, benchmark: str) -> List[str]:
    """The class names ``protocol`` evaluates ``benchmark`` with, in label order."""
    if protocol not in CLASS_NAMES:
        raise KeyError(f"unknown protocol {protocol!r}; known: {', '.join(CLASS_NAMES)}")
    if benchmark not in CLASS_NAMES[protocol]:
        raise KeyError(f"protocol {protocol!r} does not cover {benchmark!r}; it covers: "
                       f"{', '.join(CLASS_NAMES[protocol])}")
    return list(CLASS_NAMES[protocol][benchmark])


def dataset_class_names(protocol: str, dataset_name: str) -> List[str]:
    """The class names ``protocol`` evaluates the registered dataset ``dataset_name`` with."""
    benchmarks = [b for b, name in BENCHMARK_DATASETS.items() if name == dataset_name]
    if not benchmarks:
        raise KeyError(f"{dataset_name!r} is none of the benchmarks that protocols name ({', '.join(BENCHMARK_DATASETS.values())})")
    return protocol_class_names(protocol, benchmarks[0])


def protocol_templates(protocol: str) -> List[str]:
    """The prompt templates of ``protocol`` (``default`` has none here: the model's own are used)."""
    if protocol not in TEMPLATES:
        raise KeyError(f"protocol {protocol!r} has no templates of its own; these do: {', '.join(TEMPLATES)}")
    return list(TEMPLATES[protocol])
