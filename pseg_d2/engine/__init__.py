"""Training and evaluation loop, checkpoints, and the single-image predictor."""
from ..modeling.weights import CheckpointLoadError
from .checkpoint import PSegCheckpointer
from .predictor import PSegPredictor
from .base_trainer import BaseTrainer, create_ddp_model
from .trainer import PSegTrainer
