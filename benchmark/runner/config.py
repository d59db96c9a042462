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
    threads: 2                        # torch CPU threads (default: torch's own choice); part of a result's identity
    executor: inprocess               # built-in models: inprocess (default), subprocess or ray
    timeout_s: 3600                   # per order of runs in a subprocess or on Ray (wall clock)
    memory_mb: 16384                  # per subprocess (RLIMIT_DATA); null for no limit

Runs that differ only in the next-item candidate mode share one fitted model. Submissions always
run in a subprocess under timeout_s and memory_mb, whatever the executor. A model entry may ask
for `gpus: 1` (used by the ray executor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.protocol import ProtocolSpec
from benchmark.runner.executors import EXECUTORS
from tasks import make_task


class ConfigError(ValueError):
    pass


@dataclass
class ModelEntry:
    key: str
    args: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] | None = None  # task labels (ctr, seqrec-full, ...) or names (seqrec)
    datasets: list[str] | None = None
    gpus: float = 0


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
    executor: str = "inprocess"
    timeout_s: float | None = 3600
    memory_mb: int | None = 16384


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
             "threads", "executor", "timeout_s", "memory_mb"}
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
    labels: set[str] = set()
    for i, t in enumerate(raw["tasks"]):
        if isinstance(t, str):
            entry = TaskEntry(t)
        elif isinstance(t, dict) and "name" in t:
            entry = TaskEntry(t["name"], {k: v for k, v in t.items() if k != "name"})
        else:
            raise _fail(f"{where}: tasks[{i}]", f"expected a task name or {{name: ..., ...}}, got {t!r}")
        try:
            task = make_task(entry.name, **entry.args)
        except ValueError as e:
            raise _fail(f"{where}: tasks[{i}]", str(e)) from None
        labels.update((task.name, task.label))
        tasks.append(entry)
    models = []
    for i, m in enumerate(raw["models"]):
        if isinstance(m, str):
            models.append(ModelEntry(m))
        elif isinstance(m, dict) and "key" in m:
            extra = sorted(set(m) - {"key", "args", "tasks", "datasets", "gpus"})
            if extra:
                raise _fail(f"{where}: models[{i}]", f"unknown keys {extra}")
            if not isinstance(m.get("args") or {}, dict):
                raise _fail(f"{where}: models[{i}]", f"'args' must be a mapping, got {m['args']!r}")
            for key in ("tasks", "datasets"):
                if m.get(key) is not None and not (isinstance(m[key], list) and all(isinstance(x, str) for x in m[key])):
                    raise _fail(f"{where}: models[{i}]", f"'{key}' must be a list of names, got {m[key]!r}")
            gpus = m.get("gpus", 0)
            if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or gpus < 0:
                raise _fail(f"{where}: models[{i}]", f"'gpus' must be a non-negative number, got {gpus!r}")
            models.append(ModelEntry(m["key"], dict(m.get("args") or {}), m.get("tasks"), m.get("datasets"), gpus))
        else:
            raise _fail(f"{where}: models[{i}]", f"expected a model key or {{key: ..., args: ...}}, got {m!r}")
        bad = [d for d in (models[-1].datasets or []) if d not in datasets]
        if bad:
            raise _fail(f"{where}: models[{i}]", f"names unknown datasets {bad}; defined: {sorted(datasets)}")
        bad = [t for t in (models[-1].tasks or []) if t not in labels]
        if bad:
            raise _fail(f"{where}: models[{i}]", f"names tasks {bad} that the plan does not run; its tasks: {sorted(labels)}")
    threads = raw.get("threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise _fail(where, f"'threads' must be a positive integer, got {threads!r}")
    executor = raw.get("executor", "inprocess")
    if executor not in EXECUTORS:
        raise _fail(where, f"'executor' must be one of {list(EXECUTORS)}, got {executor!r}")
    limits = {}
    for key, default in (("timeout_s", 3600), ("memory_mb", 16384)):
        value = raw.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise _fail(where, f"'{key}' must be a positive number or null, got {value!r}")
        limits[key] = value
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
        executor=executor,
        **limits,
    )
