"""Uncertainty of a metric over test users: bootstrap confidence intervals and paired tests.

The unit of resampling is the user, never the row: a user's requests are not independent (one
user contributes up to 30 CTR rows), so a replicate draws ``U`` users with replacement and gives
every row of a drawn user that user's multiplicity as its weight. All replicates are evaluated at
once from the drawn user indices:

- metrics that are a ratio of per-user sums (the mean of a per-example column, LogLoss, GAUC, a QA
  accuracy over the questions of one sub-task or dimension) sum the per-user numerators and
  denominators over the drawn users;
- AUC sorts the rows once and computes the weighted Mann-Whitney statistic from cumulative sums of
  the negatives' weights (ties count one half), one row of a ``(replicates, rows)`` array each.

``paired_test`` draws the same users for both models (a paired bootstrap) and reports the
percentile p-value of the difference: ``p = min(1, 2 * (1 + min(#{d* <= 0}, #{d* >= 0})) / (B + 1))``,
the smallest two-sided level at which the percentile interval of the difference excludes 0, with
the +1 correction so that p is never 0. It agrees with the interval the same call reports, and it
extends unchanged to the mean over several seeds (a "table" argument may be a list of tables on the
same requests; their metric is averaged inside every replicate, users resampled jointly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from benchmark.metrics import grouped_auc

TASKS = ("ctr", "seqrec", "uqa")
CTR_METRICS = ("auc", "gauc_user_mean", "gauc_impression_weighted", "logloss")
LOGLOSS_EPS = 1e-7  # as benchmark.metrics.logloss
_BLOCK = 16  # replicates drawn per generator call: the draws do not depend on how evaluation is chunked
_CELLS = 1 << 21  # about this many float64 cells per temporary (replicates x rows)


def columns(table: Any) -> dict[str, np.ndarray]:
    """A per-example table (pandas DataFrame or mapping of equal-length 1-D arrays) as numpy arrays."""
    if hasattr(table, "columns") and hasattr(table, "__getitem__") and not isinstance(table, Mapping):
        cols = {str(c): np.asarray(table[c]) for c in table.columns}
    elif isinstance(table, Mapping):
        cols = {str(c): np.asarray(v) for c, v in table.items()}
    else:
        raise ValueError(f"a per-example table must be a DataFrame or a mapping of arrays, got {type(table).__name__}")
    lengths = {c: v.shape for c, v in cols.items()}
    if any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) > 1:
        raise ValueError(f"table columns must be 1-D of equal length, got shapes {lengths}")
    return cols


def _n_rows(cols: dict[str, np.ndarray]) -> int:
    return next(iter(cols.values())).shape[0] if cols else 0


def _need(cols: dict[str, np.ndarray], *names: str, why: str) -> None:
    missing = [n for n in names if n not in cols]
    if missing:
        raise ValueError(f"{why} needs column(s) {missing}; the table has {sorted(cols)}")


def _labels_scores(cols: dict[str, np.ndarray], metric: str) -> tuple[np.ndarray, np.ndarray]:
    _need(cols, "label", "score", why=metric)
    y, s = cols["label"], np.asarray(cols["score"], dtype=np.float64)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("label must hold only 0 and 1")
    if not np.all(np.isfinite(s)):
        raise ValueError("score contains NaN or infinite values")
    return y.astype(bool), s


def _qa_rows(metric: str, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A QA accuracy as (correct, counted) per row: `acc_overall` counts every question,
    `acc_<group>` those whose `subtask` or `dimension` column is <group>."""
    _need(cols, "correct", why=f"QA metric {metric!r}")
    if not metric.startswith("acc_"):
        raise ValueError(f"{metric!r} is not a QA metric (acc_overall, acc_<sub-task>, acc_<dimension>)")
    correct = np.asarray(cols["correct"], dtype=np.float64)
    if not np.all(np.isfinite(correct)):
        raise ValueError("column 'correct' contains NaN or infinite values")
    group = metric.removeprefix("acc_")
    if group == "overall":
        return correct, np.ones_like(correct)
    _need(cols, "subtask", "dimension", why=f"QA metric {metric!r}")
    counted = (np.asarray(cols["subtask"]).astype(str) == group) | (np.asarray(cols["dimension"]).astype(str) == group)
    if not counted.any():
        raise ValueError(f"QA metric {metric!r}: no question of sub-task or dimension {group!r} in the table")
    return correct, counted.astype(np.float64)


