"""Answering rank requests from a function that scores the whole catalogue (numpy models).

`rank_requests` runs the scorer on batches of histories and returns, per candidate mode, what
the task expects: the candidates' columns of the score rows (`sampled`), or over the whole
catalogue either the dense rows or, for models whose scores are naturally sparse (a kNN model
scores only the items of its neighbour sessions), a `TopK` of each row's best positive-scored
items that are not in the request's history.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from benchmark.api import candidate_matrix
from benchmark.requests import RankRequest, TopK

ItemScorer = Callable[[Sequence[Sequence[int]]], np.ndarray]  # histories → (len, n_items) scores


def rank_requests(requests: list[RankRequest], item_scores: ItemScorer, n_items: int, batch_size: int,
                  top_k: int | None = None) -> np.ndarray | TopK:
    """Dense scores (sampled candidates: one column per candidate; whole catalogue without
    `top_k`: one per item), or with `top_k` and the whole catalogue a TopK (see `positive_top_k`)."""
    candidates = candidate_matrix(requests)
    sparse = candidates is None and top_k is not None
    parts = []
    for start in range(0, len(requests), batch_size):
        histories = [r.history for r in requests[start : start + batch_size]]
        scores = item_scores(histories)
        if candidates is not None:
            parts.append(np.take_along_axis(scores, candidates[start : start + batch_size], axis=1))
        elif sparse:
            parts.append(positive_top_k(scores, histories, top_k))
        else:
            parts.append(scores)
    if sparse:
        if not parts:
            return TopK(np.zeros((0, top_k), dtype=np.int64), np.zeros((0, top_k)))
        return TopK(np.concatenate([p.items for p in parts]), np.concatenate([p.scores for p in parts]))
    width = n_items if candidates is None else candidates.shape[1]
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.float32)


def positive_top_k(scores: np.ndarray, histories: Sequence[Sequence[int]], k: int) -> TopK:
    """Each row's (at most) k highest positive scores, items of the row's history left out, best
    first with equal scores in item order; a row with fewer such items ends in padding (-1, -inf)."""
    scores = np.array(scores, dtype=np.float64)
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    scores[rows, np.fromiter((i for h in histories for i in h), dtype=np.int64, count=len(rows))] = -np.inf
    scores[~(scores > 0)] = -np.inf
    k = min(k, scores.shape[1])
    # the k best columns of each row, then sorted by score (descending) and item id
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k else np.zeros((len(scores), 0), dtype=np.int64)
    values = np.take_along_axis(scores, best, axis=1)
    order = np.lexsort((best, -values), axis=1)
    items, values = np.take_along_axis(best, order, axis=1), np.take_along_axis(values, order, axis=1)
    items[~np.isfinite(values)] = -1
    return TopK(items.astype(np.int64), values)
