"""Beyond-accuracy metrics of top-k lists: catalog coverage, novelty and serendipity.

Definitions follow Harte et al., "Leveraging Large Language Models for Sequential
Recommendation" (RecSys 2023): "Catalog coverage represents the fraction of catalog items that
appeared in at least one top-n recommendation list of the users in the test set. Serendipity
measures the ratio of correct recommendations per user that are not recommended by a
popularity baseline. Novelty computes the negative log of the relative item popularity, or
self-information." The exact formulas are in each function's docstring.

Top-k lists hold item ids (not candidate-column indices) with ``-1`` marking an empty slot,
as produced by :func:`benchmark.metrics.ranking.top_k` when a row has fewer than k ranked
(finite-scored, unmasked) items. Only the items a model actually ranked count: an empty slot is
no recommendation, so it adds nothing to coverage or serendipity and is left out of novelty.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from benchmark.metrics._validation import cutoffs
from benchmark.metrics.ranking import top_k


def _item_lists(topk_items, n_items: int | None = None) -> np.ndarray:
    lists = np.asarray(topk_items)
    if lists.ndim != 2:
        raise ValueError(f"topk_items must be 2-D (users, k), got shape {lists.shape}")
    if not np.issubdtype(lists.dtype, np.integer):
        raise ValueError(f"topk_items must hold integer item ids, got dtype {lists.dtype}")
    if lists.size and lists.min() < -1:
        raise ValueError("topk_items may hold item ids >= 0 and -1 for empty slots only")
    if n_items is not None and lists.size and lists.max() >= n_items:
        raise ValueError(f"topk_items holds item id {int(lists.max())}, catalogue has {n_items} items")
    return lists.astype(np.int64, copy=False)


def _check_width(lists: np.ndarray, ks: tuple[int, ...]) -> None:
    if max(ks) > lists.shape[1]:
        raise ValueError(f"cut-off {max(ks)} exceeds the top-k list length {lists.shape[1]}")


def _self_information(item_counts, n_users_train: int) -> np.ndarray:
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or not np.issubdtype(counts.dtype, np.number):
        raise ValueError("item_counts must be a 1-D numeric array indexed by item id")
    n_users = int(n_users_train)
    if n_users < 1:
        raise ValueError(f"n_users_train must be positive, got {n_users_train}")
    if counts.size and (counts.min() < 0 or counts.max() > n_users):
        raise ValueError(
            "item_counts must count distinct training users per item, "
            f"i.e. lie in [0, n_users_train={n_users}]"
        )
    return np.log2(n_users) - np.log2(np.maximum(counts.astype(np.float64), 1.0))


def _coverage_at(lists: np.ndarray, n_items: int, ks: tuple[int, ...]) -> dict[int, float]:
    covered = np.zeros(n_items + 1, dtype=bool)
    out = {}
    for column in range(max(ks)):
        covered[lists[:, column] + 1] = True
        if column + 1 in ks:
            out[column + 1] = float(np.count_nonzero(covered[1:]) / n_items)
    return out


def _novelty_at(lists: np.ndarray, info: np.ndarray, ks: tuple[int, ...]) -> dict[int, float]:
    head = lists[:, : max(ks)]
    filled = head >= 0
    bits = np.where(filled, info[np.maximum(head, 0)], 0.0)
    bits_per_column = np.cumsum(bits.sum(axis=0))
    slots_per_column = np.cumsum(filled.sum(axis=0))
    out = {}
    for k in ks:
        if slots_per_column[k - 1] == 0:
            raise ValueError(f"novelty@{k} is undefined: every top-{k} list is empty")
        out[k] = float(bits_per_column[k - 1] / slots_per_column[k - 1])
    return out


def _first_position(rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Column of the first occurrence of ``wanted[i]`` in ``rows[i]``, or ``rows.shape[1]``."""
    hits = rows == wanted[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), rows.shape[1])


def _serendipity_at(
    lists: np.ndarray, targets: np.ndarray, popular: np.ndarray, ks: tuple[int, ...]
) -> dict[int, float]:
    width = max(ks)
    hit_at = _first_position(lists[:, :width], targets)
    popular_at = _first_position(np.broadcast_to(popular[:width], (targets.shape[0], width)), targets)
    return {k: float(np.mean((hit_at < k) & (popular_at >= k))) for k in ks}


def _targets(targets, n_rows: int) -> np.ndarray:
    t = np.asarray(targets)
    if t.shape != (n_rows,):
        raise ValueError(f"targets must have shape ({n_rows},), got {t.shape}")
    if not np.issubdtype(t.dtype, np.integer) or (t.size and t.min() < 0):
        raise ValueError("targets must hold non-negative integer item ids")
    return t.astype(np.int64, copy=False)


