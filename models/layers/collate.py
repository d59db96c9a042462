"""Histories as fixed-window id tensors.

Histories are left-padded: the most recent item always sits in the last column, so a sequence
model reads its prediction off position -1 and position embeddings count back from the most
recent item. The pad id is n_items, one past the last real item id; longer histories keep their
most recent `window` items.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

IGNORE = -100  # torch's cross-entropy ignore_index, used to pad targets


def pad_histories(histories: Sequence[Sequence[int]], pad_id: int, window: int) -> torch.Tensor:
    out = np.full((len(histories), window), pad_id, dtype=np.int64)
    for row, history in enumerate(histories):
        history = tuple(history)[-window:]
        if history:
            out[row, window - len(history) :] = history
    return torch.from_numpy(out)


def next_item_windows(sequences: Sequence[Sequence[int]], pad_id: int, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-item targets, both (n_windows, window), for training on every position.

    A sequence longer than window+1 is cut into consecutive windows whose targets do not overlap;
    target padding is IGNORE. Sequences of fewer than two items have no target and are dropped."""
    inputs, targets = [], []
    for seq in sequences:
        seq = tuple(seq)
        for end in range(len(seq), 1, -window):
            chunk = seq[max(0, end - window - 1) : end]
            inputs.append(chunk[:-1])
            targets.append(chunk[1:])
    return pad_histories(inputs, pad_id, window), pad_histories(targets, IGNORE, window)
