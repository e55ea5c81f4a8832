"""Shared fixtures: tiny configs built in code, a tiny model's checkpoint, scripts imported as modules."""
import importlib.util
import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from pseg_d2.engine import setup_cfg

TINY_CONFIG = "configs/tiny/pseg_r18_tiny.yaml"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relative_path: str):
    """Import a script (demo/demo.py, tools/...: not a package) as a module."""
    name = "script_" + relative_path.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_cfg(*opts):
    """The tiny config on the CPU, then ``opts`` (KEY VALUE pairs); open to further changes."""
    return setup_cfg(TINY_CONFIG, ["MODEL.DEVICE", "cpu", *opts], freeze=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A randomly initialised tiny model, saved as a Detectron2 checkpoint."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    DetectionCheckpointer(build_model(tiny_cfg()), save_dir=str(folder)).save("tiny")
    return str(folder / "tiny.pth")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
