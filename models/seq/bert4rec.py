"""BERT4Rec (Sun et al., BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer, CIKM 2019): a bidirectional Transformer encoder over item ids
with learnt positions, trained on the cloze task: items at random positions are replaced by a
[mask] token and predicted from both sides. To match prediction, every training sequence also
gives one example with only its last item masked (the paper's Section 3.6). A history is scored
by appending [mask] and reading the item distribution at that position.

Masking follows the reference implementation's count rule: a sequence of n items gets
max(1, round(mask_prob · n)) masked positions, drawn uniformly without replacement, each replaced
by [mask] (its `mask_prob = 1.0` setting: never kept or swapped for a random item). Masks are
drawn afresh for every batch.

The prediction head is the paper's: GELU(W h + b) dotted with the shared item embeddings, plus an
item bias. Encoder layers are post-norm Transformer layers with GELU and a 4 × hidden
feed-forward width, as in BERT.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers import args
from models.layers.citations import LLM_SEQREC
from models.layers.collate import IGNORE, pad_histories
from models.layers.embedding import ItemEmbedding
from models.layers.sequential import SequenceNet, SequentialModel


def cloze(sequences: torch.Tensor, pad_id: int, mask_id: int, mask_prob: float,
          noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cloze inputs and targets for left-padded sequences (B, L), given uniform noise (B, L): in each
    row, the max(1, round(mask_prob · n)) real positions with the smallest noise are masked (n =
    the row's number of real items); targets hold the masked items and IGNORE elsewhere."""
    real = sequences != pad_id
    n_mask = torch.clamp(torch.round(real.sum(1) * mask_prob), min=1).unsqueeze(1)
    noise = noise.masked_fill(~real, float("inf"))
    rank = noise.argsort(1).argsort(1)  # 0 = smallest noise in the row
    masked = (rank < n_mask) & real
    inputs = sequences.masked_fill(masked, mask_id)
    targets = sequences.masked_fill(~masked, IGNORE)
    return inputs, targets


def mask_last(sequences: torch.Tensor, pad_id: int, mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs with only the last position (the most recent item) masked, and its target."""
    inputs, targets = sequences.clone(), torch.full_like(sequences, IGNORE)
    targets[:, -1] = sequences[:, -1]
    inputs[:, -1] = mask_id
    targets[sequences[:, -1] == pad_id, -1] = IGNORE
    return inputs, targets


class BERT4RecNet(SequenceNet):
    def __init__(self, n_items: int, hidden: int, blocks: int, heads: int, dropout: float, length: int):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden, extra=1)  # id n_items + 1 is [mask]
        self.positions = nn.Embedding(length, hidden)
        nn.init.normal_(self.positions.weight, std=self.items.init_std)  # on the items' scale, as in BERT
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU())
        self.bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, hidden) of a left-padded sequence (B, L) that may hold [mask]."""
        is_pad = sequence == self.items.pad_id
        x = self.dropout(self.norm(self.items(sequence) + self.positions.weight))
        return self.encoder(x, src_key_padding_mask=is_pad)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden) @ self.items.items.T + self.bias

    def candidate_logits(self, hidden: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return super().candidate_logits(self.head(hidden), candidates) + self.bias[candidates]


@register_model("bert4rec")
class BERT4Rec(SequentialModel):
    """Defaults from the BERT4Rec paper: hidden 64, 2 layers, 2 heads, dropout 0.1, mask_prob 0.2
    (its choice for the long ML-1m/ML-20m sequences; it uses 0.4–0.6 on short Beauty/Steam
    sequences, and the synthetic default's ~30 items are nearer the former). Differing for the
    small default budget: Adam lr 1e-3 rather than 1e-4, batch 64 and up to 40 epochs with early
    stopping on validation NDCG@10 (patience 3); window 20 as every model here (the network sees 21
    positions: a window of history plus [mask])."""

    meta = ModelMeta(
        name="BERT4Rec",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation="Sun et al., BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations "
        "from Transformer, CIKM 2019; " + LLM_SEQREC,
        group="G",
        description="Bidirectional Transformer over item ids trained on the cloze (masked item) task.",
    )

    def __init__(self, hidden: int = 64, blocks: int = 2, heads: int = 2, dropout: float = 0.1, mask_prob: float = 0.2,
                 epochs: int = 40, **training):
        self.set_shape(hidden, dropout, blocks=blocks, heads=heads)
        self.mask_prob = args.dropout_rate(self.meta.name, "mask_prob", mask_prob)
        super().__init__(epochs=epochs, **training)

    @property
    def mask_id(self) -> int:
        return self.catalogue.n_items + 1

    def build(self, n_items: int) -> BERT4RecNet:
        return BERT4RecNet(n_items, self.hidden, self.blocks, self.heads, self.dropout, self.window + 1)

    def prepare_training(self, sequences: list[tuple[int, ...]]) -> int:
        """Examples 0..n-1 are the sequences under fresh cloze masks, n..2n-1 the same sequences with
        their last item masked."""
        self.train_sequences = pad_histories([s for s in sequences if len(s) >= 2], self.pad_id, self.window + 1)
        return 2 * len(self.train_sequences)

    def training_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.train_sequences)
        cloze_rows, last_rows = self.train_sequences[idx[idx < n]], self.train_sequences[idx[idx >= n] - n]
        masked = cloze(cloze_rows, self.pad_id, self.mask_id, self.mask_prob, torch.rand(cloze_rows.shape))
        last = mask_last(last_rows, self.pad_id, self.mask_id)
        return torch.cat([masked[0], last[0]]), torch.cat([masked[1], last[1]])

    def history_tensor(self, histories: list[tuple[int, ...]]) -> torch.Tensor:
        """The last `window` items of each history followed by [mask], left-padded."""
        return pad_histories([(*tuple(h)[-self.window:], self.mask_id) for h in histories], self.pad_id,
                             self.window + 1)
