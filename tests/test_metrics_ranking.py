import itertools
import math

import numpy as np
import pytest

from benchmark.metrics import per_user_ranking_metrics, rank_positions, ranking_metrics, top_k


def test_rank_positions_counts_greater_and_equal():
    scores = np.array([[0.9, 0.5, 0.7, 0.3], [0.2, 0.2, 0.2, 0.1]])
    greater, equal = rank_positions(scores, np.array([1, 0]))
    assert greater.tolist() == [2, 0]
    assert equal.tolist() == [0, 2]


def test_hand_worked_target_at_rank_three():
    greater, equal = rank_positions(np.array([[0.9, 0.5, 0.7, 0.3]]), np.array([1]))
    got = ranking_metrics(greater, equal, ks=(1, 3, 5))
    # rank 3: hr@1 = 0, hr@3 = hr@5 = 1, ndcg@3 = 1/log2(3+1) = 0.5, mrr@3 = mrr = 1/3
    assert got["hr@1"] == 0.0 and got["ndcg@1"] == 0.0 and got["mrr@1"] == 0.0
    assert got["hr@3"] == 1.0 and got["hr@5"] == 1.0
    assert got["ndcg@3"] == pytest.approx(0.5, abs=1e-12)
    assert got["ndcg@5"] == pytest.approx(0.5, abs=1e-12)
    assert got["mrr@3"] == pytest.approx(1 / 3, abs=1e-12)
    assert got["mrr"] == pytest.approx(1 / 3, abs=1e-12)
    assert got["recall@3"] == got["hr@3"]


def test_hand_worked_tie_is_expectation_over_tie_orders():
    # one candidate above, one tied: the rank is 2 or 3 with probability 1/2 each
    greater, equal = rank_positions(np.array([[0.9, 0.5, 0.5, 0.1]]), np.array([1]))
    assert (greater[0], equal[0]) == (1, 1)
    got = ranking_metrics(greater, equal, ks=(1, 2, 5))
    assert got["hr@1"] == 0.0
    assert got["hr@2"] == pytest.approx(0.5)
    assert got["hr@5"] == pytest.approx(1.0)
    # ndcg@2 = 1/2 * 1/log2(3); ndcg@5 = 1/2 * (1/log2(3) + 1/log2(4))
    assert got["ndcg@2"] == pytest.approx(0.5 / math.log2(3), abs=1e-12)
    assert got["ndcg@5"] == pytest.approx(0.5 * (1 / math.log2(3) + 0.5), abs=1e-12)
    # mrr@2 = 1/2 * 1/2; mrr = 1/2 * (1/2 + 1/3) = 5/12
    assert got["mrr@2"] == pytest.approx(0.25, abs=1e-12)
    assert got["mrr"] == pytest.approx(5 / 12, abs=1e-12)


@pytest.mark.parametrize("c", [10, 101])
def test_constant_scores_get_random_model_expectation(c):
    scores = np.zeros((4, c))
    greater, equal = rank_positions(scores, np.array([0, 3, 5, c - 1]))
    got = ranking_metrics(greater, equal, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert got[f"hr@{k}"] == pytest.approx(k / c, abs=1e-12)
        dcg = sum(1 / math.log2(j + 1) for j in range(1, k + 1))
        assert got[f"ndcg@{k}"] == pytest.approx(dcg / c, abs=1e-12)
        assert got[f"mrr@{k}"] == pytest.approx(sum(1 / j for j in range(1, k + 1)) / c, abs=1e-12)
    assert got["mrr"] == pytest.approx(sum(1 / j for j in range(1, c + 1)) / c, abs=1e-12)


def test_mask_excludes_seen_items_but_never_the_target():
    scores = np.array([[0.9, 0.8, 0.5, 0.5, 0.1]])
    mask = np.array([[True, False, False, True, False]])
    greater, equal = rank_positions(scores, np.array([2]), mask)
    assert (greater[0], equal[0]) == (1, 0)
    target_masked = np.array([[True, False, True, False, False]])
    greater, equal = rank_positions(scores, np.array([2]), target_masked)
    assert (greater[0], equal[0]) == (1, 1)


def test_minus_inf_scores_are_legal():
    scores = np.array([[2.0, -np.inf, 1.0, -np.inf, -np.inf], [-np.inf, -np.inf, 3.0, 1.0, 0.0]])
    greater, equal = rank_positions(scores, np.array([1, 2]))
    assert greater.tolist() == [2, 0]
    assert equal.tolist() == [2, 0]
    got = per_user_ranking_metrics(greater, equal, ks=(1, 3))
    # row 0: rank uniform on {3, 4, 5} -> hr@3 = 1/3; row 1: rank 1
    assert got["hr@3"].tolist() == pytest.approx([1 / 3, 1.0])
    assert got["hr@1"].tolist() == [0.0, 1.0]


def test_nan_scores_raise_naming_the_row():
    scores = np.zeros((5, 4))
    scores[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        rank_positions(scores, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="row 3"):
        top_k(scores, 2)


def test_rank_positions_rejects_bad_target_and_mask():
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match="target"):
        rank_positions(scores, np.array([0, 3]))
    with pytest.raises(ValueError, match="integer"):
        rank_positions(scores, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="mask"):
        rank_positions(scores, np.array([0, 1]), np.zeros((2, 3), dtype=int))


def _enumerated_metrics(scores, target, mask, ks):
    """Average each metric over every tie-breaking permutation of the candidates."""
    c = scores.shape[0]
    keep = [j for j in range(c) if j == target or not mask[j]]
    totals = {}
    perms = list(itertools.permutations(range(c)))
    for perm in perms:
        order = sorted(keep, key=lambda j: (-scores[j], perm[j]))
        rank = order.index(target) + 1
        values = {"mrr": 1 / rank}
        for k in ks:
            inside = rank <= k
            values[f"hr@{k}"] = float(inside)
            values[f"recall@{k}"] = float(inside)
            values[f"ndcg@{k}"] = inside / math.log2(rank + 1)
            values[f"mrr@{k}"] = inside / rank
        for name, v in values.items():
            totals[name] = totals.get(name, 0.0) + v
    return {name: v / len(perms) for name, v in totals.items()}


def test_matches_enumeration_over_all_tie_orders():
    rng = np.random.default_rng(0)
    ks = (1, 2, 3, 5)
    for _ in range(25):
        c = int(rng.integers(2, 7))
        scores = rng.integers(0, 3, size=c).astype(float)
        scores[rng.random(c) < 0.2] = -np.inf
        mask = rng.random(c) < 0.3
        target = int(rng.integers(0, c))
        greater, equal = rank_positions(scores[None, :], np.array([target]), mask[None, :])
        got = per_user_ranking_metrics(greater, equal, ks)
        expected = _enumerated_metrics(scores, target, mask, ks)
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name][0] == pytest.approx(value, abs=1e-12), name


