"""Semantic inference of P-Seg: network outputs -> per-class score maps, as a pipeline of small steps
(classify, combine, background rule, refiners, resize; sliding windows around the first four).
``build_semantic_inference(cfg)`` builds it from ``MODEL.PSEG.TEST``."""
from .background import BorderBackground, ClampedThresholdBackground, PromptBackground, ThresholdBackground
from .build import BACKGROUND_RULES, build_semantic_inference
from .combine import COMBINE_RULES, classify, combine_masks
from .outputs import NetworkOutputs
from .pamr import PAMR
from .pipeline import SemanticInference
from .prompts import PROMPT_TEMPLATES, check_vocabulary, class_embeddings, get_templates
from .region_voting import RegionVoting

__all__ = ["BACKGROUND_RULES", "COMBINE_RULES", "PAMR", "PROMPT_TEMPLATES", "BorderBackground", "ClampedThresholdBackground", "NetworkOutputs",
           "PromptBackground", "RegionVoting", "SemanticInference", "ThresholdBackground", "build_semantic_inference",
           "check_vocabulary", "class_embeddings", "classify", "combine_masks", "get_templates"]
