"""A non-finite loss stops training, naming the iteration and the loss terms; the last good
checkpoint stays intact and loadable."""
import json
import math

import pytest
import torch
from detectron2.engine import HookBase

from pseg_d2 import PSegTrainer
from conftest import tiny_cfg
from test_image_text_data import write_shards


class PoisonTemperature(HookBase):
    """Sets the model's temperature to NaN before step ``iteration``."""

    def __init__(self, iteration):
        self.iteration = iteration

    def before_step(self):
        if self.trainer.iter == self.iteration:
            with torch.no_grad():
                self.trainer.model.logit_scale.fill_(math.nan)


def test_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    shards = write_shards(tmp_path, num_shards=1, per_shard=8)
    out = tmp_path / "out"
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]), "DATASETS.TEST", "()", "OUTPUT_DIR", str(out),
                   "SOLVER.IMS_PER_BATCH", "4", "SOLVER.MAX_ITER", "10", "SOLVER.CHECKPOINT_PERIOD", "1")
    trainer = PSegTrainer(cfg)
    trainer.register_hooks([PoisonTemperature(3)])
    trainer.resume_or_load(resume=False)
    with pytest.raises(FloatingPointError, match=r"(?s)iteration=3.*loss_contrastive"):
        trainer.train()
    last = (out / "last_checkpoint").read_text()
    assert last == "model_0000002.pth"
    checkpoint = torch.load(out / last, weights_only=True)
    assert checkpoint["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())
