import glob
import os

import pytest
import torch
import yaml
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from pseg_d2 import add_pseg_config, add_pseg_plus_config
from pseg_d2.engine import setup_cfg
from pseg_d2.inference import build_semantic_inference


def _cfg():
    cfg = get_cfg()
    add_pseg_config(cfg)
    add_pseg_plus_config(cfg)
    return cfg


@pytest.mark.parametrize("path", sorted(glob.glob("configs/**/*.yaml", recursive=True)))
def test_every_shipped_config_merges(path):
    cfg = setup_cfg(path, ["MODEL.DEVICE", "cpu"])
    expected = "SemanticSegmentor" if path.startswith("configs/pseg_plus/") else "PSeg"  # P-Seg+ is Detectron2's
    assert cfg.MODEL.META_ARCHITECTURE == expected


def test_config_round_trips_through_yaml(tmp_path):
    cfg = _cfg()
    cfg.merge_from_file("configs/pseg_swin_s.yaml")
    (tmp_path / "dump.yaml").write_text(cfg.dump())
    again = _cfg()
    again.merge_from_file(str(tmp_path / "dump.yaml"))
    assert yaml.safe_load(again.dump()) == yaml.safe_load(cfg.dump())


def test_paper_config_has_the_papers_settings():
    cfg = _cfg()
    cfg.merge_from_file("configs/pseg_swin_s.yaml")
    p = cfg.MODEL.PSEG
    assert (p.NUM_QUERIES, p.HIDDEN_DIM, p.MASK_DIM, p.DEC_LAYERS, p.EMBED_DIM) == (64, 256, 256, 6, 256)
    assert (p.MASK_WEIGHT, p.CONTRASTIVE_WEIGHT, p.DICE_WEIGHT, p.FOCAL_WEIGHT) == (1.0, 1.0, 1.0, 20.0)
    t = cfg.MODEL.TEXT_ENCODER
    assert (t.LAYERS, t.WIDTH, t.CONTEXT_LENGTH, t.VOCAB_SIZE) == (12, 256, 77, 49408)
    assert cfg.MODEL.PSEUDO_MASK.NUM_CLUSTERS == 8 and cfg.MODEL.PSEUDO_MASK.VIT_NAME == "vit_small_patch8_224.dino"
    s = cfg.SOLVER
    assert (s.OPTIMIZER, s.BASE_LR, s.WEIGHT_DECAY, tuple(s.BETAS), s.IMS_PER_BATCH) == ("ADAMW", 5e-4, 0.05, (0.9, 0.999), 4096)
    assert s.LR_SCHEDULER_NAME == "WarmupCosineLR"
    assert s.MAX_ITER == round(26e6 * 30 / 4096) and s.WARMUP_ITERS == round(26e6 * 2 / 4096)
    assert cfg.INPUT.CROP_SIZE == 224 and cfg.INPUT.MIN_SIZE_TEST == 448


def test_unknown_config_keys_are_refused():
    cfg = _cfg()
    with pytest.raises(AssertionError, match="Non-existent key: MODEL.PSEG.NOT_A_KEY"):
        cfg.merge_from_list(["MODEL.PSEG.NOT_A_KEY", 1])


# Base-*.yaml are shared parts of the others (no backbone of their own): merged above, built through the others.
@pytest.mark.parametrize("path", sorted(p for p in glob.glob("configs/**/*.yaml", recursive=True)
                                        if not os.path.basename(p).startswith("Base-")))
def test_every_shipped_config_builds(path):
    """Evaluation configs build their inference pipeline (their model is pseg_swin_s.yaml's, built as such);
    the others their whole model, Swin-S replaced by the smaller Swin-T and MAE weights left out."""
    cfg = _cfg()
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    if path.startswith("configs/eval/"):
        pipeline = build_semantic_inference(cfg)
        assert pipeline.combine == cfg.MODEL.PSEG.TEST.COMBINE
        assert pipeline.sliding_window == cfg.MODEL.PSEG.TEST.SLIDING_WINDOW
        return
    cfg.MODEL.SWIN.TIMM_NAME = "swin_tiny_patch4_window7_224"
    cfg.MODEL.VIT.WEIGHTS = ""
    model = build_model(cfg)
    if cfg.MODEL.META_ARCHITECTURE == "PSeg":
        assert (model.semantic_inference.region_voting is not None) == cfg.MODEL.PSEG.TEST.REGION_VOTING.ENABLED


def test_setup_cfg_merges_the_file_then_the_opts_for_p_seg_and_p_seg_plus(monkeypatch):
    cfg = setup_cfg("configs/pseg_plus/synthetic.yaml", ["SOLVER.BASE_LR", 0.5, "MODEL.VIT.DROP_PATH_RATE", 0.2])
    assert cfg.is_frozen() and cfg.SOLVER.BASE_LR == 0.5 and cfg.MODEL.VIT.DROP_PATH_RATE == 0.2
    tiny = setup_cfg("configs/tiny/pseg_r18_tiny.yaml", ["MODEL.DEVICE", "cuda"], freeze=False)
    assert not tiny.is_frozen() and tiny.MODEL.META_ARCHITECTURE == "PSeg"
    assert tiny.MODEL.DEVICE == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert setup_cfg("configs/tiny/pseg_r18_tiny.yaml", ["MODEL.DEVICE", "cuda:1"]).MODEL.DEVICE == "cpu"
