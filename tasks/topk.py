"""Next-item answers given as a `TopK`: their validation, and which listed items a user has seen."""

from __future__ import annotations

from itertools import chain
from typing import Callable

import numpy as np

from benchmark.requests import TopK
from tasks.base import ResponseError


def _distinct_sorted(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys


def _member(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """`np.isin(queries, keys)` for distinct sorted `keys`, by binary search (np.isin hashes, which
    is several times slower on these sizes)."""
    if not keys.size:
        return np.zeros(queries.shape, dtype=bool)
    return keys[np.minimum(np.searchsorted(keys, queries), keys.size - 1)] == queries


def _refuse(bad: np.ndarray, what: str, message: Callable[[int, int], str]) -> None:
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        raise ResponseError(f"{what}: TopK row {row}: {message(row, col)}", row=row)


def check_topk(responses: TopK, requests: list, n_items: int, what: str) -> TopK:
    """The lists as int64 ids and float64 scores, or a ResponseError naming the first bad row."""
    items = np.asarray(responses.items)
    if not np.issubdtype(items.dtype, np.integer):
        raise ResponseError(f"{what}: TopK.items must hold integer item ids, got dtype {items.dtype}")
    try:
        scores = np.asarray(responses.scores, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ResponseError(f"{what}: TopK.scores are not numeric ({e})") from None
    n = len(requests)
    if items.ndim != 2 or items.shape[0] != n or scores.shape != items.shape:
        raise ResponseError(f"{what}: TopK items and scores must both have shape ({n}, K), "
                            f"got {items.shape} and {scores.shape}")
    items = items.astype(np.int64, copy=False)
    real = items >= 0
    _refuse((items < -1) | (items >= n_items), what,
            lambda r, c: f"item id {items[r, c]} in slot {c} is neither a catalogue id in [0, {n_items}) nor -1 padding")
    _refuse(~real[:, :-1] & real[:, 1:], what,
            lambda r, c: f"padding in slot {c} comes before ranked item {items[r, c + 1]}; padding must come last")
    _refuse(real & ~np.isfinite(scores), what,
            lambda r, c: f"item {items[r, c]} has score {scores[r, c]}; ranked items must score finite values")
    _refuse(~real & (scores != -np.inf), what,
            lambda r, c: f"padding slot {c} has score {scores[r, c]}; padding must score -inf")
    _refuse(scores[:, 1:] > scores[:, :-1], what,
            lambda r, c: f"scores must not increase along the list: slot {c + 1} has {scores[r, c + 1]} "
                         f"after {scores[r, c]}")
    ordered = np.sort(items, axis=1)
    _refuse((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0), what,
            lambda r, c: f"item {ordered[r, c]} is listed more than once")
    if n and requests[0].candidates is not None:
        offsets = np.arange(n, dtype=np.int64)[:, None] * n_items
        allowed = _distinct_sorted(np.concatenate([np.asarray(r.candidates, dtype=np.int64) + offsets[i, 0]
                                                   for i, r in enumerate(requests)]))
        _refuse(real & ~_member(items + offsets, allowed), what,
                lambda r, c: f"item {items[r, c]} is not one of the request's candidates")
    return TopK(items, scores)


def seen_entries(items: np.ndarray, seen: list, target: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the whole-catalogue mode, where a user's earlier items are masked: which listed entries
    are seen items except the target (ranking never masks the target), which are seen items at all
    (the top-k lists do mask a seen target), and per row how many candidates besides the target
    stay unmasked."""
    n = len(seen)
    lengths = np.fromiter((len(s) for s in seen), dtype=np.int64, count=n)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    flat = np.fromiter(chain.from_iterable(seen), dtype=np.int64, count=int(lengths.sum()))
    keys = _distinct_sorted(rows * n_items + flat)
    offsets = np.arange(n, dtype=np.int64) * n_items
    listed_seen = _member(items + offsets[:, None], keys) & (items >= 0)
    target_seen = _member(target + offsets, keys)
    n_others = n_items - 1 - (np.bincount(keys // n_items, minlength=n) - target_seen)
    return listed_seen & (items != target[:, None]), listed_seen, n_others
