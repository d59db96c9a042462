"""Base class of the torch model wrappers."""

from __future__ import annotations

import abc
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from benchmark.api import Model
from benchmark.data.dataset import Catalogue
from models.layers import args
from models.layers.determinism import deterministic
from models.layers.train import TrainLog


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TorchModel(Model, metaclass=abc.ABCMeta):
    """Seeds torch and builds `net` in setup (so num_parameters works before fit), runs inference
    in chunks of `batch_size` and reports the training log through extra_stats."""

    net: nn.Module
    device_name: str = "auto"
    train_log: TrainLog | None = None

    def set_training(self, *, epochs: int, batch_size: int, lr: float, weight_decay: float, patience: int,
                     window: int, device: str) -> None:
        """Check and keep the training arguments every torch model takes."""
        name = self.meta.name
        self.epochs = args.positive_int(name, "epochs", epochs)
        self.batch_size = args.positive_int(name, "batch_size", batch_size)
        self.lr = args.positive_number(name, "lr", lr)
        self.weight_decay = args.non_negative_number(name, "weight_decay", weight_decay)
        self.patience = args.positive_int(name, "patience", patience)
        self.window = args.positive_int(name, "window", window)
        self.device_name = device

    def set_shape(self, hidden: int, dropout: float, **counts: int) -> None:
        """Check and keep the network's width, dropout rate and layer counts (`blocks=2`, ...); with
        a `heads` count, hidden must be a multiple of it."""
        name = self.meta.name
        self.hidden = args.positive_int(name, "hidden", hidden)
        for key, value in counts.items():
            setattr(self, key, args.positive_int(name, key, value))
        if "heads" in counts and self.hidden % self.heads:
            raise ValueError(f"{name}: argument hidden ({hidden}) must be a multiple of heads ({self.heads})")
        self.dropout = args.dropout_rate(name, "dropout", dropout)

    @abc.abstractmethod
    def build(self, n_items: int) -> nn.Module:
        """The network for a catalogue of n_items items."""

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        self.device = resolve_device(self.device_name)
        torch.manual_seed(seed)
        self.net = self.build(catalogue.n_items).to(self.device)
        self.train_log = None

    @property
    def pad_id(self) -> int:
        return self.catalogue.n_items

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def extra_stats(self) -> dict[str, Any]:
        return self.train_log.stats() if self.train_log else {}

    def infer(self, fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> np.ndarray:
        """fn applied to consecutive batch_size slices of the (CPU) tensors, on the model's device,
        in eval mode without gradients; outputs concatenated along the first axis."""
        self.net.eval()
        outputs = []
        with torch.no_grad(), deterministic(self.device):
            for start in range(0, len(tensors[0]), self.batch_size):
                batch = (t[start : start + self.batch_size].to(self.device) for t in tensors)
                outputs.append(fn(*batch).float().cpu())
        return torch.cat(outputs).numpy()
