"""Benchmark configs, sliding-window inference, and tools/evaluate_benchmarks.py on a fake VOC."""
import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.data.datasets.builtin import register_all_ade20k
from detectron2.modeling import build_model
from PIL import Image

from pseg_d2 import PSeg, PSegTrainer
from pseg_d2.data.datasets.catalog_utils import unregister
from pseg_d2.data.datasets.manifest import write_manifest
from pseg_d2.data.datasets.prepare_utils import default_root
from pseg_d2.data.datasets.register_voc import VOC2012_DIR, register_all_voc, voc_label_dir
from pseg_d2.inference import NetworkOutputs
from pseg_d2.inference.sliding_window import sliding_window_scores, window_starts
from conftest import TINY_CONFIG, load_script, tiny_cfg

REPO = Path(__file__).resolve().parents[1]
EVAL_CONFIGS = sorted(glob.glob(str(REPO / "configs" / "eval" / "*.yaml")))


tool = load_script("tools/evaluate_benchmarks.py")


# ---------------------------------------------------------------- configs/eval


def test_every_benchmark_has_a_config():
    assert sorted(Path(p).stem for p in EVAL_CONFIGS) == sorted(tool.BENCHMARKS)


@pytest.mark.parametrize("path", EVAL_CONFIGS, ids=lambda p: Path(p).stem)
def test_eval_config_merges_and_names_a_registered_dataset(path):
    cfg = tiny_cfg()
    cfg.merge_from_file(path)  # with its _BASE_: usable alone with tools/train_net.py --eval-only
    assert cfg.MODEL.BACKBONE.NAME == "build_timm_swin_backbone"
    (dataset,) = cfg.DATASETS.TEST
    assert dataset in DatasetCatalog.list()
    assert cfg.INPUT.MIN_SIZE_TEST == 448
    name = Path(path).stem
    test = cfg.MODEL.PSEG.TEST
    assert test.COMBINE == ("sigmoid_sum" if name.startswith("voc") else "query_softmax")
    if name in ("voc", "context60", "coco_object"):  # background is a class: thresholded
        assert test.BACKGROUND_RULE == "threshold" and 0 < test.BACKGROUND_THRESHOLD < 1
    with open(path) as f:  # inference rules live in MODEL.PSEG.TEST only
        assert set(yaml.safe_load(f)["MODEL"]["PSEG"]) == {"TEST"}


def test_benchmark_cfg_merges_only_the_benchmark_keys_then_opts():
    model_cfg = tiny_cfg()
    cfg = tool.benchmark_cfg(model_cfg, "context60", ["INPUT.MIN_SIZE_TEST", "64"])
    assert cfg.DATASETS.TEST == ("pascal_context_60_sem_seg_val",)
    assert (cfg.MODEL.PSEG.TEST.BACKGROUND_RULE, cfg.MODEL.PSEG.TEST.BACKGROUND_THRESHOLD) == ("threshold", 0.35)
    assert cfg.MODEL.PSEG.TEST.COMBINE == "query_softmax"
    assert cfg.INPUT.MIN_SIZE_TEST == 64  # opts win over the benchmark file
    assert cfg.MODEL.BACKBONE.NAME == model_cfg.MODEL.BACKBONE.NAME  # the model is not the _BASE_'s
    assert model_cfg.DATASETS.TEST != cfg.DATASETS.TEST  # the model config is left as it was


# ---------------------------------------------------------------- sliding window


def coordinate_image(height, width):
    """[3, H, W]: channel 0 = row, 1 = column, 2 = row * column, so a crop knows where it lies."""
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    return torch.stack([ys, xs, ys * xs])


def pixelwise(images):
    """A per-pixel 'model': [B, 3, h, w] -> [B, 2, h, w], the same wherever a window lies."""
    return torch.stack([images[:, 0] * 2 + images[:, 1], images[:, 2].sqrt()], dim=1)


def test_window_starts_cover_the_length_with_the_last_window_flush():
    assert window_starts(12, 8, 4) == [0, 4]
    assert window_starts(14, 8, 4) == [0, 4, 6]
    assert window_starts(8, 8, 4) == [0]
    assert window_starts(20, 8, 8) == [0, 8, 12]


