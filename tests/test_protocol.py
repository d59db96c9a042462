from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.data import Dataset
from benchmark.protocol import ProtocolError, ProtocolSpec, build_task_data
from benchmark.protocol.build import user_logs
from conftest import make_dataset

SMALL = {"ctr_test_rows": 1500, "ctr_finetune_rows": 6000, "seq_test_users": 80, "seq_valid_users": 60,
         "seq_finetune_sequences": 500}


def build(ds, cache_dir=None, **overrides):
    return build_task_data(ds, ProtocolSpec.from_overrides({**SMALL, **overrides}), cache_dir=cache_dir)


def test_ctr_users_disjoint_and_caps_hold(tiny_dataset):
    ctr = build(tiny_dataset)["ctr"]
    test, train, valid = (set(ctr.splits[s]["user"]) for s in ("test", "train", "valid"))
    assert test and train and valid
    assert not test & train and not test & valid and not train & valid
    counts = ctr.counts()
    assert counts["test"] <= 1500 and counts["train"] + counts["valid"] <= 6000
    assert len(test) <= int(0.2 * 300)
    # 10% of fine-tune users validate
    assert len(valid) == round(0.1 * (len(train) + len(valid)))


def test_ctr_rows_follow_the_rules(tiny_dataset):
    ctr = build(tiny_dataset)["ctr"]
    inter = tiny_dataset.interactions
    touched = inter.groupby("user")["item"].apply(set).to_dict()
    order = inter.sort_values(["user", "timestamp"]).groupby("user")["item"].apply(list).to_dict()
    s = ctr.splits["test"]
    per_user_pos: dict[int, int] = {}
    for u, h, i, y in zip(s["user"], s["history"], s["item"], s["label"]):
        assert 1 <= len(h) <= 20
        assert i not in h
        if y == 1:
            per_user_pos[u] = per_user_pos.get(u, 0) + 1
            seq = order[u]
            j = seq.index(i)
            assert h == seq[max(0, j - 20):j]  # the previous window positives, oldest first
        else:
            assert i not in touched[u]  # negatives come from never-touched items
    assert max(per_user_pos.values()) <= 10
    labels = np.asarray(s["label"])
    assert (labels == 0).sum() == 2 * (labels == 1).sum()  # ratio 2


def test_real_negatives_are_used_instead_of_sampling():
    ds = make_dataset(negatives=True)
    ctr = build(ds)["ctr"]
    inter = ds.interactions
    real_neg = set(zip(inter.loc[inter.label == 0, "user"], inter.loc[inter.label == 0, "item"]))
    s = ctr.splits["test"]
    negs = [(u, i) for u, i, y in zip(s["user"], s["item"], s["label"]) if y == 0]
    assert negs and all(p in real_neg for p in negs)


def test_seqrec_leave_one_out_without_leakage(tiny_dataset):
    seq = build(tiny_dataset)["seqrec"]
    order = (tiny_dataset.interactions.sort_values(["user", "timestamp"]).groupby("user")["item"].apply(list).to_dict())
    test = seq.splits["test"]
    train_items_by_user: dict[int, set] = {}
    for u, items in zip(seq.splits["train"]["user"], seq.splits["train"]["items"]):
        assert 2 <= len(items) <= 21
        train_items_by_user.setdefault(u, set()).update(items)
    valid_target = dict(zip(seq.splits["valid"]["user"], seq.splits["valid"]["target"]))
    for u, h, t, seen, cands, pos in zip(test["user"], test["history"], test["target"], test["seen"],
                                         test["candidates"], test["target_pos"]):
        assert t == order[u][-1]
        assert t not in h and t not in seen
        assert t not in train_items_by_user.get(u, set())
        assert valid_target.get(u, None) != t
        assert h == order[u][:-1][-20:]
        assert len(cands) == 101 and cands[pos] == t and len(set(cands)) == 101
        assert not set(cands) - {t} & set(order[u])  # sampled negatives never touched
    assert len(test["user"]) == 80


def test_seqrec_caps_hold(tiny_dataset):
    seq = build(tiny_dataset, seq_finetune_sequences=50)["seqrec"]
    assert seq.counts()["train"] == 50
    assert seq.counts()["valid"] == 60


