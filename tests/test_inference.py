"""The inference pipeline (pseg_d2/inference): its steps, its builder's checks, and how tools swap it."""
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model

from pseg_d2.inference import (
    PAMR,
    BorderBackground,
    PromptBackground,
    RegionVoting,
    SemanticInference,
    ThresholdBackground,
    build_semantic_inference,
)
from conftest import tiny_cfg

TEMPLATES = ("{}",)


def _image(height=64, width=64):
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8)


@pytest.mark.parametrize("source, combine", [(s, c) for s in ("query", "mask_pooled")
                                             for c in ("sigmoid_sum", "query_softmax")])
def test_inference_returns_sem_seg_at_the_requested_size(source, combine):
    model = build_model(tiny_cfg("MODEL.PSEG.MASK_FEATURE_SOURCE", source, "MODEL.PSEG.TEST.COMBINE", combine)).eval()
    vocabulary = ["background", "cat", "dog"]
    outputs = model([{"image": _image(45, 71), "height": 90, "width": 142, "vocabulary": vocabulary},
                     {"image": _image(64, 50), "vocabulary": vocabulary}])
    assert outputs[0]["sem_seg"].shape == (3, 90, 142) and outputs[1]["sem_seg"].shape == (3, 64, 50)
    assert all(torch.isfinite(o["sem_seg"]).all() for o in outputs)


def test_permuting_the_vocabulary_permutes_the_output_channels():
    for rule in ("prompt", "threshold", "border"):
        model = build_model(tiny_cfg("MODEL.PSEG.TEST.BACKGROUND_RULE", rule)).eval()
        image = _image(64, 80)
        vocabulary = ["background", "cat", "dog", "bird"]
        order = [2, 0, 3, 1]
        scores = model([{"image": image, "vocabulary": vocabulary}])[0]["sem_seg"]
        permuted = model([{"image": image, "vocabulary": [vocabulary[i] for i in order]}])[0]["sem_seg"]
        torch.testing.assert_close(permuted, scores[order], atol=1e-5, rtol=1e-5)


def test_class_embeddings_are_cached_per_vocabulary_and_templates_and_dropped_on_train():
    model = build_model(tiny_cfg()).eval()
    a = model.encode_vocabulary(["cat", "dog"], TEMPLATES)
    assert model.encode_vocabulary(["cat", "dog"], TEMPLATES) is a
    assert model.encode_vocabulary(["cat", "dog"], ("a photo of a {}.",)) is not a
    b = model.encode_vocabulary(["dog", "cat"], TEMPLATES)
    assert torch.allclose(a[0], b[1], atol=1e-6) and b.shape == (2, model.mask_feature_head.projection[-1].out_features)
    model.train()
    model.eval()
    assert model.encode_vocabulary(["cat", "dog"], TEMPLATES) is not a


def test_threshold_rule_fills_the_background_channel_and_classifies_the_rest():
    model = build_model(tiny_cfg("MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold",
                                 "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", 0.7)).eval()
    sem_seg = model([{"image": _image(), "vocabulary": ["cat", "background", "dog"]}])[0]["sem_seg"]
    assert torch.allclose(sem_seg[1], torch.full_like(sem_seg[1], 0.7))
    # query_softmax scores of the foreground classes sum to one at every pixel.
    assert torch.allclose(sem_seg[[0, 2]].sum(0), torch.ones_like(sem_seg[0]), atol=1e-4)
    without = model([{"image": _image(), "vocabulary": ["cat", "dog"]}])[0]["sem_seg"]
    assert without.shape[0] == 2  # no background entry: nothing is filled in


def test_border_rule_scores_how_unlike_the_border_a_pixel_looks():
    rule = BorderBackground("background", 0.5)
    assert rule.foreground(["cat", "background", "dog"]) == [0, 2]
    filled = rule.fill(torch.rand(1, 2, 4, 5), ["cat", "background", "dog"], [(4, 5)])
    assert filled.shape == (1, 3, 4, 5) and torch.equal(filled[0, 1], torch.full((4, 5), 0.5))


@pytest.mark.parametrize("vocabulary, message", [([], "empty"), (["cat", "cat"], "more than once"),
                                                 (["cat", " "], "empty class")])
