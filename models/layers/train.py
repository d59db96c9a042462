"""A small training loop: Adam, shuffled mini-batches, early stopping on a validation metric
(higher is better) with the best epoch's weights restored."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.layers.determinism import deterministic


@dataclass
class TrainLog:
    metric: str
    losses: list[float] = field(default_factory=list)
    history: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def best(self) -> float | None:
        return self.history[self.best_epoch - 1] if self.history else None

    def stats(self) -> dict[str, float | int | str | None]:
        return {
            "train_seconds": round(self.seconds, 3),
            "epochs_run": len(self.losses),
            "best_epoch": self.best_epoch,
            "valid_metric": self.metric,
            "valid_best": self.best,
        }


def train_early_stopping(
    module: nn.Module,
    n_examples: int,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    evaluate: Callable[[], float] | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    weight_decay: float = 0.0,
    metric: str = "valid",
    desc: str = "train",
) -> TrainLog:
    """`loss_fn(idx)` returns the mean loss of the training examples at positions idx (a CPU int64
    tensor); `evaluate()` runs under no_grad in eval mode. Training stops once `patience` epochs in
    a row fail to beat the best metric. Without `evaluate` every epoch runs and the last is kept.
    The same seed gives the same weights, on a CUDA device too."""
    device = next(module.parameters()).device
    with deterministic(device):
        return _train(module, n_examples, loss_fn, evaluate, epochs=epochs, batch_size=batch_size, lr=lr,
                      patience=patience, seed=seed, weight_decay=weight_decay, metric=metric, desc=desc)


def _train(module: nn.Module, n_examples: int, loss_fn: Callable[[torch.Tensor], torch.Tensor],
           evaluate: Callable[[], float] | None, *, epochs: int, batch_size: int, lr: float, patience: int,
           seed: int, weight_decay: float, metric: str, desc: str) -> TrainLog:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    log = TrainLog(metric)
    best, best_state, stale = float("-inf"), None, 0
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=None, leave=False)
    for epoch in bar:
        module.train()
        order = torch.from_numpy(rng.permutation(n_examples))
        total = 0.0
        for idx in order.split(batch_size):
            loss = loss_fn(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        log.losses.append(total / max(n_examples, 1))
        if evaluate is None:
            log.best_epoch = epoch + 1
            continue
        module.eval()
        with torch.no_grad():
            value = float(evaluate())
        log.history.append(value)
        bar.set_postfix(loss=f"{log.losses[-1]:.4f}", **{metric: f"{value:.4f}"})
        if value > best:
            best, log.best_epoch = value, epoch + 1
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            stale = 0
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    log.seconds = time.perf_counter() - start
    return log
