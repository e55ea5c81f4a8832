"""Fixed 2-D sine position encoding (as in DETR), normalised to the feature map's extent."""
import math

import torch


def sine_position_encoding(feature: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """[B, C, H, W] -> [B, dim, H, W]: half the channels encode y, half x."""
    b, _, h, w = feature.shape
    device = feature.device
    y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi
    x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    num = dim // 2
    freqs = temperature ** (2 * (torch.arange(num, device=device) // 2) / num)
    pos_y = y[:, None] / freqs  # [H, num]
    pos_x = x[:, None] / freqs  # [W, num]
    pos_y = torch.stack([pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()], dim=2).flatten(1)
    pos_x = torch.stack([pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()], dim=2).flatten(1)
    pos = torch.cat([pos_y[:, None, :].expand(h, w, num), pos_x[None, :, :].expand(h, w, num)], dim=-1)
    return pos.permute(2, 0, 1)[None].expand(b, -1, -1, -1).to(feature.dtype)
