"""Request helpers shared by every model, torch or not (this module imports numpy only)."""

from __future__ import annotations

import numpy as np

from benchmark.api import ModelError
from benchmark.requests import RankRequest


def candidate_matrix(requests: list[RankRequest]) -> np.ndarray | None:
    """The requests' candidates stacked into an (n, n_candidates) int64 array, or None when every
    request ranks the whole catalogue."""
    full = {r.candidates is None for r in requests}
    if len(full) > 1:
        raise ModelError("rank requests in one call must all rank the whole catalogue or all give candidates")
    if not requests or requests[0].candidates is None:
        return None
    lengths = {len(r.candidates) for r in requests}
    if len(lengths) > 1:
        raise ModelError(f"rank requests in one call must share the number of candidates, got {sorted(lengths)}")
    return np.stack([np.asarray(r.candidates, dtype=np.int64) for r in requests])
