"""Ranking metrics for one relevant item per row, computed from a single pass over a score matrix.

``rank_positions`` reduces a ``(rows, candidates)`` score matrix to two integers per row (how
many candidates beat the target, how many tie with it); every HR/NDCG/MRR/Recall cut-off is then
a closed-form function of those two counts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from benchmark.metrics._validation import (
    cutoffs,
    raise_on_nan_rows,
    row_blocks,
    row_mask,
    score_matrix,
)

DEFAULT_KS = (1, 5, 10, 20)


def rank_positions(scores, target, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Count, per row, the candidates scored above and equal to the target.

    Args:
        scores: ``(n, c)`` scores, higher is better. ``-inf`` is a legal score (e.g. items a
            generative model did not produce); ``-inf`` candidates tie with a ``-inf`` target.
        target: ``(n,)`` column index of the single relevant candidate of each row.
        mask: optional ``(n, c)`` bool, True for candidates to exclude (already-seen items).
            The mask is ignored in the target's own column: the target is never excluded.

    Returns:
        ``(greater, equal)``, two ``(n,)`` int64 arrays: the number of unmasked non-target
        candidates whose score is strictly greater than / exactly equal to the target's.

    Raises:
        ValueError: if any score is NaN (the message names the row), or on shape/index errors.
    """
    s = score_matrix(scores)
    n, c = s.shape
    t = np.asarray(target)
    if t.shape != (n,):
        raise ValueError(f"target must have shape ({n},), got {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"target must hold integer column indices, got dtype {t.dtype}")
    if n and (t.min() < 0 or t.max() >= c):
        raise ValueError(f"target column indices must lie in [0, {c})")
    m = row_mask(mask, (n, c))

    greater = np.empty(n, dtype=np.int64)
    equal = np.empty(n, dtype=np.int64)
    for rows in row_blocks(n, c):
        block = s[rows]
        raise_on_nan_rows(block, rows.start)
        t_block = t[rows]
        target_score = block[np.arange(block.shape[0]), t_block][:, None]
        above = block > target_score
        tied = block == target_score
        if m is not None:
            keep = ~m[rows]
            above &= keep
            tied &= keep
        greater[rows] = np.count_nonzero(above, axis=1)
        equal[rows] = np.count_nonzero(tied, axis=1) - 1
        if m is not None:
            equal[rows] += m[rows][np.arange(block.shape[0]), t_block]
    return greater, equal


def _rank_counts(greater, equal) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(greater)
    e = np.asarray(equal)
    if g.ndim != 1 or g.shape != e.shape:
        raise ValueError(f"greater and equal must be 1-D of equal length, got {g.shape} and {e.shape}")
    if not (np.issubdtype(g.dtype, np.integer) and np.issubdtype(e.dtype, np.integer)):
        raise ValueError("greater and equal must be integer counts")
    if g.size and (g.min() < 0 or e.min() < 0):
        raise ValueError("greater and equal must be non-negative")
    return g.astype(np.int64), e.astype(np.int64)


def _prefix_table(values: np.ndarray) -> np.ndarray:
    """``T[r] = sum_{j=1..r} values[j-1]`` with ``T[0] = 0``."""
    table = np.zeros(values.shape[0] + 1)
    np.cumsum(values, out=table[1:])
    return table


def per_user_ranking_metrics(greater, equal, ks: Iterable[int] = DEFAULT_KS) -> dict[str, np.ndarray]:
    """Per-row HR/NDCG/MRR/Recall at each cut-off, plus the full MRR, as expectations over ties.

    Each row has exactly one relevant item. Ties are broken uniformly at random and the
    metric's expectation is returned: the target's rank ``R`` is uniform on
    ``{greater + 1, ..., greater + equal + 1}``, so with ``m = equal + 1``

    - ``hr@k     = P(R <= k)``
    - ``ndcg@k   = E[1{R <= k} / log2(R + 1)]`` (the ideal DCG of one relevant item is 1)
    - ``mrr@k    = E[1{R <= k} / R]``
    - ``recall@k = hr@k`` (a single relevant item is either retrieved or not)
    - ``mrr      = E[1 / R]`` (reciprocal rank without cut-off; never MAP)

    Each expectation ``E[f(R) 1{R <= k}]`` equals ``(F(min(g + m, k)) - F(min(g, k))) / m`` with
    ``F`` the prefix sum of ``f``, so all rows are evaluated from small cumulative tables. A
    model scoring every candidate equally therefore gets the random-ranking value
    (``hr@k = k / c`` with ``c`` candidates), not a perfect score.

    Returns:
        dict mapping ``"hr@k"``, ``"ndcg@k"``, ``"mrr@k"``, ``"recall@k"`` (for each k) and
        ``"mrr"`` to float64 arrays of shape ``(n,)``.
    """
    g, e = _rank_counts(greater, equal)
    ks = cutoffs(ks)
    lo = g
    hi = g + e + 1
    m = (e + 1).astype(np.float64)

    max_k = max(ks)
    positions = np.arange(1, max_k + 1, dtype=np.float64)
    dcg_table = _prefix_table(1.0 / np.log2(positions + 1.0))
    rr_table = _prefix_table(1.0 / positions)

    out: dict[str, np.ndarray] = {}
    for k in ks:
        top = np.minimum(hi, k)
        bottom = np.minimum(lo, k)
        hr = (top - bottom) / m
        out[f"hr@{k}"] = hr
        out[f"ndcg@{k}"] = (dcg_table[top] - dcg_table[bottom]) / m
        out[f"mrr@{k}"] = (rr_table[top] - rr_table[bottom]) / m
        out[f"recall@{k}"] = hr.copy()

    max_rank = int(hi.max()) if hi.size else 0
    full_rr_table = _prefix_table(1.0 / np.arange(1, max_rank + 1, dtype=np.float64))
    out["mrr"] = (full_rr_table[hi] - full_rr_table[lo]) / m
    return out


def ranking_metrics(greater, equal, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """Mean over rows of :func:`per_user_ranking_metrics` (same keys, same tie convention).

    With a single relevant item per row ``recall@k`` equals ``hr@k``; both keys are reported.
    """
    per_row = per_user_ranking_metrics(greater, equal, ks)
    if per_row["mrr"].size == 0:
        raise ValueError("ranking metrics need at least one row")
    return {name: float(values.mean()) for name, values in per_row.items()}


def top_k(scores, k: int, mask=None) -> np.ndarray:
    """Column indices of the ``k`` best ranked candidates per row, best first, ``-1`` padded.

    Equal scores are ordered by lower column index. A candidate scored ``-inf`` was not ranked
    (a model that produces only K items fills the rest with ``-inf``), so it is never
    returned, and neither is a masked one (True in ``mask``); a row with fewer than ``k``
    such candidates is padded with ``-1``.

    Per row block, ``np.partition`` finds each row's k-th best score; the columns at or above it
    are selected in index order (keeping only the lowest-index ones when ties at the k-th score
    overflow k) and then stably sorted by score.

    Raises:
        ValueError: if any score is NaN (the message names the row), or if ``k`` is not in
            ``[1, c]``.
    """
    s = score_matrix(scores)
    n, c = s.shape
    k = int(k)
    if not 1 <= k <= c:
        raise ValueError(f"k must lie in [1, {c}], got {k}")
    m = row_mask(mask, (n, c))

    out = np.empty((n, k), dtype=np.int64)
    for rows in row_blocks(n, c):
        block = s[rows]
        raise_on_nan_rows(block, rows.start)
        # Sort key: ascending -score; NaN marks unranked and masked cells, which every sort places last.
        key = np.negative(block)
        key[np.isposinf(key)] = np.nan
        if m is not None:
            key[m[rows]] = np.nan
        out[rows] = _top_k_block(key, k)
    return out


def _top_k_block(key: np.ndarray, k: int) -> np.ndarray:
    b = key.shape[0]
    kth = np.partition(key, k - 1, axis=1)[:, k - 1 : k]
    take = key <= kth
    padded = np.flatnonzero(np.isnan(kth[:, 0]))
    if padded.size:
        take[padded] = ~np.isnan(key[padded])
    counts = np.count_nonzero(take, axis=1)

    tied_past_k = np.flatnonzero(counts > k)
    if tied_past_k.size:
        sub = key[tied_past_k]
        sub_kth = kth[tied_past_k]
        better = sub < sub_kth
        tied = sub == sub_kth
        room = k - np.count_nonzero(better, axis=1)
        take[tied_past_k] = better | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
        counts[tied_past_k] = k

    rows, cols = np.divmod(np.flatnonzero(take), key.shape[1])
    slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    chosen = np.full((b, k), -1, dtype=np.int64)
    chosen_key = np.full((b, k), np.nan, dtype=key.dtype)
    chosen[rows, slot] = cols
    chosen_key[rows, slot] = key[rows, cols]
    order = np.argsort(chosen_key, axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1)
