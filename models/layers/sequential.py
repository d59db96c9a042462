"""The base of the id-sequence networks (SASRec, Transformer++, GRU4Rec, BERT4Rec and their LLM2
variants).

A `SequenceNet` maps a left-padded history window (B, L) to hidden states (B, L, d) and reads the
next item's scores off the last position with its output head (by default the dot product with
the shared input/output item embeddings). A `SequentialModel` trains it on the fine-tune split
with Adam and early stopping on validation NDCG@10 over the whole catalogue (each validation
user's earlier items masked, as the task masks them), and answers rank requests with raw scores
over the whole catalogue or over the requests' candidates. By default it trains on next-item
targets at every position of the training windows (`next_item_windows`); a model with another
objective overrides `prepare_training` and `training_batch` (BERT4Rec's cloze task).

`TextInitialisedItems` turns any of them into its LLM2 variant (Boz et al., Section 5.2): the
item-embedding table starts as the PCA of the items' text embeddings (models/layers/
text_embeddings.py) instead of random, and trains as before.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import FitData, ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.data.dataset import Catalogue
from benchmark.requests import RankRequest
from benchmark.text import encode_catalogue
from models.layers.citations import LLM_SEQREC
from models.layers.collate import IGNORE, next_item_windows, pad_histories
from models.layers.embedding import ItemEmbedding
from models.layers.ranking import mask_seen, ndcg_at_k
from models.layers.text_embeddings import pca_item_table
from models.layers.torch_model import TorchModel
from models.layers.train import train_early_stopping


class SequenceNet(nn.Module):
    """`items` is the ItemEmbedding; `forward(history)` gives hidden states (B, L, d)."""

    items: ItemEmbedding

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores (N, n_items) of every item for hidden states (N, d)."""
        return hidden @ self.items.items.T

    def candidate_logits(self, hidden: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scores (B, C) of candidates (B, C) for hidden states (B, d)."""
        return torch.einsum("bd,bcd->bc", hidden, self.items(candidates))

    def scores(self, history: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of the next item after each history: (B, n_items), or (B, C) for candidates (B, C)."""
        user = self(history)[:, -1]
        return self.logits(user) if candidates is None else self.candidate_logits(user, candidates)


class SequentialModel(TorchModel, metaclass=abc.ABCMeta):
    """Fit and rank for a `SequenceNet` (see the module docstring). Subclasses set `meta`, check
    their network's arguments with `set_shape` (TorchModel's), pass the training arguments on to this
    `__init__` and implement `build`."""

    net: SequenceNet

    def __init__(self, *, window: int = 20, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 3, device: str = "auto"):
        """Defaults (SASRec's, shared so the networks compare on equal terms): the protocol's window
        of 20 items; batch_size 64 since small fine-tune splits need many Adam steps (lr 1e-3) per
        epoch; up to 20 epochs with early stopping on validation NDCG@10 (whole catalogue, history
        masked) after 3 epochs without a new best."""
        self.set_training(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                          window=window, device=device)

    def prepare_training(self, sequences: list[tuple[int, ...]]) -> int:
        """Keep what training batches are drawn from; return the number of training examples."""
        self.train_inputs, self.train_targets = next_item_windows(sequences, self.pad_id, self.window)
        return len(self.train_inputs)

    def training_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (B, L) and targets (B, L), IGNORE where a position has no target, of examples idx."""
        return self.train_inputs[idx], self.train_targets[idx]

    def history_tensor(self, histories: list[tuple[int, ...]]) -> torch.Tensor:
        """The network's input for histories whose next item is to be scored."""
        return pad_histories(histories, self.pad_id, self.window)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        inputs, targets = self.training_batch(idx)
        hidden, target = self.net(inputs.to(self.device)), targets.to(self.device)
        at = target != IGNORE
        return F.cross_entropy(self.net.logits(hidden[at]), target[at])

    def fit(self, data: FitData) -> None:
        name = self.meta.name
        if not isinstance(data, SeqFitData):
            raise ModelError(f"{name} trains on next-item sequences, got {type(data).__name__}")
        n_examples = self.prepare_training(data.sequences)
        if n_examples == 0:
            raise ModelError(f"{name}: no training sequence has two or more items")

        seen = data.valid_seen
        valid = (
            self.history_tensor([r.history for r in data.valid]),
            pad_histories(seen, self.pad_id, max(map(len, seen), default=1)),
            torch.as_tensor(np.asarray(data.valid_targets), dtype=torch.int64),
        )

        def ndcg(history: torch.Tensor, seen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return ndcg_at_k(mask_seen(self.net.scores(history), seen), target, k=10)

        def valid_ndcg() -> float:
            return float(self.infer(ndcg, *valid).mean())

        self.train_log = train_early_stopping(
            self.net, n_examples, self.loss, valid_ndcg if len(data.valid) else None,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            seed=self.seed, weight_decay=self.weight_decay, metric="ndcg@10", desc=name.lower(),
        )

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        candidates = candidate_matrix(requests)
        width = self.catalogue.n_items if candidates is None else candidates.shape[1]
        if not requests:
            return np.zeros((0, width), dtype=np.float32)
        history = self.history_tensor([r.history for r in requests])
        if candidates is None:
            return self.infer(self.net.scores, history)
        return self.infer(self.net.scores, history, torch.from_numpy(candidates))


class TextInitialisedItems:
    """Mixin for a SequentialModel, listed before it (`class LLM2SASRec(TextInitialisedItems,
    SASRec)`): after the network is built, the real items' rows of its item-embedding table are
    replaced by `pca_item_table` of the items' MiniLM text embeddings, scaled to the random
    initialisation's standard deviation (`ItemEmbedding.init_std`), and then train like any other
    weight. The pad row stays zero; special rows ([mask]) keep their random start."""

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        items = self.net.items
        table = pca_item_table(encode_catalogue(catalogue), items.embedding_dim, items.init_std)
        with torch.no_grad():
            items.weight[: catalogue.n_items] = torch.as_tensor(table, dtype=items.weight.dtype,
                                                                device=items.weight.device)


def llm2_meta(base: ModelMeta, name: str) -> ModelMeta:
    """The metadata of the LLM2 variant of a model: the same, but its items are represented by
    (text-initialised) embeddings, outside RecBench's groups, citing the study first."""
    return dataclasses.replace(
        base, name=name, item_repr="emb", group=None, citation=f"{LLM_SEQREC}; {base.citation}",
        description=f"{base.name} whose item embeddings start as the PCA of the items' MiniLM text embeddings.",
    )
