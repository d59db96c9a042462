"""The next-item task's metrics on built task data."""

from __future__ import annotations

import numpy as np

from benchmark.protocol import ProtocolSpec, build_task_data
from conftest import make_dataset
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
