"""Expand a plan into runs, run each with a fresh model, time it, and write one result per run.
A run that raises, answers in the wrong shape or with NaN becomes a failed result; the others go
on. A run whose spec hash already has a complete (ok) result is skipped."""

from __future__ import annotations

import gc
import hashlib
import inspect
import random
import sys
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import benchmark
from benchmark.api import Model
from benchmark.data import Dataset, load_dataset
from benchmark.protocol import ProtocolSpec, TaskData, build_task_data, stable_hash
from benchmark.registry import get_model, model_keys
from benchmark.results import SCHEMA_VERSION, ResultError, read_result, write_result
from benchmark.runner.config import Config
from benchmark.runner.environment import environment, git_sha
from benchmark.runner.timing import PeakMemory, latency_sample_indices, measure_latency, timed_call
from benchmark.submissions import discover, load_submission
from tasks import Task, make_task


@dataclass
class ModelChoice:
    key: str
    cls: type[Model]
    args: dict[str, Any]
    source: str
    tasks: list[str] | None = None
    datasets: list[str] | None = None

    def wants(self, task: Task, dataset: str) -> bool:
        if task.request_kind not in self.cls.meta.supports:
            return False
        if self.tasks is not None and task.label not in self.tasks and task.name not in self.tasks:
            return False
        return self.datasets is None or dataset in self.datasets


@dataclass
class RunSpec:
    model: ModelChoice
    task: Task
    dataset: str
    seed: int
    protocol: ProtocolSpec
    task_data: TaskData | None = None
    data_error: BaseException | None = None

    @property
    def args_hash(self) -> str:
        return stable_hash(self.model.args)

    @property
    def run_id(self) -> str:
        return f"{self.model.key}-{self.args_hash[:6]}__{self.task.label}__{self.dataset}__seed{self.seed}"

    def spec(self) -> dict[str, Any]:
        return {"model": self.model.key, "args": self.model.args, "source": self.model.source,
                "code": code_hash(self.model.cls), "task": self.task.label, "task_version": self.task.version,
                "task_data_hash": self.task_data.content_hash if self.task_data else None,
                "dataset": self.dataset, "seed": self.seed, "protocol": self.protocol.to_dict(),
                "harness": benchmark.__version__}

    @property
    def spec_hash(self) -> str:
        return stable_hash(self.spec())

    @property
    def fit_key(self) -> str:
        """Runs that differ only in the candidate mode share the fitted model: same model, same
        task data (the fit split is the same), same seed. Only fine-tuned models are shared:
        fitting is deterministic for a seed, so sharing changes nothing but the time, whereas a
        zero-shot model's own random state would make results depend on the run order."""
        spec = self.spec()
        spec["task"] = self.task.name
        return stable_hash(spec)


@dataclass
class Fitted:
    key: str
    model: Model
    fit_s: float
    run_id: str


def code_hash(cls: type) -> str:
    try:
        return hashlib.sha256(Path(inspect.getsourcefile(cls)).read_bytes()).hexdigest()[:16]
    except (TypeError, OSError):
        return "unknown"


@dataclass
class PlanReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    invalid_submissions: dict[str, list[str]] = field(default_factory=dict)


def model_choices(config: Config, report: PlanReport, validate_submission=None) -> list[ModelChoice]:
    choices = []
    for entry in config.models:
        cls = get_model(entry.key)
        choices.append(ModelChoice(entry.key, cls, entry.args, "builtin", entry.tasks, entry.datasets))
    if config.submissions is not None:
        for folder in discover(config.submissions):
            sub = load_submission(folder, builtin_keys=model_keys())
            problems = sub.problems or (validate_submission(sub) if validate_submission and sub.ok else [])
            if problems:
                report.invalid_submissions[str(folder)] = problems
                continue
            choices.append(ModelChoice(sub.name, sub.model_cls, sub.args, sub.source))
    keys = [c.key for c in choices]
    dupes = sorted({k for k in keys if keys.count(k) > 1 and k})
    return [c for c in choices if c.key not in dupes or c.source == "builtin"]


def expand(config: Config, choices: list[ModelChoice]) -> list[RunSpec]:
    tasks = [make_task(t.name, **t.args) for t in config.tasks]
    runs = []
    for ds_name, ds_args in config.datasets.items():
        wanted = [(c, t) for c in choices for t in tasks if c.wants(t, ds_name)]
        if not wanted:
            continue
        task_data: dict[str, TaskData] = {}
        data_error = None
        try:
            dataset = load_dataset(**{k: (str(Path(v).expanduser()) if k == "path" else v)
                                      for k, v in ds_args.items()}, name=ds_name)
            task_data = build_task_data(dataset, config.protocol, tuple(sorted({t.name for _, t in wanted})),
                                        cache_dir=config.cache_dir)
        except Exception as e:  # recorded in every run on this dataset
            data_error = e
            tqdm.write(f"dataset {ds_name!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
        for seed in config.seeds:
            for choice, task in wanted:
                runs.append(RunSpec(choice, task, ds_name, seed, config.protocol,
                                    task_data.get(task.name), data_error))
    return runs


def catalogue_for(model: Model, td: TaskData):
    return td.catalogue if model.meta.paradigm == "oracle" else td.catalogue.without_generator()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _error(stage: str, exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "stage": stage,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))}


