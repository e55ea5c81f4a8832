"""The docs a user reads stay short, their links lead somewhere, and the config keys they name exist."""
import glob
import os
import re

import pytest
from detectron2.config import get_cfg

from pseg_d2 import add_pseg_config, add_pseg_plus_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = sorted(
    [os.path.join(REPO, name) for name in ("README.md", "RESULTS.md")] + glob.glob(os.path.join(REPO, "docs", "*.md"))
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# A dotted config key of one of these roots, not inside another dotted name (e.g. a module path).
KEY = re.compile(r"(?<![\w.])((?:MODEL|SOLVER|INPUT|DATASETS|DATALOADER)(?:\.[A-Z][A-Z0-9_]*)+)")
# Knobs, commands and files that left the product: no doc may present them as current.
GONE = ("BENCHMARKS.md", "demo-long", "probe_synthetic", "INFERENCE_COMBINE", "SEGMENT_CONTRASTIVE_WEIGHT",
        "MASK_POOLING", "SPLIT_REGIONS", "COLOR_XY_WEIGHT", "hybrid")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def short(path: str) -> str:
    return os.path.relpath(path, REPO)


def full_config():
    cfg = get_cfg()
    add_pseg_config(cfg)
    add_pseg_plus_config(cfg)
    return cfg


def test_readme_is_short():
    lines = read(os.path.join(REPO, "README.md")).count("\n")
    assert lines <= 160, f"README.md has {lines} lines; move details to docs/"


@pytest.mark.parametrize("path", DOCS, ids=short)
def test_every_relative_link_points_to_an_existing_file(path):
    broken = []
    for target in LINK.findall(read(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        file = target.split("#")[0]
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), file))):
            broken.append(target)
    assert not broken, f"{short(path)} links to missing files: {broken}"


@pytest.mark.parametrize("path", DOCS, ids=short)
def test_every_config_key_named_exists(path):
    cfg = full_config()
    missing = []
    for key in sorted(set(KEY.findall(read(path)))):
        node = cfg
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(key)
                break
            node = node[part]
    assert not missing, f"{short(path)} names config keys that do not exist: {missing}"


@pytest.mark.parametrize("path", DOCS, ids=short)
def test_nothing_removed_is_mentioned(path):
    text = read(path)
    assert not [name for name in GONE if name in text], short(path)


def leaf_keys(node, prefix=""):
    for name, value in node.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_every_inference_key_is_documented():
    """docs/inference.md names every key of MODEL.PSEG.TEST (by its last part, as its table does)."""
    text = read(os.path.join(REPO, "docs", "inference.md"))
    keys = list(leaf_keys(full_config().MODEL.PSEG.TEST))
    assert len(keys) > 10
    assert [key for key in keys if f"`{key.split('.')[-1]}`" not in text and f"`{key}`" not in text] == []


def test_the_key_checker_sees_a_wrong_key():
    """The checks above would fail on a removed key and on a missing file."""
    assert KEY.findall("set `MODEL.PSEG.INFERENCE_COMBINE pixel`, not pseg_d2.MODEL.X") == ["MODEL.PSEG.INFERENCE_COMBINE"]
    assert "INFERENCE_COMBINE" not in full_config().MODEL.PSEG
    assert LINK.findall("![a](docs/x.png) and [b](RESULTS.md#speed)") == ["docs/x.png", "RESULTS.md#speed"]
