"""What determines a world: the colour vocabulary, the held-out (colour, shape) pairs, the scene
kinds and the ``WorldSpec``; and the random stream of each image."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from .shapes import SHAPES

SPLIT_IDS = {"train": 0, "val": 1, "heldout": 2}
SCENE_KINDS = ("mixed", "same_color", "same_shape")

# Saturated, well separated RGB colours; backgrounds are never this saturated.
COLORS: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 225),
    "yellow": (240, 220, 20),
    "purple": (135, 40, 190),
    "orange": (250, 130, 0),
    "cyan": (0, 200, 220),
    "pink": (250, 105, 190),
}

# Never in a training image; each colour and each shape is still seen in other pairs.
HELDOUT_PAIRS: Tuple[Tuple[str, str], ...] = (
    ("red", "star"), ("green", "heart"), ("blue", "triangle"),
    ("yellow", "cross"), ("purple", "circle"), ("orange", "diamond"),
)


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines the world (not the split sizes)."""

    size: int = 64
    seed: int = 0
    heldout_pairs: Tuple[Tuple[str, str], ...] = HELDOUT_PAIRS
    # SCENE_KINDS order. Same-colour scenes dominate: there colour is no shortcut, only shape words
    # tell captions apart, which is what makes shapes learnable at all.
    kind_fractions: Tuple[float, float, float] = (0.2, 0.7, 0.1)
    # Fraction of same-colour scenes whose caption names the shapes only (no colour word at all).
    same_color_shape_only: float = 0.75
    # Fewest objects in same-colour and same-shape scenes (mixed scenes may always hold one); 1 makes
    # one-object scenes common, which is what single class-name prompts ("a star") describe.
    min_objects: int = 2
    max_objects: int = 4
    object_size: Tuple[float, float] = (0.30, 0.55)  # diameter / image side
    min_visible: float = 0.5  # of an object's area left visible after occlusion
    # Objects of one colour never overlap or touch: their outlines would merge into one blob, and
    # the shapes its caption names could not be seen.
    separate_same_color: bool = True
    noise_std: float = 3.0  # per-pixel noise, in 0-255 units

    def __post_init__(self):
        if not 2 <= self.max_objects <= 4:
            raise ValueError("max_objects must be 2..4 (caption count words go to four)")
        fractions = self.kind_fractions
        if len(fractions) != len(SCENE_KINDS) or min(fractions) < 0 or sum(fractions) <= 0:
            raise ValueError(f"kind_fractions must be {len(SCENE_KINDS)} non-negative weights of {SCENE_KINDS}, "
                             f"not all zero; got {fractions}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"min_objects must be 1..max_objects ({self.max_objects}), got {self.min_objects}")
        for color, shape in self.heldout_pairs:
            if color not in COLORS or shape not in SHAPES:
                raise ValueError(f"unknown held-out pair ({color}, {shape})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["shapes"] = list(SHAPES)
        d["colors"] = {k: list(v) for k, v in COLORS.items()}
        return json.loads(json.dumps(d))  # tuples -> lists

    @classmethod
    def from_dict(cls, d: dict) -> "WorldSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["heldout_pairs"] = tuple(tuple(p) for p in kw.get("heldout_pairs", HELDOUT_PAIRS))
        for k in ("kind_fractions", "object_size"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


def allowed_pairs(spec: WorldSpec, split: str) -> List[Tuple[str, str]]:
    """(colour, shape) pairs that may appear in ``split``."""
    held = set(spec.heldout_pairs)
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    if split == "train":
        return [p for p in pairs if p not in held]
    if split == "heldout":
        return [p for p in pairs if p in held]
    return pairs


def sample_rng(spec: WorldSpec, split: str, index: int) -> np.random.Generator:
    """The one random stream that image ``index`` of ``split`` is drawn from."""
    return np.random.default_rng([spec.seed, SPLIT_IDS[split], index])
