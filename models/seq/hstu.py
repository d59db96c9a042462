"""HSTU, the Hierarchical Sequential Transduction Unit (Zhai et al., ICML 2024; the fourth user
encoder UQABench names): causal attention over the last `window` items in which one linear layer
and SiLU give four projections per position, U, V, Q, K = Split(SiLU(f1(LayerNorm(X)))), the
attention weights are SiLU(Q K^T + rab) divided by the window length instead of a softmax, and the
output is Y = X + f2(LayerNorm(A V) * U) (paper eqs. 1-3). There is no separate feed-forward net:
the gate U stands in for it. Training, scoring and the tied input/output item embeddings are
SASRec's (SequentialModel: full-softmax next-item cross-entropy at every position).

As in the reference implementation (facebookresearch/generative-recommenders, research/modeling/
sequential/hstu.py, read for this port, not copied):

- the input LayerNorm and the attention output's LayerNorm have no learned scale or shift
  (eps 1e-6); f1 has no bias and starts as N(0, 0.02²); f2 has a bias and a Xavier-uniform weight;
  dropout acts on f2's input; per-head widths of Q, K, U and V are hidden / heads;
- attention weights are divided by the model's maximum length (here `window`), a constant, not by
  the number of keys a query sees, and masked after the SiLU (future positions and, here, pads);
- the relative attention bias rab is a learned scalar per query-key offset i - j (0 ... window - 1;
  the reference does not bucket positions, only time gaps), shared by the heads, one per block;
- item embeddings are scaled by sqrt(hidden) and added to learned absolute position embeddings
  (truncated N(0, 1 / hidden)), then dropout, as the reference's input preprocessor does;
- the final states are layer-normed without scale or shift (the reference's `layer_norm`
  user-embedding option).

Differences: rab here has the position part only. The reference adds a second term, a learned
scalar per log-bucketed time gap between the items (and, in its code, adds no bias at all when no
timestamps are given). The benchmark's models see item ids only: SeqFitData's `sequences`,
RankRequest's and QARequest's `history` are tuples of ids, without the log's timestamps, so there
is no time term. The reference's loss (sampled softmax over L2-normalised embeddings with a
temperature) is replaced by the harness's full softmax, so every sequential model trains the
same way. Attention dropout is not applied (the reference's research code accepts the rate but
does not use it). The bias table holds only the causal offsets (the reference keeps 2n - 1
entries, of which the causal mask never uses the future half); offsets beyond `window - 1` (only
in histories longer than the window) share the last entry.

Windows are left-padded (models/layers/collate.py). Pad keys are masked (`causal_padding_mask`),
pad positions' states zeroed after every block, and absolute positions count from each row's
first real item (the reference's right-padded rows count the same way), so neither positions,
offsets nor the fixed normaliser depend on how much padding precedes a history.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers.attention import causal_padding_mask
from models.layers.citations import HSTU_PAPER, UQABENCH
from models.layers.embedding import ItemEmbedding
from models.layers.sequential import SequenceNet, SequentialModel
from models.seq.transformerpp import real_item_positions

NORM_EPS = 1e-6
INIT_STD = 0.02


def plain_layer_norm(x: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last axis without learned scale or shift (zeros stay zeros)."""
    return F.layer_norm(x, x.shape[-1:], eps=NORM_EPS)


class RelativePositionBias(nn.Module):
    """rab^p: a learned scalar per offset i - j between query i and an earlier (or the same) key j,
    for offsets 0 ... max_length - 1; larger offsets share the last entry. Future offsets (which
    the causal mask removes) read entry 0."""

    def __init__(self, max_length: int):
        super().__init__()
        self.max_length = max_length
        self.weight = nn.Parameter(torch.empty(max_length).normal_(std=INIT_STD))

    def forward(self, length: int) -> torch.Tensor:
        """The bias (L, L) of query i over key j for a sequence of L positions."""
        position = torch.arange(length, device=self.weight.device)
        offset = (position.unsqueeze(1) - position.unsqueeze(0)).clamp(0, self.max_length - 1)
        return self.weight[offset]


