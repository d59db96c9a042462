"""Multiplicative gates: MaskNet's instance-guided mask block, FinalMLP's feature selection gate
and its multi-head bilinear fusion of two streams."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from models.layers.mlp import MLP


class MaskBlock(nn.Module):
    """MaskNet (Wang et al., DLP-KDD 2021, eqs. 3 and 7): the instance-guided mask
    V_mask = W_2 ReLU(W_1 V_emb + β_1) + β_2, whose aggregation layer is reduction_ratio times as
    wide as the masked input, then V_out = ReLU(LN(W_i (V_mask ⊙ V_hidden))), (B, out_dim)."""

    def __init__(self, emb_dim: int, hidden_dim: int, out_dim: int, reduction_ratio: float = 1.0,
                 dropout: float = 0.0):
        super().__init__()
        width = max(1, round(hidden_dim * reduction_ratio))
        self.mask = nn.Sequential(nn.Linear(emb_dim, width), nn.ReLU(), nn.Linear(width, hidden_dim))
        self.hidden = nn.Sequential(nn.Linear(hidden_dim, out_dim, bias=False), nn.LayerNorm(out_dim), nn.ReLU(),
                                    nn.Dropout(dropout))

    def forward(self, emb: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.mask(emb) * hidden)


class FeatureSelection(nn.Module):
    """FinalMLP's stream-specific feature selection (Mao et al., AAAI 2023, eq. 4) without context
    features (the paper's default): x ⊙ 2σ(MLP(c)), c a learned context vector, so the gate starts
    near 1 and learns which input dimensions its stream reads."""

    def __init__(self, dim: int, hidden: Sequence[int], context_dim: int):
        super().__init__()
        self.context = nn.Parameter(torch.zeros(context_dim))
        self.gate = MLP(context_dim, hidden, out_dim=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 * torch.sigmoid(self.gate(self.context))


class BilinearFusion(nn.Module):
    """FinalMLP's multi-head bilinear fusion (eq. 6): o_1 and o_2 are cut into `heads` chunks and
    logit = b + w_1ᵀ o_1 + w_2ᵀ o_2 + Σ_h o_{1,h}ᵀ W_h o_{2,h}, (B,)."""

    def __init__(self, dim1: int, dim2: int, heads: int = 1):
        super().__init__()
        if dim1 % heads or dim2 % heads:
            raise ValueError(f"stream widths {dim1} and {dim2} must be multiples of heads {heads}")
        self.heads = heads
        self.linear1 = nn.Linear(dim1, 1)
        self.linear2 = nn.Linear(dim2, 1, bias=False)
        self.bilinear = nn.Parameter(nn.init.xavier_normal_(torch.empty(heads, dim1 // heads, dim2 // heads)))

    def forward(self, o1: torch.Tensor, o2: torch.Tensor) -> torch.Tensor:
        h1, h2 = o1.unflatten(-1, (self.heads, -1)), o2.unflatten(-1, (self.heads, -1))
        crossed = torch.einsum("bhi,hij,bhj->b", h1, self.bilinear, h2)
        return self.linear1(o1).squeeze(-1) + self.linear2(o2).squeeze(-1) + crossed
