"""Training and evaluation loop, checkpoints, and the single-image predictor."""
from .checkpoint import PSegCheckpointer
from .predictor import PSegPredictor
from .trainer import PSegTrainer, create_ddp_model
