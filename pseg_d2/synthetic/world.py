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

from dataclasses import dataclass, field

import numpy as np

from .captions import make_caption
from .render import render_scene, semantic_labels
from .scene import Scene, sample_scene_and_ids
from .spec import WorldSpec, sample_rng


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


def generate_sample(spec: WorldSpec, split: str, index: int) -> Sample:
    """Image ``index`` of ``split``: image, both label maps and a caption."""
    rng = sample_rng(spec, split, index)
    scene, ids = sample_scene_and_ids(rng, spec, split)
    image, inst = render_scene(scene, spec.size, spec.noise_std, ids)
    shape_label, color_label = semantic_labels(scene, inst)
    return Sample(image, shape_label, color_label, make_caption(scene, rng, spec.same_color_shape_only), scene)
