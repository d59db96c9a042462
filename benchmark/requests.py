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
    """Next item (list-wise): rank `candidates` (item ids), or the whole catalogue when
    `candidates` is None. `Model.rank` answers a list of them in one of two forms:

    - dense: an (n_requests, n_candidates) score array, column j scoring candidate j (item j in
      the whole-catalogue mode); -inf marks an item not ranked (see `scores_from_ranking`);
    - sparse: a `TopK`, each request's best K item ids with their scores, which is all a
      generative model produces and never needs a catalogue-wide row.
    """

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
    """The dense alternative to `TopK.from_lists` for one request: a ranked list of candidate
    positions (best first) as a score row of length `n_candidates`; the first gets the highest
    score, unranked candidates get -inf."""
    ranked = np.asarray(ranked, dtype=np.int64)
    scores = np.full(n_candidates, -np.inf, dtype=np.float64)
    scores[ranked] = np.arange(len(ranked), 0, -1, dtype=np.float64)
    return scores


@dataclass(frozen=True, eq=False)
class TopK:
    """A sparse answer to rank requests: per request (row) the K best items, best first.

    `items` is an (n, K) integer array of item ids, catalogue ids in both candidate modes (with
    candidates, each must be one of the request's own). `scores` is an (n, K) float array, finite
    and non-increasing along each row. Items in a row are distinct; a row that ranks fewer than K
    ends with padding slots, item -1 and score -inf.

    Every candidate a row does not list is unranked: all of them tie with each other, below every
    listed item, and ties count as their expectation under random tie-breaking, exactly as equal
    dense scores do. A row may list items the task masks (a user's earlier items in `full` mode):
    the task skips them, as it ignores their dense scores. Beyond-accuracy metrics see only the
    listed, unmasked items, equal scores ordered by lower item id, as for dense scores.
    """

    items: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_lists(cls, items: list, scores: list | None = None) -> TopK:
        """One list of item ids per request, best first, padded to the longest; `scores` (one
        list per request, aligned with `items`) default to descending ranks: len(row), ..., 1."""
        if scores is not None and len(scores) != len(items):
            raise ValueError(f"TopK.from_lists: {len(scores)} score lists for {len(items)} item lists")
        width = max((len(row) for row in items), default=0)
        out_items = np.full((len(items), width), -1, dtype=np.int64)
        out_scores = np.full((len(items), width), -np.inf, dtype=np.float64)
        for i, row in enumerate(items):
            ids = np.asarray(row)
            if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                raise ValueError(f"TopK.from_lists: row {i} is not a flat list of integer item ids")
            if scores is None:
                values = np.arange(len(ids), 0, -1, dtype=np.float64)
            else:
                values = np.asarray(scores[i], dtype=np.float64)
                if values.shape != ids.shape:
                    raise ValueError(f"TopK.from_lists: row {i} has {values.size} scores for {ids.size} items")
            out_items[i, : ids.size] = ids
            out_scores[i, : ids.size] = values
        return cls(out_items, out_scores)
