"""benchmark.stats: weighted metrics, user-level bootstrap intervals and the paired test."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark import stats
from benchmark.metrics import gauc, logloss, per_user_ranking_metrics
from benchmark.stats import bootstrap, bootstrap_ci, bootstrap_many, metric_value, paired_test


def ctr_table(n_users: int = 80, rows: int = 12, seed: int = 0, signal: float = 1.0, rounding: int | None = 2,
              users_effect: float = 0.0, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    rng = rng or np.random.default_rng(seed)
    user = np.repeat(np.arange(n_users) * 7 + 3, rows)  # ids need not be 0..U-1
    label = (rng.random(user.size) < 0.4).astype(np.int8)
    offset = np.repeat(rng.normal(size=n_users), rows) * users_effect
    score = 1 / (1 + np.exp(-(signal * label + offset + rng.normal(size=user.size))))
    if rounding is not None:
        score = np.round(score, rounding)  # plenty of ties
    return {"user": user, "label": label, "score": score}


def seq_table(greater: np.ndarray, user: np.ndarray | None = None) -> dict[str, np.ndarray]:
    greater = np.asarray(greater, dtype=np.int64)
    equal = np.zeros_like(greater)
    return {"user": np.arange(greater.size) if user is None else user, "greater": greater.astype(float),
            "equal": equal.astype(float), **per_user_ranking_metrics(greater, equal)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_sklearn_with_unit_weights(seed: int) -> None:
    t = ctr_table(seed=seed)
    expected = roc_auc_score(t["label"], t["score"])
    assert metric_value("ctr", "auc", t) == pytest.approx(expected, abs=1e-12)
    assert metric_value("ctr", "auc", pd.DataFrame(t), weights=np.ones(t["user"].size)) == pytest.approx(expected, abs=1e-12)


def test_weighted_auc_by_hand() -> None:
    # positives 0.9 (weight 2) and 0.5 (1); negatives 0.5 (1) and 0.1 (3):
    # 0.9 beats both (2*1 + 2*3), 0.5 ties 0.5 (1*1/2) and beats 0.1 (1*3): 11.5 of 3*4 pairs
    t = {"user": [1, 1, 2, 2], "label": [1, 0, 1, 0], "score": [0.9, 0.5, 0.5, 0.1]}
    assert metric_value("ctr", "auc", t, weights=[2, 1, 1, 3]) == pytest.approx(11.5 / 12)
    assert metric_value("ctr", "auc", t, weights=[0, 1, 1, 0]) == pytest.approx(0.5)
    assert np.isnan(metric_value("ctr", "auc", t, weights=[1, 0, 1, 0]))  # positives only


def test_integer_weights_equal_repeated_rows() -> None:
    t = ctr_table(seed=3)
    w = np.random.default_rng(3).integers(0, 4, t["user"].size)
    repeated = {k: np.repeat(v, w) for k, v in t.items()}
    assert metric_value("ctr", "auc", t, w) == pytest.approx(roc_auc_score(repeated["label"], repeated["score"]), abs=1e-12)
    assert metric_value("ctr", "logloss", t, w) == pytest.approx(logloss(repeated["label"], repeated["score"]), abs=1e-12)


def test_gauc_matches_benchmark_metrics_and_weights_users() -> None:
    t = ctr_table(seed=4)
    expected = gauc(t["label"], t["score"], t["user"])
    assert metric_value("ctr", "gauc_user_mean", t) == pytest.approx(expected["gauc_user_mean"], abs=1e-12)
    assert metric_value("ctr", "gauc_impression_weighted", t) == pytest.approx(expected["gauc_impression_weighted"], abs=1e-12)
    # user 1: AUC 1; user 2: AUC 0.5; user 3: one class (left out). User 1 counted 3 times.
    hand = {"user": [1, 1, 2, 2, 3], "label": [1, 0, 1, 0, 1], "score": [0.9, 0.1, 0.4, 0.4, 0.3]}
    assert metric_value("ctr", "gauc_user_mean", hand) == pytest.approx(0.75)
    assert metric_value("ctr", "gauc_user_mean", hand, weights=[3, 3, 1, 1, 5]) == pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="equal within each user"):
        metric_value("ctr", "gauc_user_mean", hand, weights=[3, 1, 1, 1, 1])


def test_other_metrics_are_the_weighted_mean_of_their_column() -> None:
    t = seq_table([0, 3, 12, 0])
    assert metric_value("seqrec", "hr@1", t) == 0.5
    assert metric_value("seqrec", "hr@10", t, weights=[1, 2, 5, 0]) == pytest.approx(3 / 8)
    assert metric_value("seqrec", "ndcg@10", t) == pytest.approx(np.mean(t["ndcg@10"]))
    with pytest.raises(ValueError, match=r"coverage@10.*has \["):
        metric_value("seqrec", "coverage@10", t)
    with pytest.raises(ValueError, match="CTR metric"):
        metric_value("seqrec", "auc", t)
    with pytest.raises(ValueError, match="unknown task"):
        metric_value("rating", "rmse", t)
    with pytest.raises(ValueError, match="non-negative"):
        metric_value("seqrec", "hr@1", t, weights=[1, -1, 1, 1])


def test_ci_contains_the_point_and_is_deterministic() -> None:
    t = ctr_table(seed=5)
    point, lo, hi = bootstrap_ci("ctr", "auc", t, n_boot=300, seed=1)
    assert point == pytest.approx(roc_auc_score(t["label"], t["score"]))
    assert lo < point < hi and hi - lo < 0.3
    assert bootstrap_ci("ctr", "auc", t, n_boot=300, seed=1) == (point, lo, hi)
    assert bootstrap_ci("ctr", "auc", t, n_boot=300, seed=2) != (point, lo, hi)
    narrower = bootstrap_ci("ctr", "auc", t, n_boot=300, seed=1, level=0.5)
    assert lo < narrower[1] < narrower[2] < hi
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci("ctr", "auc", t, n_boot=0)


@pytest.mark.parametrize("metric", ["auc", "gauc_user_mean", "gauc_impression_weighted", "logloss"])
def test_vectorised_replicates_equal_one_weighted_metric_per_draw(metric: str) -> None:
    t = ctr_table(n_users=30, seed=6)
    rep = bootstrap("ctr", metric, t, n_boot=40, seed=3)
    _, uidx = np.unique(t["user"], return_inverse=True)
    (idx,) = list(stats._draws(30, 40, 3, chunk=1000))
    for b in range(40):
        counts = np.bincount(idx[b].astype(int), minlength=30)
        assert rep.values[b] == pytest.approx(metric_value("ctr", metric, t, weights=counts[uidx]), abs=1e-12)


def test_draws_do_not_depend_on_chunking_or_on_n_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    t = ctr_table(n_users=40, seed=7)
    full = bootstrap("ctr", "auc", t, n_boot=100, seed=0).values
    monkeypatch.setattr(stats, "_CELLS", 1)  # one block of 16 replicates per chunk
    np.testing.assert_array_equal(bootstrap("ctr", "auc", t, n_boot=100, seed=0).values, full)
    np.testing.assert_array_equal(bootstrap("ctr", "auc", t, n_boot=37, seed=0).values, full[:37])


def test_users_not_rows_are_resampled() -> None:
    # All variation is between users: 40 users x 25 rows, each user's rows share one value.
    rng = np.random.default_rng(8)
    per_user = rng.random(40)
    by_user = {"user": np.repeat(np.arange(40), 25), "hr@10": np.repeat(per_user, 25)}
    by_row = {**by_user, "user": np.arange(1000)}  # the same rows, every row its own user
    _, lo_u, hi_u = bootstrap_ci("seqrec", "hr@10", by_user, n_boot=500)
    _, lo_r, hi_r = bootstrap_ci("seqrec", "hr@10", by_row, n_boot=500)
    assert (hi_u - lo_u) > 3 * (hi_r - lo_r)  # sqrt(25) = 5 in expectation
    # ... and for AUC: duplicating every row of each user widens nothing if users are the unit
    t = ctr_table(n_users=60, seed=9, rounding=None)
    twice = {k: np.repeat(v, 2) for k, v in t.items()}
    once = bootstrap_ci("ctr", "auc", t, n_boot=400)
    doubled = bootstrap_ci("ctr", "auc", twice, n_boot=400)
    np.testing.assert_allclose(doubled, once, atol=1e-12)


def test_seeds_are_averaged_inside_every_replicate() -> None:
    a, b = ctr_table(seed=10), ctr_table(seed=10)
    b["score"] = np.round(np.random.default_rng(11).random(b["score"].size), 2)
    both = bootstrap("ctr", "auc", [a, b], n_boot=50)
    ra, rb = bootstrap("ctr", "auc", a, n_boot=50), bootstrap("ctr", "auc", b, n_boot=50)
    assert both.point == pytest.approx((ra.point + rb.point) / 2)
    np.testing.assert_allclose(both.values, (ra.values + rb.values) / 2)
    c = ctr_table(seed=12)
    with pytest.raises(ValueError, match="not on the same requests"):
        bootstrap("ctr", "auc", [a, c])
    many = bootstrap_many("ctr", "auc", [a, [a, b]], n_boot=50)
    np.testing.assert_array_equal(many[0].values, ra.values)


def test_identical_models_differ_by_zero_with_p_one() -> None:
    t = ctr_table(seed=13)
    out = paired_test("ctr", "auc", t, dict(t), n_boot=200)
    assert out["diff"] == 0 and out["lo"] == 0 and out["hi"] == 0
    assert out["p"] == 1.0
    assert out["n_boot"] == 200 and out["n_users"] == 80


def test_clearly_better_model_is_significant() -> None:
    rng = np.random.default_rng(14)
    good = ctr_table(n_users=150, signal=1.5, rng=rng)
    bad = {**good, "score": 1 / (1 + np.exp(-(0.3 * good["label"] + rng.normal(size=good["user"].size))))}
    out = paired_test("ctr", "auc", good, bad, n_boot=1000)
    assert out["diff"] > 0.1 and out["lo"] > 0
    assert out["p"] < 0.01
    assert out["p"] == pytest.approx(2 / 1001)  # never 0: the +1 correction
    reverse = paired_test("ctr", "auc", bad, good, n_boot=1000)
    assert reverse["diff"] == pytest.approx(-out["diff"]) and reverse["hi"] < 0 and reverse["p"] < 0.01
    ranks_good, ranks_bad = rng.integers(0, 5, 300), rng.integers(5, 40, 300)
    seq = paired_test("seqrec", "ndcg@10", seq_table(ranks_good), seq_table(ranks_bad), n_boot=500)
    assert seq["p"] < 0.01 and seq["lo"] > 0


def test_tables_on_other_requests_are_refused() -> None:
    t = ctr_table(seed=15)
    fewer = {k: v[:-1] for k, v in t.items()}
    other_users = {**t, "user": t["user"] + 1}
    other_labels = {**t, "label": 1 - t["label"]}
    for other in (fewer, other_users, other_labels):
        with pytest.raises(ValueError, match="not on the same requests"):
            paired_test("ctr", "auc", t, other, n_boot=10)
    with pytest.raises(ValueError, match="not on the same requests"):
        paired_test("seqrec", "hr@10", seq_table([1, 2, 3]), seq_table([1, 2, 3], user=np.array([0, 1, 5])))


def test_p_values_are_calibrated_when_there_is_no_difference() -> None:
    """Two models of equal quality (per-user effects shared, noise independent): p < 0.05 in
    about 5% of 200 simulated test sets; a broken test (always 1, or anti-conservative) fails."""
    rng = np.random.default_rng(16)
    hits_auc = hits_mean = 0
    trials = 100
    for _ in range(trials):
        users = np.repeat(np.arange(40), 6)
        label = (rng.random(users.size) < 0.5).astype(np.int8)
        effect = np.repeat(rng.normal(size=40), 6)
        a = {"user": users, "label": label, "score": 1 / (1 + np.exp(-(label + effect + rng.normal(size=users.size))))}
        b = {**a, "score": 1 / (1 + np.exp(-(label + effect + rng.normal(size=users.size))))}
        hits_auc += paired_test("ctr", "auc", a, b, n_boot=200, seed=int(rng.integers(1 << 30)))["p"] < 0.05
        hard = rng.random(60)
        x = {"user": np.arange(60), "ndcg@10": np.clip(hard + 0.3 * rng.normal(size=60), 0, 1)}
        y = {**x, "ndcg@10": np.clip(hard + 0.3 * rng.normal(size=60), 0, 1)}
        hits_mean += paired_test("seqrec", "ndcg@10", x, y, n_boot=200, seed=int(rng.integers(1 << 30)))["p"] < 0.05
    rate = (hits_auc + hits_mean) / (2 * trials)
    assert 0.01 <= rate <= 0.12, (hits_auc, hits_mean)


def test_a_thousand_replicates_on_20000_rows_are_fast() -> None:
    rng = np.random.default_rng(17)
    t = {"user": np.sort(rng.integers(0, 700, 20_000)), "label": (rng.random(20_000) < 1 / 3).astype(np.int8)}
    t["score"] = 1 / (1 + np.exp(-(t["label"] + rng.normal(size=20_000))))
    seq = seq_table(rng.integers(0, 50, 20_000))
    bootstrap_ci("ctr", "auc", t, n_boot=50)  # warm caches
    start = time.perf_counter()
    bootstrap_ci("ctr", "auc", t, n_boot=1000)
    bootstrap_ci("seqrec", "ndcg@10", seq, n_boot=1000)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"two 1000-replicate bootstraps on 20,000 rows took {elapsed:.2f} s"
