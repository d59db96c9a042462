"""V-SKNN, vector multiplication session-based kNN (Ludewig & Jannach, Evaluation of Session-based
Recommendation Algorithms, UMUAI 2018; `VMContextKNN` in their session-rec code), the strongest
SKNN variant on Amazon Beauty in the LLM sequential-recommendation study (Boz et al., Table 4).

The current history is a real-valued vector whose items weigh by position, linearly from 1 for
the most recent item down to 1/|S| for the oldest (`weighting='div'`). Its similarity to a
training session is the summed weight of the items they share divided by the number of distinct
history items. Neighbours are the k most similar among the `sample_size` most recent sessions
that share an item with the history (`sampling='recent'`). Each neighbour adds its similarity,
decayed by 1/step of the most recent history item it holds (`weighting_score='div_score'`: 1 when
it holds the last item, 1/2 when the most recent shared item is the one before, ...), to every
item it holds.

Sessions are the protocol's training sequences (each at most window + 1 items of one user), and
"most recent" follows their order in the fine-tune split, which ranks each user's latest
sequence first.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers import args
from models.layers.citations import LLM_SEQREC
from models.layers.knn import NeighbourhoodModel, top_neighbours
from models.layers.sessions import weight_matrix


def most_recent_shared_step(histories: list[tuple[int, ...]], sessions: sp.csr_matrix,
                            neighbours: sp.csr_matrix) -> np.ndarray:
    """For each stored entry of `neighbours` (row = history, column = session), the step back from
    the end of the history (1 = its last item) of the most recent history item the session holds;
    0 where it holds none."""
    rows = np.repeat(np.arange(neighbours.shape[0]), np.diff(neighbours.indptr))
    cols = neighbours.indices
    longest = max(map(len, histories), default=0)
    padded = np.full((len(histories), longest), -1, dtype=np.int64)  # left-padded, last item last
    for row, history in enumerate(histories):
        padded[row, longest - len(history):] = history
    step = np.zeros(len(cols), dtype=np.int64)
    for back in range(1, longest + 1):
        open_ = np.flatnonzero(step == 0)
        if not len(open_):
            break
        item = padded[rows[open_], -back]
        has = item >= 0
        held = np.zeros(len(open_), dtype=bool)
        held[has] = np.asarray(sessions[cols[open_[has]], item[has]]).ravel() > 0
        step[open_[held]] = back
    return step


@register_model("vsknn")
class VSKNN(NeighbourhoodModel):
    """Defaults: k = 100 neighbours (neither paper fixes k: both tune it per dataset); sample_size
    = 1000, session-rec's VMContextKNN default; position weights `div` and score decay
    `div_score` as in V-SKNN's definition. top_k = 100 items are listed over the whole catalogue
    (the rest score 0 or are in the history)."""

    meta = ModelMeta(
        name="V-SKNN",
        paradigm="seqrec",
        item_repr="id",
        scheme="fine-tuned",
        backend="numpy",
        supports=("rank",),
        license="Apache-2.0",
        citation="Ludewig & Jannach, Evaluation of Session-based Recommendation Algorithms, UMUAI 2018; " + LLM_SEQREC,
        description="Session kNN over item sets; recent history items weigh more, neighbours sharing only old "
        "items count less.",
    )

    def __init__(self, k: int = 100, sample_size: int = 1000, top_k: int = 100):
        self.set_neighbourhood(k, top_k)
        self.sample_size = args.positive_int(self.meta.name, "sample_size", sample_size)

    def similarity(self, histories: list[tuple[int, ...]]) -> np.ndarray:
        """(n_histories, n_sessions): the shared items' summed position weights over the number of
        distinct history items."""
        query = weight_matrix(histories, self.catalogue.n_items, "linear")
        distinct = np.maximum(np.diff(query.indptr), 1)[:, None]
        return (query @ self.sessions.T).toarray() / distinct

    def neighbours(self, histories: list[tuple[int, ...]]) -> sp.csr_matrix:
        sim = self.similarity(histories)
        shares = sim > 0
        recent = shares & (np.cumsum(shares, axis=1) <= self.sample_size)
        near = top_neighbours(np.where(recent, sim, 0.0), self.k)
        near.data /= most_recent_shared_step(histories, self.sessions, near)
        return near
