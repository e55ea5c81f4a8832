"""A training process killed with SIGKILL resumes with --resume: same iterations, same schedule, and
(with DATALOADER.RESUME_REPLAY and a fixed SEED) the same final weights as an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from test_image_text_data import write_shards

MAX_ITER = 40


def _command(shards, out, *extra):
    return [sys.executable, "tools/train_net.py", "--config-file", "configs/tiny/pseg_r18_tiny.yaml", *extra,
            "DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]), "DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(MAX_ITER),
            "SOLVER.CHECKPOINT_PERIOD", "5", "SOLVER.IMS_PER_BATCH", "4", "OUTPUT_DIR", str(out),
            "DATALOADER.RESUME_REPLAY", "True", "SEED", "3"]


def _metrics(out):
    return {m["iteration"]: m for m in map(json.loads, (out / "metrics.json").read_text().splitlines())}


@pytest.mark.slow
def test_sigkill_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    shards = write_shards(tmp_path, num_shards=2, per_shard=8)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    whole = tmp_path / "whole"
    subprocess.run(_command(shards, whole), env=env, check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(shards, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "last_checkpoint").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tagged = (killed / "last_checkpoint").read_text()
    assert tagged != "model_final.pth", "the run was meant to be killed before the end"
    saved_iter = torch.load(killed / tagged, weights_only=True)["iteration"]

    resumed = subprocess.run(_command(shards, killed, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Starting training from iteration {saved_iter + 1}" in resumed.stderr + resumed.stdout
    final = torch.load(killed / "model_final.pth", weights_only=True)
    reference = torch.load(whole / "model_final.pth", weights_only=True)
    assert final["iteration"] == MAX_ITER - 1 == reference["iteration"]
    # Same data (replayed), same per-iteration random state, restored optimiser: the same weights.
    assert final["model"].keys() == reference["model"].keys()
    for name, weight in reference["model"].items():
        assert torch.equal(final["model"][name], weight), name
    # The learning-rate schedule continues where it stopped: same lr at the same iteration.
    whole_metrics, resumed_metrics = _metrics(whole), _metrics(killed)
    assert resumed_metrics[MAX_ITER - 1]["lr"] == pytest.approx(whole_metrics[MAX_ITER - 1]["lr"])
