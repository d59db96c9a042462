"""The task-data cache and content hash: what they cover, and how they survive bad files and
concurrent builders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.data import Dataset
from benchmark.protocol import ProtocolError, ProtocolSpec, build_task_data
from benchmark.protocol import taskdata
from benchmark.requests import RankRequest
from conftest import make_dataset
from tasks import make_task

SMALL = {"ctr_test_rows": 600, "ctr_finetune_rows": 3000, "seq_test_users": 50, "seq_valid_users": 40,
         "seq_finetune_sequences": 300}


def spec(**overrides):
    return ProtocolSpec.from_overrides({**SMALL, **overrides})


def test_item_text_changes_the_task_data_hash(tiny_dataset):
    other = Dataset(tiny_dataset.name, tiny_dataset.interactions,
                    tiny_dataset.items.assign(title=[f"another title {i}" for i in range(tiny_dataset.n_items)]),
                    tiny_dataset.source)
    a = build_task_data(tiny_dataset, spec(), cache_dir=None)
    b = build_task_data(other, spec(), cache_dir=None)
    for task in ("ctr", "seqrec"):
        assert a[task].content_hash != b[task].content_hash


def test_builder_version_is_part_of_the_cache_key(tiny_dataset, tmp_path, monkeypatch):
    first = build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)["ctr"]
    monkeypatch.setattr(taskdata, "BUILDER_VERSION", "999")
    second = build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)["ctr"]
    assert first.content_hash != second.content_hash
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2


def test_a_protocol_field_of_one_task_leaves_the_other_alone(tiny_dataset):
    a = build_task_data(tiny_dataset, spec(), cache_dir=None)
    b = build_task_data(tiny_dataset, spec(seq_test_users=30), cache_dir=None)
    assert a["ctr"].content_hash == b["ctr"].content_hash
    assert a["seqrec"].content_hash != b["seqrec"].content_hash


def test_text_columns_are_hashed():
    base = {"test": {"question": ["a", "b"], "user": [1, 2]}}
    changed = {"test": {"question": ["a", "c"], "user": [1, 2]}}
    assert taskdata.content_hash(base, {}) != taskdata.content_hash(changed, {})


def test_a_truncated_cache_is_rebuilt_with_a_warning(tiny_dataset, tmp_path, capsys):
    first = build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)["ctr"]
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    arrow = sorted(folder.rglob("*.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes()[:100])
    again = build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)["ctr"]
    assert again.content_hash == first.content_hash
    assert "rebuilding it" in capsys.readouterr().err
    third = build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)["ctr"]  # repaired
    assert third.content_hash == first.content_hash


BUILD = """
import sys
sys.path.insert(0, {tests!r})
from conftest import make_dataset
from benchmark.protocol import ProtocolSpec, build_task_data
td = build_task_data(make_dataset(), ProtocolSpec.from_overrides({small!r}), cache_dir={cache!r})
print(td["ctr"].content_hash, td["seqrec"].content_hash)
"""


def test_concurrent_cold_builds_do_not_clobber_each_other(tmp_path):
    code = BUILD.format(tests=str(Path(__file__).parent), small=SMALL, cache=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert len({o[0] for o in outs}) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_sampled_mode_on_a_too_small_catalogue_is_refused_but_full_mode_runs():
    ds = make_dataset(n_items=60, n_users=50, max_len=30)
    td = build_task_data(ds, spec(), ("seqrec",), cache_dir=None)["seqrec"]
    full = make_task("seqrec", candidates="full").requests(td)
    assert full and all(isinstance(r, RankRequest) for r in full)
    with pytest.raises(ProtocolError, match="untouched items"):
        make_task("seqrec", candidates="sampled-100").requests(td)


def test_a_killed_builds_temp_folder_is_swept_on_the_next_build(tiny_dataset, tmp_path):
    dead = tmp_path / ".tmp-999999999-12345-tiny-ctr-x"  # no such process
    (dead / "data").mkdir(parents=True)
    build_task_data(tiny_dataset, spec(), ("ctr",), cache_dir=tmp_path)
    assert not dead.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
