"""UperNet (Xiao et al., 2018) as a Detectron2 semantic-segmentation head: a pyramid-pooling module
on the coarsest level, top-down FPN fusion of all levels, and a per-pixel classifier."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn


def _conv(in_channels: int, out_channels: int, kernel: int, norm: str) -> Conv2d:
    """kernel x kernel convolution (same padding) -> norm -> ReLU."""
    return Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=not norm,
                  norm=get_norm(norm, out_channels), activation=F.relu)


class PyramidPooling(nn.Module):
    """[B, C, h, w] -> [B, channels, h, w]: the map concatenated with its average pools to s x s
    (one per scale, projected and upsampled back), then a 3x3 bottleneck."""

    def __init__(self, in_channels: int, channels: int, scales: Sequence[int], norm: str):
        super().__init__()
        self.pools = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(s), _conv(in_channels, channels, 1, norm)) for s in scales
        )
        self.bottleneck = _conv(in_channels + len(scales) * channels, channels, 3, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(pool(x), size=size, mode="bilinear", align_corners=False) for pool in self.pools]
        return self.bottleneck(torch.cat([x] + pooled, dim=1))


@SEM_SEG_HEADS_REGISTRY.register()
class UperNetHead(nn.Module):
    """Backbone levels (finest first) -> class logits at the finest level's stride, upsampled to the
    input; cross-entropy against ``targets`` [B, H, W] with ``ignore_value`` pixels left out.

    Follows Detectron2's head contract: ``forward(features, targets)`` returns ``(None, losses)``
    in training and ``(logits [B, K, H, W], {})`` at inference.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        channels: int,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        norm: str = "BN",
        dropout: float = 0.1,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
    ):
        super().__init__()
        shapes: List[Tuple[str, ShapeSpec]] = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [name for name, _ in shapes]
        in_channels = [s.channels for _, s in shapes]
        self.common_stride = shapes[0][1].stride
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.ppm = PyramidPooling(in_channels[-1], channels, pool_scales, norm)
        self.lateral = nn.ModuleList(_conv(c, channels, 1, norm) for c in in_channels[:-1])
        self.smooth = nn.ModuleList(_conv(channels, channels, 3, norm) for _ in in_channels[:-1])
        self.fuse = _conv(len(in_channels) * channels, channels, 3, norm)
        self.dropout = nn.Dropout2d(dropout)
        self.predictor = nn.Conv2d(channels, num_classes, 1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        missing = set(head.IN_FEATURES) - set(input_shape)
        if missing:
            raise ValueError(f"MODEL.SEM_SEG_HEAD.IN_FEATURES names {sorted(missing)}, which the backbone does not "
                             f"output (it gives {sorted(input_shape)})")
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "num_classes": head.NUM_CLASSES,
            "channels": head.CONVS_DIM,
            "pool_scales": head.POOL_SCALES,
            "norm": head.NORM,
            "dropout": head.DROPOUT,
            "ignore_value": head.IGNORE_VALUE,
            "loss_weight": head.LOSS_WEIGHT,
        }

    def layers(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """{name: [B, C_i, H / s_i, W / s_i]} -> logits [B, K, H / s_0, W / s_0]."""
        maps = [features[name] for name in self.in_features]
        levels = [lateral(x) for lateral, x in zip(self.lateral, maps[:-1])] + [self.ppm(maps[-1])]
        for i in range(len(levels) - 1, 0, -1):  # top-down: coarse to fine
            levels[i - 1] = levels[i - 1] + F.interpolate(levels[i], size=levels[i - 1].shape[-2:], mode="bilinear",
                                                          align_corners=False)
        levels = [smooth(x) for smooth, x in zip(self.smooth, levels[:-1])] + [levels[-1]]
        size = levels[0].shape[-2:]
        levels = [levels[0]] + [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in levels[1:]]
        return self.predictor(self.dropout(self.fuse(torch.cat(levels, dim=1))))

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        logits = F.interpolate(self.layers(features), scale_factor=self.common_stride, mode="bilinear",
                               align_corners=False)
        if self.training:
            loss = F.cross_entropy(logits, targets, reduction="mean", ignore_index=self.ignore_value)
            return None, {"loss_sem_seg": loss * self.loss_weight}
        return logits, {}
