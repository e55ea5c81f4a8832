"""A plain multi-layer perceptron (used for mask embeddings and the joint-space projections)."""
from torch import nn


class MLP(nn.Sequential):
    """``num_layers`` linear layers with ReLU between them: ``[..., in_dim] -> [..., out_dim]``."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        layers = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < num_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
