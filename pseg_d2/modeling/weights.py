"""Loading pretrained weights of timm models from local checkpoint files (nothing is downloaded)."""
import os
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn


def read_state_dict(path: str, config_key: str) -> Dict[str, torch.Tensor]:
    """A local checkpoint file -> its state dict: unwrapped from ``teacher`` / ``model`` / ``state_dict``,
    without ``module.`` or ``backbone.`` prefixes. Loaded with ``weights_only=True``, so a checkpoint
    cannot run code."""
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
        cleaned[key] = value
    return cleaned


def load_local_weights(model: nn.Module, path: str, config_key: str, filter_fn: Optional[Callable] = None,
                       ignore: Tuple[str, ...] = ("head",)) -> None:
    """Load a local checkpoint (timm, or official DINO / MAE / Swin layouts) into ``model``.

    Accepts what :func:`read_state_dict` reads. Keys starting with one of ``ignore`` (classifier
    heads) may be missing from the checkpoint or the model. ``filter_fn(state, model)`` converts an
    official layout to timm's (timm's own ``checkpoint_filter_fn``). Any other key that is missing,
    unexpected or of another shape is an error naming ``config_key``.
    """
    state = {k: v for k, v in read_state_dict(path, config_key).items() if not k.startswith(ignore)}
    if filter_fn is not None:
        state = filter_fn(state, model)
    expected = model.state_dict()
    reshaped = [k for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in reshaped}, strict=False)
    missing = [k for k in missing if not k.startswith(ignore) and k not in reshaped]
    if missing or unexpected or reshaped:
        raise RuntimeError(f"{config_key}={path!r} does not fit the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}, of another shape {reshaped[:5]}")
