"""The seam between tasks and models: typed requests, handed over as whole lists.

Item and user ids are the dataset's contiguous integer ids (0..n-1). A history is a tuple of
item ids, oldest first, at most the protocol's window long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """CTR (pair-wise): the probability that `user`, having seen `history`, clicks `item`."""

    user: int
    history: tuple[int, ...]
    item: int


@dataclass(frozen=True, slots=True, eq=False)
class RankRequest:
    """Next item (list-wise): scores over `candidates` (item ids), or over the whole catalogue when
    `candidates` is None. A generative model expresses its top-K list as scores: finite, descending
    for the K items it generated, -inf for the rest (see `scores_from_ranking`)."""

    user: int
    history: tuple[int, ...]
    candidates: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class QARequest:
    """Personalized QA: pick one of `options` for `question`, given the user's history."""

    user: int
    history: tuple[int, ...]
    question: str
    options: tuple[str, ...]


REQUEST_TYPES = {"score": ScoreRequest, "rank": RankRequest, "answer": QARequest}


def scores_from_ranking(ranked: np.ndarray | list[int], n_candidates: int) -> np.ndarray:
    """Turn a ranked list of candidate positions (best first) into a score row of length
    `n_candidates`: the first gets the highest score, unranked candidates get -inf."""
    ranked = np.asarray(ranked, dtype=np.int64)
    scores = np.full(n_candidates, -np.inf, dtype=np.float64)
    scores[ranked] = np.arange(len(ranked), 0, -1, dtype=np.float64)
    return scores
