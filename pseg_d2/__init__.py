"""P-Seg (pseudo-mask and language) open-vocabulary semantic segmentation on Detectron2.

``import pseg_d2`` registers the ``PSeg`` meta-architecture, its backbones and parts, and the
datasets; ``add_pseg_config(cfg)`` adds its config keys to any Detectron2 config.
"""
__version__ = "0.1.0"  # the package's only version number: setup.py reads it from here

from . import data, modeling  # noqa: F401  (registration)
from .config import add_pseg_config
from .engine import PSegPredictor, PSegTrainer
from .modeling import PSeg
from .selftrain import PSegPlusTrainer, add_pseg_plus_config
from .vocabulary import Vocabulary

__all__ = ["__version__", "add_pseg_config", "add_pseg_plus_config", "PSeg", "PSegPlusTrainer", "PSegPredictor", "PSegTrainer",
           "Vocabulary"]
