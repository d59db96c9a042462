import numpy as np
import pytest
from helpers_models import (
    auc,
    contract_problems,
    ctr_fixture,
    dense,
    fitted,
    full_ndcg,
    make_catalogue,
    random_ndcg,
    sampled_ndcg,
    seq_fixture,
    target_positions,
    with_sampled_candidates,
)

from benchmark.api import CTRFitData, ModelError, SeqFitData
from benchmark.data import load_dataset
from benchmark.protocol import ProtocolSpec, build_task_data
from benchmark.requests import RankRequest, ScoreRequest, TopK
from models.baselines.popularity import MostPopular
from models.baselines.random import Random
from tasks.seqrec import SeqRecTask

CAT = make_catalogue(6)


@pytest.mark.parametrize(("key", "cls"), [("random", Random), ("most-popular", MostPopular)])
def test_registered_and_keeps_its_contract(key, cls):
    assert contract_problems(key, cls) == []


def test_random_shapes_range_and_seeding():
    requests = [RankRequest(u, (1, 2)) for u in range(4)]
    sampled = [RankRequest(u, (), np.array([5, 0, 3])) for u in range(4)]
    scores = [ScoreRequest(u, (), u) for u in range(5)]
    model = fitted(Random(), CAT, None, seed=7)
    assert model.rank(requests).shape == (4, 6)
    assert model.rank(sampled).shape == (4, 3)
    s = model.score(scores)
    assert s.shape == (5,) and ((s >= 0) & (s < 1)).all()
    again = fitted(Random(), CAT, None, seed=7)
    other = fitted(Random(), CAT, None, seed=8)
    assert np.array_equal(again.rank(requests), fitted(Random(), CAT, None, seed=7).rank(requests))
    assert not np.array_equal(again.rank(requests), other.rank(requests))
    with pytest.raises(ModelError):
        model.fit(None)


def test_rank_rejects_mixed_candidate_modes():
    mixed = [RankRequest(0, ()), RankRequest(1, (), np.array([1, 2]))]
    ragged = [RankRequest(0, (), np.array([1])), RankRequest(1, (), np.array([1, 2]))]
    for model in (fitted(Random(), CAT, None), fitted(MostPopular(), CAT, SeqFitData([(0, 1)], [], np.array([]), []))):
        for requests in (mixed, ragged):
            with pytest.raises(ModelError, match="candidates"):
                model.rank(requests)


def test_most_popular_ctr_counts_positive_rows():
    train = [ScoreRequest(0, (), i) for i in (3, 3, 3, 1, 2, 2)]
    data = CTRFitData(train, np.array([1, 1, 0, 1, 1, 1]), [], np.array([]))
    model = fitted(MostPopular(), CAT, data)
    probability = model.score([ScoreRequest(9, (), i) for i in range(6)])
    np.testing.assert_allclose(probability, [0.25, 0.5, 0.75, 0.75, 0.25, 0.25])
    assert model.rank([RankRequest(0, ())]).items.tolist() == [[2, 3, 1, 0, 4, 5]]
    short = fitted(MostPopular(top_k=2), CAT, data).rank([RankRequest(0, ())])
    assert short.items.tolist() == [[2, 3]] and short.scores[0, 0] > short.scores[0, 1]


def test_most_popular_next_item_counts_and_candidate_order():
    data = SeqFitData([(4, 5, 4), (5, 4, 0), (1,)], [], np.array([]), [])
    model = fitted(MostPopular(), CAT, data)
    full = model.rank([RankRequest(0, ()), RankRequest(1, (4,))])
    assert isinstance(full, TopK) and full.items.tolist() == [[4, 5, 0, 1, 2, 3]] * 2
    assert (np.diff(full.scores, axis=1) < 0).all()
    sampled = model.rank([RankRequest(0, (), np.array([2, 4, 0]))])
    np.testing.assert_array_equal(sampled[0], dense(full, 6)[0, [2, 4, 0]])
    assert model.score([]).shape == (0,) and model.rank([]).items.shape == (0, 6)


