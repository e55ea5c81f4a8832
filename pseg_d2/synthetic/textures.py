"""Backgrounds: a low-saturation two-colour texture (stripes, checker, noise, gradient or dots)."""
from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass
from typing import Tuple

import numpy as np
from PIL import Image

TEXTURES = ("stripes", "checker", "noise", "gradient", "dots")


@dataclass
class Background:
    texture: str
    colors: Tuple[Tuple[float, float, float], Tuple[float, float, float]]  # RGB 0-255
    angle: float
    period: float  # stripe / cell / dot spacing, fraction of the side
    grid: int  # value-noise resolution
    noise_seed: int


def sample_background(rng: np.random.Generator) -> Background:
    """A texture and two colours of one hue, low saturation and clearly different values."""
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
