"""Protocol recboard-v1: from a Dataset to task data (CTR pair-wise rows; next-item leave-one-out;
personalized QA questions, whose rules are in benchmark/protocol/uqa.py).

Per user, interactions are ordered by timestamp (ties keep file order). Positives are interactions
without a label column, or label == 1, or rating >= positive_rating when that field is set; the
rest are real negatives. With dedupe_repeats one interaction per user and item stays: with labels or
ratings, the user's FIRST POSITIVE interaction with the item when there is one (so a click after an
earlier skip stays a click, at the time of that click), otherwise the first (negative) interaction;
without labels, simply the first interaction.

CTR: users with at least two positives are shuffled once by data_seed. Test users are taken from
the front of that order, whole users at a time, while the test rows stay within ctr_test_rows and
the test users within ctr_max_test_user_fraction; fine-tune users follow, within
ctr_finetune_rows; a ctr_valid_user_fraction of the fine-tune users validate. Per user, the last
ctr_positives_per_user positives that have at least one earlier positive each give a row whose
history is the previous `window` positives; with real negatives in the data, up to
ctr_negative_ratio × that many of the user's latest real negatives join them, otherwise
ctr_negative_ratio negatives per positive are drawn uniformly from items the user never touched,
sharing that positive's history.

Next item: users with at least seq_min_interactions positives. The last positive is the test
target, the one before it the validation target, the rest is the training prefix, cut from its end
into sequences of window + 1 items that overlap by one (every transition is a target once).
Test and validation users are the front of the data_seed order; training sequences are ranked
most-recent-first across users and capped at seq_finetune_sequences. `seen` lists every earlier
positive of the user (masked in the `full` mode); `candidates` holds the target and
seq_sampled_negatives never-touched items in shuffled order (the `sampled-100` mode); a user with
too few untouched items gets only the target, and the task refuses the sampled mode on such data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.protocol.spec import ProtocolError, ProtocolSpec
from benchmark.protocol.uqa import build_uqa, template_inputs

TASKS = ("ctr", "seqrec", "uqa")
# Part of the task-data cache key and content hash: bump it whenever a change alters built data.
BUILDER_VERSION = "2"


@dataclass
class UserLog:
    user: int
    pos_items: np.ndarray
    pos_times: np.ndarray
    neg_items: np.ndarray
    neg_times: np.ndarray
    touched: np.ndarray  # sorted unique items of every interaction


@dataclass
class BuiltTask:
    """Plain columns per split, before they become Arrow tables."""

    splits: dict[str, dict[str, list]]
    extra: dict[str, Any] = field(default_factory=dict)


def user_logs(ds: Dataset, spec: ProtocolSpec) -> list[UserLog]:
    inter = ds.interactions
    users = inter["user"].to_numpy(np.int64)
    items = inter["item"].to_numpy(np.int64)
    times = inter["timestamp"].to_numpy(np.int64)
    if "label" in inter.columns:
        positive = inter["label"].to_numpy() == 1
    elif spec.positive_rating is not None and "rating" in inter.columns:
        positive = inter["rating"].to_numpy(np.float64) >= spec.positive_rating
    else:
        positive = np.ones(len(inter), dtype=bool)
    order = np.lexsort((np.arange(len(inter)), times, users))
    users, items, times, positive = users[order], items[order], times[order], positive[order]
    if spec.dedupe_repeats:
        keys = users * ds.n_items + items
        # Rows are in time order; within a key, positives sort first, so the first row of each key
        # is its first positive if it has one, else its first row.
        by_key = np.lexsort((np.arange(len(keys)), ~positive, keys))
        starts = np.r_[True, np.diff(keys[by_key]) != 0]
        keep = np.zeros(len(keys), dtype=bool)
        keep[by_key[starts]] = True
        users, items, times, positive = users[keep], items[keep], times[keep], positive[keep]
    bounds = np.flatnonzero(np.diff(users)) + 1
    logs = []
    for u_items, u_times, u_pos, u in zip(
        np.split(items, bounds), np.split(times, bounds), np.split(positive, bounds), users[np.r_[0, bounds]]
    ):
        logs.append(UserLog(int(u), u_items[u_pos], u_times[u_pos], u_items[~u_pos], u_times[~u_pos],
                            np.unique(u_items)))
    return logs


def sample_untouched(rng: np.random.Generator, n_items: int, touched: np.ndarray, k: int) -> np.ndarray:
    """k distinct items uniformly from those not in `touched` (sorted); all of them when fewer exist."""
    free = n_items - len(touched)
    if free <= 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    if free <= 4 * k:
        pool = np.setdiff1d(np.arange(n_items), touched, assume_unique=True)
        return rng.permutation(pool)[: min(k, free)]
    while True:
        draw = rng.integers(0, n_items, size=2 * k + 8)
        draw = draw[~np.isin(draw, touched)]
        _, first = np.unique(draw, return_index=True)
        draw = draw[np.sort(first)]
        if len(draw) >= k:
            return draw[:k]


def _ctr_rows(log: UserLog, spec: ProtocolSpec, n_items: int, real_negatives: bool) -> dict[str, list]:
    w = spec.window
    starts = np.arange(max(1, len(log.pos_items) - spec.ctr_positives_per_user), len(log.pos_items))
    rows: dict[str, list] = {"user": [], "history": [], "item": [], "label": []}

    def add(history: np.ndarray, item: int, label: int) -> None:
        rows["user"].append(log.user)
        rows["history"].append(history.tolist())
        rows["item"].append(int(item))
        rows["label"].append(label)

    if real_negatives:
        for j in starts:
            add(log.pos_items[max(0, j - w):j], log.pos_items[j], 1)
        n_neg = min(len(log.neg_items), spec.ctr_negative_ratio * len(starts))
        for item, t in zip(log.neg_items[len(log.neg_items) - n_neg:], log.neg_times[len(log.neg_items) - n_neg:]):
            j = int(np.searchsorted(log.pos_times, t, side="left"))
            add(log.pos_items[max(0, j - w):j], item, 0)
        return rows
    rng = np.random.default_rng([spec.data_seed, 1, log.user])
    negs = sample_untouched(rng, n_items, log.touched, spec.ctr_negative_ratio * len(starts))
    for k, j in enumerate(starts):
        history = log.pos_items[max(0, j - w):j]
        add(history, log.pos_items[j], 1)
        for item in negs[k * spec.ctr_negative_ratio:(k + 1) * spec.ctr_negative_ratio]:
            add(history, item, 0)
    return rows


def _extend(target: dict[str, list], rows: dict[str, list]) -> None:
    for k, v in rows.items():
        target.setdefault(k, []).extend(v)


def build_ctr(ds: Dataset, spec: ProtocolSpec, logs: list[UserLog] | None = None) -> BuiltTask:
    logs = [lg for lg in (logs or user_logs(ds, spec)) if len(lg.pos_items) >= 2]
    if not logs:
        raise ProtocolError(f"dataset {ds.name!r}: no user has two positives; CTR needs a history")
    real = ds.has_real_negatives or (spec.positive_rating is not None and "rating" in ds.interactions.columns)
    order = np.random.default_rng([spec.data_seed, 1]).permutation(len(logs))
    max_test_users = max(1, int(spec.ctr_max_test_user_fraction * len(logs)))
    test: dict[str, list] = {}
    finetune_users: list[dict[str, list]] = []
    n_test = n_ft = n_test_users = 0
    filling_test = True
    for idx in order:
        rows = _ctr_rows(logs[idx], spec, ds.n_items, real)
        n = len(rows["user"])
        if n == 0:
            continue
        if filling_test:
            if n_test + n <= spec.ctr_test_rows and n_test_users < max_test_users:
                _extend(test, rows)
                n_test += n
                n_test_users += 1
                continue
            filling_test = False
        if n_ft + n > spec.ctr_finetune_rows:
            break
        finetune_users.append(rows)
        n_ft += n
    if n_test == 0 or not finetune_users:
        raise ProtocolError(
            f"dataset {ds.name!r}: CTR split left {n_test} test rows and {len(finetune_users)} fine-tune users; "
            "raise ctr_test_rows / ctr_finetune_rows or use more users")
    n_valid = max(1, int(round(spec.ctr_valid_user_fraction * len(finetune_users))))
    valid_idx = set(np.random.default_rng([spec.data_seed, 4]).choice(len(finetune_users), n_valid, replace=False).tolist())
    train: dict[str, list] = {}
    valid: dict[str, list] = {}
    for i, rows in enumerate(finetune_users):
        _extend(valid if i in valid_idx else train, rows)
    return BuiltTask({"test": test, "train": train, "valid": valid})


def _chunks(prefix: np.ndarray, window: int) -> Iterator[np.ndarray]:
    end = len(prefix)
    while end >= 2:
        yield prefix[max(0, end - window - 1):end]
        end -= window


def build_seqrec(ds: Dataset, spec: ProtocolSpec, logs: list[UserLog] | None = None) -> BuiltTask:
    logs = [lg for lg in (logs or user_logs(ds, spec)) if len(lg.pos_items) >= spec.seq_min_interactions]
    if not logs:
        raise ProtocolError(f"dataset {ds.name!r}: no user has {spec.seq_min_interactions} positives")
    w = spec.window
    order = np.random.default_rng([spec.data_seed, 2]).permutation(len(logs))
    test: dict[str, list] = {k: [] for k in ("user", "history", "target", "seen", "candidates", "target_pos")}
    short_users: list[int] = []
    for idx in order[: spec.seq_test_users]:
        lg = logs[idx]
        target = int(lg.pos_items[-1])
        rng = np.random.default_rng([spec.data_seed, 3, lg.user])
        negs = sample_untouched(rng, ds.n_items, lg.touched, spec.seq_sampled_negatives)
        if len(negs) < spec.seq_sampled_negatives:  # sampled mode cannot run; `full` still can
            short_users.append(lg.user)
            negs = negs[:0]
        cands = np.concatenate([[target], negs])
        perm = rng.permutation(len(cands))
        test["user"].append(lg.user)
        test["history"].append(lg.pos_items[:-1][-w:].tolist())
        test["target"].append(target)
        test["seen"].append(lg.pos_items[:-1].tolist())
        test["candidates"].append(cands[perm].tolist())
        test["target_pos"].append(int(np.flatnonzero(perm == 0)[0]))
    valid: dict[str, list] = {k: [] for k in ("user", "history", "target", "seen")}
    for idx in order[: spec.seq_valid_users]:
        lg = logs[idx]
        valid["user"].append(lg.user)
        valid["history"].append(lg.pos_items[:-2][-w:].tolist())
        valid["target"].append(int(lg.pos_items[-2]))
        valid["seen"].append(lg.pos_items[:-2].tolist())
    ranked = []
    for rank_in_order, idx in enumerate(order):
        for age, chunk in enumerate(_chunks(logs[idx].pos_items[:-2], w)):
            ranked.append((age, rank_in_order, logs[idx].user, chunk))
    ranked.sort(key=lambda r: (r[0], r[1]))
    ranked = ranked[: spec.seq_finetune_sequences]
    train = {"user": [r[2] for r in ranked], "items": [r[3].tolist() for r in ranked]}
    counts = np.zeros(ds.n_items, dtype=np.int64)
    for lg in logs:
        np.add.at(counts, lg.pos_items[:-2], 1)
    stats = {"item": list(range(ds.n_items)), "train_count": counts.tolist()}
    return BuiltTask({"test": test, "train": train, "valid": valid, "item_stats": stats},
                     extra={"n_users_train": len(logs), "sampled_short_users": short_users[:10],
                            "n_sampled_short_users": len(short_users)})


BUILDERS = {"ctr": build_ctr, "seqrec": build_seqrec, "uqa": build_uqa}
# Inputs beyond the data and the protocol fields that shape a task's data (part of its cache key)
EXTRA_INPUTS = {"uqa": template_inputs}
