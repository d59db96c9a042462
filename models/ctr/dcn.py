"""DCN (Wang et al., Deep & Cross Network for Ad Click Predictions, ADKDD 2017) on RecBench's
fields: x_0 = [u; t], cross layers x_{l+1} = x_0 x_lᵀ w_l + b_l + x_l beside a deep MLP on x_0, and
logit = wᵀ [x_L; MLP(x_0)] + b."""

from __future__ import annotations

from benchmark.registry import register_model
from models.layers.cross import CrossLayer
from models.layers.ctr_base import CrossNetModel, dlrm_meta


@register_model("dcn")
class DCN(CrossNetModel):
    """Defaults: cross_layers 3 as RecBench; structure parallel, the paper's (stacked puts the MLP
    on x_L, as DCN-V2 allows); hidden (128, 64), dropout 0.1 and training as
    models.layers.ctr_base."""

    meta = dlrm_meta(
        "DCN", "Wang et al., Deep & Cross Network for Ad Click Predictions, ADKDD 2017",
        "Rank-one cross layers on [user; item] beside an MLP.",
    )
    layer = CrossLayer
