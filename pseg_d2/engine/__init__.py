"""Training and evaluation loop."""
from .trainer import PSegTrainer, create_ddp_model