def test_bad_vocabularies_are_refused(vocabulary, message):
    model = build_model(tiny_cfg()).eval()
    with pytest.raises(ValueError, match=message):
        model([{"image": torch.zeros(3, 32, 32, dtype=torch.uint8), "vocabulary": vocabulary}])


def test_a_batch_with_two_vocabularies_is_refused_and_a_missing_one_named():
    model = build_model(tiny_cfg()).eval()
    with pytest.raises(ValueError, match="2 different vocabularies"):
        model([{"image": _image(), "vocabulary": ["cat", "dog"]}, {"image": _image(), "vocabulary": ["dog", "cat"]}])
    with pytest.raises(ValueError, match="No vocabulary"):
        model([{"image": _image()}])


def test_default_vocabulary_from_the_config_or_the_first_test_set(tmp_path):
    model = build_model(tiny_cfg("MODEL.PSEG.TEST.VOCABULARY", ["sky", "grass"])).eval()
    assert model([{"image": _image()}])[0]["sem_seg"].shape[0] == 2
    DatasetCatalog.register("inference_test_set", lambda: [])
    MetadataCatalog.get("inference_test_set").set(stuff_classes=["background", "a", "b", "c"])
    model = build_model(tiny_cfg("DATASETS.TEST", ("inference_test_set",))).eval()
    assert model([{"image": _image()}])[0]["sem_seg"].shape[0] == 4


def test_detectron2_default_predictor_segments_with_the_config_vocabulary(weights):
    cfg = tiny_cfg("MODEL.WEIGHTS", weights, "MODEL.PSEG.TEST.VOCABULARY", ["background", "red", "blue"])
    image = torch.randint(0, 256, (50, 70, 3), dtype=torch.uint8).numpy()
    sem_seg = DefaultPredictor(cfg)(image)["sem_seg"]
    assert sem_seg.shape == (3, 50, 70) and torch.isfinite(sem_seg).all()


def test_sliding_windows_cover_the_image():
    model = build_model(tiny_cfg("MODEL.PSEG.TEST.SLIDING_WINDOW", 64, "MODEL.PSEG.TEST.SLIDING_STRIDE", 32)).eval()
    image = _image(64, 150)
    vocabulary = ["background", "cat"]
    sliding = model([{"image": image, "vocabulary": vocabulary}])[0]["sem_seg"]
    assert sliding.shape == (2, 64, 150) and torch.isfinite(sliding).all()
    # A window covering the image's left edge scores that region as the model does on the crop alone.
    crop = model([{"image": image[:, :, :64], "vocabulary": vocabulary}])[0]["sem_seg"]
    assert torch.allclose(sliding[:, :, :32], crop[:, :, :32], atol=1e-4)


def test_the_builder_reads_every_key_of_the_test_node():
    cfg = tiny_cfg("MODEL.PSEG.TEST.COMBINE", "sigmoid_sum", "MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold",
                   "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", 0.3, "MODEL.PSEG.TEST.BACKGROUND_CLASS_NAME", "other",
                   "MODEL.PSEG.TEST.SLIDING_WINDOW", 64, "MODEL.PSEG.TEST.SLIDING_STRIDE", 32,
                   "MODEL.PSEG.TEST.PROMPT_TEMPLATES", "imagenet", "MODEL.PSEG.TEST.PAMR.ENABLED", True,
                   "MODEL.PSEG.TEST.PAMR.ITERS", 3, "MODEL.PSEG.TEST.PAMR.DILATIONS", [1, 2],
                   "MODEL.PSEG.TEST.REGION_VOTING.ENABLED", True, "MODEL.PSEG.TEST.REGION_VOTING.MAX_REGIONS", 9,
                   "MODEL.PSEG.TEST.REGION_VOTING.MIN_AREA", 5, "MODEL.PSEG.TEST.REGION_VOTING.MAX_PER_CLUSTER", 2,
                   "MODEL.PSEG.TEST.REGION_VOTING.COLOR_STRIDE", 2)
    pipeline = build_semantic_inference(cfg)
    assert pipeline.combine == "sigmoid_sum" and (pipeline.sliding_window, pipeline.sliding_stride) == (64, 32)
    assert isinstance(pipeline.background, ThresholdBackground) and not isinstance(pipeline.background, BorderBackground)
    assert (pipeline.background.class_name, pipeline.background.threshold) == ("other", 0.3)
    assert len(pipeline.templates) == 20 and (pipeline.pamr.iters, pipeline.pamr.dilations) == (3, (1, 2))
    generator = pipeline.region_voting.generator
    assert (generator.max_masks, generator.min_region_area, generator.max_regions_per_cluster, generator.stride) == \
        (9, 5, 2, 2)
    assert generator.split_regions and cfg.MODEL.PSEUDO_MASK.COLOR_STRIDE == 4  # the training generator's stays


