"""Pixel decoders: backbone features -> per-pixel embeddings at the finest stride (MaskFormer's contract)."""
from typing import Dict, List

import fvcore.nn.weight_init as weight_init
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.utils.registry import Registry
from torch import nn

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """
Registry for pixel decoders: ``@configurable`` classes, built as ``cls(cfg, input_shape: dict[str, ShapeSpec])``;
``forward(features: dict[str, Tensor]) -> mask_features [B, MASK_DIM, H/s, W/s]`` (s: finest stride).
"""


@PIXEL_DECODER_REGISTRY.register()
class FPNPixelDecoder(nn.Module):
    """A top-down FPN over the backbone's features (MaskFormer's base pixel decoder)."""

    @configurable
    def __init__(self, input_shape: Dict[str, ShapeSpec], *, in_features: List[str], hidden_dim: int, mask_dim: int,
                 norm: str):
        """
        Args:
            input_shape: the backbone's output shapes, by feature name.
            in_features: the features the FPN reads, finest first.
            hidden_dim: channels of the FPN levels.
            mask_dim: channels of the per-pixel embeddings.
            norm: normalisation of the FPN convolutions ("" for none; see ``detectron2.layers.get_norm``).
        """
        super().__init__()
        self.in_features = list(in_features)
        use_bias = norm == ""
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for i, name in enumerate(self.in_features):
            channels = input_shape[name].channels
            coarsest = i == len(self.in_features) - 1
            lateral = None if coarsest else Conv2d(channels, hidden_dim, 1, bias=use_bias, norm=get_norm(norm, hidden_dim))
            output = Conv2d(
                channels if coarsest else hidden_dim, hidden_dim, 3, padding=1, bias=use_bias,
                norm=get_norm(norm, hidden_dim), activation=F.relu,
            )
            for conv in (lateral, output):
                if conv is not None:
                    weight_init.c2_xavier_fill(conv)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)
        self.mask_features = Conv2d(hidden_dim, mask_dim, 3, padding=1)
        weight_init.c2_xavier_fill(self.mask_features)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]) -> dict:
        p = cfg.MODEL.PSEG
        return {"input_shape": input_shape, "in_features": p.IN_FEATURES, "hidden_dim": p.HIDDEN_DIM,
                "mask_dim": p.MASK_DIM, "norm": p.NORM}

    def forward(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        y = None
        for name, lateral, output in reversed(list(zip(self.in_features, self.lateral_convs, self.output_convs))):
            x = features[name]
            if y is None:
                y = output(x)
            else:
                y = output(lateral(x) + F.interpolate(y, size=x.shape[-2:], mode="nearest"))
        return self.mask_features(y)


def build_pixel_decoder(cfg, input_shape: Dict[str, ShapeSpec]) -> nn.Module:
    return PIXEL_DECODER_REGISTRY.get(cfg.MODEL.PSEG.PIXEL_DECODER_NAME)(cfg, input_shape)
