"""Mistakes in a training set-up fail at once with an error naming the culprit; bad inference inputs
(malformed arrays, unreadable images, missing files, bad numbers) get a clear error or a counted skip."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from pseg_d2 import PSegTrainer
from pseg_d2.engine import PSegPredictor
from pseg_d2.engine.checkpoint import require_weights_file
from pseg_d2.utils.visualize import legend_strip, palette
from conftest import TINY_CONFIG, load_script, tiny_cfg
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


# ---------------------------------------------------------------- inference inputs: clear errors, counted skips


def test_predictor_refuses_malformed_images_with_a_clear_error(weights):
    predictor = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights))
    bad = {
        "shape (64, 64) uint8": np.zeros((64, 64), np.uint8),
        "shape (64, 64, 4) uint8": np.zeros((64, 64, 4), np.uint8),
        "shape (64, 64, 3) float32": np.zeros((64, 64, 3), np.float32),
        "empty image of shape (0, 0, 3)": np.zeros((0, 0, 3), np.uint8),
        "got list": [[0, 0, 0]],
    }
    for message, image in bad.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            predictor(image, ["dog"])


@pytest.fixture
def images_with_broken_ones(tmp_path):
    """A folder of two readable PNGs, a corrupt one and an empty one."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(folder / f"good{i}.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _demo_args(inputs, output, weights, *extra):
    return ["--config-file", TINY_CONFIG, "--input", *inputs, "--output", str(output), "--vocabulary", "dog, cat",
            *extra, "--opts", "MODEL.WEIGHTS", weights, "INPUT.MIN_SIZE_TEST", "32"]


def test_demo_skips_counts_and_names_unreadable_images(tmp_path, weights, images_with_broken_ones, capsys):
    demo = load_script("demo/demo.py")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        demo.main(_demo_args([str(images_with_broken_ones)], out, weights))
    message = str(info.value.code)
    assert message.startswith("2 of 4 input(s) skipped, unreadable:") and "\n" not in message
    assert "corrupt.png" in message and "empty.jpg" in message
    assert sorted(os.listdir(out)) == ["good0.png", "good1.png"]  # the readable ones were all segmented
    assert "skipped " in capsys.readouterr().err


@pytest.mark.parametrize("name", ["corrupt.png", "empty.jpg"])
def test_demo_explains_a_single_unreadable_image_in_one_line(tmp_path, weights, images_with_broken_ones, name):
    with pytest.raises(SystemExit, match=f"^1 of 1 input\\(s\\) skipped, unreadable: .*{name}$"):
        load_script("demo/demo.py").main(_demo_args([str(images_with_broken_ones / name)], tmp_path / "o.png", weights))


def test_demo_explains_a_missing_vocabulary_file_and_a_nan_threshold(tmp_path, weights, capsys):
    demo = load_script("demo/demo.py")
    args = ["--config-file", TINY_CONFIG, "--input", str(tmp_path), "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"^--vocabulary-file .*classes.txt: No such file or directory$"):
        demo.main(args + ["--vocabulary-file", str(tmp_path / "classes.txt"), "--opts", "MODEL.WEIGHTS", weights])
    with pytest.raises(SystemExit):
        demo.main(args + ["--vocabulary", "dog", "--background", "threshold", "--threshold", "nan"])
    assert "--threshold must be a finite number, got nan" in capsys.readouterr().err


def test_a_very_long_class_name_keeps_the_legend_bounded():
    strip = legend_strip(["x" * 10_000, "dog"], palette(2), 64)
    assert strip.shape[1] <= 400  # 10,000 characters would be about 50,000 pixels


def test_web_demo_answers_a_corrupt_upload_and_a_bad_threshold_with_a_message(tmp_path, weights):
    gr = pytest.importorskip("gradio")
    from gradio.components.image import ImageData

    web_demo = load_script("tools/web_demo.py")
    app = web_demo.build_app(PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights)))
    field = {block.elem_id: block for block in app.blocks.values() if getattr(block, "elem_id", None)}
    for content in (b"", b"\x89PNG\r\n\x1a\nnot really"):
        (tmp_path / "upload.png").write_bytes(content)
        with pytest.raises(gr.Error, match="cannot be read as an image"):
            field["image"].preprocess(ImageData(path=str(tmp_path / "upload.png")))
    for value, message in (("abc", "must be a number, got 'abc'"), ("nan", "must be a finite number"),
                           (float("inf"), "must be a finite number")):
        with pytest.raises(gr.Error, match=message):
            field["threshold"].preprocess(value)
    assert field["threshold"].preprocess(0.25) == 0.25 and field["threshold"].preprocess(None) is None
