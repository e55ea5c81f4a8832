"""What every tool starts from: the config of a file and overrides, and a predictor whose weights
are checked with a hint. Defaults point at the model that ``make demo`` trains (in a source checkout)."""
import logging
import os
from typing import Sequence

import torch
from detectron2.config import CfgNode, get_cfg

from ..config import add_pseg_config
from ..selftrain.config import add_pseg_plus_config
from .predictor import PSegPredictor

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The synthetic-world model of `make demo`: demo/demo.py and tools/web_demo.py run it by default.
DEMO_CONFIG = os.path.join(REPO_ROOT, "configs", "synthetic", "pseg_regnet_synthetic.yaml")
DEMO_WEIGHTS = os.path.join(REPO_ROOT, "output", "demo", "model_final.pth")

logger = logging.getLogger(__name__)


def setup_cfg(config_file: str, opts: Sequence = (), *, freeze: bool = True) -> CfgNode:
    """Detectron2's defaults with P-Seg's and P-Seg+'s keys, then ``config_file``, then ``opts``
    (KEY VALUE pairs). A CUDA ``MODEL.DEVICE`` on a machine without CUDA becomes ``cpu``, with a warning.
    Returns the config frozen, or open for the caller's own settings with ``freeze=False``."""
    cfg = get_cfg()
    add_pseg_config(cfg)
    add_pseg_plus_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("CUDA is not available: running on the CPU (MODEL.DEVICE cpu).")
        cfg.MODEL.DEVICE = "cpu"
    if freeze:
        cfg.freeze()
    return cfg


def load_predictor(cfg: CfgNode) -> PSegPredictor:
    """A predictor of ``cfg``'s model with ``MODEL.WEIGHTS``, by default ``DEMO_WEIGHTS``.

    Raises FileNotFoundError when the weights file is missing and ValueError when it holds another
    model's weights, each with a one-line hint of what to do.
    """
    path = cfg.MODEL.WEIGHTS or DEMO_WEIGHTS
    hint = ("run `make demo`: it trains the default model and writes it there" if path == DEMO_WEIGHTS
            else "check --config-file and --opts MODEL.WEIGHTS")
    if "://" not in path and not os.path.isfile(path):
        raise FileNotFoundError(f"Model weights {path} not found: {hint}.")
    if path != cfg.MODEL.WEIGHTS:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.WEIGHTS = path
    try:
        return PSegPredictor(cfg)
    except ValueError as err:
        raise ValueError(f"Model weights {path}: {err} ({hint})") from err
