"""Evaluation helpers beyond the model: label-map baselines, the pseudo-mask oracle and result tables."""
from .label_maps import constant_predictor, evaluate_label_maps, one_hot_sem_seg, read_ground_truth
from .pseudo_mask_oracle import majority_labels, oracle_predictor
from .tables import brief, miou_table, score, short_name
