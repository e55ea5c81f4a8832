"""Each protocol's class names and templates as data, and the published figures with their sources."""
import pytest

from pseg_d2.data.datasets.protocol_names import (
    ADE20K_CLASSES,
    BENCHMARKS,
    CLASS_NAMES,
    protocol_class_names,
    protocol_templates,
)
from pseg_d2.data.datasets.published_results import PUBLISHED, published_results

SIZES = {"voc": 21, "context60": 60, "coco_object": 81, "voc20": 20, "context59": 59, "coco_stuff": 171,
         "cityscapes": 19, "ade20k": 150}


@pytest.mark.parametrize("protocol", list(CLASS_NAMES))
def test_every_list_has_the_benchmarks_size_and_distinct_names(protocol):
    for benchmark, names in CLASS_NAMES[protocol].items():
        assert benchmark in BENCHMARKS and len(names) == SIZES[benchmark], (protocol, benchmark)
        assert len(set(names)) == len(names) and all(isinstance(n, str) and n for n in names)
        assert (names[0] == "background") == (benchmark in ("voc", "context60", "coco_object"))


def test_the_peers_spellings():
    groupvit_voc, tcl_voc = protocol_class_names("groupvit", "voc"), protocol_class_names("tcl", "voc")
    assert [groupvit_voc[i] for i in (1, 11, 16, 20)] == ["aeroplane", "table", "plant", "monitor"]
    assert [tcl_voc[i] for i in (1, 11, 16, 20)] == ["aeroplane", "diningtable", "pottedplant", "tvmonitor"]
    groupvit_context, tcl_context = protocol_class_names("groupvit", "context60"), protocol_class_names("tcl", "context60")
    assert groupvit_context[1] == "airplane" and tcl_context[1] == "aeroplane"
    assert "monitor" in groupvit_context and "tvmonitor" in tcl_context and "pottedplant" in tcl_context
    # the same classes in the same order, only renamed
    renamed = {"airplane": "aeroplane", "plant": "pottedplant", "monitor": "tvmonitor"}
    assert [renamed.get(n, n) for n in groupvit_context] == tcl_context
    assert protocol_class_names("tcl", "voc20") == tcl_voc[1:]
    assert protocol_class_names("tcl", "coco_object") == protocol_class_names("groupvit", "coco_object")
    coco = protocol_class_names("groupvit", "coco_object")
    assert (coco[1], coco[80], coco[63]) == ("person", "toothbrush", "tv")
    stuff = protocol_class_names("tcl", "coco_stuff")
    assert (stuff[80], stuff[170]) == ("banner", "wood")


def test_ade20k_prompts_use_one_clean_name_per_class_and_tcl_keeps_its_own():
    assert all(name == name.strip() and "," not in name for name in ADE20K_CLASSES)
    tcl = protocol_class_names("tcl", "ade20k")
    assert tcl[7] == "bed " and ADE20K_CLASSES[7] == "bed"  # mmsegmentation's stray space, verbatim for TCL
    assert [n.strip() for n in tcl] == ADE20K_CLASSES
    assert (ADE20K_CLASSES[0], ADE20K_CLASSES[89], ADE20K_CLASSES[149]) == ("wall", "television receiver", "flag")


def test_templates():
    assert protocol_templates("groupvit") == ["a photo of a {}."]
    tcl = protocol_templates("tcl")
    assert len(tcl) == len(set(tcl)) == 9 and all(t.count("{}") == 1 for t in tcl)
    assert tcl[-2:] == ["a photo of many {}.", "a photo of {}s."]
    with pytest.raises(KeyError, match="no templates of its own"):
        protocol_templates("default")


def test_unknown_protocols_and_benchmarks_fail_clearly():
    with pytest.raises(KeyError, match="unknown protocol"):
        protocol_class_names("maskclip", "voc")
    with pytest.raises(KeyError, match="does not cover 'ade20k'"):
        protocol_class_names("groupvit", "ade20k")
    with pytest.raises(KeyError, match="no published figures"):
        published_results("nope")


def test_published_figures_name_their_source_and_cover_each_protocols_benchmarks():
    assert all(row.source and 0 < row.miou < 100 for row in PUBLISHED)
    keys = [(row.method, row.benchmark) for row in PUBLISHED]
    assert len(keys) == len(set(keys))
    tcl = {row.benchmark: row.miou for row in published_results("tcl") if row.method == "TCL"}
    assert set(tcl) == set(CLASS_NAMES["tcl"]) and tcl["voc20"] == 83.2
    groupvit = {(row.method, row.benchmark): row.miou for row in published_results("groupvit")}
    assert groupvit[("P-Seg", "voc")] == 53.2 and groupvit[("GroupViT (GCC+YFCC)", "voc")] == 52.3
    assert {b for _, b in groupvit} == set(CLASS_NAMES["groupvit"])
    default = {(row.method, row.benchmark) for row in published_results("default")}
    assert ("P-Seg", "voc20") in default and ("P-Seg", "voc20") not in groupvit
