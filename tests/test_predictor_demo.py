"""PSegPredictor, Vocabulary (synonyms, expanded background), demo/demo.py and tools/visualize_pseudo_masks.py."""
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from PIL import Image

from conftest import TINY_CONFIG, load_script, tiny_cfg
from pseg_d2.engine import PSegPredictor, defaults
from pseg_d2.synthetic import WorldSpec, generate_sample
from pseg_d2.utils.visualize import legend_strip, list_images, palette, save_label_grid
from pseg_d2.vocabulary import Vocabulary

VOCABULARY = "red; crimson, blue, circle; disc; ring"
BACKGROUND_WORDS = "stripes; dots"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Three 64 x 64 synthetic validation images as PNG files."""
    folder = tmp_path_factory.mktemp("images")
    for i in range(3):
        Image.fromarray(generate_sample(WorldSpec(size=64), "val", i).image).save(folder / f"image{i}.png")
    return folder


# ---------------------------------------------------------------------------------- Vocabulary
def test_parse_synonyms_and_background_words():
    vocab = Vocabulary.parse("person; man; woman, dog,\nsky", background_words="wall; floor, ceiling")
    assert vocab.classes == ["background", "person", "dog", "sky"]
    assert vocab.names == ["background", "wall", "floor", "ceiling", "person", "man", "woman", "dog", "sky"]
    assert len(vocab) == 4

    plain = Vocabulary.parse("person; man; woman, dog, sky;")
    assert plain.classes == ["person", "dog", "sky"] and plain.names[:3] == ["person", "man", "woman"]
    assert Vocabulary.parse("dog", add_background=True).names == ["background", "dog"]
    assert Vocabulary(["dog", ["cat", "kitten"]]).synonyms == (("dog",), ("cat", "kitten"))
    # Background words join a class the vocabulary already displays as background.
    merged = Vocabulary.parse("dog, background; void", background_words=["wall"])
    assert merged.classes == ["dog", "background"] and merged.synonyms[1] == ("background", "void", "wall")


def test_from_file_reads_classes_per_line(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("# my classes\nperson; man; woman\n\ndog\ncat; kitten\n")
    vocab = Vocabulary.from_file(str(path), background_words="wall", reduction="mean")
    assert vocab.synonyms == (("background", "wall"), ("person", "man", "woman"), ("dog",), ("cat", "kitten"))
    assert vocab.reduction == "mean"


def test_reduce_takes_max_or_mean_over_synonyms():
    scores = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [0.0, 4.0], [2.0, 2.0]]).view(5, 1, 2)
    synonyms = [["a", "a2"], ["b"], ["c", "c2"]]
    expected_max = torch.tensor([[3.0, 2.0], [5.0, 5.0], [2.0, 4.0]]).view(3, 1, 2)
    expected_mean = torch.tensor([[2.0, 1.0], [5.0, 5.0], [1.0, 3.0]]).view(3, 1, 2)
    torch.testing.assert_close(Vocabulary(synonyms).reduce(scores), expected_max)
    torch.testing.assert_close(Vocabulary(synonyms, reduction="mean").reduce(scores), expected_mean)
    with pytest.raises(ValueError, match="Expected scores for 6 names, got 5"):
        Vocabulary(synonyms, add_background=True).reduce(scores)


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "vocabulary is empty"),
        (" , ; ,\n", {}, "vocabulary is empty"),
        ("dog, cat, dog", {}, r"more than once: \['dog'\]"),
        ("dog; cat, cat", {}, r"more than once: \['cat'\].*synonyms"),
        ("dog, sky", {"background_words": "wall; sky"}, r"more than once: \['sky'\]"),
        ("dog", {"reduction": "sum"}, "must be one of"),
    ],
)
def test_bad_vocabularies_are_refused(text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.parse(text, **kwargs)


# ---------------------------------------------------------------------------------- predictor
def test_predictor_reads_bgr_and_matches_the_model(weights, image_dir):
    predictor = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights))
    bgr = read_image(str(image_dir / "image0.png"), format="BGR")
    names = ["background", "red", "circle"]
    rgb = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1)))
    expected = predictor.model([{"image": rgb, "vocabulary": names}])[0]["sem_seg"]
    torch.testing.assert_close(predictor(bgr, names)["sem_seg"], expected, rtol=0, atol=0)

    vocab = Vocabulary.parse(VOCABULARY, background_words=BACKGROUND_WORDS)
    flat = predictor.model([{"image": rgb, "vocabulary": vocab.names}])[0]["sem_seg"]
    torch.testing.assert_close(predictor(bgr, vocab)["sem_seg"], vocab.reduce(flat), rtol=0, atol=0)


# ---------------------------------------------------------------------------------- demo
def test_demo_writes_labels_equal_to_the_predictor_and_overlays(tmp_path, weights, image_dir):
    # MIN_SIZE_TEST 96: the model sees upscaled images, the outputs are at the 64 x 64 originals.
    opts = ["MODEL.WEIGHTS", weights, "INPUT.MIN_SIZE_TEST", "96"]
    vocab = Vocabulary.parse(VOCABULARY, background_words=BACKGROUND_WORDS)
    images = [read_image(str(image_dir / f"image{i}.png"), format="BGR") for i in range(3)]
    # A random model scores every pixel alike; a background threshold at the median best class score
    # of the first image splits it into background and classes.
    rule = ("MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold", "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD")
    threshold = PSegPredictor(tiny_cfg(*opts, *rule, 0.0))(images[0], vocab)["sem_seg"].max(0).values.median().item()
    predictor = PSegPredictor(tiny_cfg(*opts, *rule, threshold))

    out = tmp_path / "out"
    load_script("demo/demo.py").main([
        "--config-file", TINY_CONFIG, "--input", str(image_dir), "--output", str(out),
        "--vocabulary", VOCABULARY, "--background-words", BACKGROUND_WORDS,
        "--background", "threshold", "--threshold", repr(threshold), "--save-labels", "--save-scores", "--opts", *opts,
    ])
    legend = legend_strip(vocab.classes, palette(len(vocab)), 64)
    for i, image in enumerate(images):
        scores = predictor(image, vocab)["sem_seg"]
        labels = np.asarray(Image.open(out / f"image{i}_labels.png"))
        assert labels.dtype == np.uint8 and labels.shape == (64, 64)
        np.testing.assert_array_equal(labels, scores.argmax(0).numpy())
        np.testing.assert_array_equal(np.load(out / f"image{i}_scores.npy"), scores.numpy())
        overlay = np.asarray(Image.open(out / f"image{i}.png"))
        assert overlay.shape == (64 + legend.shape[0], max(64, legend.shape[1]), 3)
        np.testing.assert_array_equal(overlay[64:], legend)
        if i == 0:
            assert 0 in labels and (labels > 0).any()


def test_demo_explains_missing_or_unfit_weights_and_bad_options(tmp_path, weights, image_dir, monkeypatch, capsys):
    demo = load_script("demo/demo.py")
    args = ["--config-file", TINY_CONFIG, "--input", str(image_dir), "--output", str(tmp_path), "--vocabulary", "dog"]
    monkeypatch.setattr(defaults, "DEMO_WEIGHTS", str(tmp_path / "model_final.pth"))
    with pytest.raises(SystemExit, match="model_final.pth not found: run `make demo`"):
        demo.main(args)
    with pytest.raises(SystemExit, match="missing.pth not found: check --config-file and --opts MODEL.WEIGHTS"):
        demo.main(args + ["--opts", "MODEL.WEIGHTS", str(tmp_path / "missing.pth")])
    with pytest.raises(SystemExit, match="does not fit the model of this config"):
        demo.main(args + ["--opts", "MODEL.WEIGHTS", weights, "MODEL.PSEG.MASK_DIM", "32"])
    with pytest.raises(SystemExit):
        demo.main(args + ["--background", "none", "--background-words", "wall"])
    assert "--background-words needs a background class" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo.main(args + ["--background", "prompt", "--threshold", "0.3"])
    assert "--threshold needs the threshold background rule" in capsys.readouterr().err


def test_list_images_takes_files_globs_and_folders_once_each(image_dir):
    files = sorted(str(p) for p in image_dir.glob("*.png"))
    assert list_images([files[2], str(image_dir / "image[01].png"), str(image_dir)]) == [files[2], files[0], files[1]]
    with pytest.raises(FileNotFoundError, match="No image found"):
        list_images([str(image_dir / "*.jpg")])


# ---------------------------------------------------------------------------------- pseudo-mask grid
def test_pseudo_mask_grid_has_one_row_per_image(tmp_path, image_dir):
    files = sorted(str(p) for p in image_dir.glob("*.png"))
    DatasetCatalog.register("test_pseudo_mask_images", lambda: [{"file_name": f} for f in files])
    try:
        grid = tmp_path / "grid.png"
        load_script("tools/visualize_pseudo_masks.py").main([
            "--config-file", TINY_CONFIG, "--dataset", "test_pseudo_mask_images", "--num", "2", "--output", str(grid),
        ])
    finally:
        DatasetCatalog.remove("test_pseudo_mask_images")
    # The same figure layout, drawn from two blank rows: the tool's grid has the same pixel size.
    k = tiny_cfg().MODEL.PSEUDO_MASK.NUM_CLUSTERS
    blank, reference = np.zeros((64, 64), dtype=np.int64), tmp_path / "reference.png"
    save_label_grid(str(reference), [np.zeros((64, 64, 3), np.uint8)] * 2, [[blank, blank]], ["image", "pseudo-masks"],
                    [f"cluster {i}" for i in range(k)], palette(k), title="reference")
    image = np.asarray(Image.open(grid))
    assert image.shape[:2] == np.asarray(Image.open(reference)).shape[:2]
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > k  # images and coloured clusters drawn
