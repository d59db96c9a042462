"""Sessions (histories, training sequences) as vectors, for the similarity and neighbourhood models.

Position weights follow Table 1 ("Computation techniques for weighted averages") of Boz et al.,
Improving Sequential Recommendations with LLMs (the LLM sequential-recommendation study): the
weight of an item depends on its step back from the end of the session, step 1 being the most
recent item. "mean" is the study's plain
global average pooling and "last" keeps only the most recent item (its Section 3.4). "linear" is
the table's *scaling linear* decay (1/|S| per step, so the oldest of |S| items weighs 1/|S|), which
is also V-SKNN's `div` weighting of the current session (Ludewig & Jannach 2018: the i-th of |S|
items, oldest first, weighs i/|S|). The table's scaling quadratic and cubic decays are left out:
its one-line definitions do not say how they apply per step.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp


def _linear(steps: np.ndarray, length: int) -> np.ndarray:
    return 1.0 - (steps - 1) / length


def _constant_linear(steps: np.ndarray, length: int) -> np.ndarray:
    return np.clip(1.0 - (steps - 1) / 10.0, 0.0, None)


POSITION_WEIGHTS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "mean": lambda steps, length: np.ones(len(steps)),
    "last": lambda steps, length: (steps == 1).astype(np.float64),
    "constant_linear": _constant_linear,  # 1/10 per step, zero from the 11th step back
    "linear": _linear,  # scaling linear: 1/|S| per step
    "log": lambda steps, length: 1.0 / np.log2(steps + 1.0),
    "harmonic": lambda steps, length: 1.0 / steps,
    "squared_harmonic": lambda steps, length: 1.0 / steps**2,
}


def check_weighting(model: str, name: str, value: str) -> str:
    if value not in POSITION_WEIGHTS:
        raise ValueError(f"{model}: argument {name} must be one of {sorted(POSITION_WEIGHTS)}, got {value!r}")
    return value


def position_weights(length: int, weighting: str) -> np.ndarray:
    """Weights of a session's `length` items, oldest first (the most recent item is at step 1)."""
    steps = np.arange(length, 0, -1, dtype=np.float64)
    return POSITION_WEIGHTS[weighting](steps, length)


def weight_matrix(sessions: Sequence[Sequence[int]], n_items: int, weighting: str) -> sp.csr_matrix:
    """(n_sessions, n_items) CSR: row s holds session s's position weights on its items (an item that
    occurs twice keeps its most recent weight). An empty session is an empty row."""
    rows, cols, vals = [], [], []
    for row, session in enumerate(sessions):
        session = np.asarray(session, dtype=np.int64)
        if not len(session):
            continue
        # the last occurrence of each item: unique over the reversed session
        items, first_from_end = np.unique(session[::-1], return_index=True)
        weights = position_weights(len(session), weighting)[::-1][first_from_end]
        rows.append(np.full(len(items), row))
        cols.append(items)
        vals.append(weights)
    if not rows:
        return sp.csr_matrix((len(sessions), n_items))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(sessions), n_items))


def session_matrix(sessions: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    """Binary (n_sessions, n_items) CSR of which items each session holds."""
    return weight_matrix(sessions, n_items, "mean")


def aggregate(sessions: Sequence[Sequence[int]], vectors: np.ndarray, weighting: str) -> np.ndarray:
    """One unit-norm vector per session: the position-weighted mean of its items' rows of `vectors`
    (the study's session embedding). A session without items, or with zero total weight, gives a
    zero row."""
    weights = weight_matrix(sessions, len(vectors), weighting)
    pooled = np.asarray(weights @ vectors, dtype=np.float64)
    return unit_rows(pooled)


def unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
