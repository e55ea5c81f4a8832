"""MaskFormer's transformer decoder: N learnable queries attend to image features and predict masks."""

import torch
from detectron2.layers import Conv2d
from torch import nn
from torch.utils.checkpoint import checkpoint

from .mlp import MLP
from .position_encoding import sine_position_encoding


class DecoderLayer(nn.Module):
    """Post-norm self-attention, cross-attention and FFN; positions added to queries and keys (DETR).

    ``nn.MultiheadAttention`` called with ``need_weights=False`` runs ``F.scaled_dot_product_attention``
    (fused flash / memory-efficient kernels on GPUs) in training and inference alike.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(3)])
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt, query_pos, memory, memory_pos):
        """tgt, query_pos: [B, N, C]; memory, memory_pos: [B, HW, C] -> [B, N, C]."""
        q = tgt + query_pos
        tgt = self.norms[0](tgt + self.dropout(self.self_attn(q, q, tgt, need_weights=False)[0]))
        attended = self.cross_attn(tgt + query_pos, memory + memory_pos, memory, need_weights=False)[0]
        tgt = self.norms[1](tgt + self.dropout(attended))
        return self.norms[2](tgt + self.dropout(self.ffn(tgt)))


class TransformerMaskDecoder(nn.Module):
    """Queries -> per-layer (query features [B, N, C], mask logits [B, N, H, W]).

    Masks are mask embeddings (a 3-layer MLP of each query feature) dotted with the per-pixel
    mask features of the pixel decoder. With ``checkpoint_layers`` (MODEL.PSEG.ACTIVATION_CHECKPOINTING)
    each layer's activations are recomputed in backward instead of stored.
    """

    def __init__(self, in_channels: int, hidden_dim: int, mask_dim: int, num_queries: int, num_layers: int,
                 heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.input_proj = Conv2d(in_channels, hidden_dim, 1) if in_channels != hidden_dim else nn.Identity()
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.layers = nn.ModuleList([DecoderLayer(hidden_dim, heads, ffn_dim, dropout) for _ in range(num_layers)])
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, num_layers=3)
        self.checkpoint_layers = False

    def forward(self, feature: torch.Tensor, mask_features: torch.Tensor, all_layers: bool = True):
        """
        Args:
            feature: [B, C_in, h, w] coarse features the queries cross-attend to.
            mask_features: [B, mask_dim, H, W] per-pixel embeddings.
            all_layers: return the outputs of every layer (deep supervision) or only the last.
        Returns:
            list over layers of (query features [B, N, hidden], mask logits [B, N, H, W]).
        """
        memory = self.input_proj(feature)
        memory_pos = sine_position_encoding(memory, memory.shape[1]).flatten(2).transpose(1, 2)
        memory = memory.flatten(2).transpose(1, 2)
        query_pos = self.query_embed.weight[None].expand(memory.shape[0], -1, -1)
        tgt = torch.zeros_like(query_pos)
        outputs = []
        for i, layer in enumerate(self.layers):
            if self.checkpoint_layers and torch.is_grad_enabled():
                tgt = checkpoint(layer, tgt, query_pos, memory, memory_pos, use_reentrant=False)
            else:
                tgt = layer(tgt, query_pos, memory, memory_pos)
            if all_layers or i == len(self.layers) - 1:
                queries = self.out_norm(tgt)
                masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(queries), mask_features)
                outputs.append((queries, masks))
        return outputs
