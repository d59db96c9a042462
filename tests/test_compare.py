"""benchmark.compare and `recboard compare`: checked responses in, a paired difference out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_results import ctr_responses, make_result, seq_responses, write_run

from benchmark.cli import main
from benchmark.compare import CompareError, compare_runs, format_comparison, load_run



def pair(tmp_path: Path, auc_a: float = 0.9, auc_b: float = 0.6, **b_kwargs) -> tuple[Path, Path]:
    a = write_run(tmp_path, make_result("alpha"), ctr_responses(auc_a, n_users=40, seed=1))
    b = write_run(tmp_path, make_result("beta", **b_kwargs), ctr_responses(auc_b, n_users=40, seed=2))
    return a, b


def test_paired_difference_of_two_results(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    c = compare_runs(a, b, n_boot=500)
    assert c.metric == "auc"
    assert c.test["a"] == pytest.approx(0.9) and c.test["b"] == pytest.approx(0.6)
    assert c.test["diff"] == pytest.approx(0.3)
    assert 0 < c.test["lo"] < 0.3 < c.test["hi"]
    assert c.test["p"] < 0.01 and c.test["n_users"] == 40
    text = format_comparison(c)
    assert "auc: A 0.9000  B 0.6000" in text and "A - B = +0.3000, 95% CI [+" in text
    assert "reports" not in text  # the responses reproduce the reported metric
    assert compare_runs(a, b, n_boot=500).test == c.test  # fixed seed, same answer


def test_cli_prints_the_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair(tmp_path, auc_b=0.89)
    assert main(["compare", str(a), str(b), "--n-boot", "300", "--seed", "3", "--metric", "logloss"]) == 0
    out = capsys.readouterr().out
    assert "alpha__ctr__ml-1m__seed0__" in out and "beta__ctr__ml-1m__seed0__" in out
    assert "ctr on ml-1m (task data aaaa1111bbbb2222): 400 requests from 40 users" in out
    assert "logloss: A " in out and "300 resamples, seed 3" in out
    assert main(["compare", str(a), str(b), "--n-boot", "300"]) == 0
    out = capsys.readouterr().out
    assert "auc: A 0.9000  B 0.8900" in out and "not significant at 0.05" in out


def test_seqrec_results_compare_on_any_per_user_metric(tmp_path: Path) -> None:
    a = write_run(tmp_path, make_result("alpha", task="seqrec", variant="full"), seq_responses(60, seed=1))
    b = write_run(tmp_path, make_result("beta", task="seqrec", variant="full"), seq_responses(20, seed=2))
    c = compare_runs(a, b, n_boot=300)
    assert c.metric == "ndcg@10" and c.test["diff"] == pytest.approx(0.2)
    assert compare_runs(a, b, metric="hr@1", n_boot=300).test["diff"] == pytest.approx(0.2)
    with pytest.raises(CompareError, match="coverage@10"):
        compare_runs(a, b, metric="coverage@10")


def error_of(capsys: pytest.CaptureFixture[str], a: Path, b: Path) -> str:
    assert main(["compare", str(a), str(b), "--n-boot", "50"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recboard compare: error: ")
    return err


def test_tampered_or_missing_responses_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair(tmp_path)
    parquet = tmp_path / json.loads(b.read_text())["outputs"]["responses"]["file"]
    data = parquet.read_bytes()
    parquet.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert "sha256" in error_of(capsys, a, b)
    parquet.unlink()
    assert "is missing" in error_of(capsys, a, b)


def test_responses_must_match_the_recorded_rows_and_name(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    result = json.loads(b.read_text())
    result["outputs"]["responses"]["rows"] += 1
    b.write_text(json.dumps(result))
    with pytest.raises(CompareError, match="401"):
        load_run(b)
    result["outputs"]["responses"]["file"] = "../" + result["outputs"]["responses"]["file"]
    b.write_text(json.dumps(result))
    with pytest.raises(CompareError, match="outputs/responses/file"):
        load_run(b)


def test_other_task_data_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair(tmp_path, task_data_hash="cccc3333dddd4444")
    assert "not the same task data" in error_of(capsys, a, b)
    seq = write_run(tmp_path, make_result("gamma", task="seqrec", variant="full"), seq_responses(10))
    assert "not the same task: ctr (None) vs seqrec (full)" in error_of(capsys, a, seq)
    sampled = write_run(tmp_path, make_result("gamma", task="seqrec", variant="sampled-100"), seq_responses(10))
    assert "not the same task" in error_of(capsys, seq, sampled)


def test_same_hash_but_other_requests_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_run(tmp_path, make_result("alpha"), ctr_responses(0.8, n_users=40))
    b = write_run(tmp_path, make_result("beta"), ctr_responses(0.8, n_users=41))
    assert "not on the same requests" in error_of(capsys, a, b)


def test_failed_runs_and_unreadable_results_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = pair(tmp_path)
    failed = write_run(tmp_path, make_result("delta", status="failed", error_message="boom"))
    assert "failed run has no responses" in error_of(capsys, a, failed)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in error_of(capsys, broken, a)
    assert "unreadable" in error_of(capsys, tmp_path / "absent.json", a)
    legacy = json.loads(a.read_text())
    legacy["outputs"] = None
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    assert "invalid at outputs" in error_of(capsys, a, tmp_path / "legacy.json")


def test_a_result_whose_responses_disagree_with_its_metric_says_so(tmp_path: Path) -> None:
    a = write_run(tmp_path, make_result("alpha"), ctr_responses(0.8, n_users=40))
    result = make_result("beta")
    b = write_run(tmp_path, result, ctr_responses(0.7, n_users=40), set_metric=False)  # reports 0.75
    text = format_comparison(compare_runs(a, b, n_boot=50))
    assert "B 0.7000 (the result reports 0.750000)" in text
    assert np.isfinite(compare_runs(a, b, n_boot=50).test["p"])
