"""Evaluation helpers beyond the model: label-map baselines and the pseudo-mask oracle."""
from .label_maps import constant_predictor, evaluate_label_maps, one_hot_sem_seg, read_ground_truth
from .pseudo_mask_oracle import majority_labels, oracle_predictor
