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

from benchmark.api import REQUEST_KINDS, CTRFitData, Model, ModelError, SeqFitData, meta_errors
from benchmark.data.dataset import TEXT_FIELDS, Catalogue
from benchmark.metrics import rank_positions, ranking_metrics
from benchmark.registry import get_model
from benchmark.requests import RankRequest, ScoreRequest, TopK


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


class SeqWorld:
    """Task data from the synthetic generator (1,200 users, 400 items, 500 test and 300 validation
    users), its two candidate modes, and fitted models with their evaluations, each computed once.
    A model is named by its registry key, or by a name in `variants`: name -> (key, arguments)."""

    MODES = ("full", "sampled-100")

    def __init__(self, variants: dict[str, tuple[str, dict]] | None = None):
        from benchmark.data import load_dataset
        from benchmark.protocol import ProtocolSpec, build_task_data
        from tasks.seqrec import SeqRecTask

        ds = load_dataset("synthetic", n_users=1200, n_items=400, seed=0, name="synthetic")
        spec = ProtocolSpec.from_overrides({"seq_test_users": 500, "seq_valid_users": 300})
        self.td = build_task_data(ds, spec, ("seqrec",), cache_dir=None)["seqrec"]
        self.tasks = {mode: SeqRecTask(mode) for mode in self.MODES}
        self.requests = {mode: task.requests(self.td) for mode, task in self.tasks.items()}
        self.fit_data = self.tasks["full"].fit_data(self.td)
        self.variants = dict(variants or {})
        self._models, self._answers = {}, {}

    def model(self, name: str):
        """The fitted model `name`."""
        if name not in self._models:
            key, arguments = self.variants.get(name, (name, {}))
            self._models[name] = fitted(get_model(key)(**arguments), self.td.catalogue, self.fit_data)
        return self._models[name]

    def answer(self, name: str, mode: str):
        if (name, mode) not in self._answers:
            self._answers[name, mode] = self.model(name).rank(self.requests[mode])
        return self._answers[name, mode]

    def evaluation(self, name: str, mode: str):
        task = self.tasks[mode]
        return task.evaluate(self.td, task.check(self.answer(name, mode), self.requests[mode], self.td.n_items))

    def compare(self, a: str, b: str, mode: str, metric: str = "ndcg@10") -> dict:
        """The paired bootstrap test of metric(a) - metric(b) (benchmark.stats.paired_test)."""
        from benchmark.stats import paired_test

        return paired_test("seqrec", metric, self.evaluation(a, mode).per_example,
                           self.evaluation(b, mode).per_example)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores))


def _mean_ndcg(scores: np.ndarray, target_pos: np.ndarray, mask: np.ndarray | None, k: int) -> float:
    greater, equal = rank_positions(scores, np.asarray(target_pos, dtype=np.int64), mask)
    return ranking_metrics(greater, equal, ks=(k,))[f"ndcg@{k}"]


def dense(answer: np.ndarray | TopK, n_items: int) -> np.ndarray:
    """A whole-catalogue rank answer as dense scores: a TopK's items as listed, the rest -inf."""
    if not isinstance(answer, TopK):
        return np.asarray(answer, dtype=np.float64)
    out = np.full((len(answer.items), n_items), -np.inf)
    rows, slots = np.nonzero(answer.items >= 0)
    out[rows, answer.items[rows, slots]] = answer.scores[rows, slots]
    return out