@pytest.mark.parametrize("opts, message", [
    (("MODEL.PSEG.TEST.BACKGROUND_RULE", "border", "MODEL.PSEG.TEST.SLIDING_WINDOW", 64), "SLIDING_WINDOW"),
    (("MODEL.PSEG.TEST.SLIDING_WINDOW", 50), "multiple of 32"),
    (("MODEL.PSEG.TEST.SLIDING_WINDOW", 64, "MODEL.PSEG.TEST.SLIDING_STRIDE", 96), "SLIDING_STRIDE"),
    (("MODEL.PSEG.TEST.REGION_VOTING.ENABLED", True, "MODEL.PSEG.MASK_FEATURE_SOURCE", "query"), "mask_pooled"),
    (("MODEL.PSEG.TEST.COMBINE", "pixel"), "COMBINE"),
    (("MODEL.PSEG.TEST.BACKGROUND_RULE", "saliency"), "BACKGROUND_RULE"),
    (("MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold", "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", float("nan")), "NaN"),
    (("MODEL.PSEG.TEST.PROMPT_TEMPLATES", "nope"), "template"),
])
def test_the_builder_refuses_options_that_do_not_combine(opts, message):
    with pytest.raises((ValueError, KeyError), match=message):
        build_semantic_inference(tiny_cfg(*opts))


def test_a_pipeline_runs_a_model_without_changing_it():
    model = build_model(tiny_cfg()).eval()
    own = model.semantic_inference
    other = SemanticInference(combine="sigmoid_sum", background=ThresholdBackground("background", 0.0),
                              templates=TEMPLATES, pamr=PAMR(2, (1,)))
    inputs = [{"image": _image(), "vocabulary": ["background", "cat"]}]
    scores = other(model, inputs)[0]["sem_seg"]
    assert model.semantic_inference is own
    assert (scores.argmax(0) == 1).all()  # a threshold of 0: every pixel is a cat
    assert not torch.equal(scores, model(inputs)[0]["sem_seg"])


def test_region_voting_names_each_region_as_a_whole():
    cfg = tiny_cfg("MODEL.PSEG.TEST.REGION_VOTING.ENABLED", True, "MODEL.PSEG.TEST.REGION_VOTING.MIN_AREA", 4)
    model = build_model(cfg).eval()
    assert isinstance(model.semantic_inference.region_voting, RegionVoting)
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    image[0, 10:40, 8:30] = 255  # a red box and a blue box on black
    image[2, 30:60, 36:60] = 255
    inputs = [{"image": image, "vocabulary": ["cat", "dog", "bird"]}]
    labels = model(inputs)[0]["sem_seg"].argmax(0)
    for region in (image.sum(0) == 0, image[0] > 0, image[2] > 0):
        assert labels[region].unique().numel() == 1  # one class per colour region
    plain = SemanticInference(combine="query_softmax", background=PromptBackground(), templates=("{}",))
    assert plain(model, inputs)[0]["sem_seg"].shape == (3, 64, 64)


def test_test_sets_with_different_classes_give_no_default_vocabulary():
    for name, classes in (("inference_set_a", ["x", "y"]), ("inference_set_b", ["y", "z", "w"])):
        DatasetCatalog.register(name, lambda: [])
        MetadataCatalog.get(name).set(stuff_classes=classes)
    model = build_model(tiny_cfg("DATASETS.TEST", ("inference_set_a", "inference_set_b"))).eval()
    with pytest.raises(ValueError, match="different stuff_classes"):
        model([{"image": _image()}])
    assert model([{"image": _image(), "vocabulary": ["x", "y"]}])[0]["sem_seg"].shape[0] == 2
