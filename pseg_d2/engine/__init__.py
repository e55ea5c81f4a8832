"""Training and evaluation loop, and the single-image predictor."""
from .predictor import PSegPredictor
from .trainer import PSegTrainer, create_ddp_model