def full_ndcg(scores: np.ndarray, seen: list[list[int]], targets: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k of one target per row over the whole catalogue, each user's seen items masked;
    ties count as their expectation under random tie-breaking (a constant scorer earns the random
    baseline), as in the task's metrics."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.zeros(scores.shape, dtype=bool)
    for row, items in enumerate(seen):
        mask[row, items] = True
    return _mean_ndcg(scores, targets, mask, k)


def with_sampled_candidates(
    requests: list[RankRequest], targets: np.ndarray, n_items: int, n_negatives: int, seed: int = 0
) -> list[RankRequest]:
    """Each request with candidates: its target and n_negatives items neither seen nor the target,
    in shuffled order as the protocol gives them (`target_positions` finds the target)."""
    rng = np.random.default_rng(seed)
    out = []
    for request, target in zip(requests, targets):
        allowed = np.setdiff1d(np.arange(n_items), [*request.history, target])
        negatives = rng.choice(allowed, size=n_negatives, replace=False)
        out.append(RankRequest(request.user, request.history, rng.permutation(np.concatenate([[target], negatives]))))
    return out


def target_positions(requests: list[RankRequest], targets: np.ndarray) -> np.ndarray:
    """The column of each request's target among its candidates."""
    return np.array([int(np.flatnonzero(r.candidates == t)[0]) for r, t in zip(requests, targets)])


def sampled_ndcg(scores: np.ndarray, target_pos: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k when the target of row i is candidate target_pos[i]; ties as in full_ndcg."""
    return _mean_ndcg(np.asarray(scores, dtype=np.float64), target_pos, None, k)


def random_ndcg(n_candidates: np.ndarray, k: int = 10) -> float:
    """Expected NDCG@k of a uniformly random order of n_candidates (per row), target anywhere."""
    gains = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    n = np.asarray(n_candidates)
    return float(np.mean(gains[np.minimum(n, k) - 1] / n))


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


def contract_problems(key: str, cls: type[Model]) -> list[str]:
    """What is wrong with a model class against the runner's expectations: the registry key maps to
    it, its meta validates, it answers exactly the request kinds it claims (and refuses the
    others), it can be fitted exactly when fine-tuned, and a torch backend means a TorchModel."""
    from models.layers.torch_model import TorchModel

    problems = []
    if get_model(key) is not cls:
        problems.append(f"registry key {key!r} maps to {get_model(key).__qualname__}")
    problems += meta_errors(cls.meta)
    model = cls()
    for kind in REQUEST_KINDS:
        overridden = getattr(cls, kind) is not getattr(Model, kind)
        if (kind in cls.meta.supports) != overridden:
            problems.append(f"supports {cls.meta.supports} but {kind} is {'' if overridden else 'not '}implemented")
        if kind not in cls.meta.supports:
            try:
                getattr(model, kind)([])
                problems.append(f"{kind} requests are answered although not supported")
            except ModelError:
                pass
    if (cls.meta.scheme == "fine-tuned") != (cls.fit is not Model.fit):
        problems.append(f"scheme {cls.meta.scheme!r} but fit is {'' if cls.fit is not Model.fit else 'not '}implemented")
    if (cls.meta.backend == "torch") != issubclass(cls, TorchModel):
        problems.append(f"backend {cls.meta.backend!r} but the class is {'' if issubclass(cls, TorchModel) else 'not '}"
                        "a TorchModel")
    return problems


# -- sequence networks (models/seq/*: left-padded histories, pad id = n_items) -------------------


def assert_causal(model, n_items: int) -> None:
    """Changing a history's later items changes only the later positions' states."""
    import torch

    history = torch.tensor([[n_items, 3, 7, 1, 9, 12, n_items - 10, 22]])  # n_items: the pad id
    changed = history.clone()
    changed[0, 5:] = torch.tensor([0, n_items - 1, 17])
    with torch.no_grad():
        a, b = model(history), model(changed)
    torch.testing.assert_close(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])


def padded_states(model, n_items: int):
    """The states of the history [3, 7, 1, 9] left-padded to 11 positions, after checking that they
    equal its states padded to 6 and those it gets in a batch beside a full-length row; and the
    states of an empty history."""
    import torch

    from models.layers.collate import pad_histories

    items = [3, 7, 1, 9]
    with torch.no_grad():
        short = model(pad_histories([items], n_items, 6))
        long = model(pad_histories([items], n_items, 11))
        batch = model(pad_histories([items, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]], n_items, 11))
        empty = model(pad_histories([()], n_items, 5))
    torch.testing.assert_close(short[0, -4:], long[0, -4:])
    torch.testing.assert_close(batch[0], long[0])
    return long, empty


def stride_data(strides: tuple[int, ...], n_items: int, n_users: int = 240, length: int = 10, seed: int = 0):
    """Sequences x, x + s, x + 2s, ... (mod n_items), each user's stride s drawn from `strides`: with
    strides (1,) item i is always followed by i + 1; with several, the next item depends on the last
    two. Start items are skewed towards low ids, so most-popular beats random. The last item of each
    user is the test target, the one before it the validation target. Returns the fit data, the
    test requests, their targets and each user's seen items."""
    rng = np.random.default_rng(seed)
    starts = rng.choice(n_items, size=n_users, p=np.r_[np.full(10, 3.0), np.ones(n_items - 10)] / (n_items + 20))
    steps = rng.choice(strides, size=n_users)
    sequences = [tuple(int(x + s * t) % n_items for t in range(length)) for x, s in zip(starts, steps)]
    fit = SeqFitData([s[:-2] for s in sequences], [RankRequest(u, s[:-2]) for u, s in enumerate(sequences)],
                     np.array([s[-2] for s in sequences]), valid_seen=[s[:-2] for s in sequences], n_items=n_items)
    test = [RankRequest(u, s[:-1]) for u, s in enumerate(sequences)]
    return fit, test, np.array([s[-1] for s in sequences]), [list(s[:-1]) for s in sequences]


def stride_rule_ndcg(model: Model, strides: tuple[int, ...], n_items: int) -> tuple[Model, float, float]:
    """`model` fitted on `stride_data(strides, n_items)`, and the full-ranking NDCG of it and of
    most-popular on its test requests."""
    from models.baselines.popularity import MostPopular

    catalogue = make_catalogue(n_items, "strides")
    fit, test, targets, seen = stride_data(strides, n_items)
    model = fitted(model, catalogue, fit)
    popular = fitted(MostPopular(), catalogue, fit)
    return (model, full_ndcg(model.rank(test), seen, targets),
            full_ndcg(dense(popular.rank(test), n_items), seen, targets))
