"""The feature fields of RecBench's pair-wise DLRMs: the user, as the mean of the vectors of the
items in the history (RecBench eq. 2), and the candidate item, stacked into (B, 2, d).

An item's vector t_i depends on the item representation (RecBench §3.1):
  id    t_i = E_i, a learned item embedding (group A);
  text  t_i = P x_i, x_i the item's text encoded by the frozen MiniLM sentence encoder, P a learned
        linear projection (group B);
  both  t_i = E_i + P x_i: the text projection with a learned per-item correction that starts near
        zero, so items begin at their pretrained semantic position (group C, "emb").
P has no bias, so the mean of projections is the projection of the mean: a history of 20 items is
pooled in the 384-d text space and projected once.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.layers.embedding import ItemEmbedding, masked_mean

ITEM_REPRS = ("id", "text", "both")


class ItemVectors(nn.Module):
    """t_i for item ids (pad id = n_items maps to zero); `text` is (n_items, k) when the
    representation reads item text."""

    def __init__(self, n_items: int, dim: int, item_repr: str, text: np.ndarray | None = None):
        super().__init__()
        if item_repr not in ITEM_REPRS:
            raise ValueError(f"item_repr must be one of {list(ITEM_REPRS)}, got {item_repr!r}")
        if (text is None) != (item_repr == "id"):
            raise ValueError(f"item_repr {item_repr!r} {'needs' if text is None else 'takes no'} item text vectors")
        self.pad_id = n_items
        self.ids = ItemEmbedding(n_items, dim) if item_repr != "text" else None
        self.text = self.project = None
        if text is not None:
            if text.shape[0] != n_items:
                raise ValueError(f"expected text vectors for {n_items} items, got {text.shape[0]}")
            table = torch.cat([torch.as_tensor(text, dtype=torch.float32), torch.zeros(1, text.shape[1])])
            self.text = nn.Embedding.from_pretrained(table, freeze=True, padding_idx=n_items)
            self.project = nn.Linear(text.shape[1], dim, bias=False)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        ids = self.ids(items) if self.ids is not None else 0
        return ids + self.project(self.text(items)) if self.text is not None else ids

    def pooled(self, history: torch.Tensor) -> torch.Tensor:
        """The mean of t_i over each padded history's items (B, L) → (B, d); zeros when empty. The
        frozen text rows are pooled by one fused embedding_bag (it needs no backward), seven times
        faster than gathering (B, L, 384) first; the learned ids as MeanPooledHistory pools them."""
        ids = masked_mean(self.ids(history), history != self.pad_id) if self.ids is not None else 0
        if self.text is None:
            return ids
        text = F.embedding_bag(history, self.text.weight, mode="mean", padding_idx=self.pad_id)
        return ids + self.project(text)


class UserItemFields(nn.Module):
    """(history (B, L), item (B,)) → fields (B, 2, d): [u, t] with u = mean_h t_h."""

    n_fields = 2

    def __init__(self, items: ItemVectors):
        super().__init__()
        self.items = items

    def forward(self, history: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.items.pooled(history), self.items(item)], dim=1)
