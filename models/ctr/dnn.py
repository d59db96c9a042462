"""DNN on item ids (RecBench Group A): user = mean of the history items' embeddings, MLP over
[user, item, user ⊙ item] → click logit, BCE loss, early stopping on validation AUC."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmark.api import CTRFitData, FitData, ModelError, ModelMeta
from benchmark.registry import register_model
from benchmark.requests import ScoreRequest
from models.layers import args
from models.layers.citations import RECBENCH
from models.layers.collate import pad_histories
from models.layers.embedding import ItemEmbedding, MeanPooledHistory
from models.layers.mlp import MLP
from models.layers.torch_model import TorchModel
from models.layers.train import train_early_stopping


class DNNNet(nn.Module):
    def __init__(self, n_items: int, embed_dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.items = ItemEmbedding(n_items, embed_dim)
        self.user = MeanPooledHistory(self.items)
        self.mlp = MLP(3 * embed_dim, hidden, out_dim=1, dropout=dropout)

    def forward(self, history: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        user, item = self.user(history), self.items(item)
        return self.mlp(torch.cat([user, item, user * item], dim=-1)).squeeze(-1)


@register_model("dnn")
class DNN(TorchModel):
    """Defaults were picked on the default synthetic plan (27k training rows, 1000 items), where
    validation AUC sits at the popularity level for several epochs before the history–item
    interaction is learnt: batch_size 128 rather than RecBench's 5000 (which would give a handful of
    Adam steps an epoch at lr 1e-3 on such splits), embed_dim 64 (32 often stays on that plateau),
    patience 3 to get past it."""

    meta = ModelMeta(
        name="DNN",
        paradigm="dlrm",
        item_repr="id",
        scheme="fine-tuned",
        backend="torch",
        supports=("score",),
        license="Apache-2.0",
        citation=RECBENCH + "; Covington et al., Deep Neural Networks for YouTube Recommendations, RecSys 2016",
        group="A",
        description="Mean-pooled history item embeddings and the candidate item embedding through an MLP.",
    )

    def __init__(
        self,
        embed_dim: int = 64,
        hidden: Sequence[int] = (128, 64),
        dropout: float = 0.2,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 3,
        window: int = 20,
        device: str = "auto",
    ):
        name = self.meta.name
        self.embed_dim = args.positive_int(name, "embed_dim", embed_dim)
        self.hidden = args.positive_ints(name, "hidden", hidden)
        self.dropout = args.dropout_rate(name, "dropout", dropout)
        self.set_training(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                          window=window, device=device)

    def build(self, n_items: int) -> nn.Module:
        return DNNNet(n_items, self.embed_dim, self.hidden, self.dropout)

    def _inputs(self, requests: list[ScoreRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        histories = pad_histories([r.history for r in requests], self.pad_id, self.window)
        return histories, torch.tensor([r.item for r in requests], dtype=torch.int64)

    def _probabilities(self, history: torch.Tensor, item: torch.Tensor) -> np.ndarray:
        return self.infer(lambda h, i: torch.sigmoid(self.net(h, i)), history, item).astype(np.float64)

    def fit(self, data: FitData) -> None:
        if not isinstance(data, CTRFitData):
            raise ModelError(f"dnn trains on CTR data, got {type(data).__name__}")
        history, item = self._inputs(data.train)
        labels = torch.as_tensor(np.asarray(data.train_labels), dtype=torch.float32)

        def loss(idx: torch.Tensor) -> torch.Tensor:
            logits = self.net(history[idx].to(self.device), item[idx].to(self.device))
            return F.binary_cross_entropy_with_logits(logits, labels[idx].to(self.device))

        valid_inputs, valid_labels = self._inputs(data.valid), np.asarray(data.valid_labels)

        def valid_auc() -> float:
            return roc_auc_score(valid_labels, self._probabilities(*valid_inputs))

        self.train_log = train_early_stopping(
            self.net, len(labels), loss, valid_auc if len(np.unique(valid_labels)) == 2 else None,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            seed=self.seed, weight_decay=self.weight_decay, metric="auc", desc="dnn",
        )

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        if not requests:
            return np.zeros(0)
        return self._probabilities(*self._inputs(requests))
