"""scripts/parity_recbole.py's export of RecBoard's split to RecBole benchmark files (the parity run
itself needs RecBole's own virtualenv and is `make parity`, not part of the tests): RecBole's
rows are exactly the (history, target) pairs RecBoard's next-item models train on, and exactly its
windows for the cloze model; the valid and test rows are RecBoard's requests in order."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmark.data.loaders import load_recbole
from benchmark.protocol import ProtocolSpec
from benchmark.protocol.taskdata import build_one
from models.layers.collate import IGNORE, next_item_windows

REPO = Path(__file__).resolve().parent.parent
WINDOW = 5


def _load_script():
    spec = importlib.util.spec_from_file_location("parity_recbole", REPO / "scripts" / "parity_recbole.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


parity = _load_script()


@pytest.fixture(scope="module")
def task_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atomic")
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(6):
        for t in range(4 + 5 * user):  # 4 to 29 items: short users, and users cut into several windows
            lines.append(f"u{user}\t{(7 * user + 3 * t) % 40}\t{1000 + t}")
    (folder / "tiny.inter").write_text("\n".join(lines) + "\n")
    return build_one(load_recbole(folder), ProtocolSpec(window=WINDOW), "seqrec", cache_dir=None)


def read_inter(path: Path) -> tuple[str, list[tuple[int, tuple[int, ...], int]]]:
    header, *lines = path.read_text().splitlines()
    rows = []
    for line in lines:
        user, history, target = line.split("\t")
        rows.append((int(user), tuple(map(int, history.split())), int(target)))
    return header, rows


def test_training_rows_are_the_pairs_recboard_trains_on(task_data, tmp_path):
    name, n_rows = parity.export_benchmark(task_data, tmp_path, "targets")
    header, rows = read_inter(tmp_path / name / f"{name}.train.inter")
    assert header == "user_id:token\titem_id_list:token_seq\titem_id:token" and len(rows) == n_rows
    pad = task_data.n_items
    expected = Counter()
    for user, window in zip(task_data.column("train", "user"), task_data.column("train", "items")):
        inputs, targets = next_item_windows([window], pad, WINDOW)
        for position in range(WINDOW):
            if int(targets[0, position]) != IGNORE:
                history = tuple(int(i) for i in inputs[0, : position + 1] if int(i) != pad)
                expected[(int(user), history, int(targets[0, position]))] += 1
    assert Counter(rows) == expected and sum(expected.values()) > len(task_data.column("train", "items"))


def test_cloze_rows_are_each_window_twice(task_data, tmp_path):
    name, n_rows = parity.export_benchmark(task_data, tmp_path, "windows")
    _, rows = read_inter(tmp_path / name / f"{name}.train.inter")
    windows = [(int(u), tuple(w), w[-1]) for u, w in zip(task_data.column("train", "user"),
                                                         task_data.column("train", "items"))]
    assert rows == [w for w in windows for _ in range(2)] and n_rows == len(rows)
    assert max(len(w[1]) for w in windows) == WINDOW + 1


def test_valid_and_test_rows_are_recboards_requests_in_order(task_data, tmp_path):
    name, _ = parity.export_benchmark(task_data, tmp_path, "targets")
    for split in ("valid", "test"):
        _, rows = read_inter(tmp_path / name / f"{name}.{split}.inter")
        assert rows == [(int(u), tuple(h), int(t)) for u, h, t in zip(
            task_data.column(split, "user"), task_data.column(split, "history"), task_data.column(split, "target"))]
