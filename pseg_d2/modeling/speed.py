"""Training-speed switches applied to a built P-Seg: channels-last, torch.compile, activation checkpointing."""
import torch
from torch import nn


def enable_grad_checkpointing(module: nn.Module, config_key: str) -> None:
    """Turn on the timm / open_clip style ``set_grad_checkpointing`` of the outermost submodule having one."""
    for sub in module.modules():
        if callable(getattr(sub, "set_grad_checkpointing", None)):
            sub.set_grad_checkpointing(True)
            return
    raise ValueError(
        f"{config_key}: {type(module).__name__} has no set_grad_checkpointing (timm backbones and open_clip "
        "text transformers have one)"
    )


def apply_speed_switches(model: nn.Module, channels_last: bool, compile_backbone: bool, activation_checkpointing: bool):
    """Apply the MODEL.PSEG.{CHANNELS_LAST, COMPILE, ACTIVATION_CHECKPOINTING} switches to a PSeg, in place.

    All three keep parameter names, so checkpoints load either way.
    """
    if channels_last:
        model.backbone.to(memory_format=torch.channels_last)
        model.pixel_decoder.to(memory_format=torch.channels_last)
    if activation_checkpointing:
        key = "MODEL.PSEG.ACTIVATION_CHECKPOINTING"
        enable_grad_checkpointing(model.backbone, key)
        enable_grad_checkpointing(model.text_encoder, key)
        model.mask_decoder.checkpoint_layers = True
    if compile_backbone:
        model.backbone.compile()
