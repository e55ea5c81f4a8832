"""Text side: CLIP-BPE tokenisation and a text transformer trained jointly with the MaskFormer."""
from typing import List

import open_clip
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.utils.registry import Registry
from open_clip.transformer import TextTransformer
from torch import nn

from .mlp import MLP

TEXT_ENCODER_REGISTRY = Registry("TEXT_ENCODER")
TEXT_ENCODER_REGISTRY.__doc__ = """
Registry for text encoders: ``@configurable`` classes, built as ``cls(cfg)``; ``forward(tokens [n, L]) -> [n, EMBED_DIM]`` normalised
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

    @configurable
    def __init__(self, *, context_length: int, vocab_size: int, width: int, heads: int, layers: int, embed_dim: int):
        """
        Args:
            context_length: tokens per text (longer texts are truncated).
            vocab_size: token vocabulary (CLIP's BPE: 49408).
            width, heads, layers: the transformer's width, attention heads and depth.
            embed_dim: width of the joint image-text space.
        """
        super().__init__()
        self.context_length = context_length
        self.transformer = TextTransformer(
            context_length=context_length,
            vocab_size=vocab_size,
            width=width,
            heads=heads,
            layers=layers,
            output_dim=None,
            proj_type="none",
            pool_type="argmax",  # the [EOS] token has the largest id in CLIP's vocabulary
        )
        self.projection = MLP(width, embed_dim, embed_dim, num_layers=2)

    @classmethod
    def from_config(cls, cfg) -> dict:
        te = cfg.MODEL.TEXT_ENCODER
        return {"context_length": te.CONTEXT_LENGTH, "vocab_size": te.VOCAB_SIZE, "width": te.WIDTH,
                "heads": te.HEADS, "layers": te.LAYERS, "embed_dim": cfg.MODEL.PSEG.EMBED_DIM}

    def tokenize(self, texts: List[str]) -> torch.Tensor:
        return tokenize(texts, self.context_length)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[n, L] token ids -> [n, EMBED_DIM] L2-normalised text embeddings."""
        return F.normalize(self.projection(self.transformer(tokens)), dim=-1)


def build_text_encoder(cfg) -> nn.Module:
    return TEXT_ENCODER_REGISTRY.get(cfg.MODEL.TEXT_ENCODER.NAME)(cfg)
