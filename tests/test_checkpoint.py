"""Checkpoints: atomic saves that clean up after a failure, and one weights-only loader for every
checkpoint the project reads, which refuses code-carrying files with a one-line error."""
import os
import pickle
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO, TINY_CONFIG, load_script, tiny_cfg
from pseg_d2.engine import CheckpointLoadError, PSegCheckpointer, PSegPredictor
from pseg_d2.engine import checkpoint as checkpoint_module
from pseg_d2.modeling.weights import load_local_weights, load_weights_only


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


def test_a_failed_save_removes_its_temporary_file(tmp_path, monkeypatch):
    ckpt = PSegCheckpointer(nn.Linear(3, 2), save_dir=str(tmp_path))
    ckpt.save("model_0000009", iteration=9)
    real_save = torch.save

    def save_until_the_disk_is_full(obj, f):
        real_save(obj, f)  # most of the file is written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_the_disk_is_full)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save("model_0000019", iteration=19)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"


# ---------------------------------------------------------------- code-carrying and broken checkpoints


class _Exploit:
    """Unpickling this runs ``open(path, 'w')``: a stand-in for arbitrary code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


SUFFIXES = (".pth", ".pkl", ".pyth")


def write_malicious(folder, suffix):
    """A checkpoint whose loading would create ``folder/pwned``; (its path, the marker path)."""
    marker, path = folder / "pwned", folder / f"evil{suffix}"
    payload = {"model": {}, "payload": _Exploit(str(marker))}
    with open(path, "wb") as f:
        (pickle.dump if suffix == ".pkl" else torch.save)(payload, f)
    return str(path), marker


def _checkpointer_load(path):
    PSegCheckpointer(nn.Linear(3, 2)).load(path)


def _resume_or_load(path):
    PSegCheckpointer(nn.Linear(3, 2), save_dir=os.path.dirname(path)).resume_or_load(path, resume=False)


def _backbone_weights(path):
    load_local_weights(nn.Linear(3, 2), path, "MODEL.TIMM.WEIGHTS")


def _predictor(path):
    PSegPredictor(tiny_cfg("MODEL.WEIGHTS", path))


# Every way the library reads a checkpoint: training and evaluation (PSegCheckpointer, also behind
# train_net, evaluate_benchmarks and the trainers), backbone and pseudo-mask ViT weights
# (load_local_weights), and inference (PSegPredictor, behind demo, web demo and the pseudo-label generator).
LIBRARY_LOADERS = (_checkpointer_load, _resume_or_load, _backbone_weights, _predictor)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("loader", LIBRARY_LOADERS, ids=lambda f: f.__name__.strip("_"))
def test_every_loader_refuses_a_malicious_checkpoint_in_one_line(tmp_path, loader, suffix):
    path, marker = write_malicious(tmp_path, suffix)
    with pytest.raises(CheckpointLoadError) as info:
        loader(path)
    assert not marker.exists(), "the checkpoint's code must not have run"
    message = str(info.value)
    assert "\n" not in message and "evil" + suffix in message


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncated"])
def test_a_broken_checkpoint_gives_one_line(tmp_path, content):
    path = tmp_path / "broken.pth"
    if content == "truncated":
        torch.save({"model": {"weight": torch.zeros(1000)}}, path)
        content = path.read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(CheckpointLoadError, match=r"^Cannot load .*broken.pth as weights only \(") as info:
        load_weights_only(str(path))
    assert "\n" not in str(info.value)


# Every file of the project that may read a checkpoint must do it through load_weights_only.
UNSAFE_CALLS = re.compile(r"torch\.load\(|pickle\.loads?\(|\bDetectionCheckpointer\(|\bCheckpointer\(|"
                          r"allow_pickle\s*=\s*True|torch\.hub\.|pretrained\s*=\s*True")
LOADER_FILE = os.path.join("pseg_d2", "modeling", "weights.py")


def test_no_other_code_reads_checkpoints():
    offenders = []
    for top in ("pseg_d2", "tools", "demo", "datasets"):
        for folder, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                path = os.path.relpath(os.path.join(folder, name), REPO)
                if not name.endswith(".py"):
                    continue
                with open(os.path.join(REPO, path)) as f:
                    for number, line in enumerate(f, 1):
                        if UNSAFE_CALLS.search(line) and not (path == LOADER_FILE and "weights_only=True" in line):
                            offenders.append(f"{path}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["tools/train_net.py", "tools/evaluate_benchmarks.py", "demo/demo.py"])
def test_tools_refuse_a_malicious_checkpoint_in_one_line(tmp_path, tool):
    path, marker = write_malicious(tmp_path, ".pth")
    cpu = ["MODEL.DEVICE", "cpu"]
    args = {
        "tools/train_net.py": ["--config-file", TINY_CONFIG, "--eval-only", "MODEL.WEIGHTS", path, *cpu,
                               "OUTPUT_DIR", str(tmp_path / "out")],
        "tools/evaluate_benchmarks.py": ["--config-file", TINY_CONFIG, "MODEL.WEIGHTS", path, *cpu,
                                         "OUTPUT_DIR", str(tmp_path / "out")],
        "demo/demo.py": ["--config-file", TINY_CONFIG, "--input", os.path.join(REPO, "README.md"), "--output",
                         str(tmp_path / "out"), "--vocabulary", "dog", "--opts", "MODEL.WEIGHTS", path, *cpu],
    }[tool]
    proc = subprocess.run([sys.executable, tool, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert not marker.exists(), "the checkpoint's code must not have run"
    last = proc.stderr.strip().splitlines()[-1]
    assert "Cannot load" in last and "evil.pth" in last, proc.stderr[-2000:]
    assert "UnpicklingError" not in proc.stderr.replace("(UnpicklingError:", ""), proc.stderr[-2000:]


def test_web_demo_refuses_a_malicious_checkpoint_in_one_line(tmp_path):
    pytest.importorskip("gradio")
    path, marker = write_malicious(tmp_path, ".pth")
    web_demo = load_script("tools/web_demo.py")
    with pytest.raises(SystemExit, match="Cannot load .*evil.pth") as info:
        web_demo.main(["--config-file", TINY_CONFIG, "--opts", "MODEL.WEIGHTS", path, "MODEL.DEVICE", "cpu"])
    assert not marker.exists() and "\n" not in str(info.value)
