"""Built task data, cached as Arrow through `datasets` and identified by a content hash.

The content hash covers every built value (text columns too), the dataset's fingerprint (its
interactions and item text), the protocol fields of the task and the builder version, so two
task data share a hash only when a model sees exactly the same thing. The cache folder is keyed
by the same inputs; a build writes into a private temporary folder and renames it into place,
so concurrent builds never clobber each other, and a cache folder that fails to load or whose
content no longer matches its recorded hash is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from benchmark.data.dataset import Catalogue, Dataset
from benchmark.protocol.build import BUILDER_VERSION, BUILDERS, EXTRA_INPUTS, user_logs
from benchmark.protocol.spec import ProtocolError, ProtocolSpec, stable_hash
from benchmark.results import left_by_dead_writer, temp_prefix

datasets.disable_progress_bars()

DEFAULT_CACHE = Path(".cache/recboard/taskdata")


@dataclass
class TaskData:
    task: str
    spec: ProtocolSpec
    splits: datasets.DatasetDict
    content_hash: str
    dataset_name: str
    dataset_fingerprint: str
    dataset_source: dict[str, Any]
    n_items: int
    extra: dict[str, Any]
    catalogue: Catalogue

    def counts(self) -> dict[str, int]:
        return {name: split.num_rows for name, split in self.splits.items() if name != "item_stats"}

    def column(self, split: str, name: str) -> list:
        return self.splits[split][name]


def _column_bytes(values: list) -> bytes:
    if values and isinstance(values[0], list):
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values)).tobytes()
        return lengths + _column_bytes([x for v in values for x in v])
    if values and isinstance(values[0], str):
        return "\x1f".join(values).encode("utf-8")
    if values and isinstance(values[0], float):
        return np.asarray(values, dtype=np.float64).tobytes()
    return np.asarray(values, dtype=np.int64).tobytes()


def content_hash(splits: dict[str, dict[str, list]], inputs: dict[str, Any]) -> str:
    """Hash of the build inputs (`inputs`) and of every value of every column."""
    h = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode())
    for split in sorted(splits):
        for col in sorted(splits[split]):
            values = splits[split][col]
            h.update(f"{split}/{col}/{len(values)}".encode())
            h.update(_column_bytes(values))
    return h.hexdigest()[:16]


def build_inputs(ds: Dataset, spec: ProtocolSpec, task: str) -> dict[str, Any]:
    inputs = {"dataset_fingerprint": ds.fingerprint(), "protocol": spec.data_fields(task),
              "builder_version": BUILDER_VERSION, "task": task}
    if task in EXTRA_INPUTS:  # only for tasks that have some: the others' keys and hashes stay as they were
        inputs.update(EXTRA_INPUTS[task]())
    return inputs


def build_task_data(ds: Dataset, spec: ProtocolSpec, tasks: tuple[str, ...] = ("ctr", "seqrec"),
                    cache_dir: str | Path | None = DEFAULT_CACHE) -> dict[str, TaskData]:
    """Task data for each of `tasks`, from the cache when the same inputs were built before.
    Raises on the first task that cannot be built; `build_one` builds tasks independently."""
    logs: list | None = None

    def shared_logs() -> list:
        nonlocal logs
        if logs is None:
            logs = user_logs(ds, spec)
        return logs

    return {task: build_one(ds, spec, task, cache_dir, shared_logs) for task in tasks}


def build_one(ds: Dataset, spec: ProtocolSpec, task: str, cache_dir: str | Path | None = DEFAULT_CACHE,
              logs=None) -> TaskData:
    if task not in BUILDERS:
        raise ProtocolError(f"unknown task {task!r}; known: {sorted(BUILDERS)}")
    inputs = build_inputs(ds, spec, task)
    folder = Path(cache_dir) / f"{ds.name}-{task}-{stable_hash(inputs)}" if cache_dir else None
    cached = _load(folder) if folder else None
    if cached is None:
        built = BUILDERS[task](ds, spec, logs() if logs else user_logs(ds, spec))
        splits = datasets.DatasetDict({k: datasets.Dataset.from_dict(v) for k, v in built.splits.items()})
        meta = {"content_hash": content_hash(built.splits, inputs), "extra": built.extra, "inputs": inputs}
        if folder:
            _save(folder, splits, meta)
    else:
        splits, meta = cached
    return TaskData(task=task, spec=spec, splits=splits, content_hash=meta["content_hash"],
                    dataset_name=ds.name, dataset_fingerprint=inputs["dataset_fingerprint"],
                    dataset_source=dict(ds.source), n_items=ds.n_items, extra=meta["extra"],
                    catalogue=ds.catalogue())


def _save(folder: Path, splits: datasets.DatasetDict, meta: dict[str, Any]) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(".tmp-*"):  # a build killed mid-save
        if left_by_dead_writer(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(), dir=folder.parent))
    try:
        splits.save_to_disk(str(tmp / "data"))
        (tmp / "data" / "recboard_meta.json").write_text(json.dumps(meta, sort_keys=True))
        try:
            os.rename(tmp / "data", folder)
        except OSError:
            if not (folder / "recboard_meta.json").exists():  # a broken folder: replace it
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(tmp / "data", folder)
            # else another process built the same inputs first; its copy is identical
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(folder: Path) -> tuple[datasets.DatasetDict, dict[str, Any]] | None:
    meta_path = folder / "recboard_meta.json"
    if not folder.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        splits = datasets.load_from_disk(str(folder))
        plain = {name: split.to_dict() for name, split in splits.items()}
        if content_hash(plain, meta["inputs"]) != meta["content_hash"]:
            raise ValueError("content does not match its recorded hash")
    except Exception as e:  # a truncated or hand-edited cache entry: rebuild it
        print(f"recboard: task-data cache {folder} is unreadable ({type(e).__name__}: {e}); rebuilding it",
              file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return splits, meta
