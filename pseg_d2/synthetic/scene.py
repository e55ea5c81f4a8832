"""Scene sampling: which (colour, shape) pairs a scene holds, where they lie, and the layout rules
(every object stays visible enough; objects of one colour never touch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.ndimage import binary_dilation

from .render import rasterize
from .shapes import SHAPES, UNIT_AREAS
from .spec import COLORS, SCENE_KINDS, WorldSpec, allowed_pairs
from .textures import Background, sample_background

MAX_LAYOUT_TRIES = 20


@dataclass
class SceneObject:
    color: str
    shape: str
    rgb: Tuple[float, float, float]  # jittered colour actually painted
    center: Tuple[float, float]  # (x, y) as fractions of the image side
    size: float  # diameter as a fraction of the image side
    angle: float  # radians

    def polygon(self, side: float) -> np.ndarray:
        """Vertices [V, 2] in pixel coordinates of an image ``side`` pixels wide."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        rotated = SHAPES[self.shape] @ np.array([[c, s], [-s, c]])
        return (np.array(self.center) + rotated * self.size / 2) * side


@dataclass
class Scene:
    kind: str
    background: Background
    objects: List[SceneObject]
    noise_seed: int


def _pick_pairs(rng: np.random.Generator, kind: str, n: int,
                pairs: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """``n`` pairs for a scene of ``kind``: distinct colours and shapes in mixed scenes,
    one colour and distinct shapes, or one shape and distinct colours."""
    if kind == "mixed":
        chosen: List[Tuple[str, str]] = []
        for _ in range(n):
            free = [p for p in pairs if all(p[0] != c and p[1] != s for c, s in chosen)]
            if not free:
                break
            chosen.append(free[rng.integers(len(free))])
        return chosen
    axis = 0 if kind == "same_color" else 1  # the attribute the objects share
    groups: Dict[str, List[Tuple[str, str]]] = {}
    for p in pairs:
        groups.setdefault(p[axis], []).append(p)
    options = [g for g in groups.values() if len(g) >= n]
    group = options[rng.integers(len(options))]
    return [group[i] for i in rng.choice(len(group), n, replace=False)]


def _jitter(rgb: Tuple[int, int, int], rng: np.random.Generator) -> Tuple[float, float, float]:
    out = np.array(rgb, float) * rng.uniform(0.88, 1.04) + rng.uniform(-10, 10, 3)
    return tuple(np.clip(out, 0, 255).tolist())


def _place(rng: np.random.Generator, spec: WorldSpec, pair: Tuple[str, str], n: int) -> SceneObject:
    lo, hi = spec.object_size
    hi = max(lo, hi - 0.06 * (n - 1))  # crowded scenes get smaller objects
    size = float(rng.uniform(lo, hi))
    center = tuple(rng.uniform(size / 2, 1 - size / 2, 2).tolist())
    return SceneObject(pair[0], pair[1], _jitter(COLORS[pair[0]], rng), center, size,
                       float(rng.uniform(0, 2 * np.pi)))


def _visible_fraction(objects: Sequence[SceneObject], ids: np.ndarray) -> np.ndarray:
    """[n] fraction of each object's own area left visible (in the supersampled ids
    [S*H, S*W]) by the objects drawn after it."""
    counts = np.bincount(ids.ravel(), minlength=len(objects) + 1)[1:]
    side = ids.shape[0]
    areas = np.array([UNIT_AREAS[o.shape] * (o.size * side / 2) ** 2 for o in objects])
    return counts / areas


def _touching_same_color(objects: Sequence[SceneObject], size: int) -> List[int]:
    """Indices of objects that overlap or touch (8-neighbourhood, at ``size`` px) an earlier
    object of the same colour."""
    masks = [rasterize([o], size) > 0 for o in objects]
    touching = []
    for j, later in enumerate(objects):
        grown = binary_dilation(masks[j], np.ones((3, 3), bool))
        if any(objects[i].color == later.color and (grown & masks[i]).any() for i in range(j)):
            touching.append(j)
    return touching


def sample_scene(rng: np.random.Generator, spec: WorldSpec, split: str) -> Scene:
    """Draw a scene for ``split``: its kind, objects and background. Layouts are redrawn
    until every object keeps ``spec.min_visible`` of its area and (``spec.separate_same_color``)
    no two objects of one colour touch; after ``MAX_LAYOUT_TRIES`` the objects that touch one
    of their colour, then the most occluded ones, are dropped instead."""
    return sample_scene_and_ids(rng, spec, split)[0]


def sample_scene_and_ids(rng: np.random.Generator, spec: WorldSpec, split: str
                         ) -> Tuple[Scene, np.ndarray]:
    """``sample_scene`` and the scene's supersampled ids [S*H, S*W] (see ``rasterize``)."""
    pairs = allowed_pairs(spec, split)
    if split == "heldout":
        # Held-out pairs share nothing, so held-out scenes are mixed whatever the world's fractions (the
        # kind is still drawn, so that held-out scenes stay the ones earlier versions generated).
        kinds, p = ("mixed",), np.ones(1)
    else:
        kinds, p = SCENE_KINDS, np.array(spec.kind_fractions, float)
    kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
    n = int(rng.integers(1 if kind == "mixed" else spec.min_objects, spec.max_objects + 1))
    chosen = _pick_pairs(rng, kind, n, pairs)
    background = sample_background(rng)
    touching = lambda objs: _touching_same_color(objs, spec.size) if spec.separate_same_color else []  # noqa: E731
    for _ in range(MAX_LAYOUT_TRIES):
        objects = [_place(rng, spec, pair, len(chosen)) for pair in chosen]
        ids = rasterize(objects, spec.size)
        visible = _visible_fraction(objects, ids)
        if visible.min() >= spec.min_visible and not touching(objects):
            break
    else:
        objects = [o for i, o in enumerate(objects) if i not in touching(objects)]
        ids = rasterize(objects, spec.size)
        visible = _visible_fraction(objects, ids)
    while visible.min() < spec.min_visible:
        objects.pop(int(visible.argmin()))
        ids = rasterize(objects, spec.size)
        visible = _visible_fraction(objects, ids)
    return Scene(kind, background, objects, int(rng.integers(2**31))), ids
