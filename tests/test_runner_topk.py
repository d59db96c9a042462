"""A TopK answer crosses every executor as two plain arrays and scores the same in each."""

from __future__ import annotations

import numpy as np
import pytest
from test_runner import raw_plan

from benchmark.compare import load_responses
from benchmark.registry import register_model, unregister_model
from benchmark.requests import TopK
from benchmark.results import read_result
from benchmark.runner.config import parse_config
from benchmark.runner.run import run_plan
from benchmark.runner.worker import JobOutput, load_submission_class, read_outputs, transportable, write_output
from benchmark.validate import run_tiny

LISTS_MODEL = '''
import numpy as np
from benchmark.api import Model, ModelMeta, candidate_matrix
from benchmark.requests import TopK


class Lists(Model):
    """Up to 27 items per request with tied scores, led in full mode by the user's last items."""

    meta = ModelMeta(name="lists", paradigm="baseline", item_repr="id", scheme="zero-shot", backend="numpy",
                     supports=("rank",), license="MIT")

    def rank(self, requests):
        candidates = candidate_matrix(requests)
        items, scores = [], []
        for i, r in enumerate(requests):
            pool = np.arange(self.catalogue.n_items) if candidates is None else candidates[i]
            own = list(r.history[-3:]) if candidates is None else []
            rest = [int(x) for x in np.random.default_rng(r.user).permutation(pool)[:25] if x not in own]
            row = own + rest[: 5 + r.user % 20]
            items.append(row)
            scores.append(sorted((float(x % 4) for x in row), reverse=True))
        return TopK.from_lists(items, scores)
'''
YAML = """name: lists
authors: [tests]
paradigm: baseline
item_repr: id
scheme: zero-shot
license: MIT
citation: none
entry: model.py:Lists
"""


def test_outputs_round_trip_as_plain_arrays(tmp_path):
    top = TopK(np.array([[3, 1, -1]]), np.array([[2.0, 1.0, -np.inf]]))
    write_output(tmp_path, 0, JobOutput("a", True, responses=top))
    write_output(tmp_path, 1, JobOutput("b", True, responses=np.array([[0.5, 0.25]])))
    write_output(tmp_path, 2, JobOutput("c", False, error={"stage": "predict"}))
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["0000.items.npy", "0000.scores.npy", "0001.npy"]
    first, second, third = read_outputs(tmp_path)
    assert isinstance(first.responses, TopK) and first.responses.items.dtype == np.int64
    np.testing.assert_array_equal(first.responses.items, top.items)
    np.testing.assert_array_equal(first.responses.scores, top.scores)
    assert second.responses.tolist() == [[0.5, 0.25]] and third.responses is None


def test_half_a_topk_or_a_pickle_is_unreadable(tmp_path):
    write_output(tmp_path, 0, JobOutput("a", True, responses=TopK(np.array([[1]]), np.array([[1.0]]))))
    (tmp_path / "0000.scores.npy").unlink()
    with pytest.raises(ValueError, match="need 0000.npy alone or both 0000.items.npy and 0000.scores.npy"):
        read_outputs(tmp_path)
    np.save(tmp_path / "0000.scores.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        read_outputs(tmp_path)


def test_a_topk_leaves_the_model_as_int64_ids_and_float64_scores():
    out = transportable(TopK([[4, 2]], [[1, 0]]))
    assert out.items.dtype == np.int64 and out.scores.dtype == np.float64
    with pytest.raises(TypeError, match="TopK.items must hold integer item ids, got dtype float64"):
        transportable(TopK(np.array([[1.0]]), np.array([[1.0]])))
    with pytest.raises(TypeError, match="responses are not numeric"):
        transportable(TopK(np.array([[1]]), np.array([["x"]])))


def test_in_process_and_subprocess_answers_score_alike(tmp_path):
    folder = tmp_path / "subs" / "lists"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(LISTS_MODEL)
    (folder / "submission.yaml").write_text(YAML)
    register_model("t-lists")(load_submission_class(folder, "model.py:Lists"))
    try:
        raw = raw_plan(tmp_path, ["t-lists"], submissions=str(folder.parent))
        raw["tasks"] = raw["tasks"][1:]
        report = run_plan(parse_config(raw), validate_submission=lambda sub: run_tiny(sub, timeout_s=120))
    finally:
        unregister_model("t-lists")
    assert report.ok and len(report.written) == 4
    results = {}
    for path in report.written:
        r = read_result(path)
        results[(r["executor"], r["task"]["variant"])] = (r, load_responses(r, path.parent))
    for mode in ("full", "sampled-100"):
        (mine, mine_table), (sub, sub_table) = results[("inprocess", mode)], results[("subprocess", mode)]
        assert mine["metrics"] == sub["metrics"] and 0 < mine["metrics"]["hr@20"] < 1
        assert set(mine_table) == set(sub_table)
        for name, column in mine_table.items():
            np.testing.assert_array_equal(sub_table[name], column, err_msg=name)
