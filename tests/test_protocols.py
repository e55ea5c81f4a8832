"""Evaluation protocols: each peer's class names, templates, background rule, windows and refinement
reach the evaluation mapper and the inference pipeline (read back from the built objects)."""
import pytest
import torch

from pseg_d2.data import VocabularyDatasetMapper
from pseg_d2.data.datasets.protocol_names import BENCHMARK_DATASETS, protocol_class_names
from pseg_d2.inference import (
    PAMR,
    ClampedThresholdBackground,
    PromptBackground,
    SemanticInference,
    ThresholdBackground,
    build_semantic_inference,
)
from conftest import load_script, tiny_cfg

tool = load_script("tools/evaluate_benchmarks.py")

# The peers' rules as their papers and code state them (docs/protocols.md), not as the YAMLs say.
GROUPVIT_TEMPLATES = ["a photo of a {}."]
TCL_TEMPLATES = ["itap of a {}.", "a bad photo of a {}.", "a origami {}.", "a photo of the large {}.",
                 "a {} in a video game.", "art of the {}.", "a photo of the small {}.", "a photo of many {}.",
                 "a photo of {}s."]
EXPECTED = {
    # protocol: {benchmark: (background rule, threshold)}; every one of them slides 448 / 224 windows
    "groupvit": {"voc": (ClampedThresholdBackground, 0.95), "context60": (ClampedThresholdBackground, 0.35),
                 "coco_object": (ClampedThresholdBackground, 0.95)},
    "tcl": {**{b: (ThresholdBackground, 0.4) for b in ("voc", "context60", "coco_object")},
            **{b: (None, None) for b in ("voc20", "context59", "coco_stuff", "cityscapes", "ade20k")}},
}


@pytest.mark.parametrize("protocol, benchmark", [(p, b) for p, rules in EXPECTED.items() for b in rules])
def test_each_protocol_reaches_the_mapper_and_the_pipeline(protocol, benchmark):
    assert tool.protocol_benchmarks(protocol) == list(EXPECTED[protocol])
    cfg = tool.benchmark_cfg(tiny_cfg(), benchmark, protocol=protocol)
    (dataset,) = cfg.DATASETS.TEST
    assert dataset == BENCHMARK_DATASETS[benchmark]
    names = VocabularyDatasetMapper(cfg, dataset).vocabulary
    assert names == protocol_class_names(protocol, benchmark)
    pipeline = build_semantic_inference(cfg)
    assert list(pipeline.templates) == (GROUPVIT_TEMPLATES if protocol == "groupvit" else TCL_TEMPLATES)
    assert (pipeline.sliding_window, pipeline.sliding_stride) == (448, 224)
    rule, threshold = EXPECTED[protocol][benchmark]
    if rule is None:  # no background class: nothing is prompted or filled as background
        assert "background" not in names and pipeline.background.foreground(names) == list(range(len(names)))
    else:
        assert names[0] == "background" and type(pipeline.background) is rule
        assert pipeline.background.threshold == threshold and pipeline.background.foreground(names)[0] == 1
    if protocol == "tcl":
        assert (pipeline.pamr.iters, pipeline.pamr.dilations) == (10, (1, 2, 4, 8, 12, 24))
    else:
        assert pipeline.pamr is None


def test_protocol_class_names_differ_where_the_peers_spell_them_differently():
    assert protocol_class_names("tcl", "voc")[1] == "aeroplane" and protocol_class_names("groupvit", "voc")[1] == "aeroplane"
    assert "pottedplant" in protocol_class_names("tcl", "voc") and "pottedplant" not in protocol_class_names("groupvit", "voc")
    ade = protocol_class_names("default", "ade20k")
    assert len(ade) == 150 and all("," not in n and n == n.strip() for n in ade)
    assert "bed " in protocol_class_names("tcl", "ade20k")  # TCL prompts mmsegmentation's name verbatim


def test_published_figures_sit_beside_the_models_in_one_table():
    rows = {"voc": {"name": "VOC21", "dataset": "voc_2012_sem_seg_val", "mIoU": 12.34, "skipped": None}}
    table = tool.summary_markdown(rows, 12.34, "groupvit")
    header, _, voc = table.splitlines()[:3]
    assert header.startswith("| benchmark | dataset | this model | P-Seg | P-Seg+ | GroupViT")
    assert voc.startswith("| VOC21 | voc_2012_sem_seg_val | 12.3 | 53.2 | 62.0 | 52.3 |")
    assert "P-Seg paper, Table 4" in table and "TCL" not in header
    tcl = tool.summary_markdown(rows, 12.34, "tcl")
    assert "| 55.0 |" in tcl.splitlines()[2] and "not yet confirmed" in tcl


def test_a_protocol_refuses_a_benchmark_it_does_not_cover(tmp_path):
    args = tool.build_parser().parse_args(["--protocol", "groupvit", "--benchmarks", "ade20k", "--config-file",
                                           "configs/tiny/pseg_r18_tiny.yaml", "MODEL.DEVICE", "cpu",
                                           "OUTPUT_DIR", str(tmp_path)])
    with pytest.raises(ValueError, match="covers voc, context60, coco_object, not 'ade20k'"):
        tool.main(args)


def test_protocol_templates_and_names_are_prompted_verbatim():
    calls = []

    class Model:
        size_divisibility = 32

        def encode_vocabulary(self, vocabulary, templates):
            calls.append((list(vocabulary), list(templates)))
            raise StopIteration  # the prompts are all this test reads

    pipeline = SemanticInference(combine="query_softmax", background=PromptBackground(), templates=TCL_TEMPLATES,
                                 pamr=PAMR())
    with pytest.raises(StopIteration):
        pipeline(Model(), [{"image": torch.zeros(3, 8, 8, dtype=torch.uint8), "vocabulary": ["bed ", "wall"]}])
    assert calls == [(["bed ", "wall"], TCL_TEMPLATES)]
