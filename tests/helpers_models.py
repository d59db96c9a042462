"""Tiny synthetic fixtures with known structure for the model tests, plus the metrics they check.

CTR: items fall into clusters; each user prefers one cluster. History items and positives come
mostly from that cluster (popular items more often), negatives uniformly from the catalogue, so a
model that reads the history beats item popularity alone.

Next item: a Markov chain where item i is usually followed by i+1 (mod n), otherwise by a
popular item; no item repeats within a user's sequence. The last item of each user is the test
target, the one before the validation target.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmark.api import CTRFitData, SeqFitData
from benchmark.data.dataset import TEXT_FIELDS, Catalogue
from benchmark.requests import RankRequest, ScoreRequest


def make_catalogue(n_items: int, name: str = "toy") -> Catalogue:
    items = pd.DataFrame({f: [""] * n_items for f in TEXT_FIELDS})
    items["title"] = [f"item {i}" for i in range(n_items)]
    return Catalogue(items=items, dataset_name=name)


def zipf_popularity(n_items: int, rng: np.random.Generator, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_items + 1) ** exponent
    return rng.permutation(weights / weights.sum())


@dataclass
class CTRFixture:
    catalogue: Catalogue
    fit: CTRFitData
    test: list[ScoreRequest]
    test_labels: np.ndarray


@dataclass
class SeqFixture:
    catalogue: Catalogue
    fit: SeqFitData
    test: list[RankRequest]
    test_targets: np.ndarray
    test_seen: list[list[int]]  # every earlier item of the user, masked in full-catalogue evaluation


@lru_cache
def ctr_fixture(
    n_items: int = 200, n_clusters: int = 10, users: tuple[int, int, int] = (800, 150, 150),
    rows_per_user: int = 10, in_cluster: float = 0.8, seed: int = 0,
) -> CTRFixture:
    rng = np.random.default_rng(seed)
    popularity = zipf_popularity(n_items, rng, exponent=0.8)
    cluster = np.arange(n_items) * n_clusters // n_items

    def from_cluster(c: int, size: int) -> np.ndarray:
        p = np.where(cluster == c, popularity, 0.0)
        return rng.choice(n_items, size=size, p=p / p.sum())

    def user_rows(user: int) -> tuple[list[ScoreRequest], list[int]]:
        c = int(rng.integers(n_clusters))
        length = int(rng.integers(0, 21))
        own = rng.random(length) < in_cluster
        history = np.where(own, from_cluster(c, length), rng.choice(n_items, size=length, p=popularity))
        half = rows_per_user // 2
        items = np.concatenate([from_cluster(c, half), rng.integers(n_items, size=rows_per_user - half)])
        labels = [1] * half + [0] * (rows_per_user - half)
        hist = tuple(int(i) for i in history)
        return [ScoreRequest(user, hist, int(i)) for i in items], labels

    splits, first = [], 0
    for count in users:
        requests, labels = [], []
        for user in range(first, first + count):
            r, y = user_rows(user)
            requests += r
            labels += y
        splits.append((requests, np.array(labels, dtype=np.int64)))
        first += count
    (train, y_train), (valid, y_valid), (test, y_test) = splits
    return CTRFixture(make_catalogue(n_items, "toy-ctr"), CTRFitData(train, y_train, valid, y_valid), test, y_test)


@lru_cache
def seq_fixture(
    n_items: int = 300, n_users: int = 800, length: int = 25, follow: float = 0.7,
    window: int = 20, seed: int = 0,
) -> SeqFixture:
    rng = np.random.default_rng(seed)
    popularity = zipf_popularity(n_items, rng)

    def popular_unseen(seen: set[int]) -> int:
        p = popularity.copy()
        p[list(seen)] = 0.0
        return int(rng.choice(n_items, p=p / p.sum()))

    sequences = []
    for _ in range(n_users):
        seq = [popular_unseen(set())]
        while len(seq) < length:
            step = (seq[-1] + 1) % n_items
            seq.append(step if step not in seq and rng.random() < follow else popular_unseen(set(seq)))
        sequences.append(tuple(seq))

    train = [s[:-2][-(window + 1):] for s in sequences]
    valid = [RankRequest(u, s[:-2][-window:]) for u, s in enumerate(sequences)]
    test = [RankRequest(u, s[:-1][-window:]) for u, s in enumerate(sequences)]
    fit = SeqFitData(
        train, valid, np.array([s[-2] for s in sequences]), valid_seen=[tuple(s[:-2]) for s in sequences],
        n_items=n_items,
    )
    return SeqFixture(
        make_catalogue(n_items, "toy-seq"), fit, test, np.array([s[-1] for s in sequences]),
        [list(s[:-1]) for s in sequences],
    )


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores))


def full_ndcg(scores: np.ndarray, seen: list[list[int]], targets: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k of one target per row over the whole catalogue, each user's seen items masked."""
    scores = np.array(scores, dtype=np.float64)
    for row, items in enumerate(seen):
        scores[row, items] = -np.inf
    target_scores = scores[np.arange(len(targets)), targets]
    rank = (scores > target_scores[:, None]).sum(1)
    return float(np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def with_sampled_candidates(
    requests: list[RankRequest], targets: np.ndarray, n_items: int, n_negatives: int, seed: int = 0
) -> list[RankRequest]:
    """Each request with candidates [target, n_negatives items neither seen nor the target]."""
    rng = np.random.default_rng(seed)
    out = []
    for request, target in zip(requests, targets):
        allowed = np.setdiff1d(np.arange(n_items), [*request.history, target])
        negatives = rng.choice(allowed, size=n_negatives, replace=False)
        out.append(RankRequest(request.user, request.history, np.concatenate([[target], negatives])))
    return out


def sampled_ndcg(scores: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k when the target is candidate 0 of every row."""
    rank = (scores[:, 1:] > scores[:, :1]).sum(1)
    return float(np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0).mean())


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on n threads: on a shared 2-core machine, 2 threads spin against each other and
    other processes and train several times slower than 1."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fitted(model, catalogue: Catalogue, data, seed: int = 0):
    """The model set up, and fitted when it is fine-tuned, as the runner would."""
    model.setup(catalogue, seed)
    if model.meta.scheme == "fine-tuned":
        model.fit(data)
    return model
