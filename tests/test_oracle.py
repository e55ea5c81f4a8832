"""The pseudo-mask oracle: majority labelling, and the tool agreeing with the demo's computation."""
import json
import runpy
import sys

import numpy as np
import pytest

from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.evaluation import evaluate_label_maps, majority_labels, oracle_predictor
from pseg_d2.modeling import build_pseudo_mask_generator
from pseg_d2.synthetic import WorldSpec, write_world
from conftest import tiny_cfg


def test_majority_labels_by_hand():
    clusters = np.array([[0, 0, 1], [1, 1, 2]])
    gt = np.array([[3, 255, 3], [5, 5, 255]])
    # cluster 0: {3}; cluster 1: {3, 5, 5} -> 5; cluster 2: only ignored pixels -> 0
    assert majority_labels(clusters, gt, num_clusters=3).tolist() == [[3, 3, 5], [5, 5, 0]]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("world"))
    write_world(root, WorldSpec(size=64), num_train=8, num_val=24, num_heldout=4, shard_size=8, workers=1, progress=False)
    register_synthetic(root)
    yield root
    register_synthetic("datasets/synthetic")


def test_oracle_tool_matches_the_demo_computation(synthetic_root, capsys, monkeypatch):
    cfg = tiny_cfg("MODEL.PSEUDO_MASK.NUM_CLUSTERS", 6)
    generator = build_pseudo_mask_generator(cfg)
    # K-Means is seeded per batch, so both sides use the same batches.
    direct = evaluate_label_maps("synthetic_colors_val", oracle_predictor(generator), batch_size=8)
    assert direct["mIoU"] > 50, "colour clusters labelled by the ground truth recover most colour regions"
    argv = ["eval_pseudo_masks.py", "--dataset", "synthetic_colors_val", "--config-file", "configs/tiny/pseg_r18_tiny.yaml",
            "--resize", "0", "--batch-size", "8", "--device", "cpu", "MODEL.PSEUDO_MASK.NUM_CLUSTERS", "6"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path("tools/eval_pseudo_masks.py", run_name="__main__")
    summary = json.loads(capsys.readouterr().out)
    assert summary["oracle_mIoU"] == round(direct["mIoU"], 2)
    assert summary["seconds_per_image"] > 0