def test_most_popular_lists_score_as_its_full_order_on_default_like_data():
    """The top-100 list against the dense row of the same order, on the default plan's data: every
    metric at a cut-off (all are <= 20) agrees exactly, although users' seen items inside the list
    are masked."""
    ds = load_dataset(adapter="synthetic", n_users=2000, n_items=1000, seed=0, name="synthetic")
    spec = ProtocolSpec.from_overrides({"seq_test_users": 1000, "seq_valid_users": 500})
    td = build_task_data(ds, spec, ("seqrec",), cache_dir=None)["seqrec"]
    task = SeqRecTask("full")
    model = fitted(MostPopular(), td.catalogue, task.fit_data(td))
    requests = task.requests(td)
    answer = model.rank(requests)
    assert isinstance(answer, TopK) and answer.items.shape == (1000, 100)
    assert sum(bool(set(seen) & set(model.top_items[:20].tolist())) for seen in td.splits["test"]["seen"]) > 100
    got = task.evaluate(td, task.check(answer, requests, td.n_items))
    full_order = np.tile(model.ranking_scores, (len(requests), 1))
    want = task.evaluate(td, task.check(full_order, requests, td.n_items))
    at_cutoffs = sorted(k for k in want.metrics if "@" in k)
    assert set(got.metrics) == set(want.metrics) and len(at_cutoffs) == 7 * 4
    assert {k: got.metrics[k] for k in at_cutoffs} == {k: want.metrics[k] for k in at_cutoffs}
    assert want.metrics["ndcg@10"] > 0 and want.metrics["coverage@20"] > 0
    for name in ["user", *at_cutoffs]:
        if name in want.per_example:
            np.testing.assert_array_equal(got.per_example[name], want.per_example[name], err_msg=name)


def test_popularity_beats_random_on_fixtures():
    ctr, seq = ctr_fixture(), seq_fixture()
    rand = fitted(Random(), ctr.catalogue, ctr.fit)
    pop = fitted(MostPopular(), ctr.catalogue, ctr.fit)
    assert abs(auc(ctr.test_labels, rand.score(ctr.test)) - 0.5) < 0.05
    assert auc(ctr.test_labels, pop.score(ctr.test)) > 0.65

    rand = fitted(Random(), seq.catalogue, seq.fit)
    pop = fitted(MostPopular(), seq.catalogue, seq.fit)
    assert full_ndcg(dense(pop.rank(seq.test), seq.catalogue.n_items), seq.test_seen, seq.test_targets) > 2 * full_ndcg(
        rand.rank(seq.test), seq.test_seen, seq.test_targets
    )
    sampled = with_sampled_candidates(seq.test, seq.test_targets, seq.catalogue.n_items, 49)
    at = target_positions(sampled, seq.test_targets)
    assert sampled_ndcg(pop.rank(sampled), at) > sampled_ndcg(rand.rank(sampled), at) + 0.05


def test_a_constant_scorer_earns_exactly_the_random_baseline():
    seq = seq_fixture()
    n_items = seq.catalogue.n_items
    unmasked = n_items - np.array([len(set(s)) for s in seq.test_seen])
    constant = np.zeros((len(seq.test), n_items))
    assert full_ndcg(constant, seq.test_seen, seq.test_targets) == pytest.approx(random_ndcg(unmasked), abs=1e-12)

    sampled = with_sampled_candidates(seq.test, seq.test_targets, n_items, 49)
    at = target_positions(sampled, seq.test_targets)
    assert len(np.unique(at)) > 25  # the target sits anywhere, as the protocol places it
    expected = random_ndcg(np.full(len(sampled), 50))
    assert sampled_ndcg(np.zeros((len(sampled), 50)), at) == pytest.approx(expected, abs=1e-12)