def test_same_seed_same_splits_other_seed_differs(tiny_dataset):
    a = build(tiny_dataset)
    b = build(tiny_dataset)
    c = build(tiny_dataset, data_seed=1)
    for task in ("ctr", "seqrec"):
        assert a[task].content_hash == b[task].content_hash
        assert a[task].content_hash != c[task].content_hash
    assert a["ctr"].splits["test"]["user"] == b["ctr"].splits["test"]["user"]
    assert a["ctr"].splits["test"]["user"] != c["ctr"].splits["test"]["user"]


def test_cache_round_trip(tiny_dataset, tmp_path):
    first = build(tiny_dataset, cache_dir=tmp_path)
    assert any(tmp_path.iterdir())
    again = build(tiny_dataset, cache_dir=tmp_path)
    for task in ("ctr", "seqrec"):
        assert again[task].content_hash == first[task].content_hash
        assert again[task].splits["test"][:5] == first[task].splits["test"][:5]


def test_protocol_fields_change_the_hash_and_unknown_fields_fail(tiny_dataset):
    spec = ProtocolSpec()
    assert spec.window == 20 and spec.ctr_negative_ratio == 2 and spec.ctr_positives_per_user == 10
    assert (spec.ctr_test_rows, spec.ctr_finetune_rows, spec.seq_test_users, spec.seq_finetune_sequences) == (
        20_000, 100_000, 5_000, 40_000)
    assert spec.hash("ctr") != ProtocolSpec.from_overrides({"window": 10}).hash("ctr")
    assert spec.hash("ctr") == ProtocolSpec.from_overrides({"seq_test_users": 7}).hash("ctr")
    with pytest.raises(ProtocolError, match="unknown protocol fields"):
        ProtocolSpec.from_overrides({"windw": 5})


def test_window_truncates_histories():
    ds = make_dataset(min_len=30, max_len=40, n_users=60)
    seq = build(ds, window=5, seq_test_users=20)["seqrec"]
    assert max(len(h) for h in seq.splits["test"]["history"]) == 5
    assert max(len(x) for x in seq.splits["train"]["items"]) == 6


def _logs(rows, columns, **spec):
    inter = pd.DataFrame(rows, columns=columns)
    inter = inter.astype({c: ("float64" if c == "rating" else "int8" if c == "label" else "int64") for c in columns})
    items = pd.DataFrame({f: [f"{f} {i}" for i in range(10)] for f in ("title", "category", "brand", "description")})
    return {lg.user: lg for lg in user_logs(Dataset("dedupe", inter, items), ProtocolSpec(**spec))}


def test_dedupe_keeps_the_first_positive_over_an_earlier_negative():
    logs = _logs([(0, 5, 1, 0), (0, 7, 2, 1), (0, 5, 3, 1), (0, 5, 4, 1), (0, 5, 5, 0),
                  (1, 4, 1, 0), (1, 4, 2, 0),
                  (2, 3, 1, 1), (2, 3, 2, 0)],
                 ["user", "item", "timestamp", "label"])
    # user 0: skipped item 5 at t=1, clicked it at t=3 and t=4: a positive at its first click
    assert logs[0].pos_items.tolist() == [7, 5] and logs[0].pos_times.tolist() == [2, 3]
    assert logs[0].neg_items.size == 0
    # user 1: only negatives: the first one stays
    assert logs[1].neg_items.tolist() == [4] and logs[1].neg_times.tolist() == [1]
    assert logs[1].pos_items.size == 0
    # user 2: a click then a skip stays the click
    assert logs[2].pos_items.tolist() == [3] and logs[2].pos_times.tolist() == [1]
    assert logs[2].neg_items.size == 0


def test_dedupe_with_ratings_keeps_the_first_positive_rating():
    logs = _logs([(0, 2, 1, 2.0), (0, 2, 6, 5.0), (0, 8, 3, 1.0), (0, 8, 4, 2.0)],
                 ["user", "item", "timestamp", "rating"], positive_rating=4.0)
    assert logs[0].pos_items.tolist() == [2] and logs[0].pos_times.tolist() == [6]
    assert logs[0].neg_items.tolist() == [8] and logs[0].neg_times.tolist() == [3]


def test_dedupe_without_labels_keeps_the_first_interaction():
    logs = _logs([(0, 2, 5), (0, 3, 6), (0, 2, 7)], ["user", "item", "timestamp"])
    assert logs[0].pos_items.tolist() == [2, 3] and logs[0].pos_times.tolist() == [5, 6]
    assert logs[0].touched.tolist() == [2, 3]
