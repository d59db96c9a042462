import math

import numpy as np
import pytest

from benchmark.metrics import (
    beyond_accuracy,
    coverage,
    most_popular,
    novelty,
    rank_positions,
    ranking_metrics,
    serendipity,
    top_k,
)

LISTS = np.array([[0, 1, 2], [0, 3, 4], [1, 0, -1]])
TARGETS = np.array([2, 3, 1])
COUNTS = np.array([8, 4, 2, 1, 0, 8])
N_USERS = 8


def test_most_popular_orders_by_count_then_lower_id():
    assert most_popular(COUNTS, 3).tolist() == [0, 5, 1]


def test_hand_worked_beyond_accuracy():
    got = beyond_accuracy(LISTS, TARGETS, COUNTS, N_USERS, most_popular(COUNTS, 3), 6, ks=(1, 2, 3))
    # coverage: @1 {0, 1}; @2 {0, 1, 3}; @3 {0, 1, 2, 3, 4} out of 6 items
    assert got["coverage@1"] == pytest.approx(2 / 6)
    assert got["coverage@2"] == pytest.approx(3 / 6)
    assert got["coverage@3"] == pytest.approx(5 / 6)
    # self-information log2(8 / count): item0 0, item1 1, item2 2, item3 3, item4 (count 0 -> 1) 3
    # @1: (0 + 0 + 1) / 3; @2: (0 + 1 + 0 + 3 + 1 + 0) / 6; @3: (5 + 2 + 3) / 8, the -1 slot skipped
    assert got["novelty@1"] == pytest.approx(1 / 3)
    assert got["novelty@2"] == pytest.approx(5 / 6)
    assert got["novelty@3"] == pytest.approx(10 / 8)
    # popular top-3 = [0, 5, 1]. u0: target 2 at rank 3, unpopular; u1: target 3 at rank 2,
    # unpopular; u2: target 1 at rank 1, but in the popular top-3 (so it counts only for k < 3)
    assert got["serendipity@1"] == pytest.approx(1 / 3)
    assert got["serendipity@2"] == pytest.approx(2 / 3)
    assert got["serendipity@3"] == pytest.approx(2 / 3)


def test_single_cutoff_functions_match_beyond_accuracy():
    popular = most_popular(COUNTS, 3)
    got = beyond_accuracy(LISTS, TARGETS, COUNTS, N_USERS, popular, 6, ks=(3,))
    assert coverage(LISTS, 6) == got["coverage@3"]
    assert novelty(LISTS, COUNTS, N_USERS) == got["novelty@3"]
    assert serendipity(LISTS, TARGETS, popular) == got["serendipity@3"]


def test_novelty_of_unseen_item_uses_count_one():
    assert novelty(np.array([[1]]), np.array([5, 0]), 16) == pytest.approx(math.log2(16))


def _reference_serendipity(lists, targets, popular, k):
    scores = []
    for row, t in zip(lists, targets):
        unexpected = {int(t)} - set(popular[:k].tolist())
        denominator = min(len(unexpected), k)
        hits = len(set(row[:k].tolist()) & unexpected)
        scores.append(hits / denominator if denominator else 0.0)
    return float(np.mean(scores))


def _reference_novelty(lists, counts, n_users, k):
    bits = [-math.log2(max(counts[i], 1) / n_users) for row in lists for i in row[:k] if i >= 0]
    return sum(bits) / len(bits)


def test_random_lists_match_set_based_reference_and_serendipity_is_below_hit_rate():
    rng = np.random.default_rng(0)
    n_users, n_items, ks = 400, 60, (1, 5, 10)
    scores = rng.random((n_users, n_items))
    mask = rng.random((n_users, n_items)) < 0.85
    lists = top_k(scores, 10, mask)
    counts = rng.integers(0, 50, size=n_items)
    targets = np.where(rng.random(n_users) < 0.5, lists[:, 3], rng.integers(0, n_items, size=n_users))
    targets = np.where(targets < 0, 0, targets)
    popular = most_popular(counts, 10)
    got = beyond_accuracy(lists, targets, counts, 50, popular, n_items, ks)
    for k in ks:
        valid = lists[:, :k][lists[:, :k] >= 0]
        assert got[f"coverage@{k}"] == pytest.approx(len(np.unique(valid)) / n_items)
        assert got[f"novelty@{k}"] == pytest.approx(_reference_novelty(lists, counts, 50, k), abs=1e-12)
        assert got[f"serendipity@{k}"] == pytest.approx(_reference_serendipity(lists, targets, popular, k))
        hit_rate = np.mean((lists[:, :k] == targets[:, None]).any(axis=1))
        assert got[f"serendipity@{k}"] <= hit_rate
    assert (lists == -1).any()


def test_input_validation():
    popular = most_popular(COUNTS, 3)
    with pytest.raises(ValueError, match="exceeds"):
        beyond_accuracy(LISTS, TARGETS, COUNTS, N_USERS, popular, 6, ks=(4,))
    with pytest.raises(ValueError, match="distinct training users"):
        novelty(LISTS, COUNTS, 4)
    with pytest.raises(ValueError, match="catalogue"):
        coverage(LISTS, 4)
    with pytest.raises(ValueError, match="at least 3"):
        serendipity(LISTS, TARGETS, popular[:2])
    with pytest.raises(ValueError, match="targets"):
        serendipity(LISTS, TARGETS[:2], popular)
    with pytest.raises(ValueError, match="empty"):
        novelty(np.array([[-1]]), np.array([1]), 2)


def _top_ten_generator(rng, n_users, n_items, pool_size=50, emitted=10):
    """Scores of a model that ranks only `emitted` items from a fixed pool: -inf everywhere else."""
    pool = rng.choice(np.arange(n_items // 2, n_items), size=pool_size, replace=False)
    scores = np.full((n_users, n_items), -np.inf)
    for row in scores:
        row[rng.choice(pool, size=emitted, replace=False)] = np.arange(emitted, 0, -1, dtype=np.float64)
    return scores, pool


def test_unranked_minus_inf_filler_is_not_a_recommendation():
    rng = np.random.default_rng(7)
    n_users, n_items, ks = 300, 1000, (1, 5, 10, 20)
    scores, pool = _top_ten_generator(rng, n_users, n_items)
    mask = rng.random((n_users, n_items)) < 0.02
    # half the targets are low-id items the model never ranked, the rest come from its pool
    targets = np.where(rng.random(n_users) < 0.5, rng.integers(0, 20, n_users), rng.choice(pool, n_users))
    mask[np.arange(n_users), targets] = False
    lists = top_k(scores, max(ks), mask)
    assert set(lists[lists >= 0].tolist()) <= set(pool.tolist())
    assert (lists[:, 10:] == -1).all()
    counts = rng.integers(0, 60, size=n_items)
    got = beyond_accuracy(lists, targets, counts, 60, most_popular(counts, max(ks)), n_items, ks)
    greater, equal = rank_positions(scores, targets, mask)
    hr = ranking_metrics(greater, equal, ks)
    for k in ks:
        assert got[f"coverage@{k}"] <= len(pool) / n_items
        assert got[f"serendipity@{k}"] <= hr[f"hr@{k}"]
    assert got["novelty@20"] == pytest.approx(got["novelty@10"])
