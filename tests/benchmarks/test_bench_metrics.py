"""Speed of the metric kernels; run with ``pytest tests/benchmarks --benchmark-only``.

Data is built inside the test bodies (cached per process) so that ``--benchmark-skip`` runs
skip these tests without allocating the large arrays.
"""

import math
from functools import lru_cache

import numpy as np

from benchmark.metrics import (
    auc,
    beyond_accuracy,
    gauc,
    most_popular,
    rank_positions,
    ranking_metrics,
    top_k,
)

KS = (1, 5, 10, 20)


@lru_cache(maxsize=1)
def sampled_scores(n_users=100_000, n_candidates=101):
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((n_users, n_candidates), dtype=np.float32)
    target = rng.integers(0, n_candidates, size=n_users)
    scores[np.arange(n_users), target] += 1.5
    return scores, target


@lru_cache(maxsize=1)
def full_catalogue(n_users=100_000, n_items=2_000):
    rng = np.random.default_rng(1)
    counts = rng.zipf(1.5, size=n_items).clip(max=50_000)
    popularity = (np.log1p(counts) / np.log1p(counts.max())).astype(np.float32)
    scores = rng.random((n_users, n_items), dtype=np.float32)
    scores *= 0.5
    scores += popularity
    targets = rng.integers(0, n_items, size=n_users)
    return scores, targets, counts, 50_000


@lru_cache(maxsize=1)
def ctr_rows(n_rows=1_000_000, n_users=50_000):
    rng = np.random.default_rng(2)
    users = rng.integers(0, n_users, size=n_rows)
    y = (rng.random(n_rows) < 0.2).astype(np.int8)
    scores = np.round(np.clip(0.2 + 0.3 * (y - 0.2) + 0.2 * rng.standard_normal(n_rows), 0, 1), 3)
    return y, scores, users


def naive_ranking_metrics(scores, target, ks=KS):
    """Per-user Python loop: rank every row and average each metric over the tie orders."""
    totals = {}
    for row, t in zip(scores, target):
        target_score = row[t]
        greater = int(np.sum(row > target_score))
        equal = int(np.sum(row == target_score)) - 1
        ranks = range(greater + 1, greater + equal + 2)
        values = {"mrr": sum(1 / r for r in ranks) / (equal + 1)}
        for k in ks:
            hr = sum(r <= k for r in ranks) / (equal + 1)
            values[f"hr@{k}"] = hr
            values[f"recall@{k}"] = hr
            values[f"ndcg@{k}"] = sum(1 / math.log2(r + 1) for r in ranks if r <= k) / (equal + 1)
            values[f"mrr@{k}"] = sum(1 / r for r in ranks if r <= k) / (equal + 1)
        for name, v in values.items():
            totals[name] = totals.get(name, 0.0) + v
    return {name: v / len(target) for name, v in totals.items()}


def vectorised_ranking(scores, target, ks=KS):
    greater, equal = rank_positions(scores, target)
    return ranking_metrics(greater, equal, ks)


def test_bench_ranking_sampled_100k_users_101_candidates(benchmark):
    scores, target = sampled_scores()
    result = benchmark(vectorised_ranking, scores, target)
    assert 0.0 < result["hr@1"] < result["hr@20"] <= 1.0


def test_bench_top_k20_and_beyond_accuracy_100k_users_2000_items(benchmark):
    scores, targets, counts, n_users_train = full_catalogue()
    popular = most_popular(counts, max(KS))

    def run():
        lists = top_k(scores, max(KS))
        return beyond_accuracy(lists, targets, counts, n_users_train, popular, scores.shape[1], KS)

    result = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    assert result["coverage@20"] > result["coverage@1"] > 0.0


def test_bench_auc_1m_rows(benchmark):
    y, scores, _ = ctr_rows()
    assert 0.5 < benchmark(auc, y, scores) < 1.0


def test_bench_gauc_1m_rows_50k_users(benchmark):
    y, scores, users = ctr_rows()
    result = benchmark(gauc, y, scores, users)
    assert 0.5 < result["gauc_user_mean"] < 1.0


def test_bench_ranking_vectorised_10k_users(benchmark):
    scores, target = sampled_scores()
    result = benchmark(vectorised_ranking, scores[:10_000], target[:10_000])
    assert 0.0 < result["ndcg@10"] < 1.0


def test_bench_ranking_naive_loop_10k_users(benchmark):
    scores, target = sampled_scores()
    scores, target = scores[:10_000], target[:10_000]
    result = benchmark.pedantic(naive_ranking_metrics, args=(scores, target), rounds=3, iterations=1)
    expected = vectorised_ranking(scores, target)
    assert set(result) == set(expected)
    for name, value in expected.items():
        assert math.isclose(result[name], value, abs_tol=1e-9), name
