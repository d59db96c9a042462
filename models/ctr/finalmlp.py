"""FinalMLP (Mao et al., FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction, AAAI 2023)
on RecBench's fields x = [u; t]: two MLP streams, each reading x through its own feature-selection
gate, o_s = MLP_s(x ⊙ 2σ(MLP(c_s))), fused by multi-head bilinear interaction,
logit = b + w_1ᵀ o_1 + w_2ᵀ o_2 + Σ_h o_{1,h}ᵀ W_h o_{2,h}."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers import args
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.gating import BilinearFusion, FeatureSelection
from models.layers.mlp import MLP


class FinalMLPNet(nn.Module):
    def __init__(self, width: int, context_dim: int, hidden: Sequence[int], hidden2: Sequence[int],
                 fs_hidden: Sequence[int], heads: int, dropout: float):
        super().__init__()
        self.select1 = FeatureSelection(width, fs_hidden, context_dim)
        self.select2 = FeatureSelection(width, fs_hidden, context_dim)
        self.stream1 = MLP(width, hidden, dropout=dropout)
        self.stream2 = MLP(width, hidden2, dropout=dropout)
        self.fusion = BilinearFusion(hidden[-1], hidden2[-1], heads)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        x = v.flatten(1)
        return self.fusion(self.stream1(self.select1(x)), self.stream2(self.select2(x)))


@register_model("finalmlp")
class FinalMLP(CTRModel):
    """`hidden` is stream 1, `hidden2` stream 2. Defaults: heads 1 as RecBench; streams of different
    shape as the paper motivates, hidden (128, 64) as DNN's and hidden2 (128,), and a gate MLP of
    (64,) (RecBench's hidden_size), all much narrower than RecBench's (1000, 1000, 1000) streams,
    for speed; dropout 0.1 and training as models.layers.ctr_base."""

    meta = dlrm_meta(
        "FinalMLP", "Mao et al., FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction, AAAI 2023",
        "Two gated MLP streams on [user; item], fused by multi-head bilinear interaction.",
    )

    def __init__(self, hidden2: Sequence[int] = (128,), fs_hidden: Sequence[int] = (64,), heads: int = 1,
                 **common: Any):
        name = self.meta.name
        self.hidden2 = args.positive_ints(name, "hidden2", hidden2, nonempty=True)
        self.fs_hidden = args.positive_ints(name, "fs_hidden", fs_hidden)
        self.heads = args.positive_int(name, "heads", heads)
        super().__init__(**common)
        args.positive_ints(name, "hidden", self.hidden, nonempty=True)
        for arg, widths in (("hidden", self.hidden), ("hidden2", self.hidden2)):
            args.multiple_of(name, f"{arg}[-1]", widths[-1], "heads", self.heads)

    def interaction(self, n_fields: int, dim: int) -> nn.Module:
        return FinalMLPNet(n_fields * dim, dim, self.hidden, self.hidden2, self.fs_hidden, self.heads, self.dropout)