def execute(run: RunSpec, reuse: Fitted | None = None) -> tuple[dict[str, Any], Fitted | None]:
    """Run one spec with a fresh model object, or with the model fitted for a run that differs only
    in candidate mode (`reuse`), and return its result dict and the fitted model."""
    result = base_result(run)
    model: Model | None = None
    fitted: Fitted | None = None
    stage = "data"
    try:
        if run.data_error is not None:
            raise run.data_error
        td = run.task_data
        if reuse is not None and reuse.key == run.fit_key:
            fitted, model = reuse, reuse.model
            result["efficiency"]["fit_reused_from"] = reuse.run_id
        else:
            stage = "setup"
            seed_everything(run.seed)
            model = run.model.cls(**run.model.args)
            model.setup(catalogue_for(model, td), run.seed)
            fit_s = 0.0
            if model.meta.scheme == "fine-tuned":
                stage = "fit"
                _, fit_s = timed_call(lambda: model.fit(run.task.fit_data(td)))
                fitted = Fitted(run.fit_key, model, fit_s, run.run_id)
        fit_s = fitted.fit_s if fitted else 0.0
        stage = "predict"
        seed_everything(run.seed)
        requests = run.task.requests(td)
        call = getattr(model, run.task.request_kind)
        with PeakMemory() as mem:
            responses, predict_s = timed_call(lambda: call(requests))
        extra = _jsonable(model.extra_stats())  # before the latency sample adds to its counters
        stage = "validate"
        responses = run.task.check(responses, requests, td.n_items)
        stage = "evaluate"
        evaluation = run.task.evaluate(td, responses)
        bad = sorted(k for k, v in evaluation.metrics.items() if not np.isfinite(v))
        if bad:
            raise ValueError(f"metrics {bad} are not finite")
        stage = "latency"
        warm, timed = latency_sample_indices(len(requests), run.protocol.latency_warmup,
                                             run.protocol.latency_sample, run.protocol.data_seed)
        latency = measure_latency(call, requests, warm, timed)
        device = str(model.device)
        env = environment(device)
        result.update(
            status="ok",
            metrics=evaluation.metrics,
            efficiency=result["efficiency"] | {"latency_ms": latency, "throughput_rps": len(requests) / max(predict_s, 1e-12),
                        "batch_size": int(getattr(model, "batch_size", 0) or 0), "fit_s": fit_s,
                        "predict_s": predict_s, "peak_memory_mb": mem.peak_mb, "memory_delta_mb": mem.delta_mb,
                        "device": device, "threads": env.get("threads"),
                        "extra": extra},
            environment=env,
        )
        result["model"]["num_parameters"] = model.num_parameters()
    except Exception as e:
        result.update(status="failed", error=_error(stage, e), metrics={})
        if stage in ("data", "setup", "fit"):
            fitted = None
    finally:
        del model
        gc.collect()
    return result, fitted


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def base_result(run: RunSpec) -> dict[str, Any]:
    td = run.task_data
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "spec_hash": run.spec_hash,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness": {"version": benchmark.__version__, "git_sha": git_sha()},
        "status": "failed",
        "error": None,
        "model": {"key": run.model.key, "meta": run.model.cls.meta.to_dict(), "args": run.model.args,
                  "args_hash": run.args_hash, "source": run.model.source, "num_parameters": None},
        "task": {"name": run.task.name, "version": run.task.version, "variant": run.task.variant,
                 "protocol": run.protocol.data_fields(run.task.name) | {
                     "latency_sample": run.protocol.latency_sample, "latency_warmup": run.protocol.latency_warmup},
                 "dataset": {"name": run.dataset,
                             "fingerprint": td.dataset_fingerprint if td else "unavailable",
                             "source": td.dataset_source if td else {}},
                 "task_data_hash": td.content_hash if td else None,
                 "counts": td.counts() if td else {}},
        "seed": run.seed,
        "metrics": {},
        "main_metric": run.task.main_metric,
        "efficiency": {},
        "environment": environment("cpu"),
    }


def already_done(run: RunSpec, results_dir: Path) -> bool:
    path = results_dir / f"{run.run_id}.json"
    if not path.exists():
        return False
    try:
        old = read_result(path)
    except ResultError:
        return False
    return old["status"] == "ok" and old["spec_hash"] == run.spec_hash


def run_plan(config: Config, validate_submission=None) -> PlanReport:
    report = PlanReport()
    choices = model_choices(config, report, validate_submission)
    for folder, problems in report.invalid_submissions.items():
        tqdm.write(f"submission {folder} is invalid and skipped:\n  - " + "\n  - ".join(problems), file=sys.stderr)
    runs = expand(config, choices)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    bar = tqdm(runs, desc=f"{config.name}", unit="run", file=sys.stderr)
    fitted: Fitted | None = None
    for run in bar:
        bar.set_postfix_str(run.run_id[:60])
        if already_done(run, config.results_dir):
            report.skipped.append(run.run_id)
            continue
        if fitted is not None and fitted.key != run.fit_key:
            fitted = None
            gc.collect()
        result, fitted = execute(run, fitted)
        report.written.append(write_result(result, config.results_dir))
        if result["status"] == "ok":
            m = result["main_metric"]
            tqdm.write(f"{run.run_id}: {m}={result['metrics'][m]:.4f} "
                       f"latency={result['efficiency']['latency_ms']['mean']:.2f} ms", file=sys.stderr)
        else:
            report.failed.append(run.run_id)
            err = result["error"]
            tqdm.write(f"{run.run_id}: FAILED at {err['stage']}: {err['type']}: {err['message'][:300]}", file=sys.stderr)
    return report
