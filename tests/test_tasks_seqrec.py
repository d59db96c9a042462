"""The next-item task's metrics on built task data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from benchmark.protocol import ProtocolSpec, build_task_data
from benchmark.requests import TopK
from conftest import make_dataset
from tasks import ResponseError, make_task
from tasks.seqrec import CUTOFFS, SeqRecTask


def test_full_mode_beyond_accuracy_counts_only_ranked_items():
    ds = make_dataset(n_users=200, n_items=1000, min_len=5, max_len=30)
    spec = ProtocolSpec.from_overrides({"seq_test_users": 150, "seq_valid_users": 20, "seq_finetune_sequences": 100})
    td = build_task_data(ds, spec, tasks=("seqrec",), cache_dir=None)["seqrec"]
    task = SeqRecTask("full")
    rng = np.random.default_rng(0)
    pool = rng.choice(ds.n_items, size=50, replace=False)
    responses = np.full((td.counts()["test"], ds.n_items), -np.inf)
    for row in responses:
        row[rng.choice(pool, size=10, replace=False)] = np.linspace(1.0, 0.1, 10)
    metrics = task.evaluate(td, task.check(responses, task.requests(td), ds.n_items)).metrics
    for k in CUTOFFS:
        assert 0 < metrics[f"coverage@{k}"] <= len(pool) / ds.n_items
    assert metrics["coverage@20"] == metrics["coverage@10"]
    assert metrics["serendipity@20"] <= metrics["hr@20"]


def task_data(n_items=1000):
    ds = make_dataset(n_users=200, n_items=n_items, min_len=5, max_len=30)
    spec = ProtocolSpec.from_overrides({"seq_test_users": 150, "seq_valid_users": 20, "seq_finetune_sequences": 100})
    return build_task_data(ds, spec, tasks=("seqrec",), cache_dir=None)["seqrec"]


def lists_with_ties_and_seen_items(td, mode, seed=0):
    """Per test user a list of up to 25 items with few distinct scores: some of the user's earlier
    items (masked in full mode), the target in about half the rows, and other candidates; some
    rows are shorter than the largest cut-off. Returns the lists and the dense rows they stand for."""
    rng = np.random.default_rng(seed)
    test = td.splits["test"]
    pools = [np.arange(td.n_items)] * len(test["target"]) if mode == "full" else [np.asarray(c) for c in test["candidates"]]
    width = td.n_items if mode == "full" else len(pools[0])
    items, scores = [], []
    dense = np.full((len(pools), width), -np.inf)
    for row, (pool, target, seen) in enumerate(zip(pools, test["target"], test["seen"])):
        chosen = list(rng.choice(seen, size=min(3, len(seen)), replace=False)) if mode == "full" else []
        chosen += [target] if rng.random() < 0.5 else []
        rest = rng.permutation(np.setdiff1d(pool, chosen))[: int(rng.integers(0, 23))]
        row_items = rng.permutation(np.array(chosen + list(rest), dtype=np.int64))
        row_scores = np.sort(rng.integers(0, 5, size=len(row_items)).astype(float))[::-1]
        items.append(row_items.tolist())
        scores.append(row_scores.tolist())
        columns = row_items if mode == "full" else np.array([np.flatnonzero(pool == i)[0] for i in row_items], dtype=int)
        dense[row, columns] = row_scores
    return TopK.from_lists(items, scores), dense


@pytest.mark.parametrize("mode", ["full", "sampled-100"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_topk_scores_exactly_as_its_dense_rows(mode, seed):
    td = task_data()
    task = SeqRecTask(mode)
    requests = task.requests(td)
    sparse, dense = lists_with_ties_and_seen_items(td, mode, seed)
    checked = task.check(sparse, requests, td.n_items)
    assert isinstance(checked, TopK)
    got = task.evaluate(td, checked)
    want = task.evaluate(td, task.check(dense, requests, td.n_items))
    assert got.metrics == want.metrics
    assert 0 < got.metrics["hr@20"] < 1 and ("coverage@20" in got.metrics) == (mode == "full")
    assert set(got.per_example) == set(want.per_example)
    for name, column in want.per_example.items():
        np.testing.assert_array_equal(got.per_example[name], column, err_msg=name)
    assert (got.per_example["equal"] > 0).any()  # ties with the target occurred


def test_topk_from_lists_pads_and_defaults_to_descending_ranks():
    top = TopK.from_lists([[5, 2, 9], [], [7]])
    assert top.items.tolist() == [[5, 2, 9], [-1, -1, -1], [7, -1, -1]] and top.items.dtype == np.int64
    assert top.scores.tolist() == [[3, 2, 1], [-np.inf] * 3, [1, -np.inf, -np.inf]]
    assert TopK.from_lists([[1, 2]], [[0.5, 0.5]]).scores.tolist() == [[0.5, 0.5]]
    assert TopK.from_lists([]).items.shape == (0, 0)
    with pytest.raises(ValueError, match="row 1 has 1 scores for 2 items"):
        TopK.from_lists([[1], [2, 3]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="row 0 is not a flat list of integer item ids"):
        TopK.from_lists([[1.5]])
    with pytest.raises(ValueError, match="1 score lists for 2 item lists"):
        TopK.from_lists([[1], [2]], [[1.0]])


def with_row(top, row, items, scores):
    new_items, new_scores = top.items.copy(), top.scores.copy()
    new_items[row], new_scores[row] = items, scores
    return TopK(new_items, new_scores)


INF = np.inf
BAD_ROWS = [  # row 3 of a 4-wide list replaced; what the error says
    ([1, 2, 1000, -1], [3, 2, 1, -INF], "item id 1000 in slot 2 is neither a catalogue id in [0, 1000) nor -1"),
    ([1, -2, 3, -1], [3, 2, 1, -INF], "item id -2 in slot 1"),
    ([1, -1, 3, -1], [3, -INF, 1, -INF], "padding in slot 1 comes before ranked item 3"),
    ([1, 2, 3, -1], [3, INF, 1, -INF], "item 2 has score inf; ranked items must score finite values"),
    ([1, 2, 3, -1], [3, 2, np.nan, -INF], "item 3 has score nan"),
    ([1, 2, 3, -1], [3, 2, 1, 0], "padding slot 3 has score 0.0; padding must score -inf"),
    ([1, 2, 3, -1], [3, 2, 2.5, -INF], "scores must not increase along the list: slot 2 has 2.5 after 2.0"),
    ([1, 2, 1, -1], [3, 2, 1, -INF], "item 1 is listed more than once"),
]


@pytest.mark.parametrize(("items", "scores", "message"), BAD_ROWS)
def test_a_bad_topk_row_is_named(items, scores, message):
    td = task_data()
    task = SeqRecTask("full")
    requests = task.requests(td)
    good = TopK.from_lists([[1, 2, 3, 4]] * (len(requests) - 1) + [[5]])
    assert task.check(good, requests, td.n_items) is not good
    with pytest.raises(ResponseError, match=re.escape(f"next item (full): TopK row 3: {message}")) as err:
        task.check(with_row(good, 3, items, scores), requests, td.n_items)
    assert err.value.row == 3


def test_a_bad_topk_shape_or_type_is_named():
    td = task_data()
    task = SeqRecTask("sampled-100")
    requests = task.requests(td)
    lists = [r.candidates[:5].tolist() for r in requests]
    task.check(TopK.from_lists(lists), requests, td.n_items)
    outsider = int(np.setdiff1d(np.arange(td.n_items), requests[2].candidates)[0])
    lists[2][4] = outsider
    with pytest.raises(ResponseError, match=f"TopK row 2: item {outsider} is not one of the request's candidates"):
        task.check(TopK.from_lists(lists), requests, td.n_items)
    top = TopK.from_lists([r.candidates[:5].tolist() for r in requests])
    with pytest.raises(ResponseError, match=r"must both have shape \(150, K\), got \(149, 5\) and \(150, 5\)"):
        task.check(TopK(top.items[1:], top.scores), requests, td.n_items)
    with pytest.raises(ResponseError, match="TopK.items must hold integer item ids, got dtype float64"):
        task.check(TopK(top.items.astype(float), top.scores), requests, td.n_items)
    with pytest.raises(ResponseError, match="TopK.scores are not numeric"):
        task.check(TopK(top.items, np.full(top.items.shape, "x")), requests, td.n_items)
    with pytest.raises(ResponseError, match="got a TopK"):
        make_task("ctr").check(top, list(range(150)), td.n_items)
