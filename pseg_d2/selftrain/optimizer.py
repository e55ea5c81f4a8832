"""Layer-wise learning-rate decay (Clark et al., 2020) for a ViT backbone, as BEiT and MAE fine-tune.

With L transformer blocks and decay d, a parameter's learning rate is ``base_lr * d ** (L + 1 - layer)``:

=================================================  =====  ===============
parameter                                          layer  lr scale
=================================================  =====  ===============
``patch_embed``, ``pos_embed``, ``cls_token``          0  d ** (L + 1)
block i (0-based, ``blocks.i.*``)                  i + 1  d ** (L - i)
everything else (pyramid, head)                    L + 1  1
=================================================  =====  ===============

This is MAE's ``lrd.param_groups_lrd`` numbering (``num_layers = L + 1``). Weight decay is 0 for
1-D parameters (norms, biases) and for the position embedding and class token, as MAE does.
"""
from typing import Dict, List

import torch
from torch import nn

EMBEDDING_NAMES = ("patch_embed", "pos_embed", "cls_token", "reg_token")
NO_DECAY_NAMES = ("pos_embed", "cls_token", "reg_token")


def vit_layer_id(name: str, num_layers: int) -> int:
    """Layer of a parameter named relative to the timm ViT (``blocks.3.attn.qkv.weight`` -> 4)."""
    if name.startswith(EMBEDDING_NAMES):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers + 1


def layer_decay_param_groups(
    model: nn.Module, base_lr: float, weight_decay: float, layer_decay: float, vit_prefix: str = "backbone.vit."
) -> List[Dict]:
    """One optimizer param group per (lr, weight decay) pair; parameters whose names start with
    ``vit_prefix`` get the layer-wise scale above, the rest ``base_lr``. Needs ``model`` to hold a
    timm ViT at ``vit_prefix`` (its ``blocks`` count is L)."""
    vit = model.get_submodule(vit_prefix.rstrip("."))
    num_layers = len(vit.blocks)
    groups: Dict[tuple, Dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith(vit_prefix):
            local = name[len(vit_prefix):]
            scale = layer_decay ** (num_layers + 1 - vit_layer_id(local, num_layers))
            no_decay = param.ndim == 1 or local.startswith(NO_DECAY_NAMES)
        else:
            scale = 1.0
            no_decay = param.ndim == 1
        key = (scale, 0.0 if no_decay else weight_decay)
        group = groups.setdefault(key, {"params": [], "lr": base_lr * key[0], "weight_decay": key[1]})
        group["params"].append(param)
    return list(groups.values())


def build_layer_decay_adamw(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW over :func:`layer_decay_param_groups` (SOLVER.BASE_LR, WEIGHT_DECAY, LAYER_DECAY, BETAS)."""
    if cfg.SOLVER.OPTIMIZER.upper() != "ADAMW":
        raise ValueError(f"SOLVER.OPTIMIZER={cfg.SOLVER.OPTIMIZER!r}: P-Seg+ trains with ADAMW")
    groups = layer_decay_param_groups(model, cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY, cfg.SOLVER.LAYER_DECAY)
    return torch.optim.AdamW(groups, lr=cfg.SOLVER.BASE_LR, betas=tuple(cfg.SOLVER.BETAS))
