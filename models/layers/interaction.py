"""Feature-interaction pieces over a field matrix v (B, F, d): the factorisation machine's
second-order term (DeepFM), pair-wise inner products (PNN) and the multi-head self-attentive
interacting layer (AutoInt)."""

from __future__ import annotations

import torch
from torch import nn


def fm_second_order(v: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} <v_i, v_j> = ½ Σ_k [(Σ_i v_ik)² − Σ_i v_ik²] (Rendle, ICDM 2010), (B, F, d) → (B,)."""
    return 0.5 * (v.sum(1).square() - v.square().sum(1)).sum(-1)


def pairwise_inner_products(v: torch.Tensor) -> torch.Tensor:
    """<v_i, v_j> for every field pair i < j in row-major order, (B, F, d) → (B, F(F−1)/2)."""
    i, j = torch.triu_indices(v.shape[1], v.shape[1], offset=1, device=v.device)
    return (v[:, i] * v[:, j]).sum(-1)


class InteractingLayer(nn.Module):
    """AutoInt's interacting layer (Song et al., CIKM 2019, eqs. 5–8): per head h,
    α^h_{m,k} = softmax_k <W_Q^h e_m, W_K^h e_k>, ẽ^h_m = Σ_k α^h_{m,k} W_V^h e_k; the heads are
    concatenated and e^Res_m = ReLU(ẽ_m + W_Res e_m). (B, F, in_dim) → (B, F, dim)."""

    def __init__(self, in_dim: int, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} must be a multiple of heads {heads}")
        self.heads = heads
        self.query = nn.Linear(in_dim, dim, bias=False)
        self.key = nn.Linear(in_dim, dim, bias=False)
        self.value = nn.Linear(in_dim, dim, bias=False)
        self.residual = nn.Linear(in_dim, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, F, dim) → (B, heads, F, dim / heads)
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(e)), self._split(self.key(e)), self._split(self.value(e))
        alpha = self.dropout(torch.softmax(q @ k.transpose(-1, -2), dim=-1))
        attended = (alpha @ v).transpose(1, 2).flatten(2)
        return torch.relu(attended + self.residual(e))
