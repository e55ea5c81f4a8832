"""A procedurally generated image-caption world for open-vocabulary segmentation.

Every image is a low-saturation textured background with 1-4 saturated, coloured shapes;
its caption names some of the objects by colour, shape or both, and never names a colour
or shape that is not visible. Per-pixel ground truth exists for two vocabularies over the
same image: shapes and colours. Some (colour, shape) pairs never occur in the training
split (compositional generalisation); the ``heldout`` split holds only those pairs.

Everything is deterministic: image ``index`` of ``split`` is drawn from
``numpy.random.default_rng([spec.seed, SPLIT_IDS[split], index])`` alone, so any single
image can be regenerated without the others.
"""
from __future__ import annotations

import colorsys
import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_dilation

SUPERSAMPLE = 4  # shapes are rasterised at this factor, then box-filtered
MAX_LAYOUT_TRIES = 20
SPLIT_IDS = {"train": 0, "val": 1, "heldout": 2}
SCENE_KINDS = ("mixed", "same_color", "same_shape")
TEXTURES = ("stripes", "checker", "noise", "gradient", "dots")


# --------------------------------------------------------------------------- tables
def _regular(n: int, phase: float = 0.0) -> np.ndarray:
    t = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], 1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return _regular(2 * points, -np.pi / 2) * radius[:, None]


def _cross(half_width: float = 0.3) -> np.ndarray:
    w, arm = half_width, np.sqrt(1 - half_width**2)
    return np.array([(w, -arm), (w, -w), (arm, -w), (arm, w), (w, w), (w, arm),
                     (-w, arm), (-w, w), (-arm, w), (-arm, -w), (-w, -w), (-w, -arm)])


def _heart(n: int = 64) -> np.ndarray:
    t = 2 * np.pi * np.arange(n) / n
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], 1)


def _crescent(n: int = 48, inner_radius: float = 0.8, offset: float = 0.45) -> np.ndarray:
    """Unit disc minus a disc of ``inner_radius`` centred at (offset, 0)."""
    x = (1 - inner_radius**2 + offset**2) / (2 * offset)  # where the two circles cross
    y = np.sqrt(1 - x**2)
    a_out = np.arctan2(y, x)
    a_in = np.arctan2(y, x - offset)
    outer = np.linspace(a_out, 2 * np.pi - a_out, n)
    inner = np.linspace(2 * np.pi - a_in, a_in, n)
    return np.concatenate([np.stack([np.cos(outer), np.sin(outer)], 1),
                           np.stack([offset + inner_radius * np.cos(inner),
                                     inner_radius * np.sin(inner)], 1)])


def _normalised(poly: np.ndarray) -> np.ndarray:
    """Centre a polygon [V, 2] on its bounding box and scale it into the unit disc."""
    poly = poly - (poly.min(0) + poly.max(0)) / 2
    return poly / np.linalg.norm(poly, axis=1).max()


# Unit polygons [V, 2] (x right, y down), each inscribed in the unit disc. The diamond is
# an elongated rhombus so that a rotated square never looks like it.
SHAPES: Dict[str, np.ndarray] = {
    name: _normalised(poly) for name, poly in {
        "circle": _regular(64),
        "square": _regular(4, np.pi / 4),
        "triangle": _regular(3, -np.pi / 2),
        "star": _star(),
        "cross": _cross(),
        "heart": _heart(),
        "diamond": np.array([(0.0, -1.0), (0.55, 0.0), (0.0, 1.0), (-0.55, 0.0)]),
        "crescent": _crescent(),
    }.items()
}

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

PLURALS = {"cross": "crosses"}


def plural(word: str) -> str:
    return PLURALS.get(word, word + "s")


# --------------------------------------------------------------------------- spec
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
class Background:
    texture: str
    colors: Tuple[Tuple[float, float, float], Tuple[float, float, float]]  # RGB 0-255
    angle: float
    period: float  # stripe / cell / dot spacing, fraction of the side
    grid: int  # value-noise resolution
    noise_seed: int


@dataclass
class Scene:
    kind: str
    background: Background
    objects: List[SceneObject]
    noise_seed: int


@dataclass
class Sample:
    image: np.ndarray  # [H, W, 3] uint8
    shape_label: np.ndarray  # [H, W] uint8, 0 background, 1 + index in SHAPES
    color_label: np.ndarray  # [H, W] uint8, 0 background, 1 + index in COLORS
    caption: str
    scene: Scene = field(repr=False)

    def meta(self) -> dict:
        """The json record stored next to a training image."""
        return {"caption": self.caption,
                "objects": [{"color": o.color, "shape": o.shape} for o in self.scene.objects],
                "kind": self.scene.kind, "background": self.scene.background.texture}


