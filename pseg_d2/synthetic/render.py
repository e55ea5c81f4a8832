"""Drawing a scene: supersampled polygons, area-weighted pixels, and the label maps."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .shapes import SHAPES
from .spec import COLORS
from .textures import render_background

if TYPE_CHECKING:
    from .scene import Scene, SceneObject

SUPERSAMPLE = 4  # shapes are rasterised at this factor, then box-filtered


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
