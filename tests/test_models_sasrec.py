import numpy as np
import pytest
from helpers_models import (
    contract_problems,
    ctr_fixture,
    dense,
    fitted,
    full_ndcg,
    sampled_ndcg,
    seq_fixture,
    target_positions,
    torch_threads,
    with_sampled_candidates,
)

from benchmark.api import ModelError, SeqFitData
from benchmark.requests import RankRequest
from models.baselines.popularity import MostPopular
from models.baselines.random import Random
from models.seq.sasrec import SASRec, SASRecNet


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    return seq_fixture()


@pytest.fixture(scope="module")
def sasrec(data):
    return fitted(SASRec(), data.catalogue, data.fit)


def test_registered_and_keeps_its_contract():
    assert contract_problems("sasrec", SASRec) == []


def test_learns_transitions(sasrec, data):
    ndcg = {
        name: full_ndcg(dense(model.rank(data.test), data.catalogue.n_items), data.test_seen, data.test_targets)
        for name, model in [
            ("sasrec", sasrec),
            ("popular", fitted(MostPopular(), data.catalogue, data.fit)),
            ("random", fitted(Random(), data.catalogue, data.fit)),
        ]
    }
    assert ndcg["sasrec"] > 0.5
    assert ndcg["sasrec"] > ndcg["popular"] + 0.3
    assert ndcg["popular"] > 2 * ndcg["random"]
    assert sasrec.extra_stats()["valid_best"] > 0.5


def test_sampled_candidates_follow_request_order(sasrec, data):
    sampled = with_sampled_candidates(data.test, data.test_targets, data.catalogue.n_items, 99)
    scores = sasrec.rank(sampled)
    full = sasrec.rank(data.test)
    assert scores.shape == (len(sampled), 100) and full.shape == (len(data.test), data.catalogue.n_items)
    candidates = np.stack([r.candidates for r in sampled])
    np.testing.assert_allclose(scores, np.take_along_axis(full, candidates, axis=1), rtol=1e-5, atol=1e-5)
    popular = fitted(MostPopular(), data.catalogue, data.fit)
    at = target_positions(sampled, data.test_targets)
    assert sampled_ndcg(scores, at) > sampled_ndcg(popular.rank(sampled), at) + 0.3


def test_short_and_empty_histories(sasrec, data):
    n = data.catalogue.n_items
    scores = sasrec.rank([RankRequest(0, ()), RankRequest(1, (5,)), RankRequest(2, tuple(range(40)))])
    assert scores.shape == (3, n) and np.isfinite(scores).all()
    assert sasrec.rank([]).shape == (0, n)


def test_num_parameters(sasrec, data):
    assert sasrec.num_parameters() == sum(p.numel() for p in sasrec.net.parameters()) > (data.catalogue.n_items + 1) * 64


def test_deterministic_for_a_seed(data):
    small = SeqFitData(data.fit.sequences[:150], data.fit.valid[:50], data.fit.valid_targets[:50],
                       data.fit.valid_seen[:50])

    def run(seed):
        return fitted(SASRec(epochs=2), data.catalogue, small, seed).rank(data.test[:50])

    first = run(3)
    assert np.array_equal(first, run(3))
    assert not np.array_equal(first, run(4))


def test_rejects_ctr_data_and_score_requests(data):
    model = SASRec()
    model.setup(data.catalogue, 0)
    with pytest.raises(ModelError, match="sequences"):
        model.fit(ctr_fixture().fit)
    with pytest.raises(ModelError):
        model.score([])


def test_positions_start_at_the_item_rows_scale():
    net = SASRecNet(n_items=500, hidden=64, blocks=1, heads=1, dropout=0.0, window=20)
    assert abs(float(net.positions.weight.std()) - float(net.items.items.std())) < 0.01