# --------------------------------------------------------------------------- scenes
def allowed_pairs(spec: WorldSpec, split: str) -> List[Tuple[str, str]]:
    """(colour, shape) pairs that may appear in ``split``."""
    held = set(spec.heldout_pairs)
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    if split == "train":
        return [p for p in pairs if p not in held]
    if split == "heldout":
        return [p for p in pairs if p in held]
    return pairs


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


def _sample_background(rng: np.random.Generator) -> Background:
    texture = TEXTURES[rng.integers(len(TEXTURES))]
    hue = rng.random()
    values = rng.uniform(0.2, 0.85, 2)
    if abs(values[0] - values[1]) < 0.15:
        values[1] = values[0] + (0.2 if values[0] < 0.5 else -0.2)
    colors = tuple(tuple(255 * c for c in colorsys.hsv_to_rgb(
        (hue + rng.uniform(-0.08, 0.08)) % 1, rng.uniform(0.0, 0.18), v))
        for v in values.tolist())
    return Background(texture, colors, float(rng.uniform(0, np.pi)),
                      float(rng.uniform(0.08, 0.25)), int(rng.integers(3, 7)),
                      int(rng.integers(2**31)))


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


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of a polygon [V, 2]."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


UNIT_AREAS = {name: polygon_area(poly) for name, poly in SHAPES.items()}


def rasterize(objects: Sequence[SceneObject], size: int) -> np.ndarray:
    """Supersampled instance ids [S*H, S*W] uint8 (0 background, i + 1 object i), drawn
    in painter's order: later objects occlude earlier ones."""
    big = size * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for i, obj in enumerate(objects):
        draw.polygon([tuple(v) for v in obj.polygon(big).tolist()], fill=i + 1)
    return np.asarray(canvas)


@functools.lru_cache(maxsize=8)
def _output_pixel(size: int) -> np.ndarray:
    """[S*H * S*W] index of the output pixel that each supersampled pixel falls in."""
    idx = np.arange(size * SUPERSAMPLE) // SUPERSAMPLE
    return (idx[:, None] * size + idx[None, :]).ravel()


def coverage(ids: np.ndarray, num_objects: int) -> np.ndarray:
    """Supersampled ids [S*H, S*W] -> area fractions [1 + n, H, W] of the background and
    of each object; they sum to 1 over the first axis."""
    size = ids.shape[0] // SUPERSAMPLE
    k = num_objects + 1
    counts = np.bincount(_output_pixel(size) * k + ids.ravel(), minlength=size * size * k)
    return counts.reshape(size, size, k).transpose(2, 0, 1).astype(np.float32) / SUPERSAMPLE**2


def instance_map(frac: np.ndarray) -> np.ndarray:
    """Majority rule: [1 + n, H, W] fractions -> [H, W] uint8 (0 background, i + 1 object i).
    Ties go to the lower id."""
    return frac.argmax(0).astype(np.uint8)


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
    return _sample_scene(rng, spec, split)[0]


