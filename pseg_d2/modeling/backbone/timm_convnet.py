"""Any timm convolutional network as a Detectron2 ``Backbone`` (feature maps named by stride)."""
import math
from typing import Dict

import timm
import torch
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from ..weights import load_local_weights


def full_model_state(timm_name: str, weights: str) -> Dict[str, torch.Tensor]:
    """A checkpoint of timm's full model ``timm_name`` (what ``timm.create_model(name).state_dict()``
    holds) -> the state dict of that full model. Its classifier may be missing or of another class
    count (the feature maps do not use it); any other mismatch is an error."""
    model = timm.create_model(timm_name, pretrained=False)
    classifier = model.pretrained_cfg.get("classifier") or "head"
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    load_local_weights(model, weights, "MODEL.TIMM.WEIGHTS", ignore=tuple(f"{c}." for c in classifiers) + ("head",))
    return model.state_dict()


class TimmConvNet(Backbone):
    """``timm.create_model(name, features_only=True)``; the map of stride 2^k is named ``res{k}``.

    ``weights`` is a checkpoint of timm's full model: timm itself maps it onto the feature extractor
    (which drops the classifier and may rename modules, e.g. ConvNeXt's ``stem.0`` to ``stem_0``).
    """

    def __init__(self, timm_name: str, out_indices, weights: str = ""):
        super().__init__()
        kwargs = {}
        if weights:
            # timm loads a state dict given as the pretrained source from memory: nothing is downloaded.
            kwargs = {"pretrained": True, "pretrained_cfg_overlay": {"state_dict": full_model_state(timm_name, weights)}}
        self.model = timm.create_model(timm_name, features_only=True, out_indices=tuple(out_indices), **kwargs)
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
