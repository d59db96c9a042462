from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from benchmark.cli import main
from benchmark.exchange import ExchangeError, score_responses

PLAN = {
    "name": "x",
    "protocol": {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "seq_test_users": 40, "seq_valid_users": 40,
                 "seq_finetune_sequences": 300},
    "datasets": {"syn": {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 5}},
    "tasks": ["ctr"],
    "models": ["random"],
}


@pytest.fixture
def requests_file(tmp_path):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text(yaml.safe_dump({**PLAN, "cache_dir": str(tmp_path / "cache")}))

    def write(task: str, candidates: str = "full"):
        out = tmp_path / f"{task}-{candidates}.jsonl"
        assert main(["requests", str(cfg), "--dataset", "syn", "--task", task, "--candidates", candidates,
                     "--out", str(out)]) == 0
        lines = out.read_text().splitlines()
        return out, json.loads(lines[0]), [json.loads(x) for x in lines[1:]]

    return write


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_agrees_with_sklearn_auc(requests_file, tmp_path, seed):
    path, header, reqs = requests_file("ctr")
    assert header["n_requests"] == len(reqs) and "label" not in reqs[0]
    rng = np.random.default_rng(seed)
    preds = rng.random(len(reqs)).round(2)  # rounding makes ties
    resp = write_jsonl(tmp_path / "r.jsonl", [{"id": r["id"], "score": float(p)} for r, p in zip(reqs, preds)][::-1])
    _, ev = score_responses(path, resp, tmp_path / "cache")
    from benchmark.protocol import ProtocolSpec, build_task_data
    from benchmark.data import load_dataset
    ds = load_dataset(**PLAN["datasets"]["syn"], name="syn")
    td = build_task_data(ds, ProtocolSpec.from_overrides(PLAN["protocol"]), ("ctr",), cache_dir=None)["ctr"]
    assert td.content_hash == header["task_data_hash"]
    labels = np.asarray(td.splits["test"]["label"])
    assert abs(ev.metrics["auc"] - roc_auc_score(labels, preds)) < 1e-9


