"""Backbones registered in Detectron2's BACKBONE_REGISTRY."""
from .swin import TimmSwin, build_timm_swin_backbone
