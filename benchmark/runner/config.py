"""Run plans (YAML): models × tasks × datasets × seeds, with protocol overrides.

    name: default
    results_dir: results              # relative paths are relative to the working directory
    cache_dir: .cache/recboard/taskdata
    seeds: [0]
    protocol: {ctr_test_rows: 900}    # overrides of recboard-v1 fields, recorded in every result
    datasets:
      synthetic: {adapter: synthetic, n_users: 1500}
      ml100k: {adapter: movielens-100k, path: ~/data/ml-100k}
    tasks: [ctr, {name: seqrec, candidates: full}, {name: seqrec, candidates: sampled-100}]
    models:
      - random
      - {key: dnn, args: {epochs: 5}, tasks: [ctr], datasets: [synthetic]}
    submissions: submissions          # every valid submission folder in it joins the plan
    threads: 2                        # torch CPU threads (default: torch's own choice); recorded

Runs that differ only in the next-item candidate mode share one fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.protocol import ProtocolSpec


class ConfigError(ValueError):
    pass


@dataclass
class ModelEntry:
    key: str
    args: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] | None = None  # task labels (ctr, seqrec-full, ...) or names (seqrec)
    datasets: list[str] | None = None


@dataclass
class TaskEntry:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    name: str
    path: Path | None
    results_dir: Path
    cache_dir: Path
    seeds: list[int]
    protocol: ProtocolSpec
    datasets: dict[str, dict[str, Any]]
    tasks: list[TaskEntry]
    models: list[ModelEntry]
    submissions: Path | None
    threads: int | None = None


def _fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
    return parse_config(raw, str(path), path)


def parse_config(raw: Any, where: str = "config", path: Path | None = None) -> Config:
    if not isinstance(raw, dict):
        raise _fail(where, "expected a mapping at the top level")
    known = {"name", "results_dir", "cache_dir", "seeds", "protocol", "datasets", "tasks", "models", "submissions",
             "threads"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(where, f"unknown keys {unknown}; known: {sorted(known)}")
    for key in ("datasets", "tasks", "models"):
        if not raw.get(key):
            raise _fail(where, f"'{key}' is required and must not be empty")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds) or not seeds:
        raise _fail(where, f"'seeds' must be a non-empty list of integers, got {seeds!r}")
    try:
        protocol = ProtocolSpec.from_overrides(raw.get("protocol"))
    except (ValueError, TypeError) as e:
        raise _fail(f"{where}: protocol", str(e)) from None
    datasets = raw["datasets"]
    if not isinstance(datasets, dict):
        raise _fail(where, "'datasets' must map a name to {adapter: ..., ...}")
    for name, spec in datasets.items():
        if not isinstance(spec, dict) or "adapter" not in spec:
            raise _fail(f"{where}: datasets.{name}", "needs an 'adapter' key (synthetic, movielens-100k, ...)")
    tasks = []
    for i, t in enumerate(raw["tasks"]):
        if isinstance(t, str):
            tasks.append(TaskEntry(t))
        elif isinstance(t, dict) and "name" in t:
            tasks.append(TaskEntry(t["name"], {k: v for k, v in t.items() if k != "name"}))
        else:
            raise _fail(f"{where}: tasks[{i}]", f"expected a task name or {{name: ..., ...}}, got {t!r}")
    models = []
    for i, m in enumerate(raw["models"]):
        if isinstance(m, str):
            models.append(ModelEntry(m))
        elif isinstance(m, dict) and "key" in m:
            extra = sorted(set(m) - {"key", "args", "tasks", "datasets"})
            if extra:
                raise _fail(f"{where}: models[{i}]", f"unknown keys {extra}")
            models.append(ModelEntry(m["key"], dict(m.get("args") or {}), m.get("tasks"), m.get("datasets")))
        else:
            raise _fail(f"{where}: models[{i}]", f"expected a model key or {{key: ..., args: ...}}, got {m!r}")
        bad = [d for d in (models[-1].datasets or []) if d not in datasets]
        if bad:
            raise _fail(f"{where}: models[{i}]", f"names unknown datasets {bad}; defined: {sorted(datasets)}")
    threads = raw.get("threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise _fail(where, f"'threads' must be a positive integer, got {threads!r}")
    subs = raw.get("submissions")
    return Config(
        name=str(raw.get("name", path.stem if path else "config")),
        path=path,
        results_dir=Path(raw.get("results_dir", "results")).expanduser(),
        cache_dir=Path(raw.get("cache_dir", ".cache/recboard/taskdata")).expanduser(),
        seeds=seeds,
        protocol=protocol,
        datasets=datasets,
        tasks=tasks,
        models=models,
        submissions=Path(subs).expanduser() if subs else None,
        threads=threads,
    )
