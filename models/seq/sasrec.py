"""SASRec (Kang & McAuley, 2018; RecBench Group G): causal self-attention over the last `window`
items, trained with full-softmax next-item cross-entropy at every position; item scores are the
final hidden state dotted with the (shared input/output) item embeddings."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import FitData, ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.registry import register_model
from benchmark.requests import RankRequest
from models.layers import args
from models.layers.attention import SelfAttentionBlock, causal_padding_mask
from models.layers.citations import RECBENCH
from models.layers.collate import IGNORE, next_item_windows, pad_histories
from models.layers.embedding import ItemEmbedding
from models.layers.ranking import mask_seen, ndcg_at_k
from models.layers.torch_model import TorchModel
from models.layers.train import train_early_stopping


class SASRecNet(nn.Module):
    def __init__(self, n_items: int, hidden: int, blocks: int, heads: int, dropout: float, window: int):
        super().__init__()
        self.items = ItemEmbedding(n_items, hidden)
        self.positions = nn.Embedding(window, hidden)
        # As the item rows start (ItemEmbedding: N(0, 0.05²)), not nn.Embedding's N(0, 1), which let
        # position drown item identity at the start (parity with RecBole, scripts/parity_recbole.py)
        nn.init.normal_(self.positions.weight, std=0.05)
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

    def scores(self, history: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of the next item after each history: (B, n_items), or (B, C) for candidates (B, C)."""
        user = self(history)[:, -1]
        if candidates is None:
            return user @ self.items.items.T
        return torch.einsum("bd,bcd->bc", user, self.items(candidates))


@register_model("sasrec")
class SASRec(TorchModel):
    """Defaults: batch_size 64 since small fine-tune splits need many Adam steps (lr 1e-3) per
    epoch; 20 epochs with early stopping on validation NDCG@10 (whole catalogue, history masked)."""

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

    def __init__(
        self,
        hidden: int = 64,
        blocks: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
        window: int = 20,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 3,
        device: str = "auto",
    ):
        name = self.meta.name
        self.hidden = args.positive_int(name, "hidden", hidden)
        self.blocks = args.positive_int(name, "blocks", blocks)
        self.heads = args.positive_int(name, "heads", heads)
        if self.hidden % self.heads:
            raise ValueError(f"{name}: argument hidden ({hidden}) must be a multiple of heads ({heads})")
        self.dropout = args.dropout_rate(name, "dropout", dropout)
        self.set_training(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                          window=window, device=device)

    def build(self, n_items: int) -> nn.Module:
        return SASRecNet(n_items, self.hidden, self.blocks, self.heads, self.dropout, self.window)

    def fit(self, data: FitData) -> None:
        if not isinstance(data, SeqFitData):
            raise ModelError(f"sasrec trains on next-item sequences, got {type(data).__name__}")
        inputs, targets = next_item_windows(data.sequences, self.pad_id, self.window)
        if len(inputs) == 0:
            raise ModelError("sasrec: no training sequence has two or more items")

        def loss(idx: torch.Tensor) -> torch.Tensor:
            hidden, target = self.net(inputs[idx].to(self.device)), targets[idx].to(self.device)
            at = target != IGNORE
            return F.cross_entropy(hidden[at] @ self.net.items.items.T, target[at])

        histories = [r.history for r in data.valid]
        seen = data.valid_seen
        valid = (
            pad_histories(histories, self.pad_id, self.window),
            pad_histories(seen, self.pad_id, max(map(len, seen), default=1)),
            torch.as_tensor(np.asarray(data.valid_targets), dtype=torch.int64),
        )

        def ndcg(history: torch.Tensor, seen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return ndcg_at_k(mask_seen(self.net.scores(history), seen), target, k=10)

        def valid_ndcg() -> float:
            return float(self.infer(ndcg, *valid).mean())

        self.train_log = train_early_stopping(
            self.net, len(inputs), loss, valid_ndcg if len(data.valid) else None,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            seed=self.seed, weight_decay=self.weight_decay, metric="ndcg@10", desc="sasrec",
        )

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        candidates = candidate_matrix(requests)
        width = self.catalogue.n_items if candidates is None else candidates.shape[1]
        if not requests:
            return np.zeros((0, width), dtype=np.float32)
        history = pad_histories([r.history for r in requests], self.pad_id, self.window)
        if candidates is None:
            return self.infer(self.net.scores, history)
        return self.infer(self.net.scores, history, torch.from_numpy(candidates))
