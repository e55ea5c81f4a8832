"""A plain timm ViT as a Detectron2 ``Backbone`` with a four-level feature pyramid (BEiT-style).

The token maps after four blocks (4, 6, 8 and 12 of a ViT-B) become maps at strides
patch/4 (two 2x transposed convolutions), patch/2 (one), patch (as is) and 2*patch (2x max-pooling):
4, 8, 16 and 32 for 16-pixel patches. Absolute position embeddings only (no relative ones).
"""
import math
from typing import Dict, List, Sequence

import timm
import torch
from detectron2.layers import get_norm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from timm.layers import resample_abs_pos_embed
from torch import nn

from ..weights import load_local_weights

# Keys of an MAE pre-training checkpoint that the encoder does not have.
MAE_ONLY_PREFIXES = ("decoder", "mask_token", "norm.", "fc_norm.")


def mae_to_timm(state: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """MAE encoder keys (already timm's names) -> ``model``'s: drops the decoder, the mask token, the
    final norms (the pyramid reads un-normalised blocks) and the blocks after the last one read
    (``OUT_BLOCKS``), and resamples ``pos_embed`` [1, 1 + h*w, D] to the model's grid [1, 1 + H*W, D]
    as MAE's ``interpolate_pos_embed`` does (bicubic to the output size, no antialiasing)."""
    pruned = tuple(f"blocks.{i}." for i in range(len(model.blocks), _num_blocks(state)))
    state = {k: v for k, v in state.items() if not k.startswith(MAE_ONLY_PREFIXES + pruned)}
    if "pos_embed" in state and state["pos_embed"].shape != model.pos_embed.shape:
        prefix = model.num_prefix_tokens
        old_tokens = state["pos_embed"].shape[1] - prefix
        old_side = math.isqrt(old_tokens)
        if old_side * old_side != old_tokens:
            raise ValueError(f"pos_embed of {old_tokens} patch tokens is not a square grid")
        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], new_size=model.patch_embed.grid_size, old_size=(old_side, old_side),
            num_prefix_tokens=prefix, antialias=False,
        )
    return state


def _num_blocks(state: Dict[str, torch.Tensor]) -> int:
    return 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)


class ViTPyramid(Backbone):
    """timm ViT blocks -> {res<k>: [B, D, H / 2^k, W / 2^k]} at four strides (names by stride)."""

    def __init__(
        self,
        timm_name: str,
        out_blocks: Sequence[int] = (4, 6, 8, 12),
        img_size: int = 224,
        patch_size: int = 0,
        embed_dim: int = 0,
        num_heads: int = 0,
        drop_path_rate: float = 0.0,
        norm: str = "BN",
        weights: str = "",
    ):
        super().__init__()
        if len(out_blocks) != 4 or list(out_blocks) != sorted(set(out_blocks)) or out_blocks[0] < 1:
            raise ValueError(f"MODEL.VIT.OUT_BLOCKS must be 4 increasing 1-based block numbers, got {list(out_blocks)}")
        overrides = {"patch_size": patch_size, "embed_dim": embed_dim, "num_heads": num_heads}
        kwargs = {k: v for k, v in overrides.items() if v}
        self.vit = timm.create_model(
            timm_name, pretrained=False, num_classes=0, img_size=img_size, drop_path_rate=drop_path_rate,
            dynamic_img_size=True, **kwargs,
        )
        depth = len(self.vit.blocks)
        if out_blocks[-1] > depth:
            raise ValueError(f"MODEL.VIT.OUT_BLOCKS={list(out_blocks)} but {timm_name} has {depth} blocks")
        self.out_indices = [b - 1 for b in out_blocks]
        self.vit.prune_intermediate_layers(self.out_indices, prune_norm=True, prune_head=True)
        if weights:
            load_local_weights(self.vit, weights, "MODEL.VIT.WEIGHTS", filter_fn=mae_to_timm)

        dim = self.vit.embed_dim
        patch = self.vit.patch_embed.patch_size[0]
        if patch % 4:
            raise ValueError(f"patch size {patch} is not a multiple of 4: no stride patch/4 level")
        self.patch_size = patch
        self.levels = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(dim, dim, 2, stride=2), get_norm(norm, dim), nn.GELU(),
                nn.ConvTranspose2d(dim, dim, 2, stride=2),
            ),
            nn.ConvTranspose2d(dim, dim, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(2),
        ])
        strides = [patch // 4, patch // 2, patch, patch * 2]
        self._out_features = [f"res{int(math.log2(s))}" for s in strides]
        self._out_feature_strides = dict(zip(self._out_features, strides))
        self._out_feature_channels = {name: dim for name in self._out_features}

    @property
    def size_divisibility(self) -> int:
        return 2 * self.patch_size

    @property
    def num_layers(self) -> int:
        """Transformer blocks kept (the depth that layer-wise learning-rate decay counts)."""
        return len(self.vit.blocks)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """[B, 3, H, W] (H, W multiples of the patch) -> {name: [B, D, H / s, W / s]}."""
        maps: List[torch.Tensor] = self.vit.forward_intermediates(x, indices=self.out_indices, intermediates_only=True)
        return {name: level(m) for name, level, m in zip(self._out_features, self.levels, maps)}


@BACKBONE_REGISTRY.register()
def build_vit_pyramid_backbone(cfg, input_shape):
    vit = cfg.MODEL.VIT
    return ViTPyramid(vit.NAME, vit.OUT_BLOCKS, vit.IMG_SIZE, vit.PATCH_SIZE, vit.EMBED_DIM, vit.NUM_HEADS,
                      vit.DROP_PATH_RATE, vit.NORM, vit.WEIGHTS)