def _sample_scene(rng: np.random.Generator, spec: WorldSpec, split: str
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
    background = _sample_background(rng)
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


# --------------------------------------------------------------------------- rendering
@functools.lru_cache(maxsize=8)
def _pixel_centres(size: int) -> np.ndarray:
    """[2, H, W] (y, x) pixel centres as fractions of the side."""
    return ((np.mgrid[0:size, 0:size] + 0.5) / size).astype(np.float32)


def _texture(bg: Background, size: int) -> np.ndarray:
    """Mixing weights [H, W] in [0, 1] between the two background colours."""
    yy, xx = _pixel_centres(size)
    c, s = np.cos(bg.angle), np.sin(bg.angle)
    u, v = xx * c + yy * s, -xx * s + yy * c
    if bg.texture == "stripes":
        return 0.5 + 0.5 * np.tanh(3 * np.sin(2 * np.pi * u / bg.period))
    if bg.texture == "checker":
        return ((np.floor(u / bg.period) + np.floor(v / bg.period)) % 2).astype(float)
    if bg.texture == "gradient":
        return (u - u.min()) / (u.max() - u.min())
    if bg.texture == "dots":
        du = (u / bg.period) % 1 - 0.5
        dv = (v / bg.period) % 1 - 0.5
        dist = np.hypot(du, dv) * bg.period * size  # pixels from the nearest dot centre
        return np.clip(0.3 * bg.period * size - dist + 0.5, 0, 1)
    grid = np.random.default_rng(bg.noise_seed).random((bg.grid, bg.grid)).astype(np.float32)
    field_ = np.asarray(Image.fromarray(grid, "F").resize((size, size), Image.BICUBIC))
    return np.clip((field_ - field_.min()) / max(float(np.ptp(field_)), 1e-6), 0, 1)


def render_background(bg: Background, size: int) -> np.ndarray:
    """[H, W, 3] float32 RGB in 0-255."""
    t = _texture(bg, size)[..., None]
    c0, c1 = (np.array(c, np.float32) for c in bg.colors)
    return ((1 - t) * c0 + t * c1).astype(np.float32)


def render_scene(scene: Scene, size: int, noise_std: float = 3.0,
                 ids: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Render ``scene`` at ``size`` px (``ids``: ``rasterize(scene.objects, size)`` if
    already computed).

    Returns the image [H, W, 3] uint8 (each pixel the area-weighted mix of what covers it)
    and the instance map [H, W] uint8 (0 background, i + 1 for ``scene.objects[i]``, by
    the majority of the pixel's area).
    """
    if ids is None:
        ids = rasterize(scene.objects, size)
    frac = coverage(ids, len(scene.objects))
    colors = np.array([o.rgb for o in scene.objects], np.float32).reshape(-1, 3)
    image = frac[0, ..., None] * render_background(scene.background, size)
    image += np.einsum("khw,kc->hwc", frac[1:], colors)
    image += noise_std * np.random.default_rng(scene.noise_seed).standard_normal(
        image.shape, dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), instance_map(frac)


def semantic_labels(scene: Scene, inst: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Instance map [H, W] -> (shape label, colour label), both [H, W] uint8 with
    0 = background and 1 + the class's index in SHAPES / COLORS."""
    shape_ids, color_ids = list(SHAPES), list(COLORS)
    shape_lut = np.array([0] + [1 + shape_ids.index(o.shape) for o in scene.objects], np.uint8)
    color_lut = np.array([0] + [1 + color_ids.index(o.color) for o in scene.objects], np.uint8)
    return shape_lut[inst], color_lut[inst]


# --------------------------------------------------------------------------- captions
TEXTURE_WORDS = {
    "stripes": ("striped", "stripy"), "checker": ("checkered", "tiled"),
    "noise": ("cloudy", "blotchy"), "gradient": ("smooth", "shaded"),
    "dots": ("dotted", "spotted"),
}
FILLERS = ("picture", "image", "photo", "drawing", "scene", "sketch")
ADJECTIVES = ("nice", "simple", "pretty", "small", "cute", "little")
COUNTS = ("one", "two", "three", "four")

# {objs}: phrases with articles ("a red star and a circle"); {bare}: bare words;
# {count}: "two shapes".
OBJECT_TEMPLATES = (
    "a photo of {objs}", "{objs}", "an image of {objs}", "there is {objs} on a {tex} background",
    "{objs} on a {tex} background", "a {tex} {filler} with {objs}", "{objs}, {adj} {filler}",
    "look at {objs}", "a {adj} {filler} of {objs}", "{objs} in this {filler}",
    "i see {objs}", "{objs} here",
)
BARE_TEMPLATES = (
    "{count}: {bare}", "{bare}", "{bare}, {tex} background", "objects: {bare}",
    "{filler}: {bare}", "{bare} in a {adj} {filler}",
)
# one colour, several shapes: {color}, {shapes} (bare list), {shapes_a} (with articles)
SAME_COLOR_TEMPLATES = (
    "{shapes}, in {color}", "{shapes}, all {color}", "{color} shapes: {shapes}",
    "a photo of {shapes_a}, all {color}", "{count} {color} shapes: {shapes}",
    "{shapes_a} in {color} on a {tex} background", "everything is {color}: {shapes}",
    "{shapes_a}, each one {color}",
)
# one shape, several colours: {colors} (bare list), {shapes} (the plural)
SAME_SHAPE_TEMPLATES = (
    "{colors} {shapes}", "{shapes} in {colors}", "{count} {shapes}: {colors}",
    "a photo of {colors} {shapes}", "{colors} {shapes} on a {tex} background",
    "some {shapes}, {colors}", "a {adj} {filler} of {colors} {shapes}",
)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(rng: np.random.Generator, words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    if rng.random() < 0.3:
        return ", ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _mention(rng: np.random.Generator, color: Optional[str], shape: Optional[str],
             article: bool) -> str:
    if shape is None:  # colour only; the noun keeps "red, blue star" from reading as "red star"
        words = f"{color} {('shape', 'one', 'object', 'thing')[rng.integers(4)]}"
    else:
        words = f"{color} {shape}" if color else shape
    return _article(words) if article else words


def _fill(rng: np.random.Generator, template: str, bg: Background, **kw) -> str:
    pick = lambda seq: seq[rng.integers(len(seq))]  # noqa: E731
    return template.format(tex=pick(TEXTURE_WORDS[bg.texture]), filler=pick(FILLERS),
                           adj=pick(ADJECTIVES), **kw)


def _listing(rng: np.random.Generator, mentions: List[Tuple[Optional[str], Optional[str]]],
             bg: Background) -> str:
    """Caption that lists (colour, shape) mentions, with articles or as bare words."""
    if rng.random() < 0.7:
        phrases = [_mention(rng, c, s, article=True) for c, s in mentions]
        return _fill(rng, OBJECT_TEMPLATES[rng.integers(len(OBJECT_TEMPLATES))], bg,
                     objs=_join(rng, phrases))
    phrases = [_mention(rng, c, s, article=False) for c, s in mentions]
    return _fill(rng, BARE_TEMPLATES[rng.integers(len(BARE_TEMPLATES))], bg,
                 bare=_join(rng, phrases),
                 count=COUNTS[len(phrases) - 1] + (" shapes" if len(phrases) > 1 else " shape"))


def make_caption(scene: Scene, rng: np.random.Generator, same_color_shape_only: float = 0.25) -> str:
    """A caption naming only colours and shapes of ``scene``'s (visible) objects.

    Mixed scenes name each object by colour + shape, shape only or colour only, and may
    leave some objects out. Same-colour scenes name every shape (and their colour at the
    rate ``1 - same_color_shape_only``); same-shape scenes name
    every colour. Order is shuffled.
    """
    objs = [scene.objects[i] for i in rng.permutation(len(scene.objects))]
    bg = scene.background
    mode = rng.random()
    if scene.kind == "same_color":  # also when the layout kept one object: its shape is still named
        shapes = [o.shape for o in objs]
        with_color = 1.0 - same_color_shape_only  # of which two thirds templates, one third listings
        if mode < with_color * 2 / 3 and len(objs) > 1:
            return _fill(rng, SAME_COLOR_TEMPLATES[rng.integers(len(SAME_COLOR_TEMPLATES))], bg,
                         color=objs[0].color, shapes=_join(rng, shapes),
                         shapes_a=_join(rng, [_article(s) for s in shapes]),
                         count=COUNTS[len(shapes) - 1])
        return _listing(rng, [(o.color if mode < with_color else None, o.shape) for o in objs], bg)
    if scene.kind == "same_shape" and len(objs) > 1:
        colors = [o.color for o in objs]
        if mode < 0.5:
            return _fill(rng, SAME_SHAPE_TEMPLATES[rng.integers(len(SAME_SHAPE_TEMPLATES))], bg,
                         colors=_join(rng, colors), shapes=plural(objs[0].shape),
                         count=COUNTS[len(colors) - 1])
        with_shape = mode < 0.75
        return _listing(rng, [(o.color, o.shape if with_shape else None) for o in objs], bg)
    keep = rng.random(len(objs)) > 0.1
    keep[rng.integers(len(objs))] = True
    styles = rng.choice(3, len(objs), p=[0.5, 0.25, 0.25])  # both, shape only, colour only
    mentions = [(None if st == 1 else o.color, None if st == 2 else o.shape)
                for o, st, k in zip(objs, styles, keep) if k]
    return _listing(rng, mentions, bg)


# --------------------------------------------------------------------------- samples
def sample_rng(spec: WorldSpec, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, SPLIT_IDS[split], index])


def generate_sample(spec: WorldSpec, split: str, index: int) -> Sample:
    """Image ``index`` of ``split``: image, both label maps and a caption."""
    rng = sample_rng(spec, split, index)
    scene, ids = _sample_scene(rng, spec, split)
    image, inst = render_scene(scene, spec.size, spec.noise_std, ids)
    shape_label, color_label = semantic_labels(scene, inst)
    return Sample(image, shape_label, color_label, make_caption(scene, rng, spec.same_color_shape_only), scene)
