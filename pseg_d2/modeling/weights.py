"""The project's one loader of checkpoint files, which runs no code from them, and loading pretrained
weights of timm models from local checkpoint files (nothing is downloaded)."""
import os
from typing import IO, Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import nn

# Pickle-based formats (Detectron2's .pkl model zoo, pycls .pyth): refused without being read.
UNSAFE_SUFFIXES = (".pkl", ".pyth")


class CheckpointLoadError(ValueError):
    """A checkpoint file that cannot be loaded as weights only; the message is one line saying what to do."""


def refuse_pickle_formats(name: str) -> None:
    """Raise :class:`CheckpointLoadError` for a file name of a pickle-based format (``UNSAFE_SUFFIXES``)."""
    if name.endswith(UNSAFE_SUFFIXES):
        raise CheckpointLoadError(
            f"Refusing to unpickle {name}: pseg_d2 loads .pth checkpoints of weights only; convert it to .pth "
            "(torch.save of its state dict) in a trusted environment."
        )


def load_weights_only(file: Union[str, IO[bytes]], name: Optional[str] = None) -> Any:
    """``torch.load(file, weights_only=True)`` on the CPU: tensors, numbers, strings and containers
    only, so a checkpoint from a stranger cannot run code. Every checkpoint load of pseg_d2 goes
    through here. ``name`` (default: ``file`` itself) names the file in errors.

    Raises :class:`CheckpointLoadError` (one line) for a pickle-based suffix or a file that fails the
    load (code-carrying, truncated, empty or not a checkpoint).
    """
    name = name or str(file)
    refuse_pickle_formats(file if isinstance(file, str) else name)
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError or KeyError here
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        cause = next((line for line in lines if "WeightsUnpickler error" in line), lines[0] if lines else "")
        raise CheckpointLoadError(
            f"Cannot load {name} as weights only ({type(e).__name__}: {cause[:200] or 'no detail'}): it is "
            "truncated, not a PyTorch checkpoint, or holds more than tensors and containers; re-save its "
            "state dict with torch.save in a trusted environment."
        ) from e


def read_state_dict(path: str, config_key: str) -> Dict[str, torch.Tensor]:
    """A local checkpoint file -> its state dict: unwrapped from ``teacher`` / ``model`` / ``state_dict``,
    without ``module.`` or ``backbone.`` prefixes. Loaded with :func:`load_weights_only`, so a
    checkpoint cannot run code."""
    if not path:
        raise ValueError(f"{config_key} is empty: set it to a local checkpoint file of the model's weights.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{config_key}={path!r} does not exist.")
    state = load_weights_only(path, f"{config_key}={path!r}")
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
