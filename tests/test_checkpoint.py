"""Checkpoints: atomic saves, weights-only loads, and refusal of code-carrying files."""
import os
import pickle

import pytest
import torch
from torch import nn

from pseg_d2.engine import PSegCheckpointer


def test_save_is_atomic_and_loads_back(tmp_path):
    model = nn.Linear(3, 2)
    ckpt = PSegCheckpointer(model, save_dir=str(tmp_path))
    ckpt.save("model_0000009", iteration=9)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]  # no .tmp left behind
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    other = nn.Linear(3, 2)
    extra = PSegCheckpointer(other, save_dir=str(tmp_path)).resume_or_load("", resume=True)
    assert extra["iteration"] == 9
    assert torch.equal(other.weight, model.weight)


class _Exploit:
    """Unpickling this runs ``open(path, 'w')``: a stand-in for arbitrary code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_a_malicious_checkpoint_is_refused(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    with open(path, "wb") as f:
        if suffix == ".pth":
            torch.save({"model": {}, "payload": _Exploit(str(marker))}, f)
        else:
            pickle.dump({"model": {}, "payload": _Exploit(str(marker))}, f)
    with pytest.raises((pickle.UnpicklingError, ValueError)):
        PSegCheckpointer(nn.Linear(3, 2)).load(str(path))
    assert not marker.exists(), "the checkpoint's code must not have run"