class HSTUBlock(nn.Module):
    """One HSTU layer (module docstring): pointwise projection, SiLU attention with the relative
    bias, gated and normed aggregation, residual. Pad positions are zeroed after the block."""

    def __init__(self, dim: int, heads: int, dropout: float, max_length: int, relative_bias: bool = True):
        super().__init__()
        self.heads, self.max_length = heads, max_length
        self.uvqk = nn.Linear(dim, 4 * dim, bias=False)
        nn.init.normal_(self.uvqk.weight, std=INIT_STD)
        self.rab = RelativePositionBias(max_length) if relative_bias else None
        self.out = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.out.weight)
        self.dropout = nn.Dropout(dropout)

    def attention_weights(self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """SiLU(q k^T + rab) / max_length, zero where not allowed: q and k (B, heads, L, d / heads),
        allowed (B, 1, L, L) with 1 where query i may attend key j; weights (B, heads, L, L)."""
        scores = q @ k.transpose(-1, -2)
        if self.rab is not None:
            scores = scores + self.rab(q.shape[-2]).to(scores.dtype)
        return F.silu(scores) / self.max_length * allowed

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x (B, L, d); allowed (B, 1, L, L) as in attention_weights; keep (B, L, 1), 0 at pads."""
        batch, length, dim = x.shape
        u, v, q, k = F.silu(self.uvqk(plain_layer_norm(x))).split(dim, dim=-1)
        v, q, k = (t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2) for t in (v, q, k))
        attended = (self.attention_weights(q, k, allowed) @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.out(self.dropout(u * plain_layer_norm(attended)))
        return x * keep


class HSTUNet(SequenceNet):
    def __init__(self, n_items: int, hidden: int, blocks: int, heads: int, dropout: float, max_length: int,
                 relative_bias: bool = True):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden)
        self.max_length = max_length
        self.positions = nn.Embedding(max_length, hidden)
        nn.init.trunc_normal_(self.positions.weight, std=math.sqrt(1.0 / hidden))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(HSTUBlock(hidden, heads, dropout, max_length, relative_bias)
                                    for _ in range(blocks))

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, hidden) of a left-padded history (B, L); zeros at pad positions.
        Positions past max_length - 1 (histories longer than the window) share the last one."""
        is_pad = history == self.items.pad_id
        dtype = self.items.weight.dtype
        keep = (~is_pad).unsqueeze(-1).to(dtype)
        position = real_item_positions(is_pad).clamp(max=self.max_length - 1)
        x = self.items(history) * math.sqrt(self.items.embedding_dim) + self.positions(position)
        x = self.dropout(x) * keep
        allowed = (~causal_padding_mask(is_pad)).unsqueeze(1).to(dtype)
        for block in self.blocks:
            x = block(x, allowed, keep)
        return plain_layer_norm(x)  # the pads' zeros stay zeros


@register_model("hstu")
class HSTU(SequentialModel):
    """Defaults: SASRec's (hidden 64, 2 blocks, 1 head, dropout 0.2, and the training arguments of
    SequentialModel), so the sequential models compare on equal terms; the reference's ml-1m
    configuration is close (width 50, 2 blocks, 1 head, dropout 0.2). The normaliser and the
    relative bias table span `window` positions. `relative_bias=False` drops rab (the reference's
    `enable_relative_attention_bias`)."""

    meta = ModelMeta(
        name="HSTU",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation=f"{UQABENCH} (as a user encoder); {HSTU_PAPER}",
        description="Hierarchical Sequential Transduction Units over item id sequences: SiLU-gated pointwise "
        "attention with a relative position bias, full-softmax next-item training.",
    )

    def __init__(self, hidden: int = 64, blocks: int = 2, heads: int = 1, dropout: float = 0.2,
                 relative_bias: bool = True, **training):
        self.set_shape(hidden, dropout, blocks=blocks, heads=heads)
        if not isinstance(relative_bias, bool):
            raise ValueError(f"{self.meta.name}: argument relative_bias must be true or false, got {relative_bias!r}")
        self.relative_bias = relative_bias
        super().__init__(**training)

    def build(self, n_items: int) -> HSTUNet:
        return HSTUNet(n_items, self.hidden, self.blocks, self.heads, self.dropout, self.window, self.relative_bias)
