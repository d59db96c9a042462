"""Session-based k-nearest neighbours (the SKNN family of Ludewig & Jannach 2018).

A model keeps the training sequences as sessions. To answer a history it finds the k most
similar sessions N (how similarity is measured is the model's choice) and scores each item by
the weight of the neighbours that hold it:

    score(i, S) = Σ_{S' ∈ N} w(S, S') · 1(i ∈ S')

(the study's equations 1 and 2, with w = sim; V-SKNN multiplies sim by a recency decay). Items
outside every neighbour score 0, so the whole-catalogue answer is a sparse `TopK`.
"""

from __future__ import annotations

import abc

import numpy as np
import scipy.sparse as sp

from benchmark.api import FitData, Model, ModelError, SeqFitData
from benchmark.requests import RankRequest, TopK
from models.layers import args
from models.layers.scoring import rank_requests
from models.layers.sessions import session_matrix


def top_neighbours(similarity: np.ndarray, k: int) -> sp.csr_matrix:
    """(n_queries, n_sessions) similarities → CSR keeping each row's k largest positive entries
    (which of several sessions tied at the k-th place are kept is unspecified)."""
    n_queries, n_sessions = similarity.shape
    k = min(k, n_sessions)
    if not k:
        return sp.csr_matrix((n_queries, n_sessions))
    order = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(similarity, order, axis=1)
    keep = values > 0
    rows = np.repeat(np.arange(n_queries), k)[keep.ravel()]
    return sp.csr_matrix((values[keep], (rows, order[keep])), shape=(n_queries, n_sessions))


class NeighbourhoodModel(Model, metaclass=abc.ABCMeta):
    """Base of the kNN models: `fit` keeps the training sequences as sessions (`self.sessions`,
    binary (n_sessions, n_items), in the protocol's order, most recent first); subclasses give
    `neighbours(histories)`, the (n_histories, n_sessions) neighbour weights, and may prepare more
    in `fit_sessions`. Rank answers are a TopK of `top_k` items over the whole catalogue and dense
    scores for sampled candidates."""

    batch_size = 256

    def set_neighbourhood(self, k: int, top_k: int) -> None:
        self.k = args.positive_int(self.meta.name, "k", k)
        self.top_k = args.positive_int(self.meta.name, "top_k", top_k)

    def fit(self, data: FitData) -> None:
        if not isinstance(data, SeqFitData):
            raise ModelError(f"{self.meta.name} finds neighbours among next-item sequences, got {type(data).__name__}")
        if not data.sequences:
            raise ModelError(f"{self.meta.name}: no training sequences")
        self.sessions = session_matrix(data.sequences, self.catalogue.n_items)
        self.fit_sessions(data.sequences)

    def fit_sessions(self, sequences: list[tuple[int, ...]]) -> None:
        """What a model precomputes from the training sequences beyond `self.sessions`."""

    @abc.abstractmethod
    def neighbours(self, histories: list[tuple[int, ...]]) -> sp.csr_matrix:
        """(len(histories), n_sessions): each history's neighbour sessions and their weights."""

    def item_scores(self, histories: list[tuple[int, ...]]) -> np.ndarray:
        return (self.neighbours(histories) @ self.sessions).toarray()

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        return rank_requests(requests, self.item_scores, self.catalogue.n_items, self.batch_size, self.top_k)
