"""Cross networks of the DCN family on x_0 = [v_1; …; v_F] (B, D): each layer maps (x_0, x_l) to
x_{l+1} with the residual x_l kept, so L layers model feature crosses up to degree L + 1; and the
head that combines the cross network with a deep MLP."""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from models.layers.mlp import MLP

STRUCTURES = ("parallel", "stacked")


class CrossLayer(nn.Module):
    """DCN (Wang et al., ADKDD 2017, eq. 3): x_{l+1} = x_0 x_lᵀ w_l + b_l + x_l."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Linear(dim, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.weight(x) + self.bias + x


class CrossLayerV2(nn.Module):
    """DCN-V2 (Wang et al., WWW 2021, eq. 1): x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(x) + x


class GatedCrossLayer(nn.Module):
    """GDCN (Wang et al., CIKM 2023, eq. 2): c_{l+1} = c_0 ⊙ (W_c c_l + b_c) ⊙ σ(W_g c_l) + c_l; the
    information gate σ(W_g c_l) weighs each cross feature."""

    def __init__(self, dim: int):
        super().__init__()
        self.cross = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim, bias=False)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.cross(x) * torch.sigmoid(self.gate(x)) + x


class CrossNetwork(nn.ModuleList):
    """Cross layers applied in turn: x_{l+1} = layer_l(x_0, x_l); returns x_L."""

    def __init__(self, layers: Iterable[nn.Module]):
        super().__init__(layers)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self:
            x = layer(x0, x)
        return x


class CrossAndDeep(nn.Module):
    """The DCN family's head on x_0, the flattened fields (B, F, d) → logits (B,).
    parallel: logit = wᵀ [x_L; MLP(x_0)] + b (DCN; DCN-V2 parallel; GDCN-P);
    stacked:  logit = wᵀ MLP(x_L) + b (DCN-V2 stacked; GDCN-S)."""

    def __init__(self, cross: CrossNetwork, dim: int, hidden: Sequence[int], dropout: float, structure: str):
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {list(STRUCTURES)}, got {structure!r}")
        self.cross, self.structure = cross, structure
        self.deep = MLP(dim, hidden, dropout=dropout)
        deep_out = hidden[-1] if hidden else dim
        self.out = nn.Linear(deep_out + (dim if structure == "parallel" else 0), 1)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        x0 = fields.flatten(1)
        crossed = self.cross(x0)
        if self.structure == "parallel":
            features = torch.cat([crossed, self.deep(x0)], dim=-1)
        else:
            features = self.deep(crossed)
        return self.out(features).squeeze(-1)
