"""DeepFM (Guo et al., DeepFM: A Factorization-Machine based Neural Network for CTR Prediction,
IJCAI 2017), on RecBench's fields [u, t]:

    ŷ = σ(y_FM + y_DNN),  y_FM = wᵀ[v_1; …; v_F] + b + Σ_{i<j} <v_i, v_j>,  y_DNN = MLP([v_1; …; v_F]),

the FM and the deep part sharing the field vectors. FM's first-order term weighs one-hot feature
values; here it reads the fields' vectors, which for learned item embeddings can express any
per-item weight (and for text, a linear function of the item's text)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.interaction import fm_second_order
from models.layers.mlp import MLP


class DeepFMNet(nn.Module):
    def __init__(self, n_fields: int, dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.first_order = nn.Linear(n_fields * dim, 1)
        self.deep = MLP(n_fields * dim, hidden, out_dim=1, dropout=dropout)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        x = v.flatten(1)
        return (self.first_order(x) + self.deep(x)).squeeze(-1) + fm_second_order(v)


@register_model("deepfm")
class DeepFM(CTRModel):
    """Defaults: CTRModel's (models.layers.ctr_base)."""

    meta = dlrm_meta(
        "DeepFM", "Guo et al., DeepFM: A Factorization-Machine based Neural Network for CTR Prediction, IJCAI 2017",
        "A factorisation machine and an MLP on shared user and item vectors, logits summed.",
    )
    interaction_net = DeepFMNet
