"""Training and evaluation loop, checkpoints, the single-image predictor, and the config setup of every tool."""
from ..modeling.weights import CheckpointLoadError
from .checkpoint import PSegCheckpointer
from .predictor import PSegPredictor
from .base_trainer import BaseTrainer, create_ddp_model
from .trainer import PSegTrainer, build_pseg_optimizer
from .defaults import DEMO_CONFIG, DEMO_WEIGHTS, load_predictor, setup_cfg
