"""``add_pseg_plus_config``: the keys of P-Seg+ (self-training a UperNet + ViT on P-Seg's labels)."""
import os

from detectron2.config import CfgNode as CN


def add_pseg_plus_config(cfg):
    """Add the ViT backbone, UperNet head, layer-wise decay and pseudo-label keys (in place).

    The model itself is Detectron2's ``SemanticSegmentor``: ``MODEL.META_ARCHITECTURE:
    "SemanticSegmentor"``, ``MODEL.BACKBONE.NAME: "build_vit_pyramid_backbone"``,
    ``MODEL.SEM_SEG_HEAD.NAME: "UperNetHead"`` (its NUM_CLASSES, IN_FEATURES, CONVS_DIM, NORM,
    IGNORE_VALUE and LOSS_WEIGHT are Detectron2's own keys).
    """
    # ---------------------------------------------------------------- ViT from timm (build_vit_pyramid_backbone)
    cfg.MODEL.VIT = CN()
    # timm model name: its geometry (width, depth, heads) unless overridden below.
    cfg.MODEL.VIT.NAME = "vit_base_patch16_224"
    # Patch side in pixels, token width and attention heads (0 = the timm model's own).
    cfg.MODEL.VIT.PATCH_SIZE = 0
    cfg.MODEL.VIT.EMBED_DIM = 0
    cfg.MODEL.VIT.NUM_HEADS = 0
    # Training input side: the absolute position embedding is made (and a checkpoint's resampled)
    # for this grid; other input sizes interpolate it on the fly.
    cfg.MODEL.VIT.IMG_SIZE = 512
    # Blocks (1-based) whose outputs become the pyramid at strides patch/4, patch/2, patch, 2*patch
    # (BEiT's segmentation setup; 4, 6, 8, 12 for a 12-block ViT). Later blocks are dropped.
    cfg.MODEL.VIT.OUT_BLOCKS = [4, 6, 8, 12]
    cfg.MODEL.VIT.DROP_PATH_RATE = 0.1
    # Norm between the two deconvolutions of the finest level ("BN", "SyncBN", "GN", ...).
    cfg.MODEL.VIT.NORM = "BN"
    # Local MAE (or timm ViT) checkpoint; "" = random init. Nothing is downloaded.
    cfg.MODEL.VIT.WEIGHTS = ""

    # ---------------------------------------------------------------- UperNet head (Detectron2's SEM_SEG_HEAD node)
    # Output sides of the pyramid-pooling module's average pools on the coarsest level.
    cfg.MODEL.SEM_SEG_HEAD.POOL_SCALES = [1, 2, 3, 6]
    cfg.MODEL.SEM_SEG_HEAD.DROPOUT = 0.1

    # ---------------------------------------------------------------- optimiser
    # Layer-wise learning-rate decay of the ViT (1.0 = none); see pseg_d2/selftrain/optimizer.py.
    cfg.SOLVER.LAYER_DECAY = 0.7
    # SOLVER.LR_SCHEDULER_NAME "WarmupPolyLR" (pseg_d2/selftrain/lr_scheduler.py): lr * (1 - t / T) ** power.
    cfg.SOLVER.POLY_LR_POWER = 1.0

    # ---------------------------------------------------------------- training crops
    # RandomCrop_CategoryAreaConstraint: re-draw crops where one class covers more than this (1.0 = off).
    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0

    # ---------------------------------------------------------------- pseudo labels
    # A training dataset named "<source>_pseudo" is registered from <ROOT>/<source>/ (the folder that
    # tools/generate_pseudo_labels.py writes for the registered dataset <source>).
    cfg.DATASETS.PSEUDO_LABELS_ROOT = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "pseudo_labels")
