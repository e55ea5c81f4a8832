"""The exported model: tools/export_model.py writes ONNX with the vocabulary baked in; onnxruntime's
scores match the eager model's; demo/demo.py --onnx segments as the eager demo does."""
import json

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from PIL import Image

from conftest import TINY_CONFIG, load_script, tiny_cfg
from pseg_d2.export import FixedVocabularySegmenter, OnnxPredictor, export_onnx
from pseg_d2.synthetic import WorldSpec, generate_sample
from pseg_d2.vocabulary import Vocabulary

pytest.importorskip("onnxruntime")
# float32 through a different kernel library: scores (probabilities up to ~1, or sums of them) agree
# to this absolute tolerance; measured differences are below 1e-5.
ATOL = 1e-4
VOCABULARY = "red; crimson, blue, circle"


@pytest.mark.parametrize("combine, background", [("query_softmax", "prompt"), ("sigmoid_sum", "threshold")])
def test_onnxruntime_scores_match_the_eager_model(tmp_path, combine, background):
    model = build_model(tiny_cfg("MODEL.PSEG.TEST.COMBINE", combine, "MODEL.PSEG.TEST.BACKGROUND_RULE", background)).eval()
    vocabulary = Vocabulary.parse(VOCABULARY, add_background=True)
    path = str(tmp_path / "model.onnx")
    sidecar = export_onnx(FixedVocabularySegmenter(model, model.semantic_inference, vocabulary.names), path, 64, 96,
                          vocabulary=vocabulary)
    assert sidecar["names"] == ["background", "red", "crimson", "blue", "circle"]
    assert json.loads((tmp_path / "model.json").read_text())["synonyms"][1] == ["red", "crimson"]

    images = torch.randint(0, 256, (3, 3, 64, 96), dtype=torch.uint8)  # a batch size other than the export's
    (exported,) = OnnxPredictor(path).session.run(None, {"image": images.float().numpy()})
    eager = torch.stack([model([{"image": image, "vocabulary": vocabulary.names}])[0]["sem_seg"] for image in images])
    assert exported.shape == (3, 5, 64, 96)
    np.testing.assert_allclose(exported, eager.numpy(), atol=ATOL, rtol=0)
    if background == "threshold":  # the background channel is the constant, as in eager inference
        assert np.all(exported[:, 0] == 0.5)


@pytest.mark.parametrize("opts, key", [
    (("MODEL.PSEG.TEST.REGION_VOTING.ENABLED", True), "REGION_VOTING.ENABLED"),
    (("MODEL.PSEG.TEST.PAMR.ENABLED", True), "PAMR.ENABLED"),
    (("MODEL.PSEG.TEST.SLIDING_WINDOW", 64, "MODEL.PSEG.TEST.SLIDING_STRIDE", 32), "SLIDING_WINDOW 0"),
    (("MODEL.PSEG.TEST.BACKGROUND_RULE", "border"), "BACKGROUND_RULE prompt or threshold"),
])
def test_rules_an_export_cannot_hold_are_refused_with_the_key(opts, key):
    model = build_model(tiny_cfg(*opts)).eval()
    with pytest.raises(ValueError, match=key):
        FixedVocabularySegmenter(model, model.semantic_inference, ["background", "red"])


def test_the_input_size_must_fit_the_padding(tmp_path):
    model = build_model(tiny_cfg()).eval()
    segmenter = FixedVocabularySegmenter(model, model.semantic_inference, ["background", "red"])
    with pytest.raises(ValueError, match="multiples of the model's padding, 32"):
        export_onnx(segmenter, str(tmp_path / "m.onnx"), 64, 80, vocabulary=Vocabulary(["background", "red"]))


def test_export_tool_then_demo_onnx_segments_as_the_eager_demo(tmp_path, weights):
    """The tool exports at 64 x 96; a 64 x 80 image is padded by the predictor as the eager model pads it."""
    out = tmp_path / "export"
    load_script("tools/export_model.py").main(["--config-file", TINY_CONFIG, "--output", str(out), "--height", "64",
                                               "--width", "96", "--vocabulary", VOCABULARY,
                                               "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights])
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
    image = tmp_path / "image.png"
    pixels = generate_sample(WorldSpec(size=64), "val", 0).image
    Image.fromarray(np.concatenate([pixels, pixels[:, :16]], axis=1)).save(image)  # 64 x 80

    demo = load_script("demo/demo.py")
    demo.main(["--onnx", str(out / "model.onnx"), "--input", str(image), "--output", str(tmp_path / "onnx.png"),
               "--save-scores"])
    demo.main(["--config-file", TINY_CONFIG, "--vocabulary", VOCABULARY, "--input", str(image),
               "--output", str(tmp_path / "eager.png"), "--save-scores",
               "--opts", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights])
    onnx_scores, eager_scores = np.load(tmp_path / "onnx_scores.npy"), np.load(tmp_path / "eager_scores.npy")
    assert onnx_scores.shape == (4, 64, 80)  # background + 3 classes, synonyms reduced
    np.testing.assert_allclose(onnx_scores, eager_scores, atol=ATOL, rtol=0)
    assert (tmp_path / "onnx.png").is_file()


def test_export_tool_without_vocabulary_takes_the_config_default(tmp_path, weights):
    out = tmp_path / "export"
    load_script("tools/export_model.py").main(["--config-file", TINY_CONFIG, "--output", str(out),
                                               "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights,
                                               "MODEL.PSEG.TEST.VOCABULARY", '["background", "square"]'])
    sidecar = json.loads((out / "model.json").read_text())
    assert sidecar["names"] == ["background", "square"] and sidecar["input"]["shape"] == ["batch", 3, 64, 64]


def test_demo_needs_a_vocabulary_or_an_exported_model(tmp_path):
    demo = load_script("demo/demo.py")
    with pytest.raises(SystemExit):
        demo.main(["--input", str(tmp_path), "--output", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="model.onnx not found"):
        demo.main(["--onnx", str(tmp_path / "model.onnx"), "--input", str(tmp_path), "--output", str(tmp_path / "o")])
