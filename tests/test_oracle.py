import numpy as np
import pandas as pd
import pytest
from helpers_models import contract_problems

from benchmark.api import ModelError
from benchmark.data import Catalogue, SyntheticWorld, generate
from benchmark.registry import get_model, model_keys
from benchmark.requests import RankRequest, ScoreRequest
from models.baselines.oracle import Oracle

PARAMS = dict(seed=5, n_users=50, n_items=60, n_categories=6, mean_interactions=8)


@pytest.fixture(scope="module")
def dataset():
    return generate(**PARAMS)


@pytest.fixture(scope="module")
def oracle(dataset):
    model = Oracle()
    model.setup(dataset.catalogue(), seed=0)
    return model


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld.from_params(PARAMS)


HISTORIES = [(), (3,), (3, 10, 41), (59, 0)]


def test_registered_and_the_only_model_given_the_generator():
    assert contract_problems("oracle", Oracle) == []
    # only the oracle paradigm sees Catalogue.source["params"]; no other built-in model may claim it
    assert [k for k in model_keys() if get_model(k).meta.paradigm == "oracle"] == ["oracle"]


def test_refuses_data_that_is_not_synthetic():
    items = pd.DataFrame({f: ["x"] for f in ("title", "category", "brand", "description")})
    catalogue = Catalogue(items=items, dataset_name="ml", source={"adapter": "movielens-1m", "path": "/data"})
    with pytest.raises(ModelError, match="only works on synthetic data.*'ml'.*'movielens-1m'"):
        Oracle().setup(catalogue, seed=0)


def test_refuses_a_catalogue_that_does_not_match_the_parameters(dataset):
    catalogue = Catalogue(items=dataset.items.iloc[:10], dataset_name="cut", source=dataset.source)
    with pytest.raises(ModelError, match="60 items but the catalogue of 'cut' has 10"):
        Oracle().setup(catalogue, seed=0)


def test_rank_over_the_whole_catalogue_is_the_true_distribution(oracle, world):
    requests = [RankRequest(user=u, history=h) for u, h in zip([0, 1, 2, 49], HISTORIES)]
    scores = oracle.rank(requests)
    assert scores.shape == (4, 60)
    np.testing.assert_allclose(scores, world.next_item_probs(np.array([0, 1, 2, 49]), HISTORIES))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert scores[2, [3, 10, 41]].sum() == 0


def test_rank_over_candidates_and_score_agree_with_the_full_ranking(oracle):
    candidates = np.array([[5, 3, 7], [0, 1, 2], [41, 40, 39], [59, 58, 57]])
    requests = [RankRequest(user=u, history=h, candidates=c) for u, h, c in zip([0, 1, 2, 49], HISTORIES, candidates)]
    full = oracle.rank([RankRequest(user=r.user, history=r.history) for r in requests])
    np.testing.assert_allclose(oracle.rank(requests), np.take_along_axis(full, candidates, axis=1))
    scores = oracle.score([ScoreRequest(user=r.user, history=r.history, item=int(r.candidates[1])) for r in requests])
    np.testing.assert_allclose(scores, full[np.arange(4), candidates[:, 1]])


def test_batches_give_the_same_answers(dataset):
    small = Oracle()
    small.batch_size = 3
    small.setup(dataset.catalogue(), seed=0)
    large = Oracle()
    large.setup(dataset.catalogue(), seed=0)
    rng = np.random.default_rng(0)
    requests = [RankRequest(user=int(u), history=tuple(rng.choice(60, 4, replace=False).tolist()),
                            candidates=rng.choice(60, 5, replace=False)) for u in rng.integers(0, 50, 11)]
    np.testing.assert_array_equal(small.rank(requests), large.rank(requests))
    pairs = [ScoreRequest(user=r.user, history=r.history, item=int(r.candidates[0])) for r in requests]
    np.testing.assert_array_equal(small.score(pairs), large.score(pairs))
    assert small.rank([]).shape == (0, 60) and small.score([]).shape == (0,)


def test_unknown_users_and_items_are_model_errors(oracle):
    with pytest.raises(ModelError, match="user ids must be in 0..49"):
        oracle.rank([RankRequest(user=50, history=())])
    with pytest.raises(ModelError, match="item ids must be in 0..59"):
        oracle.score([ScoreRequest(user=0, history=(), item=60)])
    with pytest.raises(ModelError, match="item ids must be in 0..59"):
        oracle.rank([RankRequest(user=0, history=(), candidates=np.array([1, 60]))])


def test_the_log_is_likely_under_the_oracle(dataset, oracle):
    inter = dataset.interactions
    users, items = inter["user"].to_numpy(), inter["item"].to_numpy()
    requests = []
    for u, sequence in zip(np.unique(users), np.split(items, np.flatnonzero(np.diff(users)) + 1)):
        requests += [ScoreRequest(user=int(u), history=tuple(sequence[:t].tolist()), item=int(sequence[t]))
                     for t in range(len(sequence))]
    probs = oracle.score(requests)
    assert (probs > 0).all()
    assert np.exp(np.mean(np.log(probs))) > 3 / dataset.n_items
