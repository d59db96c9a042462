"""MaskNet (Wang et al., MaskNet: Introducing Feature-Wise Multiplication to CTR Ranking Models by
Instance-Guided Mask, DLP-KDD 2021), the parallel ParaMaskNet, on RecBench's fields V_emb = [u; t]:
`blocks` MaskBlocks each compute ReLU(LN(W_i (V_mask ⊙ LN_emb(V_emb)))) with the instance-guided
mask V_mask = W_2 ReLU(W_1 V_emb + β_1) + β_2 (LN_emb normalises each field); their outputs are
concatenated and an MLP gives the click logit."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from benchmark.registry import register_model
from models.layers import args
from models.layers.ctr_base import CTRModel, dlrm_meta
from models.layers.gating import MaskBlock
from models.layers.mlp import MLP


class MaskNetNet(nn.Module):
    def __init__(self, n_fields: int, dim: int, blocks: int, block_dim: int, reduction_ratio: float,
                 hidden: Sequence[int], dropout: float):
        super().__init__()
        self.field_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_fields))
        width = n_fields * dim
        self.blocks = nn.ModuleList(MaskBlock(width, width, block_dim, reduction_ratio, dropout) for _ in range(blocks))
        self.mlp = MLP(blocks * block_dim, hidden, out_dim=1, dropout=dropout)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        emb = v.flatten(1)
        normed = torch.cat([norm(v[:, f]) for f, norm in enumerate(self.field_norms)], dim=-1)
        return self.mlp(torch.cat([block(emb, normed) for block in self.blocks], dim=-1)).squeeze(-1)


@register_model("masknet")
class MaskNet(CTRModel):
    """Defaults as RecBench: blocks 1, block_dim 64, reduction_ratio 1 (the mask's aggregation layer
    as wide as its output), field layer norm; hidden (128, 64), dropout 0.1 and training as
    models.layers.ctr_base."""

    meta = dlrm_meta(
        "MaskNet", "Wang et al., MaskNet: Introducing Feature-Wise Multiplication to CTR Ranking Models by "
        "Instance-Guided Mask, DLP-KDD 2021",
        "Instance-guided masks on [user; item] in parallel MaskBlocks, then an MLP.",
    )

    def __init__(self, blocks: int = 1, block_dim: int = 64, reduction_ratio: float = 1.0, **common: Any):
        name = self.meta.name
        self.blocks = args.positive_int(name, "blocks", blocks)
        self.block_dim = args.positive_int(name, "block_dim", block_dim)
        self.reduction_ratio = args.positive_number(name, "reduction_ratio", reduction_ratio)
        super().__init__(**common)

    def interaction(self, n_fields: int, dim: int) -> nn.Module:
        return MaskNetNet(n_fields, dim, self.blocks, self.block_dim, self.reduction_ratio, self.hidden, self.dropout)
