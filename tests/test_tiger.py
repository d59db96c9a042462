"""TIGER (models/seq/tiger.py): generative retrieval over semantic IDs.

It fits on the synthetic generator's data (a smaller world than the embedded default, the same
protocol), beats most-popular on NDCG@10 under the paired bootstrap in both candidate modes, only
ever ranks real items, scores them by their exact log-likelihood in both modes, and runs in a
plan through `recboard run`.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from helpers_models import SeqWorld, contract_problems, fitted, torch_threads

from benchmark.api import ModelError
from benchmark.registry import get_model
from benchmark.requests import RankRequest, TopK
from models.seq.tiger import TIGER, auto_codebook_size, tokenizer_config

MODES = SeqWorld.MODES


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def world():
    return SeqWorld({"tiger": ("tiger", {"epochs": 6})})


def test_registered_and_keeps_its_contract():
    assert contract_problems("tiger", TIGER) == []
    assert TIGER.meta.item_repr == "sid" and TIGER.meta.paradigm == "seqrec" and TIGER.meta.group == "H"
    assert TIGER.meta_for({"tokenizer": "sid-rqvae"}).name == "TIGER (sid-rqvae)"
    assert TIGER.meta_for({}).name == TIGER.meta_for({"tokenizer": "bad"}).name == "TIGER"


@pytest.mark.parametrize("mode", MODES)
def test_beats_most_popular(world, mode):
    test = world.compare("tiger", "most-popular", mode)
    assert test["diff"] > 0 and test["p"] < 0.05, test


def test_every_ranked_item_is_real_and_unseen(world):
    top = world.answer("tiger", "full")
    n, n_items = len(world.requests["full"]), world.td.n_items
    assert isinstance(top, TopK) and top.items.shape == (n, 20)
    assert ((top.items >= 0) & (top.items < n_items)).all()  # valid-item rate 100%, no padding needed
    assert np.isfinite(top.scores).all() and (np.diff(top.scores, axis=1) <= 0).all()
    for items, request in zip(top.items.tolist(), world.requests["full"]):
        assert len(set(items)) == 20 and not set(items) & set(request.history)


def test_scores_are_exact_log_likelihoods_in_both_modes(world):
    """The beam's score of an item equals its teacher-forced log-likelihood (the sampled mode's
    score), so the two modes rank by the same quantity."""
    model, top = world.model("tiger"), world.answer("tiger", "full")
    requests = world.requests["full"][:30]
    with_candidates = [RankRequest(r.user, r.history, top.items[i]) for i, r in enumerate(requests)]
    np.testing.assert_allclose(model.rank(with_candidates), top.scores[:30], rtol=1e-5, atol=1e-5)
    sampled = world.answer("tiger", "sampled-100")
    assert sampled.shape == (n := len(world.requests["sampled-100"]), 101) and np.isfinite(sampled).all()
    assert (sampled <= 0).all() and n == 500


def test_short_and_empty_histories(world):
    model = world.model("tiger")
    top = model.rank([RankRequest(0, ()), RankRequest(1, (5,)), RankRequest(2, tuple(range(40)))])
    assert top.items.shape == (3, 20) and (top.items >= 0).all() and not set(top.items[2]) & set(range(40))
    assert model.rank([]).items.shape == (0, 20)
    assert model.rank([RankRequest(0, (), np.array([3, 4]))]).shape == (1, 2)


def test_records_the_tokenizer_beam_and_training(world):
    stats = world.model("tiger").extra_stats()
    assert stats["beam_width"] == 20 and stats["top_k"] == 20 and stats["epochs_run"] >= 1
    tok = stats["tokenizer"]
    assert tok["kind"] == "sid-rqkmeans" and tok["config"] == {"kind": "sid-rqkmeans", "levels": 3,
                                                               "codebook_size": 16, "seed": 0}
    assert tok["level_sizes"][:3] == [16, 16, 16] and len(tok["report"]["utilisation"]) == 4
    assert {"collision_rate", "reconstruction_rel", "reconstruction_mse"} <= set(tok["report"])


def test_auto_codebook_follows_the_catalogue():
    assert [auto_codebook_size(n) for n in (10, 400, 1000, 5000, 12_000, 10**6)] == [8, 16, 32, 128, 256, 256]
    assert tokenizer_config("sid-rqvae", 1000).to_dict()["codebook_size"] == 32
    assert tokenizer_config({"kind": "sid-rqkmeans", "codebook_size": 256, "levels": 4}, 1000).levels == 4


def test_deterministic_for_a_seed(world):
    from benchmark.api import SeqFitData

    data = world.fit_data
    small = SeqFitData(data.sequences[:150], data.valid[:30], data.valid_targets[:30], data.valid_seen[:30])
    requests = world.requests["sampled-100"][:40]

    def run(seed):
        return fitted(TIGER(epochs=1), world.td.catalogue, small, seed).rank(requests)

    first = run(3)
    assert np.array_equal(first, run(3)) and not np.array_equal(first, run(4))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"top_k": 5}, "TIGER: argument top_k (5) must be at least 10 (NDCG@10) and at most beam_width (20)"),
    ({"top_k": 30}, "TIGER: argument top_k (30) must be at least 10 (NDCG@10) and at most beam_width (20)"),
    ({"beam_width": 0}, "TIGER: argument beam_width must be a positive integer, got 0"),
    ({"tokenizer": "unique-id"}, "TIGER: argument tokenizer kind must be one of ['sid-rqvae', 'sid-rqkmeans']"),
    ({"tokenizer": {"kind": "sid-rqkmeans", "levels": 0}}, "TIGER: argument tokenizer is not a valid item tokenizer"),
    ({"tokenizer": 3}, "TIGER: argument tokenizer must be a kind name or a config dict, got 3"),
    ({"hidden": 30, "heads": 4}, "TIGER: argument hidden (30) must be a multiple of heads (4)"),
    ({"dropout": 1.0}, "TIGER: argument dropout must be a probability in [0, 1)"),
])
def test_bad_arguments_name_the_model_the_argument_and_the_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_model("tiger")(**kwargs)


def test_rejects_ctr_data(world):
    from helpers_models import ctr_fixture

    with pytest.raises(ModelError, match="TIGER trains on next-item sequences"):
        world.model("tiger").fit(ctr_fixture().fit)


def test_recboard_run_with_tiger_in_the_plan(tmp_path):
    from test_runner import raw_plan

    from benchmark.cli import main
    from benchmark.results import read_result
    from leaderboard.build import build

    raw = raw_plan(tmp_path, ["most-popular", {"key": "tiger", "args": {"epochs": 2}}])
    raw["tasks"] = raw["tasks"][1:]  # both next-item modes
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path)]) == 0
    results = [read_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]
    tiger = [r for r in results if r["model"]["key"] == "tiger"]
    assert len(results) == 4 and all(r["status"] == "ok" for r in results)
    assert sorted(r["task"]["variant"] for r in tiger) == ["full", "sampled-100"]
    for r in tiger:
        extra = r["efficiency"]["extra"]
        assert extra["tokenizer"]["kind"] == "sid-rqkmeans" and extra["beam_width"] == 20
        assert 0 < r["metrics"]["ndcg@10"] <= 1
    page = build(tmp_path / "results", tmp_path / "site").index.read_text()
    assert "TIGER" in page and "utilisation" in page
