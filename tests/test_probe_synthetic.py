"""tools/probe_synthetic.py: retrieval, linear probes and per-rule accuracy on the synthetic world."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model

from conftest import load_script, tiny_cfg
from pseg_d2.data.synthetic import WorldSpec, write_world

tool = load_script("tools/probe_synthetic.py")
GROUP = tool.GROUP


def test_retrieval_top1_finds_matching_pairs_and_misses_shuffled_ones():
    emb = F.normalize(torch.randn(3 * GROUP, 16), dim=-1)
    assert tool.retrieval_top1(emb, emb).min() == 1.0
    assert tool.retrieval_top1(emb, emb.roll(1, 0)).mean() < 0.1  # each caption matches its neighbour image
    with pytest.raises(ValueError, match="at least"):
        tool.retrieval_top1(emb[:10], emb[:10])


def test_linear_probe_scores_object_pixels_only():
    labels = np.random.default_rng(0).integers(0, 4, (8, 5, 5))
    informative = np.eye(4)[labels]  # one-hot of the label: separable
    assert tool.linear_probe(informative, labels) == 1.0
    noise = np.random.default_rng(1).standard_normal((8, 5, 5, 4))
    assert tool.linear_probe(noise, labels) < 0.7  # three object classes, no signal


def test_probe_model_reports_every_section(tmp_path):
    write_world(str(tmp_path), WorldSpec(size=64, seed=1), num_train=4, num_val=GROUP, num_heldout=1, progress=False)
    model = build_model(tiny_cfg())
    report = tool.probe_model(model, *tool.load_split(str(tmp_path / "val")))
    assert set(report["retrieval_top1"]) == {"colour captions", "shape-only captions"}
    assert set(report["linear_probe"]) == {f"{v} on {f}" for v in ("shapes", "colors") for f in ("pixel decoder", "joint space")}
    assert set(report["foreground_accuracy"]) == {
        f"{v}, {r}" for v in ("shapes", "colors") for r in ("sigmoid_sum", "query_softmax", "pixel", "hybrid")
    }
    assert {f"{v}, {m}" for v in ("shapes", "colors") for m in ("class names", "linear probe")} <= set(report["objects"])
    values = [v for section in ("retrieval_top1", "linear_probe", "foreground_accuracy", "objects") for v in report[section].values()]
    assert all(0.0 <= v <= 1.0 for v in values)
    # Even an untrained network's pixel features keep the pixel's colour, linearly.
    assert report["linear_probe"]["colors on pixel decoder"] > 0.5
    assert model.inference_combine == "query_softmax"  # restored


def test_object_masks_separate_objects_of_one_class():
    shapes = np.zeros((1, 8, 8), np.uint8)
    colors = np.zeros((1, 8, 8), np.uint8)
    shapes[0, 1:3, 1:3] = shapes[0, 5:7, 5:7] = 2  # two squares of one colour, apart
    colors[0, 1:3, 1:3] = colors[0, 5:7, 5:7] = 3
    shapes[0, 1:3, 5:7], colors[0, 1:3, 5:7] = 1, 3  # and a circle of that colour
    objects = list(tool.object_masks({"shapes": shapes, "colors": colors}))
    assert sorted((o[2]["shapes"], o[2]["colors"], int(o[1].sum())) for o in objects) == [(0, 2, 4), (1, 2, 4), (1, 2, 4)]
