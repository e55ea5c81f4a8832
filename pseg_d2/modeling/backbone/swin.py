"""Swin Transformer from timm as a Detectron2 ``Backbone`` (res2..res5, strides 4..32)."""
import timm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from timm.models.swin_transformer import checkpoint_filter_fn

from ..weights import load_local_weights

STAGE_NAMES = ("res2", "res3", "res4", "res5")


class TimmSwin(Backbone):
    """A timm Swin whose four stage outputs are returned as NCHW maps named res2..res5.

    Any input size works (timm pads windows); official Swin checkpoints are converted on load.
    """

    def __init__(self, timm_name: str, out_features, drop_path_rate: float = 0.0, weights: str = ""):
        super().__init__()
        self.model = timm.create_model(
            timm_name, pretrained=False, num_classes=0, strict_img_size=False, drop_path_rate=drop_path_rate
        )
        if weights:
            load_local_weights(self.model, weights, "MODEL.SWIN.WEIGHTS", filter_fn=checkpoint_filter_fn)
        unknown = set(out_features) - set(STAGE_NAMES)
        if unknown:
            raise ValueError(f"MODEL.SWIN.OUT_FEATURES has unknown names {sorted(unknown)}; use {STAGE_NAMES}")
        self._out_features = list(out_features)
        self._out_feature_channels = {n: info["num_chs"] for n, info in zip(STAGE_NAMES, self.model.feature_info)}
        self._out_feature_strides = {n: info["reduction"] for n, info in zip(STAGE_NAMES, self.model.feature_info)}

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, x):
        """[B, 3, H, W] -> {name: [B, C, H/s, W/s]} for the configured names."""
        maps = self.model.forward_intermediates(x, indices=4, intermediates_only=True)
        outputs = dict(zip(STAGE_NAMES, maps))
        return {name: outputs[name] for name in self._out_features}


@BACKBONE_REGISTRY.register()
def build_timm_swin_backbone(cfg, input_shape):
    swin = cfg.MODEL.SWIN
    return TimmSwin(swin.TIMM_NAME, swin.OUT_FEATURES, swin.DROP_PATH_RATE, swin.WEIGHTS)
