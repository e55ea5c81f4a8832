"""End to end through tools/train_net.py: train on synthetic shards, then --eval-only gives an mIoU."""
import json
import os
import subprocess
import sys

import pytest

from pseg_d2.synthetic import WorldSpec, train_shards, write_world

TINY = "configs/tiny/pseg_r18_tiny.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("d2data") / "synthetic")  # registered from $DETECTRON2_DATASETS/synthetic
    write_world(root, WorldSpec(size=64), num_train=96, num_val=8, num_heldout=4, shard_size=24, workers=1, progress=False)
    return root


def _run(args, root, num_gpus=1, launcher=()):
    env = dict(os.environ, DETECTRON2_DATASETS=os.path.dirname(root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, *launcher, "tools/train_net.py", "--num-gpus", str(num_gpus), "--config-file", TINY] + args
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _opts(root, out, *extra):
    shards = json.dumps(train_shards(root))
    return ["DATASETS.IMAGE_TEXT.SHARDS", shards, "DATASETS.TEST", '("synthetic_colors_val",)', "OUTPUT_DIR", str(out), *extra]


@pytest.mark.slow
def test_train_then_eval_only_reports_miou(world, tmp_path):
    out = tmp_path / "run"
    log = _run(_opts(world, out, "SOLVER.MAX_ITER", "6"), world)
    assert (out / "model_final.pth").exists()
    assert "mIoU" in log
    log = _run(["--eval-only"] + _opts(world, out, "MODEL.WEIGHTS", str(out / "model_final.pth")), world)
    line = [l for l in log.splitlines() if "copypaste: " in l][-1]
    miou = float(line.split("copypaste: ")[1].split(",")[0])
    assert 0.0 <= miou <= 100.0


@pytest.mark.slow
def test_two_process_cpu_training_reads_disjoint_shards(world, tmp_path):
    out = tmp_path / "ddp"
    _run(_opts(world, out, "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "8", "DATASETS.TEST", "()"), world, num_gpus=2)
    assert (out / "model_final.pth").exists()
    # Both ranks' captions are negatives: the contrastive loss saw the global batch of 8, not 4.
    metrics = [json.loads(l) for l in (out / "metrics.json").read_text().splitlines()]
    assert metrics[-1]["iteration"] == 2
    assert all(m["contrastive_pairs"] == 8 for m in metrics if "contrastive_pairs" in m)


@pytest.mark.slow
def test_two_process_cpu_training_under_torchrun(world, tmp_path):
    out = tmp_path / "torchrun"
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    log = _run(_opts(world, out, "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "8", "DATASETS.TEST", "()"), world,
               launcher=torchrun)
    assert "Rank of current process: 0. World size: 2" in log
    assert not [line for line in log.splitlines() if "Warning" in line and ("pseg_d2" in line or "all_gather" in line)]
    metrics = [json.loads(l) for l in (out / "metrics.json").read_text().splitlines()]
    assert all(m["contrastive_pairs"] == 8 for m in metrics if "contrastive_pairs" in m)
