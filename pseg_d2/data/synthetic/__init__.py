"""Synthetic open-vocabulary world: coloured shapes on textured backgrounds, with captions.

``world`` generates single samples deterministically from a seed; ``writer`` writes a whole
world to disk (webdataset shards for training, PNG images and label maps for evaluation).
"""
from .world import (
    COLORS,
    HELDOUT_PAIRS,
    SCENE_KINDS,
    SHAPES,
    SPLIT_IDS,
    TEXTURES,
    Background,
    Sample,
    Scene,
    SceneObject,
    WorldSpec,
    allowed_pairs,
    generate_sample,
    make_caption,
    plural,
    render_scene,
    sample_scene,
    semantic_labels,
)
from .writer import TRAIN_IMAGES, load_spec, train_shards, write_train_images, write_world

__all__ = [
    "COLORS", "HELDOUT_PAIRS", "SCENE_KINDS", "SHAPES", "SPLIT_IDS", "TEXTURES",
    "Background", "Sample", "Scene", "SceneObject", "WorldSpec", "allowed_pairs",
    "generate_sample", "make_caption", "plural", "render_scene", "sample_scene",
    "semantic_labels", "TRAIN_IMAGES", "load_spec", "train_shards", "write_train_images", "write_world",
]