def test_score_cli_for_next_item(requests_file, tmp_path, capsys):
    path, header, reqs = requests_file("seqrec", "sampled-100")
    assert len(reqs[0]["candidates"]) == 101
    rng = np.random.default_rng(0)
    resp = write_jsonl(tmp_path / "r.jsonl", [{"id": r["id"], "scores": rng.random(101).tolist()} for r in reqs])
    capsys.readouterr()
    assert main(["score", str(path), str(resp), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variant"] == "sampled-100" and 0 <= out["metrics"]["ndcg@10"] <= 1


def test_bad_responses_are_named(requests_file, tmp_path):
    path, _, reqs = requests_file("ctr")
    rows = [{"id": r["id"], "score": 0.5} for r in reqs]
    cases = {
        "no response for 1 request": rows[:-1],
        "duplicate response for id 0": rows + [rows[0]],
        "is not a request id": rows + [{"id": 10**6, "score": 0.1}],
    }
    for message, bad in cases.items():
        with pytest.raises(ExchangeError, match=message):
            score_responses(path, write_jsonl(tmp_path / "bad.jsonl", bad), tmp_path / "cache")
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n{oops\n")
    with pytest.raises(ExchangeError, match=r"bad.jsonl:2: not valid JSON"):
        score_responses(path, tmp_path / "bad.jsonl", tmp_path / "cache")
    nan_rows = [dict(r) for r in rows]
    nan_rows[2]["score"] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        score_responses(path, write_jsonl(tmp_path / "nan.jsonl", nan_rows), tmp_path / "cache")


@pytest.mark.parametrize("value", ["0.5", True, None, [0.5]])
def test_a_score_must_be_a_json_number(requests_file, tmp_path, value):
    path, _, reqs = requests_file("ctr")
    rows = [{"id": r["id"], "score": 0.5} for r in reqs]
    rows[3]["score"] = value
    with pytest.raises(ExchangeError, match=r"bad.jsonl:4: \"score\" must be a JSON number"):
        score_responses(path, write_jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "cache")


@pytest.mark.parametrize("value, message", [
    (["0.5"], r"element 1 is '0.5'"),
    ([True], r"element 1 is True"),
    ("0.5", r"must be a list of JSON numbers, got str"),
])
def test_next_item_scores_must_be_a_list_of_numbers(requests_file, tmp_path, value, message):
    path, _, reqs = requests_file("seqrec", "sampled-100")
    rows = [{"id": r["id"], "scores": [0.1] * 101} for r in reqs]
    rows[1]["scores"] = [0.2] + value if isinstance(value, list) else value
    with pytest.raises(ExchangeError, match=r"bad.jsonl:2: \"scores\" " + ".*" + message):
        score_responses(path, write_jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "cache")


@pytest.mark.parametrize("bad_id", [True, "0", 0.0])
def test_an_id_must_be_a_json_integer(requests_file, tmp_path, bad_id):
    path, _, reqs = requests_file("ctr")
    rows = [{"id": r["id"], "score": 0.5} for r in reqs][1:] + [{"id": bad_id, "score": 0.5}]
    with pytest.raises(ExchangeError, match=rf"bad.jsonl:{len(rows)}: id .* is not a request id"):
        score_responses(path, write_jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "cache")


@pytest.mark.parametrize("drop", [("task",), ("dataset", "protocol"), ("format",)])
def test_a_header_without_required_keys_names_file_line_and_keys(requests_file, tmp_path, capsys, drop):
    path, header, reqs = requests_file("ctr")
    for k in drop:
        del header[k]
    broken = write_jsonl(tmp_path / "requests.jsonl", [header] + reqs)
    resp = write_jsonl(tmp_path / "r.jsonl", [{"id": r["id"], "score": 0.5} for r in reqs])
    with pytest.raises(ExchangeError, match=r"requests.jsonl:1: header lacks required key\(s\) (.*)") as err:
        score_responses(broken, resp, tmp_path / "cache")
    assert all(repr(k) in str(err.value) for k in drop)
    capsys.readouterr()
    assert main(["score", str(broken), str(resp), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "requests.jsonl:1" in capsys.readouterr().err


def test_a_header_with_an_unknown_task_is_an_exchange_error(requests_file, tmp_path):
    path, header, reqs = requests_file("ctr")
    broken = write_jsonl(tmp_path / "requests.jsonl", [{**header, "task": "ctrr"}] + reqs)
    resp = write_jsonl(tmp_path / "r.jsonl", [{"id": r["id"], "score": 0.5} for r in reqs])
    with pytest.raises(ExchangeError, match=r"requests.jsonl:1: unknown task 'ctrr'"):
        score_responses(broken, resp, tmp_path / "cache")


def test_integer_scores_are_numbers(requests_file, tmp_path):
    path, _, reqs = requests_file("ctr")
    rows = [{"id": r["id"], "score": i % 2} for i, r in enumerate(reqs)]
    _, ev = score_responses(path, write_jsonl(tmp_path / "ok.jsonl", rows), tmp_path / "cache")
    assert 0 <= ev.metrics["auc"] <= 1


@pytest.mark.parametrize("candidates", ["full", "sampled-100"])
def test_sparse_next_item_responses_score_as_their_dense_rows(requests_file, tmp_path, candidates):
    path, header, reqs = requests_file("seqrec", candidates)
    rng = np.random.default_rng(1)
    sparse, dense = [], []
    for r in reqs:
        pool = np.arange(header["n_items"]) if r["candidates"] is None else np.array(r["candidates"])
        items = rng.choice(pool, size=int(rng.integers(0, 30)), replace=False).tolist()
        scores = sorted(rng.integers(0, 3, size=len(items)).astype(float).tolist(), reverse=True)
        row = np.full(len(pool), -np.inf)
        row[[int(np.flatnonzero(pool == i)[0]) for i in items]] = scores
        dense.append({"id": r["id"], "scores": row.tolist()})
        # half the lines leave their scores out: descending ranks, which here break the ties by list order
        if r["id"] % 2:
            sparse.append({"id": r["id"], "items": items, "scores": scores})
        else:
            sparse.append({"id": r["id"], "items": items})
            row[[int(np.flatnonzero(pool == i)[0]) for i in items]] = np.arange(len(items), 0, -1)
            dense[-1]["scores"] = row.tolist()
    _, got = score_responses(path, write_jsonl(tmp_path / "sparse.jsonl", sparse[::-1]), tmp_path / "cache")
    _, want = score_responses(path, write_jsonl(tmp_path / "dense.jsonl", dense), tmp_path / "cache")
    assert got.metrics == want.metrics and 0 < got.metrics["hr@20"] < 1
    for name, column in want.per_example.items():
        np.testing.assert_array_equal(got.per_example[name], column, err_msg=name)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[2].update(items=[1, "2"]), r"sparse.jsonl:3: \"items\" must be a list of JSON integers "
                                                  r"\(item ids\); element 1 is '2'"),
    (lambda rows: rows[2].update(items=7), r"sparse.jsonl:3: \"items\" must be .* got int"),
    (lambda rows: rows[1].update(scores=[1.0]), r"sparse.jsonl:2: 1 \"scores\" for 3 \"items\""),
    (lambda rows: rows[1].update(scores=[3, "2", 1]), r"sparse.jsonl:2: \"scores\" must be a list of JSON numbers"),
    (lambda rows: rows[4].pop("items"), r"sparse.jsonl:5: a dense response in a file of sparse ones \(line 1\)"),
    (lambda rows: rows[3].update(items=[5, 6, 5]), r"sparse.jsonl:4: next item \(full\): TopK row 3: item 5 is listed "
                                                   "more than once"),
    (lambda rows: rows[3].update(scores=[1, 2, 3]), r"sparse.jsonl:4: .*TopK row 3: scores must not increase"),
    (lambda rows: rows[0].update(items=[10**6, 1, 2]), r"sparse.jsonl:1: .*TopK row 0: item id 1000000 in slot 0"),
    (lambda rows: (rows[6].update(items=[1, 200, 2]), rows.insert(0, rows.pop(6))),
     r"sparse.jsonl:1: .*TopK row 6: item id 200 in slot 1"),
])
def test_bad_sparse_responses_name_file_and_line(requests_file, tmp_path, change, message):
    path, _, reqs = requests_file("seqrec", "full")
    rows = [{"id": r["id"], "items": [1, 2, 3], "scores": [3.0, 2.0, 1.0]} for r in reqs]
    change(rows)
    with pytest.raises(ValueError, match=message):
        score_responses(path, write_jsonl(tmp_path / "sparse.jsonl", rows), tmp_path / "cache")


def test_a_sparse_item_outside_the_candidates_names_its_line(requests_file, tmp_path):
    path, _, reqs = requests_file("seqrec", "sampled-100")
    rows = [{"id": r["id"], "items": r["candidates"][:3]} for r in reqs]
    outsider = next(i for i in range(200) if i not in reqs[5]["candidates"])
    rows[5]["items"] = [outsider]
    rows = [{"id": 0, "scores": [0.0] * 101}] + rows[1:]
    with pytest.raises(ExchangeError, match=r"sparse.jsonl:2: a sparse response in a file of dense ones \(line 1\)"):
        score_responses(path, write_jsonl(tmp_path / "sparse.jsonl", rows), tmp_path / "cache")
    rows[0] = {"id": 0, "items": reqs[0]["candidates"][:1]}
    with pytest.raises(ValueError, match=rf"sparse.jsonl:6: .*TopK row 5: item {outsider} is not one of the "
                                         "request's candidates"):
        score_responses(path, write_jsonl(tmp_path / "sparse.jsonl", rows), tmp_path / "cache")


def test_qa_requests_out_and_option_scores_back(requests_file, tmp_path):
    path, header, reqs = requests_file("uqa")
    assert header["task"] == "uqa" and reqs[0]["kind"] == "answer" and len(reqs[0]["options"]) == 4
    assert {"question", "history", "user"} <= set(reqs[0]) and "answer" not in reqs[0]
    from benchmark.data import load_dataset
    from benchmark.protocol import ProtocolSpec, build_task_data
    ds = load_dataset(**PLAN["datasets"]["syn"], name="syn")
    td = build_task_data(ds, ProtocolSpec.from_overrides(PLAN["protocol"]), ("uqa",), cache_dir=None)["uqa"]
    truth = np.asarray(td.splits["test"]["answer"])
    rows = [{"id": r["id"], "scores": [1.0 if j == (t if r["id"] % 2 else (t + 1) % 4) else 0.0 for j in range(4)]}
            for r, t in zip(reqs, truth)]
    _, ev = score_responses(path, write_jsonl(tmp_path / "qa.jsonl", rows), tmp_path / "cache")
    assert ev.metrics["acc_overall"] == pytest.approx(np.mean([r["id"] % 2 for r in reqs]))
