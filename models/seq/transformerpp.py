"""Transformer++ (the user encoder UQABench names beside GRU4Rec and SASRec): SASRec's causal
self-attention over the last `window` items with the block of today's LLMs (LLaMA's): RMSNorm
before attention and before the feed-forward net, rotary position embeddings (RoPE) on each head's
queries and keys instead of learned absolute positions, a SwiGLU feed-forward net (gate and up
projections, SiLU(gate) * up, down projection), and no biases. Training, scoring and the tied
input/output item embeddings are SASRec's (SequentialModel: full-softmax next-item cross-entropy
at every position).

Windows are left-padded (models/layers/collate.py). Pad keys are masked as in SASRec
(`causal_padding_mask`) and pad positions' states zeroed after every block. Rotary positions
count from the first real item of each window (0, 1, ...; pads get 0 and are masked), so a
history's states do not depend on how much padding precedes it; since the rotation makes a
query-key score depend only on the two positions' offset, counting from the window's first column
would give the same scores up to rounding.

The SwiGLU inner width is 8/3 x hidden rounded up to a multiple of 8 (LLaMA's rule, which keeps the
parameter count of a 4 x hidden ReLU MLP): 176 for hidden 64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers.attention import causal_padding_mask
from models.layers.citations import TRANSFORMER_PP, UQABENCH
from models.layers.embedding import ItemEmbedding
from models.layers.sequential import SequenceNet, SequentialModel

ROPE_BASE = 10000.0
NORM_EPS = 1e-6


class SimpleRMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) * weight over the last axis: torch.nn.RMSNorm (torch >= 2.4) for
    older torch; the same parameter name, so state dicts load across versions."""

    def __init__(self, dim: int, eps: float = NORM_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


RMSNorm = getattr(nn, "RMSNorm", SimpleRMSNorm)


def rope_angles(positions: torch.Tensor, dim: int, base: float = ROPE_BASE) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (..., dim) of the rotary angles at integer positions (...): pair k of a head's
    dim/2 pairs (dimensions k and k + dim/2, the rotate-half layout) turns by position * base^(-2k/dim)."""
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    angles = positions.to(torch.float32).unsqueeze(-1) * frequencies
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., dim) rotated by the angles whose cos and sin (broadcasting to x) rope_angles gives."""
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


def real_item_positions(is_pad: torch.Tensor) -> torch.Tensor:
    """Positions (B, L) counted from each left-padded row's first real item; 0 at pads."""
    return ((~is_pad).long().cumsum(1) - 1).clamp(min=0)


class TransformerPPBlock(nn.Module):
    """Pre-RMSNorm causal self-attention with RoPE on queries and keys, then a pre-RMSNorm SwiGLU
    feed-forward net, each added to the residual stream; no biases. Pad positions are zeroed after
    the block."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        inner = 8 * math.ceil(8 * dim / 3 / 8)
        self.attn_norm = RMSNorm(dim, eps=NORM_EPS)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.ffn_norm = RMSNorm(dim, eps=NORM_EPS)
        self.gate = nn.Linear(dim, inner, bias=False)
        self.up = nn.Linear(dim, inner, bias=False)
        self.down = nn.Linear(inner, dim, bias=False)
        self.residual_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
        """x (B, L, d); allowed (B, 1, L, L), True where query i may attend key j; cos and sin
        (B, 1, L, d / heads); keep (B, L, 1), 0 at pads."""
        batch, length, dim = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, L, d / heads)
        attended = F.scaled_dot_product_attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v,
                                                  attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.residual_dropout(self.out(attended.transpose(1, 2).reshape(batch, length, dim)))
        h = self.ffn_norm(x)
        x = x + self.residual_dropout(self.down(F.silu(self.gate(h)) * self.up(h)))
        return x * keep


class TransformerPPNet(SequenceNet):
    def __init__(self, n_items: int, hidden: int, blocks: int, heads: int, dropout: float):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden)
        self.head_dim = hidden // heads
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerPPBlock(hidden, heads, dropout) for _ in range(blocks))
        self.norm = RMSNorm(hidden, eps=NORM_EPS)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, hidden) of a left-padded history (B, L) of any length L; zeros at
        pad positions."""
        is_pad = history == self.items.pad_id
        keep = (~is_pad).unsqueeze(-1).to(self.items.weight.dtype)
        # scaled as SASRec's, so item identity starts on the scale of the blocks' outputs
        x = self.dropout(self.items(history) * math.sqrt(self.items.embedding_dim)) * keep
        allowed = ~causal_padding_mask(is_pad).unsqueeze(1)
        cos, sin = (t.unsqueeze(1) for t in rope_angles(real_item_positions(is_pad), self.head_dim))
        for block in self.blocks:
            x = block(x, allowed, cos, sin, keep)
        return self.norm(x)  # RMSNorm keeps the pads' zeros


@register_model("transformerpp")
class TransformerPP(SequentialModel):
    """Defaults: SASRec's (hidden 64, 2 blocks, 1 head, dropout 0.2, and the training arguments of
    SequentialModel), so the two compare on equal terms; each head's width (hidden / heads) must
    be even, as RoPE turns pairs of dimensions."""

    meta = ModelMeta(
        name="Transformer++",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation=f"{UQABENCH} (as a user encoder); {TRANSFORMER_PP}",
        description="Causal self-attention over item id sequences with LLaMA's block (RMSNorm, RoPE, SwiGLU), "
        "full-softmax next-item training.",
    )

    def __init__(self, hidden: int = 64, blocks: int = 2, heads: int = 1, dropout: float = 0.2, **training):
        self.set_shape(hidden, dropout, blocks=blocks, heads=heads)
        if (self.hidden // self.heads) % 2:
            raise ValueError(f"{self.meta.name}: argument hidden ({hidden}) must be a multiple of 2 x heads "
                             f"({2 * self.heads}): RoPE turns pairs of each head's dimensions")
        super().__init__(**training)

    def build(self, n_items: int) -> TransformerPPNet:
        return TransformerPPNet(n_items, self.hidden, self.blocks, self.heads, self.dropout)
