"""Class-name tables and colour palettes of the evaluation datasets.

Names follow GroupViT's evaluation lists (``NVlabs/GroupViT``, ``segmentation/datasets``), the
protocol P-Seg reports against: VOC and Pascal Context say "plant", "table", "monitor" for
"pottedplant", "diningtable", "tvmonitor", and Pascal Context says "airplane" where VOC keeps
"aeroplane". COCO names are the official category names. The order of each list is the
order of the label ids written by ``datasets/prepare_*.py``.
"""

from typing import List

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES as _D2_COCO_CATEGORIES


def pascal_palette(num_colors: int) -> List[List[int]]:
    """The PASCAL VOC colour map (the palette of VOC's label PNGs): colour i spreads the
    bits of i over R, G and B, so 0 is black, 1 dark red, 2 dark green, ..."""
    colors = []
    for i in range(num_colors):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append([r, g, b])
    return colors


# ---- Pascal VOC 2012: label 0 = background, 1..20 = these ----
VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "table", "dog", "horse", "motorbike", "person", "plant", "sheep", "sofa", "train", "monitor",
]  # fmt: skip
VOC_COLORS = pascal_palette(21)  # index 0 is the background colour (black)

# ---- Pascal Context 59 (alphabetical by the official names; pc60 adds background at 0) ----
PASCAL_CONTEXT_59_CLASSES = [
    "airplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
    "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
    "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
    "plant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
    "table", "track", "train", "tree", "truck", "monitor", "wall", "water", "window", "wood",
]  # fmt: skip
PASCAL_CONTEXT_60_COLORS = pascal_palette(60)  # index 0 is the background colour

# ---- COCO: the 80 thing categories, sorted by category id ----
COCO_THING_IDS = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90,
]  # fmt: skip
COCO_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]  # fmt: skip
# Detectron2's COCO thing colours (its builtin metadata lists things in category-id order).
COCO_THING_COLORS = [c["color"] for c in _D2_COCO_CATEGORIES if c["isthing"]]
COCO_OBJECT_COLORS = [[0, 0, 0]] + COCO_THING_COLORS  # label 0 = background

# ---- COCO-Stuff-164k: 80 things + 91 stuff; stuffthingmaps pixel value = category id - 1 ----
COCO_STUFF_ONLY_IDS = list(range(92, 183))
COCO_STUFF_ONLY_CLASSES = [
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence",
    "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog",
    "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net",
    "paper", "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield",
    "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea",
    "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
]  # fmt: skip
COCO_STUFF_IDS = COCO_THING_IDS + COCO_STUFF_ONLY_IDS
COCO_STUFF_CLASSES = COCO_CLASSES + COCO_STUFF_ONLY_CLASSES
COCO_STUFF_COLORS = COCO_THING_COLORS + pascal_palette(len(COCO_STUFF_ONLY_CLASSES) + 1)[1:]
