"""The Ray executor on a local Ray instance gives the in-process executor's metrics. Skipped only
when the `ray` extra is not installed (the Makefile installs it)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from benchmark.results import read_result  # noqa: E402
from benchmark.runner.config import parse_config  # noqa: E402
from benchmark.runner.run import run_plan  # noqa: E402

MODELS = ["random", "most-popular", "oracle", {"key": "dnn", "args": {"epochs": 1}},
          {"key": "sasrec", "args": {"epochs": 1}}]


def plan(folder, executor):
    return parse_config({
        "name": "ray", "results_dir": str(folder / "results"), "cache_dir": str(folder / "cache"),
        "protocol": {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "seq_test_users": 40, "seq_valid_users": 40,
                     "seq_finetune_sequences": 300, "latency_sample": 3, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 3}},
        "tasks": ["ctr", {"name": "seqrec", "candidates": "full"}, {"name": "seqrec", "candidates": "sampled-100"}],
        "models": MODELS, "executor": executor, "threads": 2})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # as the CI machine has
    yield
    ray.shutdown()


def test_ray_gives_the_in_process_metrics(tmp_path, local_ray):
    inproc = run_plan(plan(tmp_path / "a", "inprocess"))
    on_ray = run_plan(plan(tmp_path / "b", "ray"))
    assert inproc.ok and on_ray.ok and len(on_ray.written) == len(inproc.written) == 12
    a = {r["result_id"]: r for r in map(read_result, inproc.written)}
    b = {r["result_id"]: r for r in map(read_result, on_ray.written)}
    assert a.keys() == b.keys()
    for rid, result in b.items():
        assert result["executor"] == "ray"
        assert result["metrics"] == a[rid]["metrics"], result["run_id"]
