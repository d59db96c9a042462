from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.api import Model, ModelMeta
from benchmark.registry import register_model, unregister_model
from benchmark.results import read_result, write_result, ResultError
from benchmark.runner.config import ConfigError, load_config, parse_config
from benchmark.runner.run import run_plan

META = dict(paradigm="baseline", item_repr="none", scheme="zero-shot", backend="numpy", license="MIT")


class Raises(Model):
    meta = ModelMeta(name="t-raises", supports=("score",), **META)

    def score(self, requests):
        raise RuntimeError("boom in score")


class NaNs(Model):
    meta = ModelMeta(name="t-nan", supports=("score", "rank"), **META)

    def score(self, requests):
        out = np.full(len(requests), 0.5)
        out[3] = np.nan
        return out

    def rank(self, requests):
        width = self.catalogue.n_items if requests[0].candidates is None else len(requests[0].candidates)
        return np.full((len(requests), width), np.nan)


class ShortCTR(Model):
    meta = ModelMeta(name="t-short", supports=("score",), **META)

    def score(self, requests):
        return np.zeros(len(requests) - 1)


@pytest.fixture
def broken_models():
    keys = {"t-raises": Raises, "t-nan": NaNs, "t-short": ShortCTR}
    for k, cls in keys.items():
        register_model(k)(cls)
    yield list(keys)
    for k in keys:
        unregister_model(k)


def plan(tmp_path, models, **extra):
    raw = {
        "name": "t",
        "results_dir": str(tmp_path / "results"),
        "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "seq_test_users": 40,
                     "seq_valid_users": 40, "seq_finetune_sequences": 300, "latency_sample": 4, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 3}},
        "tasks": ["ctr", {"name": "seqrec", "candidates": "full"}, {"name": "seqrec", "candidates": "sampled-100"}],
        "models": models,
        **extra,
    }
    return parse_config(raw)


def test_failures_are_recorded_and_the_rest_goes_on(tmp_path, broken_models):
    config = plan(tmp_path, ["random", *broken_models])
    report = run_plan(config)
    results = {p.stem: read_result(p) for p in (tmp_path / "results").glob("*.json")}
    # random: 3 tasks; t-raises: ctr; t-nan: 3; t-short: ctr
    assert len(results) == 8
    by_model = {}
    for r in results.values():
        by_model.setdefault(r["model"]["key"], []).append(r)
    assert all(r["status"] == "ok" for r in by_model["random"])
    (raised,) = by_model["t-raises"]
    assert raised["status"] == "failed" and raised["error"]["stage"] == "predict"
    assert "boom in score" in raised["error"]["message"]
    assert all(r["status"] == "failed" and "NaN" in r["error"]["message"] for r in by_model["t-nan"])
    (short,) = by_model["t-short"]
    assert "shape" in short["error"]["message"] and short["error"]["stage"] == "validate"
    assert len(report.failed) == 5


def test_result_contents_and_skip_on_rerun(tmp_path):
    config = plan(tmp_path, ["random", "most-popular"])
    first = run_plan(config)
    assert len(first.written) == 6 and not first.failed
    r = read_result(next((tmp_path / "results").glob("most-popular*seqrec-full*.json")))
    assert r["task"]["variant"] == "full" and r["main_metric"] == "ndcg@10"
    assert r["task"]["protocol"]["name"] == "recboard-v1" and r["task"]["protocol"]["window"] == 20
    assert r["task"]["protocol"]["seq_test_users"] == 40
    assert len(r["task"]["task_data_hash"]) == 16
    for k in ("hr@10", "ndcg@10", "mrr", "recall@20", "coverage@10", "novelty@10", "serendipity@10"):
        assert k in r["metrics"]
    lat = r["efficiency"]["latency_ms"]
    assert lat["n"] == 4 and lat["warmup"] == 1 and 0 < lat["p50"] <= lat["p95"] * 1.0001
    assert r["efficiency"]["throughput_rps"] > 0 and r["efficiency"]["peak_memory_mb"] > 0
    assert r["environment"]["python"] and r["harness"]["version"]
    second = run_plan(config)
    assert not second.written and len(second.skipped) == 6


