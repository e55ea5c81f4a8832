"""The shape vocabulary: unit polygons of the eight shapes and their areas."""
from typing import Dict

import numpy as np


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


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of a polygon [V, 2]."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


UNIT_AREAS = {name: polygon_area(poly) for name, poly in SHAPES.items()}
