"""DCN-V2 (Wang et al., DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale
Learning to Rank Systems, WWW 2021) on RecBench's fields: x_0 = [u; t], full-rank cross layers
x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l, with a deep MLP in parallel (logit = wᵀ [x_L; MLP(x_0)] + b)
or stacked on top (logit = wᵀ MLP(x_L) + b)."""

from __future__ import annotations

from benchmark.registry import register_model
from models.layers.cross import CrossLayerV2
from models.layers.ctr_base import CrossNetModel, dlrm_meta


@register_model("dcnv2")
class DCNv2(CrossNetModel):
    """Defaults: cross_layers 3 as RecBench; structure parallel in the paper's full-rank form
    (RecBench ran stacked-and-parallel with a mixture of low-rank experts, not implemented here);
    hidden (128, 64), dropout 0.1 and training as models.layers.ctr_base."""

    meta = dlrm_meta(
        "DCNv2", "Wang et al., DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale "
        "Learning to Rank Systems, WWW 2021",
        "Full-rank (matrix) cross layers on [user; item] with an MLP, parallel or stacked.",
    )
    layer = CrossLayerV2
