"""Backbones registered in Detectron2's BACKBONE_REGISTRY."""
from .swin import TimmSwin, build_timm_swin_backbone
from .timm_convnet import TimmConvNet, build_timm_convnet_backbone
from .vit_pyramid import ViTPyramid, build_vit_pyramid_backbone, mae_to_timm
