"""On the synthetic data the harness must separate models as the generative process says it
should: oracle >= SASRec > most-popular > random on NDCG@10 (full catalogue), and the DNN's AUC
well above chance. A smaller world than the embedded default, the same generator and protocol."""

from __future__ import annotations

import pytest

from benchmark.results import read_result
from benchmark.runner.config import parse_config
from benchmark.runner.run import run_plan


@pytest.mark.slow
def test_models_order_as_the_generator_predicts(tmp_path):
    config = parse_config({
        "name": "ordering",
        "results_dir": str(tmp_path / "results"),
        "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 600, "ctr_finetune_rows": 12000, "seq_test_users": 400, "seq_valid_users": 300,
                     "latency_sample": 3, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 800, "n_items": 400, "seed": 11}},
        "tasks": ["ctr", {"name": "seqrec", "candidates": "full"}],
        "models": ["random", "most-popular", "oracle", "sasrec", "dnn"],
    })
    report = run_plan(config)
    assert not report.failed
    got = {}
    for path in report.written:
        r = read_result(path)
        got[(r["model"]["key"], r["task"]["name"])] = r["metrics"]
    ndcg = {m: got[(m, "seqrec")]["ndcg@10"] for m in ("oracle", "sasrec", "most-popular", "random")}
    assert ndcg["oracle"] >= ndcg["sasrec"] > ndcg["most-popular"] > ndcg["random"], ndcg
    assert ndcg["sasrec"] > 2 * ndcg["most-popular"], ndcg
    assert got[("dnn", "ctr")]["auc"] > 0.65
    assert got[("oracle", "ctr")]["auc"] > got[("dnn", "ctr")]["auc"] > got[("random", "ctr")]["auc"]
