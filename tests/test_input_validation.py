"""Mistakes in a training set-up fail at once with an error naming the culprit."""
import json

import pytest

from pseg_d2 import PSegTrainer
from pseg_d2.engine.checkpoint import require_weights_file
from conftest import tiny_cfg
from test_image_text_data import write_shards


def _cfg(tmp_path, *opts):
    shards = write_shards(tmp_path, num_shards=1, per_shard=4)
    return tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", json.dumps([shards]), "OUTPUT_DIR", str(tmp_path / "out"), *opts)


def test_an_unknown_test_dataset_fails_before_training(tmp_path):
    with pytest.raises(KeyError, match=r"unregistered datasets \['voc_typo_val'\].*synthetic_colors_val"):
        PSegTrainer(_cfg(tmp_path, "DATASETS.TEST", '("voc_typo_val",)'))


def test_a_missing_weights_file_names_the_config_key(tmp_path):
    trainer = PSegTrainer(_cfg(tmp_path, "DATASETS.TEST", "()", "MODEL.WEIGHTS", str(tmp_path / "nope.pth")))
    with pytest.raises(FileNotFoundError, match=r"MODEL.WEIGHTS='.*nope.pth': no such file"):
        trainer.resume_or_load(resume=False)
    # Resuming with no checkpoint in OUTPUT_DIR falls back to MODEL.WEIGHTS, which is checked too.
    with pytest.raises(FileNotFoundError, match="MODEL.WEIGHTS"):
        trainer.resume_or_load(resume=True)


def test_empty_weights_and_urls_are_left_to_the_checkpointer():
    require_weights_file("")
    require_weights_file("detectron2://ImageNetPretrained/MSRA/R-50.pkl")
