"""GDCN (Wang et al., Towards Deeper, Lighter and Interpretable Cross Network for CTR Prediction,
CIKM 2023) on RecBench's fields: c_0 = [u; t], gated cross layers
c_{l+1} = c_0 ⊙ (W_c c_l + b_c) ⊙ σ(W_g c_l) + c_l, with a deep MLP in parallel (GDCN-P,
logit = wᵀ [c_L; MLP(c_0)] + b) or stacked on top (GDCN-S, logit = wᵀ MLP(c_L) + b)."""

from __future__ import annotations

from benchmark.registry import register_model
from models.layers.cross import GatedCrossLayer
from models.layers.ctr_base import CrossNetModel, dlrm_meta


@register_model("gdcn")
class GDCN(CrossNetModel):
    """Defaults: cross_layers 3 and structure parallel (GDCN-P) as RecBench; the paper's field-level
    dimension optimisation has nothing to do for two fields of one width; hidden (128, 64), dropout
    0.1 and training as models.layers.ctr_base."""

    meta = dlrm_meta(
        "GDCN", "Wang et al., Towards Deeper, Lighter and Interpretable Cross Network for CTR Prediction, CIKM 2023",
        "Gated cross layers on [user; item] with an MLP, parallel or stacked.",
    )
    layer = GatedCrossLayer
