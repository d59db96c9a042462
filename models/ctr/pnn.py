"""PNN (Qu et al., Product-based Neural Networks for User Response Prediction, ICDM 2016), the
inner-product variant IPNN on RecBench's fields [u, t]: the product layer holds the linear signals
z = [v_1; …; v_F] and the pair-wise products p_ij = <v_i, v_j>; l_1 = ReLU(W_z z + W_p p + b_1) is
the first layer of the MLP that gives the click logit."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.interaction import pairwise_inner_products
from models.layers.mlp import MLP


class PNNNet(nn.Module):
    def __init__(self, n_fields: int, dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.mlp = MLP(n_fields * dim + n_fields * (n_fields - 1) // 2, hidden, out_dim=1, dropout=dropout)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([v.flatten(1), pairwise_inner_products(v)], dim=-1)).squeeze(-1)


@register_model("pnn")
class PNN(CTRModel):
    """Defaults: CTRModel's (models.layers.ctr_base)."""

    meta = dlrm_meta(
        "PNN", "Qu et al., Product-based Neural Networks for User Response Prediction, ICDM 2016",
        "Field vectors and their inner product (IPNN product layer) through an MLP.",
    )
    interaction_net = PNNNet
