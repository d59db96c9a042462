"""Input checks shared by the metric modules."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def binary_labels(y_true, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype != bool:
        if not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"{name} must be numeric 0/1 or bool, got dtype {y.dtype}")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{name} must contain only 0 and 1")
    return y.astype(np.float64)


def finite_scores(y_score, n: int, name: str = "y_score") -> np.ndarray:
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {s.shape}")
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} entries, y_true has {n}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return s


def cutoffs(ks: Iterable[int]) -> tuple[int, ...]:
    out = tuple(int(k) for k in ks)
    if not out:
        raise ValueError("ks must contain at least one cut-off")
    if any(k < 1 for k in out):
        raise ValueError(f"cut-offs must be positive integers, got {out}")
    if len(set(out)) != len(out):
        raise ValueError(f"cut-offs must be distinct, got {out}")
    return out


def score_matrix(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows, candidates) array, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    return s


def row_mask(mask, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ValueError(f"mask must be boolean, got dtype {m.dtype}")
    if m.shape != shape:
        raise ValueError(f"mask has shape {m.shape}, scores have shape {shape}")
    return m


def raise_on_nan_rows(block: np.ndarray, row_offset: int, name: str = "scores") -> None:
    nan_rows = np.flatnonzero(np.isnan(block).any(axis=1))
    if nan_rows.size:
        rows = (nan_rows[:5] + row_offset).tolist()
        more = f" (and {nan_rows.size - 5} more)" if nan_rows.size > 5 else ""
        raise ValueError(f"{name} contain NaN in row {rows[0]}; NaN rows: {rows}{more}")


def row_blocks(n_rows: int, n_cols: int, target_elements: int = 1 << 18):
    """Yield row slices whose blocks hold about ``target_elements`` cells, bounding temporaries."""
    step = max(1, target_elements // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))
