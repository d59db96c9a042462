import time

import numpy as np
import pytest

from benchmark.data import DataError, SyntheticWorld, generate, load_dataset
from benchmark.data.synthetic_vocab import CATEGORIES, GROUP_BRANDS

SMALL = dict(seed=3, n_users=300, n_items=240, n_categories=12, mean_interactions=15)


@pytest.fixture(scope="module")
def small():
    return generate(**SMALL)


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld.from_params(SMALL)


def split_last(ds):
    inter = ds.interactions
    users = inter["user"].to_numpy()
    sequences = np.split(inter["item"].to_numpy(), np.flatnonzero(np.diff(users)) + 1)
    return [tuple(s[:-1].tolist()) for s in sequences], np.array([s[-1] for s in sequences])


def test_same_seed_same_data_other_seed_differs(small):
    assert generate(**SMALL).fingerprint() == small.fingerprint()
    assert generate(**{**SMALL, "seed": 4}).fingerprint() != small.fingerprint()


def test_source_records_every_parameter_and_rebuilds_the_world(small, world):
    assert small.name == "synthetic"
    assert small.source["adapter"] == "synthetic"
    params = small.source["params"]
    assert params["seed"] == 3 and params["p_stay"] == 0.5 and len(params) > len(SMALL)
    assert SyntheticWorld.from_params(params).items.equals(small.items)
    assert world.items.equals(small.items)


def test_sizes_ids_and_dtypes(small):
    inter = small.interactions
    assert small.n_users == 300 and small.n_items == 240
    assert set(inter["user"]) == set(range(300))
    assert all(inter[c].dtype == np.int64 for c in ("user", "item", "timestamp"))
    per_user = inter.groupby("user").size()
    assert per_user.min() >= 5
    assert 11 <= per_user.mean() <= 19
    assert inter["item"].between(0, 239).all()


def test_timestamps_strictly_increase_per_user_and_items_never_repeat(small):
    inter = small.interactions
    same_user = np.diff(inter["user"].to_numpy()) == 0
    assert (np.diff(inter["timestamp"].to_numpy())[same_user] > 0).all()
    assert (np.diff(inter["user"].to_numpy()) >= 0).all()
    assert not inter.duplicated(["user", "item"]).any()


def test_text_is_informative_about_category_and_brand(small, world):
    items = small.items
    assert (items[["title", "category", "brand", "description"]] != "").all().all()
    specs = {s.name: s for s in CATEGORIES}
    for title, category, brand, description in items[["title", "category", "brand", "description"]].itertuples(
            index=False):
        spec = specs[category]
        assert brand in GROUP_BRANDS[spec.group]
        assert title.startswith(brand + " ") and f" {spec.noun} " in title
        assert description.startswith(f"{brand} ") and spec.noun in description
    assert set(items["category"]) == {s.name for s in CATEGORIES[:12]}
    assert items["title"].nunique() > 0.9 * len(items)


def test_next_item_probs_are_distributions_that_exclude_the_history(world):
    histories = [(), (5,), (5, 17, 3), tuple(range(0, 240, 2))]
    probs = world.next_item_probs(np.array([0, 1, 2, 3]), histories)
    assert probs.shape == (4, 240)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    for row, history in zip(probs, histories):
        assert (row[list(history)] == 0).all()
        assert (np.delete(row, list(history)) > 0).all()
    assert (world.next_item_probs(np.array([0]), [tuple(range(240))]) == 0).all()


def test_next_item_probs_follow_the_documented_mixture(world):
    p = world.params
    user, last = 7, 11
    cat = world.item_category
    first = world.next_item_probs(np.array([user]), [()])[0]
    np.testing.assert_allclose(np.bincount(cat, weights=first), world.user_category_pref[user])

    k = cat[last]
    assert world.complement[k].sum() == pytest.approx(1.0)
    mixture = p.p_complement * world.complement[k] + (1 - p.p_stay - p.p_complement) * world.user_category_pref[user]
    mixture[k] += p.p_stay
    unmasked = first * (mixture / world.user_category_pref[user])[cat]
    expected = np.where(np.arange(240) == last, 0.0, unmasked)
    after = world.next_item_probs(np.array([user]), [(last,)])[0]
    np.testing.assert_allclose(after, expected / expected.sum())


def test_next_item_probs_rejects_bad_ids(world):
    with pytest.raises(ValueError, match="user ids"):
        world.next_item_probs(np.array([300]), [()])
    with pytest.raises(ValueError, match="history item ids"):
        world.next_item_probs(np.array([0]), [(240,)])


def test_oracle_beats_popularity_beats_random_at_the_last_item():
    params = dict(seed=11, n_users=600, n_items=400, n_categories=16, mean_interactions=20)
    ds, world = generate(**params), SyntheticWorld.from_params(params)
    histories, targets = split_last(ds)
    users = np.arange(ds.n_users)
    seen = np.zeros((ds.n_users, ds.n_items), dtype=bool)
    seen[np.repeat(users, [len(h) for h in histories]), np.concatenate(histories).astype(np.int64)] = True

    def hit_rate(scores):
        scores = np.where(seen, -np.inf, scores)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        return (top == targets[:, None]).any(axis=1).mean()

    oracle = hit_rate(world.next_item_probs(users, histories))
    counts = np.bincount(np.concatenate(histories).astype(np.int64), minlength=ds.n_items).astype(float)
    popularity = hit_rate(np.broadcast_to(counts, seen.shape) + np.random.default_rng(0).random(seen.shape) * 1e-3)
    random = hit_rate(np.random.default_rng(1).random(seen.shape))
    assert oracle > 2 * popularity
    assert popularity > 3 * random


def test_bad_parameters_are_refused():
    with pytest.raises(DataError, match="unknown synthetic parameters.*n_user"):
        generate(n_user=5)
    with pytest.raises(DataError, match="p_stay and p_complement"):
        generate(p_stay=0.8, p_complement=0.3)
    with pytest.raises(DataError, match="n_categories"):
        generate(n_categories=len(CATEGORIES) + 1)


def test_load_dataset_synthetic_and_default_size_is_fast():
    start = time.perf_counter()
    ds = load_dataset("synthetic")
    assert time.perf_counter() - start < 10
    assert ds.n_users == 2000 and ds.n_items == 1000
    assert 25 <= len(ds.interactions) / ds.n_users <= 35
