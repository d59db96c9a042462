"""Next-item evaluation of a TopK against dense scores on a 100,000-item catalogue, K = 20; run with
``pytest tests/benchmarks/test_bench_topk.py --benchmark-only -s`` to see each one's peak memory.

The dense side runs on 500 users only: 5,000 dense float64 rows would hold 4 GB before the task's
seen-item mask (another 0.5 GB). The task data is a stand-in with the fields `evaluate` reads.
"""

import tracemalloc
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from benchmark.requests import TopK
from tasks.seqrec import SeqRecTask

N_ITEMS = 100_000
K = 20


@lru_cache(maxsize=1)
def catalogue_answers(n_users=5_000, seed=0):
    """Lists with tied scores; the target is listed in 30% of the rows, and 20% of the rows list
    (first) an item the user has seen, which the task masks."""
    rng = np.random.default_rng(seed)
    stride = 7_919  # prime, so a row's K ids stepping by it are distinct
    items = (rng.integers(0, N_ITEMS, size=(n_users, 1)) + stride * np.arange(K)) % N_ITEMS
    scores = -np.sort(rng.integers(0, 8, size=(n_users, K)), axis=1).astype(np.float64)
    target = np.where(rng.random(n_users) < 0.3, items[np.arange(n_users), rng.integers(1, K, size=n_users)],
                      rng.integers(0, N_ITEMS, size=n_users))
    seen = [np.unique(rng.integers(0, N_ITEMS, size=int(rng.integers(5, 60)))).tolist() for _ in range(n_users)]
    for row in np.flatnonzero(rng.random(n_users) < 0.2):
        seen[row].append(int(items[row, 0]))
    counts = np.minimum(rng.zipf(1.5, size=N_ITEMS), 50_000)
    td = SimpleNamespace(
        n_items=N_ITEMS, extra={"n_users_train": 50_000}, spec=SimpleNamespace(seq_sampled_negatives=100),
        splits={"test": {"user": list(range(n_users)), "target": target.tolist(), "seen": seen},
                "item_stats": {"train_count": counts.tolist()}})
    return td, TopK(items, scores)


def rows(td, top, n):
    test = td.splits["test"]
    small = SimpleNamespace(**{**vars(td), "splits": {**td.splits, "test": {k: v[:n] for k, v in test.items()}}})
    return small, TopK(top.items[:n], top.scores[:n])


def dense_of(top, n_items):
    out = np.full((len(top.items), n_items), -np.inf)
    np.put_along_axis(out, top.items, top.scores, axis=1)
    return out


def peak_mb(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(benchmark, td, answer, label):
    task = SeqRecTask("full")
    evaluation, peak = peak_mb(lambda: task.evaluate(td, answer))
    benchmark.extra_info["peak_mb"] = round(peak, 1)
    print(f"\n{label}: evaluate() peak traced memory {peak:.1f} MB")
    benchmark.pedantic(task.evaluate, args=(td, answer), rounds=3, iterations=1, warmup_rounds=0)
    return evaluation.metrics


def test_bench_evaluate_topk_5000_users_100k_items(benchmark):
    td, top = catalogue_answers()
    metrics = run(benchmark, td, top, "TopK, 5,000 users")
    assert 0 < metrics["hr@20"] < 1 and metrics["coverage@20"] > 0


def test_bench_evaluate_topk_500_users_100k_items(benchmark):
    td, top = rows(*catalogue_answers(), 500)
    assert 0 < run(benchmark, td, top, "TopK, 500 users")["hr@20"] < 1


def test_bench_evaluate_dense_500_users_100k_items(benchmark):
    td, top = rows(*catalogue_answers(), 500)
    scores = dense_of(top, N_ITEMS)
    metrics = run(benchmark, td, scores, f"dense float64, 500 users ({scores.nbytes / 2**20:.0f} MB of scores)")
    assert metrics == SeqRecTask("full").evaluate(td, top).metrics
