"""The shared wrapper of RecBench's pair-wise DLRMs (DNN, PNN, DeepFM, DCN, DCNv2, AutoInt, GDCN,
FinalMLP, MaskNet): ŷ = σ(Φ(u, t)), trained with BCE (RecBench eqs. 1–3).

A model file defines its interaction network Φ (a module from the fields (B, 2, d) of
models.layers.fields to click logits (B,)), its ModelMeta and its own arguments; this class owns
the item representation, the data plumbing, early-stopped training and scoring.

Every model takes `item_repr` (id, text or both; see models.layers.fields). The representation
changes what the model is, so its metadata says so: `meta_for(args)`, which the runner records in
the result, and the instance's `meta` give the name a suffix ("DeepFM (text)"), item_repr id /
text / emb and RecBench group A / B / C.

num_parameters counts the frozen text table (n_items × 384) of the text representations, not the
MiniLM encoder that made it (it runs once per catalogue, before training, and is cached).

Training defaults are the ones the DNN docstring explains (picked on the default synthetic plan):
batch 128 rather than RecBench's 5000, lr 1e-3 (RecBench's), patience 3, up to 20 epochs, window 20
(the protocol's), embed_dim 64 (RecBench's hidden_size).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmark.api import CTRFitData, FitData, ModelError, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.requests import ScoreRequest
from benchmark.text import encode_catalogue
from models.layers import args
from models.layers.citations import RECBENCH
from models.layers.collate import pad_histories
from models.layers.cross import STRUCTURES, CrossAndDeep, CrossNetwork
from models.layers.fields import ITEM_REPRS, ItemVectors, UserItemFields
from models.layers.torch_model import TorchModel
from models.layers.train import train_early_stopping

# item_repr argument → (name suffix, ModelMeta.item_repr, RecBench group)
REPRESENTATIONS = {"id": ("", "id", "A"), "text": (" (text)", "text", "B"), "both": (" (text+id)", "emb", "C")}
assert tuple(REPRESENTATIONS) == ITEM_REPRS


def dlrm_meta(name: str, citation: str, description: str) -> ModelMeta:
    """A pair-wise DLRM's class metadata (its id representation, RecBench group A)."""
    return ModelMeta(name=name, paradigm="dlrm", item_repr="id", scheme="fine-tuned", backend="torch",
                     supports=("score",), license="Apache-2.0", citation=f"{citation}; {RECBENCH}", group="A",
                     description=description)


class CTRNet(nn.Module):
    def __init__(self, fields: UserItemFields, interaction: nn.Module):
        super().__init__()
        self.fields = fields
        self.interaction = interaction

    def forward(self, history: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.interaction(self.fields(history, item))


class CTRModel(TorchModel):
    """Subclasses set `meta` and either `interaction_net` or `interaction`; their __init__ checks
    their own arguments and passes the rest to this one. Every model has an MLP somewhere: `hidden`
    are its widths and `dropout` its rate, by default (128, 64) as DNN's (RecBench's
    (1000, 1000, 1000) trains about ten times slower on two CPU cores) and 0.1 as RecBench's."""

    interaction_net: ClassVar[type[nn.Module]]
    text_vectors: np.ndarray | None = None

    def __init__(
        self,
        hidden: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        item_repr: str = "id",
        embed_dim: int = 64,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 3,
        window: int = 20,
        device: str = "auto",
        **unknown: Any,
    ):
        name = type(self).meta.name
        if unknown:
            params = [p for cls in (type(self), CTRModel) for p in inspect.signature(cls).parameters.values()]
            known = list(dict.fromkeys(p.name for p in params if p.kind is not p.VAR_KEYWORD))
            raise TypeError(f"{name} takes no argument(s) {sorted(unknown)}; its arguments are {known}")
        self.hidden = args.positive_ints(name, "hidden", hidden)
        self.dropout = args.dropout_rate(name, "dropout", dropout)
        self.item_repr = args.choice(name, "item_repr", item_repr, ITEM_REPRS)
        self.embed_dim = args.positive_int(name, "embed_dim", embed_dim)
        self.set_training(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                          window=window, device=device)
        self.meta = self.meta_for({"item_repr": item_repr})

    @classmethod
    def meta_for(cls, arguments: dict[str, Any]) -> ModelMeta:
        item_repr = arguments.get("item_repr", "id")
        if not isinstance(item_repr, str) or item_repr not in REPRESENTATIONS:
            return cls.meta  # the constructor reports the bad value when the run starts
        suffix, meta_repr, group = REPRESENTATIONS[item_repr]
        return dataclasses.replace(cls.meta, name=cls.meta.name + suffix, item_repr=meta_repr, group=group)

    def interaction(self, n_fields: int, dim: int) -> nn.Module:
        """Φ: fields (B, n_fields, dim) → click logits (B,); by default the class's
        `interaction_net(n_fields, dim, hidden, dropout)`."""
        return self.interaction_net(n_fields, dim, self.hidden, self.dropout)

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        self.text_vectors = encode_catalogue(catalogue) if self.item_repr != "id" else None
        super().setup(catalogue, seed)

    def build(self, n_items: int) -> nn.Module:
        fields = UserItemFields(ItemVectors(n_items, self.embed_dim, self.item_repr, self.text_vectors))
        return CTRNet(fields, self.interaction(fields.n_fields, self.embed_dim))

    def _inputs(self, requests: list[ScoreRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        histories = pad_histories([r.history for r in requests], self.pad_id, self.window)
        return histories, torch.tensor([r.item for r in requests], dtype=torch.int64)

    def _probabilities(self, history: torch.Tensor, item: torch.Tensor) -> np.ndarray:
        return self.infer(lambda h, i: torch.sigmoid(self.net(h, i)), history, item).astype(np.float64)

    def fit(self, data: FitData) -> None:
        if not isinstance(data, CTRFitData):
            raise ModelError(f"{self.meta.name} trains on CTR data, got {type(data).__name__}")
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
            seed=self.seed, weight_decay=self.weight_decay, metric="auc", desc=self.meta.name,
        )

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        if not requests:
            return np.zeros(0)
        return self._probabilities(*self._inputs(requests))


class CrossNetModel(CTRModel):
    """DCN, DCNv2 and GDCN: x_0 = [u; t] through `cross_layers` layers of the class's `layer` and a
    deep MLP, in parallel or stacked (models.layers.cross.CrossAndDeep). Default cross_layers 3
    as RecBench."""

    layer: ClassVar[type[nn.Module]]

    def __init__(self, cross_layers: int = 3, structure: str = "parallel", **common: Any):
        self.cross_layers = args.positive_int(self.meta.name, "cross_layers", cross_layers)
        self.structure = args.choice(self.meta.name, "structure", structure, STRUCTURES)
        super().__init__(**common)

    def interaction(self, n_fields: int, dim: int) -> nn.Module:
        width = n_fields * dim
        cross = CrossNetwork(self.layer(width) for _ in range(self.cross_layers))
        return CrossAndDeep(cross, width, self.hidden, self.dropout, self.structure)
