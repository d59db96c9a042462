"""Causal self-attention blocks over left-padded histories (SASRec style)."""

from __future__ import annotations

import torch
from torch import nn


def causal_padding_mask(is_pad: torch.Tensor) -> torch.Tensor:
    """Attention mask (B, L, L), True where query i may not attend key j: future positions and pad
    keys. Every position may attend to itself, so no row is fully masked (which would give NaN)."""
    length = is_pad.shape[1]
    future = torch.ones(length, length, dtype=torch.bool, device=is_pad.device).triu(1)
    blocked = future | is_pad.unsqueeze(1)
    return blocked & ~torch.eye(length, dtype=torch.bool, device=is_pad.device)


class SelfAttentionBlock(nn.Module):
    """Kang & McAuley (2018): layer-normed query attends over the sequence, residual, then a
    point-wise feed-forward net with residual; pad positions are zeroed after the block."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        query = self.attn_norm(x)
        attended, _ = self.attn(query, x, x, attn_mask=mask.repeat_interleave(self.heads, 0), need_weights=False)
        x = query + attended
        x = x + self.ffn(self.ffn_norm(x))
        return x * keep