@pytest.mark.parametrize("size", [(8, 14), (13, 20), (8, 8)])
def test_sliding_window_reproduces_a_pixelwise_model(size):
    image = coordinate_image(*size)
    windows = []

    def predict(images):
        windows.append(images.shape)
        return pixelwise(images)

    scores = sliding_window_scores(predict, image, window=8, stride=4)
    assert scores.shape == (2, *size)
    torch.testing.assert_close(scores, pixelwise(image[None])[0])
    assert all(shape[-2:] == (8, 8) for shape in windows)


def test_sliding_window_averages_where_windows_overlap():
    # Each window scores all its pixels with its own left column x: windows at x = 0, 4 over 12 columns.
    left_column = lambda images: images[:, 1:2, :1, :1].expand(-1, 1, 8, 8)  # noqa: E731
    scores = sliding_window_scores(left_column, coordinate_image(8, 12), window=8, stride=4)
    expected = torch.tensor([0.0] * 4 + [2.0] * 4 + [4.0] * 4).expand(1, 8, 12)
    torch.testing.assert_close(scores, expected)


def test_sliding_window_pads_an_image_smaller_than_the_window():
    image = coordinate_image(5, 6) + 1  # padding is 0, so padded pixels are told apart
    seen = []

    def predict(images):
        seen.append(images)
        return pixelwise(images)

    scores = sliding_window_scores(predict, image, window=8, stride=4)
    (crop,) = seen
    assert crop.shape == (1, 3, 8, 8) and crop[0, :, 5:].eq(0).all() and crop[0, :, :, 6:].eq(0).all()
    torch.testing.assert_close(scores, pixelwise(image[None])[0])


# ---------------------------------------------------------------- tools/evaluate_benchmarks.py


def write_fake_voc(root, num_images=2, shape=(24, 32)):
    """Prepared VOC val as datasets/prepare_voc.py writes it: JPEGs, 0..20 + 255 labels and the nobg labels."""
    rng = np.random.default_rng(0)
    for i in range(num_images):
        image_id = f"2007_00000{i}"
        os.makedirs(os.path.join(root, VOC2012_DIR, "JPEGImages"), exist_ok=True)
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        Image.fromarray(image).save(os.path.join(root, VOC2012_DIR, "JPEGImages", f"{image_id}.jpg"))
        label = rng.integers(0, 21, shape, dtype=np.uint8)
        label[0] = 255
        nobg = np.where((label == 0) | (label == 255), 255, label - 1).astype(np.uint8)
        for folder, values in ((voc_label_dir(root, "val"), label), (voc_label_dir(root, "val", nobg=True), nobg)):
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(values).save(os.path.join(folder, f"{image_id}.png"))
    for folder in (voc_label_dir(root, "val"), voc_label_dir(root, "val", nobg=True)):
        write_manifest(folder, num_images, "VOC2012 val")


@pytest.fixture
def fake_datasets(tmp_path):
    """VOC val registered under a fake root, ADE20K under an empty one; default roots put back afterwards."""
    root = str(tmp_path / "datasets")
    write_fake_voc(root)
    register_all_voc(root)
    for split in ("train", "val"):
        unregister(f"ade20k_sem_seg_{split}")
    register_all_ade20k(root)
    yield root
    register_all_voc(default_root())
    for split in ("train", "val"):
        unregister(f"ade20k_sem_seg_{split}")
    register_all_ade20k(os.path.expanduser(default_root()))


