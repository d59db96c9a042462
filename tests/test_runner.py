from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.api import Model, ModelMeta
from benchmark.registry import register_model, unregister_model
from benchmark.compare import load_responses
from benchmark.results import ResultError, read_result, write_result
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


def raw_plan(tmp_path, models, **extra):
    return {
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


def plan(tmp_path, models, **extra):
    return parse_config(raw_plan(tmp_path, models, **extra))


def results_of(tmp_path):
    return [read_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]


def test_failures_are_recorded_and_the_rest_goes_on(tmp_path, broken_models):
    config = plan(tmp_path, ["random", *broken_models])
    report = run_plan(config)
    results = results_of(tmp_path)
    # random: 3 tasks; t-raises: ctr; t-nan: 3; t-short: ctr
    assert len(results) == 8
    by_model = {}
    for r in results:
        by_model.setdefault(r["model"]["key"], []).append(r)
    assert all(r["status"] == "ok" for r in by_model["random"])
    (raised,) = by_model["t-raises"]
    assert raised["status"] == "failed" and raised["error"]["stage"] == "predict"
    assert "boom in score" in raised["error"]["message"]
    assert all(r["status"] == "failed" and "NaN" in r["error"]["message"] for r in by_model["t-nan"])
    (short,) = by_model["t-short"]
    assert "shape" in short["error"]["message"] and short["error"]["stage"] == "validate"
    assert len(report.failed) == 5 and not report.ok
    assert all(r["outputs"] is None for r in results if r["status"] == "failed")


def test_result_contents_responses_and_skip_on_rerun(tmp_path):
    config = plan(tmp_path, ["random", "most-popular"])
    first = run_plan(config)
    assert len(first.written) == 6 and not first.failed and first.ok
    path = next((tmp_path / "results").glob("most-popular__seqrec-full*.json"))
    r = read_result(path)
    assert path.stem == r["run_id"] and r["run_id"].endswith(r["result_id"])
    assert r["task"]["variant"] == "full" and r["main_metric"] == "ndcg@10"
    assert r["task"]["protocol"]["name"] == "recboard-v1" and r["task"]["protocol"]["window"] == 20
    assert r["task"]["protocol"]["seq_test_users"] == 40
    assert not any(k.startswith("ctr_") for k in r["task"]["protocol"])  # a task's own fields only
    assert len(r["task"]["task_data_hash"]) == 16
    for k in ("hr@10", "ndcg@10", "mrr", "recall@20", "coverage@10", "novelty@10", "serendipity@10"):
        assert k in r["metrics"]
    table = load_responses(r, path.parent)
    assert len(table["user"]) == r["task"]["counts"]["test"] == r["outputs"]["responses"]["rows"]
    assert table["ndcg@10"].mean() == pytest.approx(r["metrics"]["ndcg@10"])
    lat = r["efficiency"]["latency_ms"]
    assert lat["n"] == 4 and lat["warmup"] == 1 and 0 < lat["p50"] <= lat["p95"] * 1.0001
    assert lat["caches"] == "reset before each timed request"
    assert r["efficiency"]["throughput_rps"] > 0 and r["efficiency"]["peak_memory_mb"] > 0
    assert r["environment"]["python"] and r["harness"]["version"] and r["executor"] == "inprocess"
    ctr = read_result(next((tmp_path / "results").glob("random__ctr*.json")))
    ctr_table = load_responses(ctr, tmp_path / "results")
    assert set(ctr_table) >= {"user", "label", "score"} and set(ctr_table["label"]) <= {0, 1}
    second = run_plan(config)
    assert not second.written and len(second.skipped) == 6


def test_changed_args_make_a_new_result_beside_the_old(tmp_path):
    run_plan(plan(tmp_path, [{"key": "dnn", "args": {"epochs": 1}, "tasks": ["ctr"]}]))
    again = run_plan(plan(tmp_path, [{"key": "dnn", "args": {"epochs": 2}, "tasks": ["ctr"]}]))
    assert len(again.written) == 1 and not again.skipped
    results = results_of(tmp_path)
    assert sorted(r["model"]["args"]["epochs"] for r in results) == [1, 2]
    assert len({r["result_id"] for r in results}) == 2


def test_protocol_override_keeps_both_results(tmp_path):
    """Reproduction: a plan and the same plan with another protocol override used to share a file
    name, so the second silently replaced the first."""
    run_plan(plan(tmp_path, ["random"]))
    raw = raw_plan(tmp_path, ["random"])
    raw["protocol"]["seq_test_users"] = 30
    run_plan(parse_config(raw))
    results = results_of(tmp_path)
    seq = [r for r in results if r["task"]["name"] == "seqrec"]
    assert len(seq) == 4 and len({r["task"]["task_data_hash"] for r in seq}) == 2
    ctr = [r for r in results if r["task"]["name"] == "ctr"]
    assert len(ctr) == 1  # a seqrec field changed: the CTR result is the same result, skipped


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


def test_unreadable_dataset_fails_its_runs_only_and_keeps_ok_results(tmp_path):
    config = plan(tmp_path, ["random"])
    run_plan(config)
    before = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    config.datasets["syn"] = {"adapter": "movielens-100k", "path": str(tmp_path / "nope")}
    report = run_plan(config)
    failed = [read_result(tmp_path / "results" / f"{rid}.json") for rid in report.failed]
    assert len(failed) == 3 and all(r["error"]["stage"] == "data" for r in failed)
    assert all("nope" in r["error"]["message"] for r in failed)
    after = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    assert all(after[name] == data for name, data in before.items())  # nothing finished was replaced


def test_a_task_that_cannot_be_built_fails_only_its_own_runs(tmp_path):
    """Reproduction: sampled-100 on a catalogue too small for it failed every task of the dataset."""
    raw = raw_plan(tmp_path, ["random"])
    raw["datasets"] = {"small": {"adapter": "synthetic", "n_users": 150, "n_items": 60, "seed": 3}}
    report = run_plan(parse_config(raw))
    results = {r["task"]["name"] + str(r["task"]["variant"]): r for r in results_of(tmp_path)}
    assert results["ctrNone"]["status"] == "ok" and results["seqrecfull"]["status"] == "ok"
    sampled = results["seqrecsampled-100"]
    assert sampled["status"] == "failed" and sampled["error"]["stage"] == "data"
    assert "untouched items" in sampled["error"]["message"]
    assert len(report.failed) == 1


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


def test_schema_rejects_out_of_range_metrics(tmp_path):
    run_plan(plan(tmp_path, [{"key": "random", "tasks": ["ctr"]}]))
    path = next((tmp_path / "results").glob("*.json"))
    bad = json.loads(path.read_text())
    bad["metrics"]["auc"] = 7.5
    path.write_text(json.dumps(bad))
    with pytest.raises(ResultError, match="auc"):
        read_result(path)


def test_stale_results_are_reported_not_mixed(tmp_path):
    run_plan(plan(tmp_path, [{"key": "random", "tasks": ["ctr"]}]))
    path = next((tmp_path / "results").glob("*.json"))
    old = json.loads(path.read_text())
    old["schema_version"] = 1
    path.write_text(json.dumps(old))
    with pytest.raises(ResultError, match="stale"):
        read_result(path)


def test_config_errors_name_the_place(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ndatasets: [\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: not valid YAML"):
        load_config(p)
    base = {"datasets": {"a": {"adapter": "synthetic"}}, "tasks": ["ctr"], "models": ["random"]}
    cases = [
        ({"modles": 1}, "unknown keys"),
        ({"models": None}, "'models' is required"),
        ({"protocol": {"windw": 3}}, "unknown protocol fields"),
        ({"protocol": {"ctr_test_rows": 50.7}}, "ctr_test_rows must be a non-negative integer"),
        ({"models": [{"key": "random", "datasets": ["b"]}]}, "unknown datasets"),
        ({"tasks": ["ctrr"]}, r"tasks\[0\]: unknown task 'ctrr'"),
        ({"tasks": [{"name": "seqrec", "candidates": "sampled-50"}]}, "candidates must be one of"),
        ({"models": [{"key": "random", "tasks": ["seqrec-ful"]}]}, r"names tasks \['seqrec-ful'\] that the plan does not run"),
        ({"executor": "slurm"}, "'executor' must be one of"),
        ({"timeout_s": -1}, "'timeout_s' must be a positive number"),
    ]
    for change, message in cases:
        with pytest.raises(ConfigError, match=message):
            parse_config({**base, **change})


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


def test_subprocess_executor_gives_the_same_metrics(tmp_path):
    run_plan(plan(tmp_path / "a", ["random", {"key": "dnn", "args": {"epochs": 1}}]))
    run_plan(plan(tmp_path / "b", ["random", {"key": "dnn", "args": {"epochs": 1}}], executor="subprocess"))
    a = {r["result_id"]: r for r in results_of(tmp_path / "a")}
    b = {r["result_id"]: r for r in results_of(tmp_path / "b")}
    assert a.keys() == b.keys() and len(a) == 4
    for rid in a:
        assert b[rid]["executor"] == "subprocess" and b[rid]["status"] == "ok"
        assert a[rid]["metrics"] == b[rid]["metrics"]


def test_recboard_run_exits_nonzero_when_a_run_failed(tmp_path, broken_models):
    import yaml

    from benchmark.cli import main

    ok_plan, bad_plan = tmp_path / "ok.yaml", tmp_path / "bad.yaml"
    ok_plan.write_text(yaml.safe_dump(raw_plan(tmp_path / "a", [{"key": "random", "tasks": ["ctr"]}])))
    bad_plan.write_text(yaml.safe_dump(raw_plan(tmp_path / "b", ["random", "t-raises"])))
    assert main(["run", str(ok_plan)]) == 0
    assert main(["run", str(bad_plan)]) == 1


def test_code_hash_ignores_where_the_code_lies_and_covers_llm_engines(tmp_path):
    import shutil
    from pathlib import Path

    from benchmark.registry import get_model
    from benchmark.runner.spec import ModelRef, code_hash

    example = Path(__file__).resolve().parent.parent / "submissions" / "example"
    a, b = tmp_path / "a" / "sub", tmp_path / "elsewhere" / "deeper" / "sub"
    shutil.copytree(example, a)
    shutil.copytree(example, b)
    ref_a, ref_b = ModelRef("x", {}, str(a), "model.py:CoVisitation"), ModelRef("x", {}, str(b), "model.py:CoVisitation")
    assert code_hash(ref_a, None) == code_hash(ref_b, None)
    (b / "model.py").write_text((b / "model.py").read_text() + "\n# changed\n")
    assert code_hash(ref_a, None) != code_hash(ref_b, None)
    llm = get_model("llm-zeroshot-text")
    import inspect

    ref = ModelRef("llm-zeroshot-text")
    assert code_hash(ref, inspect.getsourcefile(llm), llm.meta) != code_hash(ref, inspect.getsourcefile(llm))
