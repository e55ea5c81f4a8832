"""Synthetic open-vocabulary world: coloured shapes on textured backgrounds, with captions.

``spec`` holds what determines a world (the colours, held-out pairs and ``WorldSpec``), ``shapes``
the shape polygons, ``textures`` the backgrounds, ``scene`` the sampling of objects and layouts,
``render`` the drawing and label maps, ``captions`` the captions; ``world`` composes them into
single samples drawn deterministically from a seed, and ``writer`` writes a whole world to disk
(webdataset shards for training, PNG images and label maps for evaluation).
"""
from .captions import make_caption, plural
from .render import render_scene, semantic_labels
from .scene import Scene, SceneObject, sample_scene
from .shapes import SHAPES
from .spec import COLORS, HELDOUT_PAIRS, SCENE_KINDS, SPLIT_IDS, WorldSpec, allowed_pairs
from .textures import TEXTURES, Background
from .world import Sample, generate_sample
from .writer import TRAIN_IMAGES, load_spec, train_shards, write_train_images, write_world

__all__ = [
    "COLORS", "HELDOUT_PAIRS", "SCENE_KINDS", "SHAPES", "SPLIT_IDS", "TEXTURES",
    "Background", "Sample", "Scene", "SceneObject", "WorldSpec", "allowed_pairs",
    "generate_sample", "make_caption", "plural", "render_scene", "sample_scene",
    "semantic_labels", "TRAIN_IMAGES", "load_spec", "train_shards", "write_train_images", "write_world",
]