def test_evaluate_benchmarks_table_on_a_fake_voc(fake_datasets, tmp_path, monkeypatch):
    DetectionCheckpointer(build_model(tiny_cfg()), save_dir=str(tmp_path)).save("tiny")
    weights, out = tmp_path / "tiny.pth", tmp_path / "bench"
    rules, test = {}, PSegTrainer.test

    def spy_test(cfg, model, evaluators):  # the one model's rules when each benchmark runs
        pipeline = model.semantic_inference
        rules[cfg.DATASETS.TEST[0]] = (type(pipeline.background).__name__, getattr(pipeline.background, "threshold", None),
                                       pipeline.combine, pipeline.sliding_window)
        return test(cfg, model, evaluators)

    monkeypatch.setattr(PSegTrainer, "test", spy_test)
    opts = ["MODEL.WEIGHTS", str(weights), "MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "64", "OUTPUT_DIR", str(tmp_path)]
    args = tool.build_parser().parse_args(
        ["--config-file", TINY_CONFIG, "--benchmarks", "voc", "voc20", "ade20k", "--output", str(out), *opts]
    )
    summary = tool.main(args)

    assert rules == {
        "voc_2012_sem_seg_val": ("ThresholdBackground", 0.95, "sigmoid_sum", 448),
        "voc_2012_sem_seg_val_nobg": ("PromptBackground", None, "sigmoid_sum", 0),  # no background: the model config's rule
    }
    rows = summary["benchmarks"]
    assert list(rows) == ["voc", "voc20", "ade20k"]
    for name in ("voc", "voc20"):
        assert rows[name]["skipped"] is None and 0.0 <= rows[name]["mIoU"] <= 100.0
    assert "IoU-background" in rows["voc"]["metrics"] and "IoU-background" not in rows["voc20"]["metrics"]
    assert rows["ade20k"]["mIoU"] is None
    ade_images = os.path.join(fake_datasets, "ADEChallengeData2016", "images", "validation")
    assert rows["ade20k"]["skipped"] == f"missing {ade_images}"
    assert summary["mean_mIoU"] == pytest.approx((rows["voc"]["mIoU"] + rows["voc20"]["mIoU"]) / 2)

    assert json.loads((out / "benchmarks.json").read_text()) == summary
    table = (out / "benchmarks.md").read_text()
    assert "| VOC21 | voc_2012_sem_seg_val | " in table and "| VOC20 | voc_2012_sem_seg_val_nobg | " in table
    assert "| ADE20K | ade20k_sem_seg_val | skipped: missing " in table and "| mean (2 of 3) |" in table


def _structured_outputs(model, images):
    """A stand-in for an untrained network, whose outputs hardly vary over an image: 16 blocky masks
    [B, 16, H/4, W/4] with distinct features, pixel features mixed from them."""
    b, _, h, w = images.shape
    g = torch.Generator().manual_seed(0)
    embed = model.mask_feature_head.projection[-1].out_features
    masks = 8 * F.interpolate(torch.randn(1, 16, h // 32, w // 32, generator=g), size=(h // 4, w // 4)).expand(b, -1, -1, -1)
    features = torch.randn(1, 16, embed, generator=g).expand(b, -1, -1)
    pixels = torch.einsum("bnhw,bne->behw", masks.softmax(1), features)
    pool = lambda weights: torch.einsum("bmhw,behw->bme", weights, pixels) / weights.sum((2, 3))[..., None].clamp(min=1e-6)  # noqa: E731
    return NetworkOutputs(masks, features, pixels, model._raw(images), pool)


@pytest.mark.parametrize("refiner", ["REGION_VOTING", "PAMR"])
def test_an_eval_yaml_that_turns_on_a_refiner_changes_the_results(refiner, fake_datasets, tmp_path, monkeypatch):
    DetectionCheckpointer(build_model(tiny_cfg()), save_dir=str(tmp_path)).save("tiny")
    monkeypatch.setattr(PSeg, "network_outputs", _structured_outputs)
    opts = ["MODEL.WEIGHTS", str(tmp_path / "tiny.pth"), "MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "64",
            "OUTPUT_DIR", str(tmp_path)]
    metrics = {}
    for enabled in (False, True):
        folder = tmp_path / f"eval_{enabled}"
        folder.mkdir()
        with open(REPO / "configs" / "eval" / "voc.yaml") as f:
            settings = yaml.safe_load(f)
        test = settings["MODEL"]["PSEG"]["TEST"]
        test.update({"BACKGROUND_THRESHOLD": 0.0, "SLIDING_WINDOW": 0, refiner: {"ENABLED": enabled}})
        (folder / "voc.yaml").write_text(yaml.safe_dump(settings))
        monkeypatch.setattr(tool, "EVAL_CONFIGS", str(folder))
        args = tool.build_parser().parse_args(["--config-file", TINY_CONFIG, "--benchmarks", "voc", "--output",
                                               str(folder), *opts])
        metrics[enabled] = tool.main(args)["benchmarks"]["voc"]["metrics"]
    assert metrics[True] != metrics[False]
