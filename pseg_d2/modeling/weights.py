"""Loading pretrained weights of timm models from local checkpoint files (nothing is downloaded)."""
import os
from typing import Callable, Optional

import torch
from torch import nn


def load_local_weights(model: nn.Module, path: str, config_key: str, filter_fn: Optional[Callable] = None) -> None:
    """Load a local checkpoint (timm, or official DINO / MAE / Swin layouts) into ``model``.

    Accepts a plain state dict or one wrapped under ``model`` / ``state_dict`` / ``teacher``, with
    ``module.`` or ``backbone.`` prefixes; classifier-head keys are ignored. ``filter_fn(state, model)``
    converts an official layout to timm's (timm's own ``checkpoint_filter_fn``). Loaded with
    ``weights_only=True``, so a checkpoint cannot run code.
    """
    if not path:
        raise ValueError(f"{config_key} is empty: set it to a local checkpoint file of the model's weights.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{config_key}={path!r} does not exist.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("teacher", "model", "state_dict"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith("head"):
            cleaned[key] = value
    if filter_fn is not None:
        cleaned = filter_fn(cleaned, model)
    missing, unexpected = model.load_state_dict(cleaned, strict=False)
    missing = [k for k in missing if not k.startswith("head")]
    if missing or unexpected:
        raise RuntimeError(f"{config_key}={path!r} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
