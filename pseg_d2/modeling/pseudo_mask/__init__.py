"""Pseudo-mask generation: frozen features + batched K-Means."""
from .generator import (
    PSEUDO_MASK_GENERATOR_REGISTRY,
    ColorKMeansGenerator,
    DINOKMeansGenerator,
    build_pseudo_mask_generator,
)
from .kmeans import batched_kmeans
