"""Adapters from a user encoder's hidden states to soft-prompt tokens in an LLM's embedding space
(UQABench's adapters), and the splicing of those tokens into a tokenised prompt.

An adapter takes the encoder's states over the last `window` history positions, (B, W, d_enc),
with a mask (B, W) that is True at real items (left padding False), and returns soft tokens
(B, n_tokens, d_llm):

- `MeanAdapter`: the masked mean of the states, then a two-layer MLP (GELU) to d_llm: 1 token.
- `QFormerAdapter`: `n_queries` (16) learned query vectors cross-attend (multi-head, padding
  masked out) over the states, a residual feed-forward block follows, then a linear projection to
  d_llm: 16 tokens.

A history with no item at all has a zero state row: the mean is the zero vector, and the
Q-Former attends to one zero state (its last position is unmasked, so attention stays defined).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ADAPTERS = ("mean", "qformer")


class MeanAdapter(nn.Module):
    """Masked mean pooling over the states, then Linear(d_enc, hidden) → GELU → Linear(hidden,
    d_llm); one soft token."""

    n_tokens = 1

    def __init__(self, d_enc: int, d_llm: int, hidden: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_enc, hidden), nn.GELU(), nn.Linear(hidden, d_llm))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.mlp(pooled).unsqueeze(1)


class QFormerAdapter(nn.Module):
    """`n_queries` learned queries (d_enc wide) cross-attend over the states with `heads` heads
    (key padding masked), LayerNorm + residual feed-forward, then Linear(d_enc, d_llm): one soft
    token per query."""

    def __init__(self, d_enc: int, d_llm: int, n_queries: int = 16, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if d_enc % heads:
            raise ValueError(f"Q-Former: the encoder width {d_enc} must be a multiple of heads ({heads})")
        self.n_tokens = n_queries
        self.queries = nn.Parameter(torch.randn(n_queries, d_enc) * 0.02)
        self.attention = nn.MultiheadAttention(d_enc, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_enc)
        self.norm2 = nn.LayerNorm(d_enc)
        self.ffn = nn.Sequential(nn.Linear(d_enc, 4 * d_enc), nn.GELU(), nn.Linear(4 * d_enc, d_enc))
        self.proj = nn.Linear(d_enc, d_llm)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ignore = ~mask.bool()
        ignore[:, -1] &= mask.any(1)  # an empty history attends to its (zero) last state
        queries = self.queries.unsqueeze(0).expand(states.shape[0], -1, -1)
        attended, _ = self.attention(queries, states, states, key_padding_mask=ignore, need_weights=False)
        x = self.norm1(queries + attended)
        x = self.norm2(x + self.ffn(x))
        return self.proj(x)


def build_adapter(kind: str, d_enc: int, d_llm: int, *, hidden: int = 256, n_queries: int = 16,
                  heads: int = 4) -> nn.Module:
    if kind == "mean":
        return MeanAdapter(d_enc, d_llm, hidden)
    if kind == "qformer":
        return QFormerAdapter(d_enc, d_llm, n_queries, heads)
    raise ValueError(f"adapter must be one of {list(ADAPTERS)}, got {kind!r}")


def splice(embed: nn.Module, before: Sequence[int], soft: torch.Tensor, after: Sequence[int]) -> torch.Tensor:
    """The input embeddings (len(before) + n_soft + len(after), d) of token ids `before`, then the
    soft tokens (n_soft, d), then token ids `after`, on the embedding table `embed`'s device and
    dtype (the soft tokens are cast to it)."""
    weight = embed.weight
    ids = lambda t: embed(torch.as_tensor(list(t), dtype=torch.long, device=weight.device))  # noqa: E731
    return torch.cat([ids(before), soft.to(device=weight.device, dtype=weight.dtype), ids(after)])