def test_ranking_metrics_is_mean_of_per_user_and_mrr_has_no_cutoff():
    rng = np.random.default_rng(1)
    greater = rng.integers(0, 300, size=200)
    equal = rng.integers(0, 4, size=200)
    per_user = per_user_ranking_metrics(greater, equal)
    means = ranking_metrics(greater, equal)
    cut_names = {f"{m}@{k}" for m in ("hr", "ndcg", "mrr", "recall") for k in (1, 5, 10, 20)}
    assert set(means) == cut_names | {"mrr"}
    for name, values in per_user.items():
        assert values.shape == (200,)
        assert means[name] == pytest.approx(values.mean(), abs=1e-15)
    far = per_user_ranking_metrics(np.array([99]), np.array([0]), ks=(20,))
    assert far["mrr@20"][0] == 0.0
    assert far["mrr"][0] == pytest.approx(1 / 100, abs=1e-15)


def test_ranking_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        ranking_metrics(np.array([0]), np.array([0]), ks=(0,))
    with pytest.raises(ValueError, match="non-negative"):
        ranking_metrics(np.array([-1]), np.array([0]))
    with pytest.raises(ValueError, match="at least one row"):
        ranking_metrics(np.array([], dtype=int), np.array([], dtype=int))


def test_top_k_breaks_ties_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3], [0, 1, 2, 3]]


def test_top_k_excludes_masked_and_unranked_and_pads_short_rows():
    scores = np.array([[5.0, 4.0, -np.inf, 3.0, 0.5], [1.0, 2.0, 3.0, 4.0, -np.inf]])
    mask = np.array([[False, True, False, True, False], [False, False, False, False, False]])
    assert top_k(scores, 3, mask).tolist() == [[0, 4, -1], [3, 2, 1]]
    assert top_k(np.full((1, 3), -np.inf), 2).tolist() == [[-1, -1]]


def _brute_top_k(scores, k, mask):
    out = np.full((scores.shape[0], k), -1)
    for i, row in enumerate(scores):
        columns = [j for j in np.argsort(-row, kind="stable") if not mask[i, j] and np.isfinite(row[j])][:k]
        out[i, : len(columns)] = columns
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_matches_brute_force_on_tied_random_scores(dtype):
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 4, size=(300, 12)).astype(dtype)
    scores[rng.random(scores.shape) < 0.1] = -np.inf
    mask = rng.random(scores.shape) < 0.4
    for k in (1, 3, 8, 12):
        np.testing.assert_array_equal(top_k(scores, k, mask), _brute_top_k(scores, k, mask))
        np.testing.assert_array_equal(top_k(scores, k), _brute_top_k(scores, k, np.zeros_like(mask)))


def test_functions_agree_across_row_blocks():
    rng = np.random.default_rng(3)
    n, c = 10_000, 64
    scores = rng.integers(0, 50, size=(n, c)).astype(np.float32)
    target = rng.integers(0, c, size=n)
    greater, equal = rank_positions(scores, target)
    target_score = scores[np.arange(n), target][:, None]
    np.testing.assert_array_equal(greater, (scores > target_score).sum(axis=1))
    np.testing.assert_array_equal(equal, (scores == target_score).sum(axis=1) - 1)
    best = top_k(scores, 5)
    np.testing.assert_array_equal(best, np.argsort(-scores, axis=1, kind="stable")[:, :5])


def test_top_k_rejects_bad_k():
    with pytest.raises(ValueError, match="k must"):
        top_k(np.zeros((2, 3)), 4)
