"""Any timm convolutional network as a Detectron2 ``Backbone`` (feature maps named by stride)."""
import math

import timm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from ..weights import load_local_weights


class TimmConvNet(Backbone):
    """``timm.create_model(name, features_only=True)``; the map of stride 2^k is named ``res{k}``."""

    def __init__(self, timm_name: str, out_indices, weights: str = ""):
        super().__init__()
        self.model = timm.create_model(timm_name, pretrained=False, features_only=True, out_indices=tuple(out_indices))
        if weights:
            load_local_weights(self.model, weights, "MODEL.TIMM.WEIGHTS")
        info = self.model.feature_info
        self._out_features = [f"res{int(math.log2(r))}" for r in info.reduction()]
        self._out_feature_channels = dict(zip(self._out_features, info.channels()))
        self._out_feature_strides = dict(zip(self._out_features, info.reduction()))

    @property
    def size_divisibility(self) -> int:
        return max(self._out_feature_strides.values())

    def forward(self, x):
        """[B, 3, H, W] -> {res_k: [B, C_k, H / 2^k, W / 2^k]}."""
        return dict(zip(self._out_features, self.model(x)))


@BACKBONE_REGISTRY.register()
def build_timm_convnet_backbone(cfg, input_shape):
    return TimmConvNet(cfg.MODEL.TIMM.NAME, cfg.MODEL.TIMM.OUT_INDICES, cfg.MODEL.TIMM.WEIGHTS)