def _check_metric(task: str, metric: str, cols: dict[str, np.ndarray]) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")
    if task == "uqa":
        _qa_rows(metric, cols)
        return
    if task == "seqrec" and metric in CTR_METRICS:
        raise ValueError(f"{metric!r} is a CTR metric; a seqrec metric is the mean of its per-user column")
    if task == "seqrec" or metric not in CTR_METRICS:
        _need(cols, metric, why=f"metric {metric!r} (the mean of its per-example column)")


def _user_index(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    _need(cols, "user", why="resampling by user")
    _, inverse = np.unique(cols["user"], return_inverse=True)
    return inverse.reshape(-1), int(inverse.max()) + 1 if inverse.size else 0


class _Ratio:
    """A metric equal to sum_u num[u] / sum_u den[u] over users (with multiplicity)."""

    def __init__(self, num: np.ndarray, den: np.ndarray) -> None:
        self.num, self.den = num.astype(np.float64), den.astype(np.float64)

    def user_weighted(self, counts: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (counts @ self.num) / (counts @ self.den)

    def drawn(self, draw: _Draw) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.num[draw.idx].sum(axis=1) / self.den[draw.idx].sum(axis=1)


class _AUC:
    """Weighted Mann-Whitney AUC for many weight vectors: rows sorted once by score; each
    positive wins the weight of the negatives strictly below it and half of those tied with it."""

    def __init__(self, y: np.ndarray, s: np.ndarray, uidx: np.ndarray | None) -> None:
        self.pos_rows, neg_rows = np.flatnonzero(y), np.flatnonzero(~y)
        self.neg_rows = neg_rows[np.argsort(s[neg_rows], kind="stable")]
        neg_scores, pos_scores = s[self.neg_rows], s[self.pos_rows]
        self.below = np.searchsorted(neg_scores, pos_scores, side="left")
        self.upto = np.searchsorted(neg_scores, pos_scores, side="right")
        self.ties = bool(np.any(self.upto > self.below))
        if uidx is not None:
            self.pos_users, self.neg_users = uidx[self.pos_rows], uidx[self.neg_rows]

    def _auc(self, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
        cum = np.zeros((w_neg.shape[0], w_neg.shape[1] + 1))
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        below = cum[:, self.below]
        credit = below + 0.5 * (cum[:, self.upto] - below) if self.ties else below
        wins = np.einsum("ij,ij->i", w_pos, credit)
        with np.errstate(invalid="ignore", divide="ignore"):
            return wins / (w_pos.sum(axis=1) * cum[:, -1])

    def row_weighted(self, w: np.ndarray) -> np.ndarray:
        return self._auc(w[:, self.pos_rows], w[:, self.neg_rows])

    def user_weighted(self, counts: np.ndarray) -> np.ndarray:
        return self._auc(counts[:, self.pos_users], counts[:, self.neg_users])

    def drawn(self, draw: _Draw) -> np.ndarray:
        return self.user_weighted(draw.counts)


class _Draw:
    """Replicates as drawn user indices ``(k, U)``; ``counts`` is each user's multiplicity."""

    def __init__(self, idx: np.ndarray) -> None:
        self.idx = idx

    @cached_property
    def counts(self) -> np.ndarray:
        k, n_users = self.idx.shape
        flat = self.idx.astype(np.int64) + (np.arange(k, dtype=np.int64) * n_users)[:, None]
        return np.bincount(flat.ravel(), minlength=k * n_users).reshape(k, n_users).astype(np.float64)


def _per_user_sums(uidx: np.ndarray, n_users: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.bincount(uidx, weights=values, minlength=n_users), np.bincount(uidx, minlength=n_users)


def _gauc(cols: dict[str, np.ndarray], metric: str, n_users: int) -> _Ratio:
    y, s = _labels_scores(cols, metric)
    _, per_user, impressions = grouped_auc(y, s, cols["user"])
    kept = ~np.isnan(per_user)
    weight = kept * (impressions if metric == "gauc_impression_weighted" else 1.0)
    return _Ratio(np.where(kept, per_user, 0.0) * weight, weight.astype(np.float64))


def _row_values(task: str, metric: str, cols: dict[str, np.ndarray]) -> np.ndarray:
    if task == "ctr" and metric == "logloss":
        y, s = _labels_scores(cols, metric)
        if s.min() < 0.0 or s.max() > 1.0:
            raise ValueError("logloss needs scores that are probabilities in [0, 1]")
        p = np.clip(s, LOGLOSS_EPS, 1.0 - LOGLOSS_EPS)
        return -np.where(y, np.log(p), np.log1p(-p))
    values = np.asarray(cols[metric], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"column {metric!r} contains NaN or infinite values")
    return values


def _evaluator(task: str, metric: str, cols: dict[str, np.ndarray], uidx: np.ndarray, n_users: int) -> _Ratio | _AUC:
    if task == "uqa":
        correct, counted = _qa_rows(metric, cols)
        return _Ratio(np.bincount(uidx, weights=correct * counted, minlength=n_users),
                      np.bincount(uidx, weights=counted, minlength=n_users))
    if task == "ctr" and metric == "auc":
        return _AUC(*_labels_scores(cols, metric), uidx)
    if task == "ctr" and metric.startswith("gauc_"):
        return _gauc(cols, metric, n_users)
    return _Ratio(*_per_user_sums(uidx, n_users, _row_values(task, metric, cols)))


def _weights(weights: Any, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or (w.size and w.min() < 0):
        raise ValueError("weights must be finite and non-negative")
    return w


def metric_value(task: str, metric: str, table: Any, weights: Any = None) -> float:
    """The metric on a per-example table, each row counted ``weights[i]`` times (None: once).

    ``auc`` is the weighted Mann-Whitney statistic (ties count 1/2; ``roc_auc_score`` when
    unweighted); ``gauc_user_mean`` / ``gauc_impression_weighted`` average the per-user AUC of the
    users having both classes, each user weighted by its multiplicity (so the weights must be equal
    within a user); ``logloss`` is computed from label and score (clipped as in
    ``benchmark.metrics.logloss``); a QA accuracy is the weighted mean of ``correct`` over the rows
    of its sub-task or dimension (all rows for ``acc_overall``); any other metric is the weighted
    mean of the column of that name.
    A metric that is undefined on the weighted rows (one class only, zero total weight) is NaN.
    """
    cols = columns(table)
    _check_metric(task, metric, cols)
    n = _n_rows(cols)
    w = None if weights is None else _weights(weights, n)
    if task == "ctr" and metric == "auc":
        ev = _AUC(*_labels_scores(cols, metric), None)
        return float(ev.row_weighted((np.ones(n) if w is None else w)[None, :])[0])
    if task == "ctr" and metric.startswith("gauc_"):
        uidx, n_users = _user_index(cols)
        counts = np.ones(n_users)
        if w is not None:
            counts = np.bincount(uidx, weights=w, minlength=n_users) / np.bincount(uidx, minlength=n_users)
            if not np.allclose(w, counts[uidx], rtol=0, atol=1e-12):
                raise ValueError(f"{metric} weights users, not rows: weights must be equal within each user")
        return float(_gauc(cols, metric, n_users).user_weighted(counts[None, :])[0])
    w = np.ones(n) if w is None else w
    if task == "uqa":
        correct, counted = _qa_rows(metric, cols)
        values, w = correct, w * counted
    else:
        values = _row_values(task, metric, cols)
    total = w.sum()
    return float(np.dot(w, values) / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class Replicates:
    """A metric's point estimate and its bootstrap replicates (users resampled with replacement).

    Two ``Replicates`` with the same ``requests``, ``seed`` and length were drawn from the same
    resampled users, so their element-wise difference is a paired bootstrap of the difference.
    """

    point: float
    values: np.ndarray
    requests: str
    seed: int
    n_users: int


def requests_key(task: str, table: Any) -> str:
    """A hash of what makes two tables answers to the same requests: rows, users, labels (CTR)."""
    cols = columns(table)
    _need(cols, "user", why="comparing requests")
    h = hashlib.sha256(f"{task}:{_n_rows(cols)}".encode())
    h.update(np.ascontiguousarray(cols["user"], dtype=np.int64).tobytes())
    if task == "ctr":
        _need(cols, "label", why="comparing CTR requests")
        h.update(np.ascontiguousarray(cols["label"], dtype=np.int8).tobytes())
    return h.hexdigest()[:32]


def _draws(n_users: int, n_boot: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
    """``n_boot`` rows of ``n_users`` user indices drawn with replacement, ``chunk`` rows at a
    time; the generator is called per block of ``_BLOCK`` rows so chunking never changes them."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if n_users < 1 << 16 else np.int64
    pending: list[np.ndarray] = []
    have = 0
    for start in range(0, n_boot, _BLOCK):
        pending.append(rng.integers(0, n_users, size=(min(_BLOCK, n_boot - start), n_users), dtype=dtype))
        have += pending[-1].shape[0]
        if have >= chunk or start + _BLOCK >= n_boot:
            yield np.concatenate(pending)
            pending, have = [], 0


def _as_tables(tables: Any) -> list[Any]:
    if isinstance(tables, Sequence) and not isinstance(tables, (str, bytes)):
        if not tables:
            raise ValueError("no tables given")
        return list(tables)
    return [tables]


def bootstrap(task: str, metric: str, tables: Any, n_boot: int = 1000, seed: int = 0) -> Replicates:
    """Point estimate and ``n_boot`` replicates of the metric, users resampled with replacement.

    ``tables`` is one per-example table, or a list of tables on the same requests (seeds of one
    model): their metric is averaged, in the point estimate and inside every replicate.
    """
    return bootstrap_many(task, metric, [tables], n_boot, seed)[0]


def bootstrap_many(task: str, metric: str, groups: Sequence[Any], n_boot: int = 1000, seed: int = 0) -> list[Replicates]:
    """``bootstrap`` of several models on the same requests from one set of drawn users: any two
    of the results are paired (``compare_replicates``). Each group is a table or a list of tables."""
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    groups = [[columns(t) for t in _as_tables(g)] for g in groups]
    if not groups:
        raise ValueError("no tables given")
    keys = {requests_key(task, t) for g in groups for t in g}
    if len(keys) > 1:
        raise ValueError("the tables are not on the same requests: row count, user column or labels differ")
    for cols in (t for g in groups for t in g):
        _check_metric(task, metric, cols)
    first = groups[0][0]
    uidx, n_users = _user_index(first)
    if n_users == 0:
        raise ValueError("the table has no rows")
    evals = [[_evaluator(task, metric, cols, uidx, n_users) for cols in g] for g in groups]
    ones = np.ones((1, n_users))
    points = [float(np.mean([e.user_weighted(ones)[0] for e in g])) for g in evals]
    chunk = max(_BLOCK, _CELLS // max(_n_rows(first), n_users))
    parts: list[list[np.ndarray]] = [[] for _ in groups]
    for idx in _draws(n_users, int(n_boot), seed, chunk):
        draw = _Draw(idx)
        for part, g in zip(parts, evals):
            part.append(np.mean([e.drawn(draw) for e in g], axis=0))
    key = keys.pop()
    return [Replicates(pt, np.concatenate(part), key, seed, n_users) for pt, part in zip(points, parts)]


def _level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    return level


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (undefined replicates, NaN, are left out)."""
    _level(level)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(task: str, metric: str, table: Any, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(point, lo, hi): the metric and its percentile bootstrap interval, users resampled."""
    _level(level)
    rep = bootstrap(task, metric, table, n_boot, seed)
    return (rep.point, *percentile_interval(rep.values, level))


def compare_replicates(a: Replicates, b: Replicates, level: float = 0.95) -> dict[str, float | int]:
    """Paired difference a - b from replicates drawn on the same users (see the module docstring)."""
    if (a.requests, a.seed, a.values.shape) != (b.requests, b.seed, b.values.shape):
        raise ValueError("replicates are not paired: they differ in requests, seed or number of replicates")
    d = a.values - b.values
    d = d[np.isfinite(d)]
    lo, hi = percentile_interval(d, level)
    tail = min(int(np.count_nonzero(d <= 0)), int(np.count_nonzero(d >= 0)))
    p = min(1.0, 2.0 * (tail + 1) / (d.size + 1))
    return {"diff": a.point - b.point, "lo": lo, "hi": hi, "p": p, "a": a.point, "b": b.point,
            "n_boot": int(d.size), "n_users": a.n_users}


def paired_test(task: str, metric: str, table_a: Any, table_b: Any, n_boot: int = 1000, seed: int = 0,
                level: float = 0.95) -> dict[str, float | int]:
    """Paired bootstrap of metric(a) - metric(b): the same resampled users for both.

    Returns ``diff`` (a - b), ``lo``/``hi`` (its percentile interval), ``p`` (two-sided percentile
    bootstrap p-value with the +1 correction), ``a``, ``b`` (the two point estimates), ``n_boot``
    (replicates used) and ``n_users``. Raises ValueError when the tables are not answers to the
    same requests (row count, user column or, for CTR, labels differ).
    """
    key_a = {requests_key(task, t) for t in _as_tables(table_a)}
    key_b = {requests_key(task, t) for t in _as_tables(table_b)}
    if key_a != key_b or len(key_a) != 1:
        raise ValueError("the two tables are not on the same requests: row count, user column or labels differ")
    return compare_replicates(*bootstrap_many(task, metric, [table_a, table_b], n_boot, seed), level)