def _popular(popular_items, width: int) -> np.ndarray:
    p = np.asarray(popular_items)
    if p.ndim != 1 or not np.issubdtype(p.dtype, np.integer):
        raise ValueError("popular_items must be a 1-D integer array of item ids, most popular first")
    if p.shape[0] < width:
        raise ValueError(f"popular_items has {p.shape[0]} items, at least {width} are needed")
    return p.astype(np.int64, copy=False)


def most_popular(item_counts, k: int) -> np.ndarray:
    """The popularity baseline's top-k: item ids by decreasing count, ties to the lower id."""
    counts = np.asarray(item_counts, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError("item_counts must be 1-D")
    return top_k(counts[None, :], k)[0]


def coverage(topk_items, n_items: int) -> float:
    """Catalog coverage: ``|union_u L_u| / n_items``.

    ``L_u`` is user u's top-k list (all columns of ``topk_items``; ``-1`` slots ignored), so the
    value is the fraction of the catalogue recommended to at least one user.
    """
    if int(n_items) < 1:
        raise ValueError(f"n_items must be positive, got {n_items}")
    lists = _item_lists(topk_items, int(n_items))
    width = lists.shape[1]
    return _coverage_at(lists, int(n_items), (width,))[width]


def novelty(topk_items, item_counts, n_users_train: int) -> float:
    """Mean self-information (bits) of the recommended items.

    ``novelty = mean over filled slots (u, j) of -log2(p_i)`` where ``i = L_u[j]`` and
    ``p_i = max(c_i, 1) / n_users_train``, with ``c_i = item_counts[i]`` the number of distinct
    training users who interacted with item i (Zhou et al., PNAS 2010). Items never seen in
    training (``c_i = 0``) are given count 1, i.e. the largest finite self-information
    ``log2(n_users_train)``. Slots holding ``-1`` are left out of the mean; with full lists it
    equals the mean over users of each user's mean self-information.

    The reference implementation of Harte et al. divides by the total interaction count instead
    of the number of users; that shifts every model's novelty by the same constant.
    """
    counts = np.asarray(item_counts)
    lists = _item_lists(topk_items, counts.shape[0] if counts.ndim == 1 else None)
    info = _self_information(counts, n_users_train)
    width = lists.shape[1]
    return _novelty_at(lists, info, (width,))[width]


def serendipity(topk_items, targets, popular_items) -> float:
    """Share of users whose held-out item is recommended but is not a popularity-baseline pick.

    Following Ge et al. (RecSys 2010) as implemented by Harte et al.: with ``L_u`` the user's
    top-k list, ``T_u`` the relevant (held-out) items and ``PM`` the popularity baseline's
    top-k (``popular_items[:k]``, the same list for every user),

        ``UNEXP_u = T_u \\ PM``,
        ``serendipity_u = |L_u ∩ UNEXP_u| / min(|UNEXP_u|, k)``, and 0 when ``UNEXP_u`` is empty,
        ``serendipity@k = mean_u serendipity_u``.

    With one held-out item per user this is ``mean_u 1{t_u in L_u and t_u not in PM}``: the
    hit rate restricted to targets the popularity baseline would not have recommended, so it
    never exceeds HR@k. Ge et al.'s original form ``|(L_u \\ PM) ∩ T_u| / |L_u|`` has the same
    numerator but divides by k.
    """
    lists = _item_lists(topk_items)
    width = lists.shape[1]
    t = _targets(targets, lists.shape[0])
    return _serendipity_at(lists, t, _popular(popular_items, width), (width,))[width]


def beyond_accuracy(
    topk_items_at_maxk,
    targets,
    item_counts,
    n_users_train: int,
    popular_items,
    n_items: int,
    ks: Iterable[int],
) -> dict[str, float]:
    """``coverage@k``, ``novelty@k`` and ``serendipity@k`` for every k from one top-max(k) list.

    The lists must be ranked best first, so the top-k list is the first k columns. Arguments
    and formulas are those of :func:`coverage`, :func:`novelty` and :func:`serendipity`;
    ``popular_items`` must hold at least ``max(ks)`` items (its first k are the baseline at k).
    """
    ks = cutoffs(ks)
    if int(n_items) < 1:
        raise ValueError(f"n_items must be positive, got {n_items}")
    lists = _item_lists(topk_items_at_maxk, int(n_items))
    _check_width(lists, ks)
    counts = np.asarray(item_counts)
    if counts.shape != (int(n_items),):
        raise ValueError(f"item_counts must have shape ({n_items},), got {counts.shape}")
    info = _self_information(counts, n_users_train)
    cov = _coverage_at(lists, int(n_items), ks)
    nov = _novelty_at(lists, info, ks)
    ser = _serendipity_at(lists, _targets(targets, lists.shape[0]), _popular(popular_items, max(ks)), ks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"coverage@{k}"] = cov[k]
        out[f"novelty@{k}"] = nov[k]
        out[f"serendipity@{k}"] = ser[k]
    return out
