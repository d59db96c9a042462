"""Built task data, cached as Arrow through `datasets` and identified by a content hash."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from benchmark.data.dataset import Catalogue, Dataset
from benchmark.protocol.build import BUILDERS, user_logs
from benchmark.protocol.spec import ProtocolError, ProtocolSpec

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


def content_hash(splits: dict[str, dict[str, list]]) -> str:
    """Hash of every value of every column, list columns by their flattened values and lengths."""
    h = hashlib.sha256()
    for split in sorted(splits):
        for col in sorted(splits[split]):
            values = splits[split][col]
            h.update(f"{split}/{col}/{len(values)}".encode())
            if values and isinstance(values[0], list):
                h.update(np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values)).tobytes())
                flat = [x for v in values for x in v]
                h.update(np.asarray(flat, dtype=np.int64).tobytes())
            else:
                h.update(np.asarray(values).astype(np.float64 if col == "label" else np.int64).tobytes())
    return h.hexdigest()[:16]


def build_task_data(ds: Dataset, spec: ProtocolSpec, tasks: tuple[str, ...] = ("ctr", "seqrec"),
                    cache_dir: str | Path | None = DEFAULT_CACHE) -> dict[str, TaskData]:
    """Task data for each of `tasks`, from the cache when the same dataset fingerprint and protocol
    fields were built before."""
    unknown = [t for t in tasks if t not in BUILDERS]
    if unknown:
        raise ProtocolError(f"unknown tasks {unknown}; known: {sorted(BUILDERS)}")
    fingerprint = ds.fingerprint()
    out: dict[str, TaskData] = {}
    logs = None
    for task in tasks:
        folder = Path(cache_dir) / f"{ds.name}-{fingerprint}-{task}-{spec.hash(task)}" if cache_dir else None
        cached = _load(folder) if folder else None
        if cached is None:
            logs = logs if logs is not None else user_logs(ds, spec)
            built = BUILDERS[task](ds, spec, logs)
            splits = datasets.DatasetDict({k: datasets.Dataset.from_dict(v) for k, v in built.splits.items()})
            meta = {"content_hash": content_hash(built.splits), "extra": built.extra}
            if folder:
                _save(folder, splits, meta)
        else:
            splits, meta = cached
        out[task] = TaskData(task=task, spec=spec, splits=splits, content_hash=meta["content_hash"],
                             dataset_name=ds.name, dataset_fingerprint=fingerprint,
                             dataset_source=dict(ds.source), n_items=ds.n_items, extra=meta["extra"],
                             catalogue=ds.catalogue())
    return out


def _save(folder: Path, splits: datasets.DatasetDict, meta: dict[str, Any]) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    splits.save_to_disk(str(tmp))
    (tmp / "recboard_meta.json").write_text(json.dumps(meta, sort_keys=True))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _load(folder: Path) -> tuple[datasets.DatasetDict, dict[str, Any]] | None:
    meta_path = folder / "recboard_meta.json"
    if not meta_path.exists():
        return None
    return datasets.load_from_disk(str(folder)), json.loads(meta_path.read_text())
