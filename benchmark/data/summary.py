"""What an adapter read, in words (`recboard data inspect`), and p-core filtering.

The p-core of a log is what is left after repeatedly dropping users and items with fewer than p
interactions until none is left; it is counted here over positive interactions (no label column,
or label 1), one per user and item, since repeats and real negatives are not what "a user with 5
interactions" means in the papers that filter this way. Timestamps are also shown as UTC dates when
every one is at least 10^8 (March 1973), i.e. when they look like seconds rather than positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data.dataset import TEXT_FIELDS, Dataset

SECONDS_FROM = 10**8
SHOWN_CHARS = 160


@dataclass(frozen=True)
class CoreStats:
    k: int
    users: int  # users with at least k positives (one per item)
    items: int  # items with at least k positive users
    core_users: int  # sizes of the k-core
    core_items: int
    core_interactions: int


def positive_pairs(ds: Dataset) -> pd.DataFrame:
    """The positive interactions, one per user and item (the earliest)."""
    inter = ds.interactions
    if "label" in inter.columns:
        inter = inter[inter["label"].to_numpy() == 1]
    return inter.drop_duplicates(["user", "item"])[["user", "item"]]


def k_core(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """The rows (a boolean mask) of the k-core of the pairs (users[i], items[i])."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        user_counts = np.bincount(users[keep], minlength=int(users.max(initial=-1)) + 1)
        item_counts = np.bincount(items[keep], minlength=int(items.max(initial=-1)) + 1)
        kept = keep & (user_counts[users] >= k) & (item_counts[items] >= k)
        if kept.sum() == keep.sum():
            return kept
        keep = kept


def core_stats(ds: Dataset, k: int = 5) -> CoreStats:
    pairs = positive_pairs(ds)
    users, items = pairs["user"].to_numpy(), pairs["item"].to_numpy()
    core = k_core(users, items, k)
    return CoreStats(
        k=k,
        users=int((np.bincount(users) >= k).sum()),
        items=int((np.bincount(items) >= k).sum()),
        core_users=len(np.unique(users[core])),
        core_items=len(np.unique(items[core])),
        core_interactions=int(core.sum()),
    )


def describe(ds: Dataset, k: int = 5) -> str:
    inter = ds.interactions
    n = len(inter)
    negatives = int((inter["label"] == 0).sum()) if "label" in inter.columns else 0
    where = ", ".join(f"{key} {value}" for key, value in ds.source.items())
    lines = [
        f"dataset {ds.name!r} ({where})",
        f"  users {ds.n_users}, items {ds.n_items}, interactions {n}: "
        f"{n - negatives} positive, {negatives} real negative",
        f"  columns: {', '.join(inter.columns)}",
        f"  timestamps: {_time(int(inter['timestamp'].min()), inter)} .. {_time(int(inter['timestamp'].max()), inter)}",
    ]
    if "rating" in inter.columns:
        r = inter["rating"]
        lines.append(f"  ratings: {r.min():g} .. {r.max():g}, mean {r.mean():.2f}")
    filled = ds.items[list(TEXT_FIELDS)] != ""
    lines.append(f"text fields (share of the {ds.n_items} items with a non-empty value):")
    for f in TEXT_FIELDS:
        count = int(filled[f].sum())
        lines.append(f"  {f:<12} {100 * count / max(ds.n_items, 1):5.1f}%  ({count})")
    lines += _sample(ds, filled.sum(axis=1).to_numpy())
    stats = core_stats(ds, k)
    n_pairs = len(positive_pairs(ds))
    lines += [
        f"{k}-core (over positive interactions, one per user and item: {n_pairs}):",
        f"  users with >= {k}: {stats.users} of {ds.n_users} ({_share(stats.users, ds.n_users)})",
        f"  items with >= {k}: {stats.items} of {ds.n_items} ({_share(stats.items, ds.n_items)})",
        f"  {k}-core filtered: {stats.core_users} users, {stats.core_items} items, "
        f"{stats.core_interactions} interactions",
    ]
    return "\n".join(lines)


def _sample(ds: Dataset, n_filled: np.ndarray) -> list[str]:
    """The first interaction whose item has the most text."""
    inter = ds.interactions
    row = int(np.argmax(n_filled[inter["item"].to_numpy()]))
    first = inter.iloc[row]
    item = int(first["item"])
    values = ", ".join(f"{c} {_value(first[c])}" for c in inter.columns if c not in ("user", "item", "timestamp"))
    out = [
        "sample row:",
        f"  user {int(first['user'])}, item {item}"
        + (f" (raw id {_value(ds.items['raw_id'].iloc[item])})" if "raw_id" in ds.items.columns else "")
        + f", timestamp {_time(int(first['timestamp']), inter)}" + (f", {values}" if values else ""),
    ]
    for f in TEXT_FIELDS:
        value = str(ds.items[f].iloc[item])
        out.append(f"  {f:<12} {value[:SHOWN_CHARS] + ('…' if len(value) > SHOWN_CHARS else '')!r}")
    return out


def _time(t: int, inter: pd.DataFrame) -> str:
    if int(inter["timestamp"].min()) >= SECONDS_FROM:
        return f"{t} ({pd.Timestamp(t, unit='s', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC)"
    return str(t)


def _value(v: object) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    return f"{v:g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / max(whole, 1):.1f}%"
