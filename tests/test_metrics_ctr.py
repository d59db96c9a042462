import math

import numpy as np
import pytest
from scipy.stats import rankdata

from benchmark.metrics import auc, gauc, grouped_auc, logloss


def _tied_scores(rng, n, levels=7):
    return rng.integers(0, levels, size=n) / levels


def _mann_whitney_auc(y, s):
    """AUC from the rank-sum (Mann-Whitney U) formula, ties given their average rank."""
    y = np.asarray(y)
    ranks = rankdata(s, method="average")
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    return (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_the_rank_sum_formula_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=500)
    s = _tied_scores(rng, 500)
    assert auc(y, s) == pytest.approx(_mann_whitney_auc(y, s), abs=1e-12)


@pytest.mark.parametrize(("y", "s", "expected"), [
    # positives {0.8, 0.5}, negatives {0.5, 0.2}: pairs (0.8>0.5)=1, (0.8>0.2)=1, (0.5=0.5)=0.5,
    # (0.5>0.2)=1 -> 3.5 / 4
    ([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2], 0.875),
    ([1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3], 0.5),  # every pair tied
    ([1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0.5], 0.0),  # every negative above every positive
    # positives {0.9, 0.4, 0.4}, negatives {0.4, 0.1}: 0.9 wins 2; each 0.4 ties 0.4 and beats
    # 0.1 -> 1.5 each; total 5 / 6
    ([1, 0, 1, 1, 0], [0.9, 0.4, 0.4, 0.4, 0.1], 5 / 6),
])
def test_auc_hand_worked_ties_count_half(y, s, expected):
    assert auc(y, s) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0]])
def test_auc_single_class_raises(labels):
    with pytest.raises(ValueError, match="only"):
        auc(labels, [0.1, 0.2, 0.3])


def test_auc_rejects_nan_and_non_binary_labels():
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="0 and 1"):
        auc([0, 2], [0.1, 0.2])


def _loop_gauc(y, s, users):
    aucs, weights = [], []
    for u in np.unique(users):
        sel = users == u
        if len(np.unique(y[sel])) == 2:
            aucs.append(_mann_whitney_auc(y[sel], s[sel]))
            weights.append(sel.sum())
    aucs, weights = np.array(aucs), np.array(weights, dtype=float)
    return aucs.mean(), np.dot(aucs, weights) / weights.sum(), len(aucs)


@pytest.mark.parametrize("seed", range(3))
def test_gauc_matches_a_loop_over_the_rank_sum_formula(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    users = rng.integers(0, 100, size=n)
    y = (rng.random(n) < rng.random(100)[users]).astype(int)
    y[users == 7] = 1
    y[users == 8] = 0
    s = _tied_scores(rng, n, levels=5)
    mean, weighted, n_users = _loop_gauc(y, s, users)
    got = gauc(y, s, users)
    assert got["gauc_user_mean"] == pytest.approx(mean, abs=1e-12)
    assert got["gauc_impression_weighted"] == pytest.approx(weighted, abs=1e-12)
    assert got["gauc_users"] == n_users
    assert n_users < len(np.unique(users))


def test_gauc_hand_worked_with_string_users_and_excluded_user():
    users = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 1])
    s = np.array([0.8, 0.5, 0.5, 0.2, 0.1, 0.9, 0.3, 0.4])
    got = gauc(y, s, users)
    # a: 0.875 over 4 rows; b: 0.0 over 2 rows; c: one class only, excluded
    assert got["gauc_user_mean"] == pytest.approx((0.875 + 0.0) / 2)
    assert got["gauc_impression_weighted"] == pytest.approx((0.875 * 4 + 0.0 * 2) / 6)
    assert got["gauc_users"] == 2


def test_gauc_hand_worked_per_user_values_with_ties():
    users = np.array([3, 3, 3, 1, 1, 1, 1, 1])
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    s = np.array([0.5, 0.5, 0.1, 0.2, 0.2, 0.7, 0.9, 0.1])
    # user 1: positives {0.2, 0.7}, negatives {0.2, 0.9, 0.1}: 0.2 scores 0.5 + 0 + 1, 0.7 scores
    # 1 + 0 + 1 -> 3.5 / 6. user 3: positive 0.5 vs negatives {0.5, 0.1}: 0.5 + 1 -> 1.5 / 2
    ids, per_user, impressions = grouped_auc(y, s, users)
    assert ids.tolist() == [1, 3] and impressions.tolist() == [5, 3]
    np.testing.assert_allclose(per_user, [7 / 12, 3 / 4], rtol=0, atol=1e-15)
    got = gauc(y, s, users)
    assert got["gauc_user_mean"] == pytest.approx(2 / 3, abs=1e-15)
    assert got["gauc_impression_weighted"] == pytest.approx((5 * 7 / 12 + 3 * 3 / 4) / 8, abs=1e-15)


def test_grouped_auc_marks_single_class_groups_nan():
    ids, per_group, impressions = grouped_auc([1, 0, 1, 1], [0.9, 0.1, 0.3, 0.2], [5, 5, 9, 9])
    assert ids.tolist() == [5, 9]
    assert per_group[0] == 1.0 and np.isnan(per_group[1])
    assert impressions.tolist() == [2, 2]


def test_gauc_without_any_mixed_user_raises():
    with pytest.raises(ValueError, match="no user"):
        gauc([1, 1, 0], [0.2, 0.3, 0.4], [1, 1, 2])


def test_gauc_rejects_mismatched_users():
    with pytest.raises(ValueError, match="shape"):
        gauc([1, 0], [0.2, 0.3], [1, 1, 2])


def _elementwise_logloss(y, p, eps):
    total = 0.0
    for label, prob in zip(y, p):
        prob = min(max(prob, eps), 1 - eps)
        total -= math.log(prob) if label == 1 else math.log(1 - prob)
    return total / len(y)


@pytest.mark.parametrize("seed", range(3))
def test_logloss_matches_an_elementwise_sum_with_clipping(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=400)
    p = rng.random(400)
    p[:10] = 0.0
    p[10:20] = 1.0
    eps = 1e-7
    assert logloss(y, p, eps=eps) == pytest.approx(_elementwise_logloss(y, p, eps), rel=1e-12)


def test_logloss_hand_worked_clipping_and_single_class():
    # -(ln 0.8 + ln 0.75) / 2
    assert logloss([1, 0], [0.8, 0.25]) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2, abs=1e-12)
    assert logloss([1, 1], [0.5, 0.5]) == pytest.approx(math.log(2), abs=1e-12)
    # a certain, wrong answer costs -ln(eps), not infinity; a certain, right one about eps
    assert logloss([1], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3), rel=1e-12)
    assert logloss([0], [0.0], eps=1e-3) == pytest.approx(-math.log(1 - 1e-3), rel=1e-12)


def test_logloss_rejects_out_of_range_probabilities_and_bad_eps():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        logloss([1, 0], [1.2, 0.3])
    with pytest.raises(ValueError, match="eps"):
        logloss([1, 0], [0.2, 0.3], eps=0.0)
