"""AutoInt (Song et al., AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural
Networks, CIKM 2019) on RecBench's fields e = [u, t]: `layers` multi-head self-attentive
interacting layers e ← ReLU(MultiHead(e) + W_Res e), then logit = wᵀ [e_1; …; e_F] + b, plus an
MLP on the flattened fields when `hidden` is non-empty (AutoInt+, as RecBench runs it)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers import args
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.interaction import InteractingLayer
from models.layers.mlp import MLP


class AutoIntNet(nn.Module):
    def __init__(self, n_fields: int, dim: int, layers: int, heads: int, attention_dim: int,
                 hidden: Sequence[int], dropout: float):
        super().__init__()
        self.interacting = nn.Sequential(*(
            InteractingLayer(dim if i == 0 else attention_dim, attention_dim, heads, dropout) for i in range(layers)
        ))
        self.out = nn.Linear(n_fields * attention_dim, 1)
        self.deep = MLP(n_fields * dim, hidden, out_dim=1, dropout=dropout) if hidden else None

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        logit = self.out(self.interacting(e).flatten(1))
        if self.deep is not None:
            logit = logit + self.deep(e.flatten(1))
        return logit.squeeze(-1)


@register_model("autoint")
class AutoInt(CTRModel):
    """Defaults as RecBench: layers 3 (also the paper's), heads 8, attention_dim 64 (the width of
    all heads together), attention dropout 0.1, with the MLP (hidden=() gives the paper's plain
    AutoInt); hidden (128, 64) and training as models.layers.ctr_base."""

    meta = dlrm_meta(
        "AutoInt", "Song et al., AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural "
        "Networks, CIKM 2019",
        "Multi-head self-attention between the user and item fields, plus an MLP.",
    )

    def __init__(self, layers: int = 3, heads: int = 8, attention_dim: int = 64, **common: Any):
        name = self.meta.name
        self.layers = args.positive_int(name, "layers", layers)
        self.heads = args.positive_int(name, "heads", heads)
        width = args.positive_int(name, "attention_dim", attention_dim)
        self.attention_dim = args.multiple_of(name, "attention_dim", width, "heads", self.heads)
        super().__init__(**common)

    def interaction(self, n_fields: int, dim: int) -> nn.Module:
        return AutoIntNet(n_fields, dim, self.layers, self.heads, self.attention_dim, self.hidden, self.dropout)
