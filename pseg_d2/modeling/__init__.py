"""P-Seg's model parts; importing registers the meta-architecture, backbones and components."""
from . import backbone  # noqa: F401  (registers build_timm_swin_backbone)
from . import heads  # noqa: F401  (registers UperNetHead)
from .contrastive import ContrastiveLoss
from .criterion import MaskCriterion
from .losses import dice_loss, pairwise_dice_cost, pairwise_focal_cost, sigmoid_focal_loss
from .mask_features import MaskFeatureHead
from .matcher import HungarianMatcher
from .meta_arch import PSeg
from .pixel_decoder import PIXEL_DECODER_REGISTRY, FPNPixelDecoder
from .pseudo_mask import (
    PSEUDO_MASK_GENERATOR_REGISTRY,
    ColorKMeansGenerator,
    DINOKMeansGenerator,
    batched_kmeans,
    build_pseudo_mask_generator,
)
from .text_encoder import TEXT_ENCODER_REGISTRY, CLIPTextTransformer, tokenize
from .transformer_decoder import TransformerMaskDecoder
