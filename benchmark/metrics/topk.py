"""Ranking metrics' inputs from top-K lists instead of a score matrix.

A top-K list ranks K items (ids, ``-1`` for an empty slot) with descending scores; every other
candidate is unranked, and the unranked candidates tie with each other below the ranked ones.
The functions here give exactly what :func:`benchmark.metrics.ranking.rank_positions` and
:func:`benchmark.metrics.ranking.top_k` give for the dense row that scores the K items as listed
and every other candidate ``-inf``, in O(n K) memory.
"""

from __future__ import annotations

import numpy as np


def _lists(items, scores, excluded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.asarray(items)
    s = np.asarray(scores, dtype=np.float64)
    if ids.ndim != 2 or s.shape != ids.shape:
        raise ValueError(f"items and scores must be 2-D of one shape, got {ids.shape} and {s.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"items must hold integer item ids, got dtype {ids.dtype}")
    out = np.zeros(ids.shape, dtype=bool) if excluded is None else np.asarray(excluded)
    if out.shape != ids.shape or out.dtype != bool:
        raise ValueError(f"excluded must be a bool array of shape {ids.shape}")
    return ids, s, out


def topk_rank_positions(items, scores, target, n_others, excluded=None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the candidates scored above and equal to the target, as ``rank_positions`` counts them.

    Args:
        items: ``(n, K)`` ranked item ids per row, ``-1`` for empty slots.
        scores: ``(n, K)`` their scores (any value in empty slots).
        target: ``(n,)`` the relevant item id of each row.
        n_others: ``(n,)`` how many candidates besides the target are not excluded, ranked or not.
        excluded: optional ``(n, K)`` bool, True for ranked entries to skip (masked items); an
            entry holding the row's target is never skipped.

    Returns:
        ``(greater, equal)`` int64 arrays. A ranked target is beaten by the kept ranked items
        scored above it and ties with those scored equal; an unranked one is beaten by every kept
        ranked item and ties with every other kept candidate that is unranked.
    """
    ids, s, skip = _lists(items, scores, excluded)
    n = ids.shape[0]
    t = np.asarray(target, dtype=np.int64)
    others = np.asarray(n_others, dtype=np.int64)
    if t.shape != (n,) or others.shape != (n,):
        raise ValueError(f"target and n_others must have shape ({n},), got {t.shape} and {others.shape}")
    is_target = ids == t[:, None]
    ranked = is_target.any(axis=1)
    kept = (ids >= 0) & ~skip & ~is_target
    n_kept = np.count_nonzero(kept, axis=1)
    if np.any(n_kept > others):
        row = int(np.flatnonzero(n_kept > others)[0])
        raise ValueError(f"row {row}: {n_kept[row]} kept ranked items but only {others[row]} other candidates")
    target_score = np.where(ranked, s[np.arange(n), is_target.argmax(axis=1)], -np.inf)[:, None]
    greater = np.count_nonzero(kept & (s > target_score), axis=1)
    equal = np.count_nonzero(kept & (s == target_score), axis=1)
    equal = np.where(ranked, equal, others - n_kept)
    return greater.astype(np.int64), equal.astype(np.int64)


def topk_lists(items, scores, k: int, excluded=None) -> np.ndarray:
    """The ``k`` best kept items per row, best first, equal scores by lower item id, ``-1`` padded:
    :func:`benchmark.metrics.ranking.top_k` of the equivalent dense row, with ``excluded`` as its mask."""
    ids, s, skip = _lists(items, scores, excluded)
    if int(k) < 1:
        raise ValueError(f"k must be positive, got {k}")
    key = np.where((ids >= 0) & ~skip, -s, np.inf)
    order = np.lexsort((ids, key), axis=-1)
    ranked = np.where(np.isinf(np.take_along_axis(key, order, axis=1)), -1, np.take_along_axis(ids, order, axis=1))
    out = np.full((ids.shape[0], int(k)), -1, dtype=np.int64)
    width = min(int(k), ids.shape[1])
    out[:, :width] = ranked[:, :width]
    return out
