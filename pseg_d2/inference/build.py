"""``build_semantic_inference(cfg)``: the one place where ``MODEL.PSEG.TEST`` becomes inference rules,
and where every check of how its options combine lives."""
from detectron2.data import MetadataCatalog

from ..modeling.pseudo_mask.generator import build_region_generator
from .background import BorderBackground, ClampedThresholdBackground, PromptBackground, ThresholdBackground
from .pamr import PAMR
from .pipeline import SemanticInference
from .prompts import get_templates
from .region_voting import RegionVoting

BACKGROUND_RULES = {"prompt": PromptBackground, "threshold": ThresholdBackground,
                    "clamped_threshold": ClampedThresholdBackground, "border": BorderBackground}
# P-Seg pads its inputs to a multiple of at least this (backbones may ask for more; checked at run time).
MIN_SIZE_DIVISIBILITY = 32


def build_background_rule(test_cfg) -> PromptBackground:
    rule, name = test_cfg.BACKGROUND_RULE, test_cfg.BACKGROUND_CLASS_NAME
    if rule not in BACKGROUND_RULES:
        raise ValueError(f"MODEL.PSEG.TEST.BACKGROUND_RULE must be one of {tuple(BACKGROUND_RULES)}, got {rule!r}")
    if rule == "prompt":
        return PromptBackground(name)
    threshold = float(test_cfg.BACKGROUND_THRESHOLD)
    if not threshold == threshold:  # NaN
        raise ValueError("MODEL.PSEG.TEST.BACKGROUND_THRESHOLD is NaN: give a number")
    return BACKGROUND_RULES[rule](name, threshold)


def default_vocabulary(cfg):
    """``MODEL.PSEG.TEST.VOCABULARY``, else the ``stuff_classes`` of the ``DATASETS.TEST`` sets, which
    must then agree (looked up when inputs name no vocabulary, so sets registered later count), else None."""
    names = list(cfg.MODEL.PSEG.TEST.VOCABULARY)
    datasets = list(cfg.DATASETS.TEST)

    def vocabulary():
        if names or not datasets:
            return names or None
        classes = {name: MetadataCatalog.get(name).get("stuff_classes") for name in datasets}
        if len({tuple(c) for c in classes.values() if c is not None}) > 1:
            raise ValueError(f"Inputs name no vocabulary and the DATASETS.TEST sets {datasets} have different "
                             "stuff_classes: give each input its set's (pseg_d2.data.VocabularyDatasetMapper does) "
                             "or set MODEL.PSEG.TEST.VOCABULARY")
        return classes[datasets[0]]

    return vocabulary


def build_semantic_inference(cfg) -> SemanticInference:
    """The inference pipeline ``cfg.MODEL.PSEG.TEST`` describes (see ``add_pseg_config``)."""
    test = cfg.MODEL.PSEG.TEST
    window, stride = test.SLIDING_WINDOW, test.SLIDING_STRIDE
    if window and (window % MIN_SIZE_DIVISIBILITY or not 0 < stride <= window):
        raise ValueError(f"MODEL.PSEG.TEST.SLIDING_WINDOW={window} must be a multiple of {MIN_SIZE_DIVISIBILITY} "
                         f"and 0 < SLIDING_STRIDE={stride} <= it")
    if window and test.BACKGROUND_RULE == "border":
        raise ValueError("MODEL.PSEG.TEST.BACKGROUND_RULE 'border' compares pixels with the image's border, which "
                         "sliding windows do not see: set MODEL.PSEG.TEST.SLIDING_WINDOW 0 or choose another rule")
    region_voting = None
    if test.REGION_VOTING.ENABLED:
        if cfg.MODEL.PSEG.MASK_FEATURE_SOURCE != "mask_pooled":
            raise ValueError("MODEL.PSEG.TEST.REGION_VOTING needs MODEL.PSEG.MASK_FEATURE_SOURCE 'mask_pooled'")
        region_voting = RegionVoting(build_region_generator(cfg))
    pamr = PAMR(test.PAMR.ITERS, test.PAMR.DILATIONS) if test.PAMR.ENABLED else None
    return SemanticInference(
        combine=test.COMBINE,
        background=build_background_rule(test),
        templates=get_templates(test.PROMPT_TEMPLATES),
        region_voting=region_voting,
        pamr=pamr,
        sliding_window=window,
        sliding_stride=stride,
        default_vocabulary=default_vocabulary(cfg),
    )
