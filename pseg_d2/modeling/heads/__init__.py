"""Semantic-segmentation heads registered in Detectron2's SEM_SEG_HEADS_REGISTRY."""
from .upernet import PyramidPooling, UperNetHead
