"""GRU4Rec (Hidasi et al., Session-based Recommendations with Recurrent Neural Networks, ICLR 2016),
as the LLM sequential-recommendation study uses it (Boz et al., Section 5.1): an item-embedding
layer (kept, unlike the original's one-hot input, so that LLM2GRU4Rec can initialise it), one GRU
layer, and item scores from the last hidden state.

Deviations from the 2016 paper, after Hidasi's later official implementation: the output layer
is the input embedding table ("constrained embedding"), and training is full-softmax
cross-entropy over the whole catalogue at every position of a history window rather than
session-parallel mini-batches with sampled TOP1/BPR losses; the catalogues here are small enough
for the full softmax, and it is the same objective SASRec trains with.

Windows are left-padded (the most recent item last); the GRU runs over each window shifted to
start at its first real item, so padding never enters its state.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers.citations import LLM_SEQREC
from models.layers.embedding import ItemEmbedding
from models.layers.sequential import SequenceNet, SequentialModel


def shift_left(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Row b of x (B, L, ...) rotated left by shift[b] positions: x[b, (t + shift[b]) mod L]."""
    length = x.shape[1]
    index = (torch.arange(length, device=x.device) + shift.unsqueeze(1)) % length
    if x.dim() > 2:
        index = index.unsqueeze(-1).expand(-1, -1, *x.shape[2:])
    return x.gather(1, index)


class GRU4RecNet(SequenceNet):
    def __init__(self, n_items: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, hidden) of a left-padded history (B, L); zeros at pad positions."""
        is_pad = history == self.items.pad_id
        pads = is_pad.sum(1)
        x = self.dropout(self.items(shift_left(history, pads)))  # real items first, pads last
        states, _ = self.gru(x)
        states = shift_left(states, -pads)  # back to the history's positions
        return self.dropout(states) * (~is_pad).unsqueeze(-1).to(states.dtype)


@register_model("gru4rec")
class GRU4Rec(SequentialModel):
    """Defaults: hidden 64 (embedding = GRU width, as the tied output layer needs), one GRU layer
    as in GRU4Rec; dropout 0.2 and the training arguments as SASRec's (SequentialModel), so the
    networks compare on equal terms; the study tunes all of these per dataset and reports only
    that low learning and dropout rates suit its neural models."""

    meta = ModelMeta(
        name="GRU4Rec",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation="Hidasi et al., Session-based Recommendations with Recurrent Neural Networks, ICLR 2016; "
        + LLM_SEQREC,
        group="G",
        description="A GRU over item id sequences, full-softmax next-item training.",
    )

    def __init__(self, hidden: int = 64, layers: int = 1, dropout: float = 0.2, **training):
        self.set_shape(hidden, dropout, layers=layers)
        super().__init__(**training)

    def build(self, n_items: int) -> GRU4RecNet:
        return GRU4RecNet(n_items, self.hidden, self.layers, self.dropout)
