"""DNN (RecBench groups A–C): an MLP over [u, t, u ⊙ t] → click logit, BCE loss, early stopping on
validation AUC; u is the mean of the history items' vectors, t the candidate's."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.mlp import MLP


class DNNNet(nn.Module):
    def __init__(self, n_fields: int, dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.mlp = MLP(3 * dim, hidden, out_dim=1, dropout=dropout)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        user, item = fields.unbind(1)
        return self.mlp(torch.cat([user, item, user * item], dim=-1)).squeeze(-1)


@register_model("dnn")
class DNN(CTRModel):
    """Defaults were picked on the default synthetic plan (27k training rows, 1000 items), where
    validation AUC sits at the popularity level for several epochs before the history–item
    interaction is learnt: batch_size 128 rather than RecBench's 5000 (which would give a handful of
    Adam steps an epoch at lr 1e-3 on such splits), embed_dim 64 (32 often stays on that plateau),
    patience 3 to get past it; hidden (128, 64), dropout 0.2. item_repr (id, text, both) picks the
    item vectors, RecBench groups A, B and C (models.layers.fields)."""

    meta = dlrm_meta(
        "DNN", "Covington et al., Deep Neural Networks for YouTube Recommendations, RecSys 2016",
        "Mean-pooled history item vectors and the candidate item vector through an MLP.",
    )
    interaction_net = DNNNet

    def __init__(self, dropout: float = 0.2, **common: Any):
        super().__init__(dropout=dropout, **common)
