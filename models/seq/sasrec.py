"""SASRec (Kang & McAuley, 2018; RecBench Group G): causal self-attention over the last `window`
items, trained with full-softmax next-item cross-entropy at every position; item scores are the
final hidden state dotted with the (shared input/output) item embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers.attention import SelfAttentionBlock, causal_padding_mask
from models.layers.citations import RECBENCH
from models.layers.embedding import ItemEmbedding
from models.layers.sequential import SequenceNet, SequentialModel


class SASRecNet(SequenceNet):
    def __init__(self, n_items: int, hidden: int, blocks: int, heads: int, dropout: float, window: int):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden)
        self.positions = nn.Embedding(window, hidden)
        # On the item rows' scale (as BERT4Rec's), not nn.Embedding's N(0, 1), which let position
        # drown item identity at the start (parity with RecBole, scripts/parity_recbole.py)
        nn.init.normal_(self.positions.weight, std=self.items.init_std)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(hidden, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, window, hidden) of a left-padded history (B, window)."""
        is_pad = history == self.items.pad_id
        keep = (~is_pad).unsqueeze(-1).to(self.positions.weight.dtype)
        x = self.items(history) * math.sqrt(self.items.embedding_dim) + self.positions.weight
        x = self.dropout(x) * keep
        mask = causal_padding_mask(is_pad)
        for block in self.blocks:
            x = block(x, mask, keep)
        return self.norm(x)


@register_model("sasrec")
class SASRec(SequentialModel):
    """Defaults: hidden 64, 2 blocks, 1 head, dropout 0.2; the training arguments (window, epochs,
    batch_size, lr, weight_decay, patience, device) and their defaults are SequentialModel's."""

    meta = ModelMeta(
        name="SASRec",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018; " + RECBENCH,
        group="G",
        description="Causal self-attention over item id sequences, full-softmax next-item training.",
    )

    def __init__(self, hidden: int = 64, blocks: int = 2, heads: int = 1, dropout: float = 0.2, **training):
        self.set_shape(hidden, dropout, blocks=blocks, heads=heads)
        super().__init__(**training)

    def build(self, n_items: int) -> SASRecNet:
        return SASRecNet(n_items, self.hidden, self.blocks, self.heads, self.dropout, self.window)
