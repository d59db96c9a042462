"""Item id embeddings and the RecBench Group A user representation (mean of history items)."""

from __future__ import annotations

import torch
from torch import nn


class ItemEmbedding(nn.Embedding):
    """One row per item plus a zero, never-updated row for the pad id (n_items), then `extra`
    trained rows for special tokens (ids n_items + 1, ...; BERT4Rec's [mask]). Rows start as
    N(0, std²) (`init_std`)."""

    def __init__(self, n_items: int, dim: int, std: float = 0.05, extra: int = 0):
        super().__init__(n_items + 1 + extra, dim, padding_idx=n_items)
        self.init_std = std
        nn.init.normal_(self.weight, std=std)
        with torch.no_grad():
            self.weight[n_items].zero_()

    @property
    def pad_id(self) -> int:
        return self.padding_idx

    @property
    def items(self) -> torch.Tensor:
        """The real items' rows, (n_items, dim), for scoring against the whole catalogue."""
        return self.weight[: self.padding_idx]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, L, d) over the positions where mask (B, L) is true; zeros for an empty row."""
    mask = mask.unsqueeze(-1).to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPooledHistory(nn.Module):
    """User vector = mean of the embeddings of the items in the (padded) history."""

    def __init__(self, items: ItemEmbedding):
        super().__init__()
        self.items = items

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.items(history), history != self.items.pad_id)