def test_changed_args_rerun(tmp_path):
    run_plan(plan(tmp_path, ["random"]))
    again = run_plan(plan(tmp_path, [{"key": "random", "args": {}}], seeds=[1]))
    assert len(again.written) == 3


def test_only_oracles_see_the_generator(tmp_path):
    seen = {}

    class Peek(Model):
        meta = ModelMeta(name="t-peek", supports=("score",), **META)

        def setup(self, catalogue, seed):
            super().setup(catalogue, seed)
            seen["source"] = catalogue.source

        def score(self, requests):
            return np.full(len(requests), 0.5)

    register_model("t-peek")(Peek)
    try:
        run_plan(plan(tmp_path, [{"key": "t-peek", "tasks": ["ctr"]}, {"key": "oracle", "tasks": ["ctr"]}]))
    finally:
        unregister_model("t-peek")
    assert seen["source"]["adapter"] == "synthetic" and "params" not in seen["source"]
    oracle = read_result(next((tmp_path / "results").glob("oracle*.json")))
    assert oracle["status"] == "ok" and oracle["metrics"]["auc"] > 0.8


def test_model_filters(tmp_path):
    config = plan(tmp_path, [{"key": "random", "tasks": ["seqrec-full"]}])
    assert len(run_plan(config).written) == 1


def test_unreadable_dataset_fails_its_runs_only(tmp_path):
    config = plan(tmp_path, ["random"])
    config.datasets["missing"] = {"adapter": "movielens-100k", "path": str(tmp_path / "nope")}
    report = run_plan(config)
    failed = [read_result(tmp_path / "results" / f"{rid}.json") for rid in report.failed]
    assert len(failed) == 3 and all(r["error"]["stage"] == "data" for r in failed)
    assert all("nope" in r["error"]["message"] for r in failed)
    assert len(report.written) == 6


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    config = plan(tmp_path, ["random"])
    run_plan(config)
    path = next((tmp_path / "results").glob("*.json"))
    before = path.read_text()
    bad = json.loads(before)
    bad["metrics"] = {"auc": float("nan")}
    with pytest.raises(ValueError):
        write_result(bad, path.parent)
    assert path.read_text() == before
    assert not list(path.parent.glob(".tmp-*"))
    bad = json.loads(before)
    bad["status"] = "maybe"
    with pytest.raises(ResultError, match="status"):
        write_result(bad, path.parent)


def test_config_errors_name_the_place(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ndatasets: [\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_config({"datasets": {"a": {"adapter": "synthetic"}}, "tasks": ["ctr"], "models": ["random"], "modles": 1})
    with pytest.raises(ConfigError, match="'models' is required"):
        parse_config({"datasets": {"a": {"adapter": "synthetic"}}, "tasks": ["ctr"]})
    with pytest.raises(ConfigError, match="unknown protocol fields"):
        parse_config({"datasets": {"a": {"adapter": "synthetic"}}, "tasks": ["ctr"], "models": ["random"],
                      "protocol": {"windw": 3}})
    with pytest.raises(ConfigError, match="unknown datasets"):
        parse_config({"datasets": {"a": {"adapter": "synthetic"}}, "tasks": ["ctr"],
                      "models": [{"key": "random", "datasets": ["b"]}]})


def test_candidate_modes_share_one_fit(tmp_path):
    calls = []

    class Counting(Model):
        meta = ModelMeta(name="t-count", paradigm="baseline", item_repr="none", scheme="fine-tuned",
                         backend="numpy", supports=("rank",), license="MIT")

        def fit(self, data):
            calls.append(len(data.sequences))

        def rank(self, requests):
            width = self.catalogue.n_items if requests[0].candidates is None else len(requests[0].candidates)
            return np.tile(np.arange(width, dtype=float), (len(requests), 1))

    register_model("t-count")(Counting)
    try:
        report = run_plan(plan(tmp_path, ["t-count"]))
    finally:
        unregister_model("t-count")
    assert len(calls) == 1 and len(report.written) == 2
    results = sorted((read_result(p) for p in report.written), key=lambda r: r["task"]["variant"])
    full, sampled = results
    assert "fit_reused_from" not in full["efficiency"]
    assert sampled["efficiency"]["fit_reused_from"] == full["run_id"]
    assert sampled["efficiency"]["fit_s"] == full["efficiency"]["fit_s"]
