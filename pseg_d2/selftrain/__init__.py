"""P-Seg+: self-training a UperNet + ViT on a trained P-Seg's pseudo labels of a dataset's images."""
from .config import add_pseg_plus_config
from .mapper import SemSegTrainMapper
from .optimizer import build_layer_decay_adamw, layer_decay_param_groups, vit_layer_id
from .pseudo_labels import (
    generate_pseudo_labels,
    register_pseudo_label_datasets,
    register_pseudo_labels,
    run_pseudo_label_generation,
)
from .trainer import PSegPlusTrainer
