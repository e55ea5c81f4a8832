"""Checkpoints that are written atomically and loaded without running code.

* Saving writes ``<name>.pth.tmp`` and renames it, and ``last_checkpoint`` likewise, so a process
  killed at any moment leaves the previous checkpoint and its tag intact.
* A failed save (a full disk) removes its temporary file, so the space is not lost to the next run.
* Loading goes through :func:`~pseg_d2.modeling.weights.load_weights_only`: tensors, numbers, strings
  and containers only, so a checkpoint from a stranger cannot execute code. Pickle-based formats
  (Detectron2's ``.pkl`` model zoo, pycls ``.pyth``) are refused; convert them to ``.pth`` in a
  trusted environment. A file that fails the load raises a one-line ``CheckpointLoadError``.
"""
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..modeling.weights import load_weights_only, refuse_pickle_formats


def _atomic_write(path: str, write) -> None:
    """``write(file)`` into ``path + ".tmp"``, then rename it to ``path``; on any failure the
    temporary file is removed and the error raised."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def require_weights_file(path: str, key: str = "MODEL.WEIGHTS") -> None:
    """Raise a ``FileNotFoundError`` naming the config ``key`` if the local file ``path`` is missing
    (empty paths and URLs such as ``detectron2://...`` are left to the checkpointer)."""
    if path and "://" not in path and not os.path.isfile(path):
        raise FileNotFoundError(f"{key}={path!r}: no such file.")


class PSegCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` with atomic saves and weights-only loads."""

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        _atomic_write(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        _atomic_write(path, lambda f: f.write(last_filename_basename.encode()))

    def _load_file(self, filename: str):
        refuse_pickle_formats(filename)  # Detectron2 would unpickle a .pkl itself
        return super()._load_file(filename)

    def _torch_load(self, f: str):
        with self.path_manager.open(f, "rb") as stream:
            return load_weights_only(stream, f)
