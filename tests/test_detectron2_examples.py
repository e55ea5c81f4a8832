"""The scripts of docs/detectron2.md run as written: a user's own DefaultTrainer subclass trains on
image-text shards and evaluates with Detectron2's DatasetMapper; DefaultPredictor and Visualizer draw
the result with the vocabulary's metadata."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from PIL import Image

from conftest import REPO, TINY_CONFIG, tiny_cfg
from pseg_d2 import PSegTrainer
from pseg_d2.engine import build_pseg_optimizer
from pseg_d2.synthetic import WorldSpec, train_shards, write_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("d2data") / "synthetic")  # registered from $DETECTRON2_DATASETS/synthetic
    write_world(root, WorldSpec(size=64), num_train=16, num_val=4, num_heldout=0, shard_size=8, workers=1,
                progress=False)
    return root


def _run_example(name, args, root):
    env = dict(os.environ, DETECTRON2_DATASETS=os.path.dirname(root), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, os.path.join("docs", "examples", name), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_default_trainer_subclass_then_default_predictor_and_visualizer(world, tmp_path):
    out = tmp_path / "run"
    log = _run_example("train_with_default_trainer.py", [
        "--config-file", TINY_CONFIG, "MODEL.DEVICE", "cpu", "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "8",
        "DATASETS.IMAGE_TEXT.SHARDS", json.dumps(train_shards(world)), "DATASETS.TEST", '("synthetic_colors_val",)',
        "OUTPUT_DIR", str(out),
    ], world)
    assert (out / "model_final.pth").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    assert metrics[0]["iteration"] == 1 and "loss_contrastive" in metrics[0]
    checkpoint = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    optimizer = checkpoint["trainer"]["_trainer"]["optimizer"]
    assert "betas" in optimizer["param_groups"][0]  # build_pseg_optimizer's AdamW, not Detectron2's SGD
    # Evaluated after training through Detectron2's DatasetMapper, with the first test set's classes.
    assert 0.0 <= metrics[-1]["sem_seg/mIoU"] <= 100.0 and "sem_seg/IoU-orange" in metrics[-1]

    image = os.path.join(world, "val", "images", sorted(os.listdir(os.path.join(world, "val", "images")))[0])
    drawing = tmp_path / "drawing.png"
    log = _run_example("predict_and_visualize.py", [
        "--config-file", TINY_CONFIG, "--input", image, "--output", str(drawing), "--vocabulary", "background, red, blue",
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", str(out / "model_final.pth"),
    ], world)
    assert Image.open(drawing).size == Image.open(image).size
    labels = np.asarray(Image.open(tmp_path / "drawing_labels.png"))
    assert labels.shape == Image.open(image).size[::-1] and labels.max() < 3
    assert "classes [" in log


def test_pseg_optimizer_is_the_papers_adamw_for_any_trainer():
    model = build_model(tiny_cfg())
    optimizer = build_pseg_optimizer(tiny_cfg(), model)
    assert isinstance(optimizer, torch.optim.AdamW) and type(PSegTrainer.build_optimizer(tiny_cfg(), model)) is type(optimizer)
    no_decay = {id(p) for group in optimizer.param_groups if group["weight_decay"] == 0.0 for p in group["params"]}
    assert id(model.logit_scale) in no_decay and id(model.text_encoder.transformer.positional_embedding) in no_decay
    with pytest.raises(ValueError, match="P-Seg trains with ADAMW"):
        build_pseg_optimizer(tiny_cfg("SOLVER.OPTIMIZER", "SGD"), model)
