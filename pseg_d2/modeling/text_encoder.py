"""Text side: CLIP-BPE tokenisation and a text transformer trained jointly with the MaskFormer."""
from typing import List

import open_clip
import torch
import torch.nn.functional as F
from detectron2.utils.registry import Registry
from open_clip.transformer import TextTransformer
from torch import nn

from .mlp import MLP

TEXT_ENCODER_REGISTRY = Registry("TEXT_ENCODER")
TEXT_ENCODER_REGISTRY.__doc__ = """
Registry for text encoders: ``cls(cfg)``; ``forward(tokens [n, L]) -> [n, EMBED_DIM]`` normalised
embeddings in the joint space, and ``tokenize(list[str]) -> [n, L]``.
"""


def tokenize(texts: List[str], context_length: int = 77) -> torch.Tensor:
    """CLIP BPE (49408 tokens, shipped with open_clip): list of n strings -> LongTensor [n, context_length].

    Texts longer than the context are truncated, keeping the [EOS] token last.
    """
    return open_clip.tokenize(texts, context_length=context_length)


@TEXT_ENCODER_REGISTRY.register()
class CLIPTextTransformer(nn.Module):
    """open_clip's causal text transformer, [EOS]-token feature, then a 2-layer MLP into the joint space."""

    def __init__(self, cfg):
        super().__init__()
        te = cfg.MODEL.TEXT_ENCODER
        self.context_length = te.CONTEXT_LENGTH
        self.transformer = TextTransformer(
            context_length=te.CONTEXT_LENGTH,
            vocab_size=te.VOCAB_SIZE,
            width=te.WIDTH,
            heads=te.HEADS,
            layers=te.LAYERS,
            output_dim=None,
            proj_type="none",
            pool_type="argmax",  # the [EOS] token has the largest id in CLIP's vocabulary
        )
        self.projection = MLP(te.WIDTH, cfg.MODEL.PSEG.EMBED_DIM, cfg.MODEL.PSEG.EMBED_DIM, num_layers=2)

    def tokenize(self, texts: List[str]) -> torch.Tensor:
        return tokenize(texts, self.context_length)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[n, L] token ids -> [n, EMBED_DIM] L2-normalised text embeddings."""
        return F.normalize(self.projection(self.transformer(tokens)), dim=-1)


def build_text_encoder(cfg) -> nn.Module:
    return TEXT_ENCODER_REGISTRY.get(cfg.MODEL.TEXT_ENCODER.NAME)(cfg)
