"""Expand a plan into runs, hand them to an executor, score what comes back, and write one result
per run.

The parent builds the task data, the requests (without targets) and the fit split; the model
side (`benchmark.runner.worker`) answers them in this process, a subprocess or on Ray; the parent
validates and scores the responses and writes the result with its per-example responses. A run
that raises, answers in the wrong shape, with NaN, times out or crashes becomes a failed result;
the others go on. A run whose result identity already has a complete result is skipped, and runs
are claimed in the results folder so concurrent runners do each run once.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

import benchmark
from benchmark.api import ModelMeta
from benchmark.data import load_dataset
from benchmark.llm import engines
from benchmark.protocol.taskdata import build_one
from benchmark.registry import get_model
from benchmark.results import SCHEMA_VERSION, ResultError, write_result
from benchmark.results.store import ResultStore
from benchmark.runner.config import Config
from benchmark.runner.environment import environment, git_sha
from benchmark.runner.executors import make_executor
from benchmark.runner.spec import ModelRef, PlannedRun, code_hash
from benchmark.runner.timing import latency_sample_indices
from benchmark.runner.worker import Job, JobOutput, WorkOrder, error_info
from benchmark.submissions import Submission, discover, load_submission
from tasks import Task, make_task


@dataclass
class ModelChoice:
    ref: ModelRef
    meta: ModelMeta
    code: str
    tasks: list[str] | None = None
    datasets: list[str] | None = None
    gpus: float = 0

    def wants(self, task: Task, dataset: str) -> bool:
        if task.request_kind not in self.meta.supports:
            return False
        if self.tasks is not None and task.label not in self.tasks and task.name not in self.tasks:
            return False
        return self.datasets is None or dataset in self.datasets


@dataclass
class PlanReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    invalid_submissions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.invalid_submissions


Validator = Callable[[Submission], tuple[ModelMeta | None, list[str]]]


def model_choices(config: Config, report: PlanReport, validate_submission: Validator | None = None) -> list[ModelChoice]:
    choices = []
    for entry in config.models:
        cls = get_model(entry.key)
        ref = ModelRef(entry.key, entry.args)
        meta = cls.meta_for(dict(entry.args))
        choices.append(ModelChoice(ref, meta, code_hash(ref, inspect.getsourcefile(cls), meta), entry.tasks,
                                   entry.datasets, entry.gpus))
    if config.submissions is not None:
        builtin = {c.ref.key for c in choices}
        for folder in discover(config.submissions):
            sub = load_submission(folder, builtin_keys=sorted(builtin))
            meta, problems = None, list(sub.problems)
            if not problems and validate_submission is not None:
                meta, problems = validate_submission(sub)
            if problems or meta is None:
                report.invalid_submissions[str(folder)] = problems or ["not validated"]
                continue
            choices.append(ModelChoice(sub.ref, meta, code_hash(sub.ref, None, meta)))
    return choices


def build_data(config: Config, choices: list[ModelChoice], tasks: list[Task]) -> dict[tuple[str, str], Any]:
    """(dataset, task name) → TaskData, or the exception that stopped it. Each task is built on its
    own, so one that cannot be built fails only its own runs."""
    out: dict[tuple[str, str], Any] = {}
    for ds_name, ds_args in config.datasets.items():
        names = sorted({t.name for t in tasks if any(c.wants(t, ds_name) for c in choices)})
        if not names:
            continue
        try:
            dataset = load_dataset(**{k: (str(Path(v).expanduser()) if k == "path" else v)
                                      for k, v in ds_args.items()}, name=ds_name)
        except Exception as e:
            tqdm.write(f"dataset {ds_name!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
            out.update({(ds_name, n): e for n in names})
            continue
        for name in names:
            try:
                out[(ds_name, name)] = build_one(dataset, config.protocol, name, config.cache_dir)
            except Exception as e:
                tqdm.write(f"task {name!r} on dataset {ds_name!r} cannot be built: {type(e).__name__}: {e}",
                           file=sys.stderr)
                out[(ds_name, name)] = e
    return out


def expand(config: Config, choices: list[ModelChoice]) -> list[PlannedRun]:
    tasks = [make_task(t.name, **t.args) for t in config.tasks]
    data = build_data(config, choices, tasks)
    runs = []
    for ds_name in config.datasets:
        for seed in config.seeds:
            for choice in choices:
                for task in tasks:
                    if not choice.wants(task, ds_name):
                        continue
                    td = data[(ds_name, task.name)]
                    failed = isinstance(td, BaseException)
                    runs.append(PlannedRun(choice.ref, choice.meta, choice.code, task, ds_name, seed, config.protocol,
                                           None if failed else td, td if failed else None, config.threads))
    return runs


def catalogue_for(run: PlannedRun):
    td = run.task_data
    oracle = run.meta.paradigm == "oracle" and not run.ref.is_submission
    return td.catalogue if oracle else td.catalogue.without_generator()


def task_details(run: PlannedRun) -> dict[str, Any]:
    """{"details": ...} when the task has something to say about its data (what a dataset could
    not support, say), else nothing, so other tasks' results keep their shape."""
    details = run.task.details(run.task_data) if run.task_data is not None else {}
    return {"details": details} if details else {}


def base_result(run: PlannedRun, executor: str) -> dict[str, Any]:
    td = run.task_data
    return {
        "schema_version": SCHEMA_VERSION,
        "result_id": run.result_id,
        "identity": run.identity(),
        "run_id": run.run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness": {"version": benchmark.__version__, "git_sha": git_sha()},
        "status": "failed",
        "error": None,
        "executor": executor,
        "outputs": None,
        "model": {"key": run.ref.key, "meta": run.meta.to_dict(), "args": run.ref.args,
                  "source": run.ref.source, "code": run.code, "num_parameters": None},
        "task": {"name": run.task.name, "version": run.task.version, "variant": run.task.variant,
                 "template": run.template,
                 "protocol": run.protocol.data_fields(run.task.name) | {
                     "latency_sample": run.protocol.latency_sample, "latency_warmup": run.protocol.latency_warmup},
                 "dataset": {"name": run.dataset,
                             "fingerprint": td.dataset_fingerprint if td else "unavailable",
                             "source": td.dataset_source if td else {}},
                 "task_data_hash": run.task_data_hash,
                 "counts": td.counts() if td else {},
                 **task_details(run)},
        "seed": run.seed,
        "metrics": {},
        "main_metric": run.task.main_metric,
        "efficiency": {},
        "environment": environment("cpu"),
    }


@dataclass
class Pending:
    """A claimed group of runs that share one model object, with the order that answers them."""

    runs: list[PlannedRun]
    requests: dict[str, list]
    order: WorkOrder | None = None
    early: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id → error before the executor


def make_pending(runs: list[PlannedRun], threads: int | None) -> Pending:
    pending = Pending(runs, {})
    first = runs[0]
    if first.data_error is not None:
        pending.early = {r.run_id: error_info("data", r.data_error) for r in runs}
        return pending
    td = first.task_data
    jobs = []
    for run in runs:
        try:
            requests = run.task.requests(td)
        except Exception as e:
            pending.early[run.run_id] = error_info("data", e)
            continue
        warm, timed = latency_sample_indices(len(requests), run.protocol.latency_warmup,
                                             run.protocol.latency_sample, run.protocol.data_seed)
        pending.requests[run.run_id] = requests
        jobs.append(Job(run.run_id, run.task.request_kind, requests, warm, timed))
    if not jobs:
        return pending
    try:
        fit_data = first.task.fit_data(td) if first.meta.scheme == "fine-tuned" else None
    except Exception as e:
        pending.early.update({j.run_id: error_info("data", e) for j in jobs})
        return pending
    expected = first.meta.to_dict() if first.ref.is_submission else None
    prompts: dict[str, dict[str, Any]] = {}
    for run in runs:
        prompts.update(run.prompts())
    pending.order = WorkOrder(first.ref, catalogue_for(first), first.seed, jobs, fit_data, threads, expected, prompts)
    return pending


def finish(run: PlannedRun, output: JobOutput, requests: list | None, executor: str) -> tuple[dict[str, Any], dict | None]:
    """Validate and score one job's output in the parent; the result and its per-example columns."""
    result = base_result(run, executor)
    if not output.ok:
        result.update(error=output.error)
        return result, None
    stage = "validate"
    try:
        td = run.task_data
        responses = run.task.check(output.responses, requests, td.n_items)
        stage = "evaluate"
        evaluation = run.task.evaluate(td, responses)
        bad = sorted(k for k, v in evaluation.metrics.items() if not np.isfinite(v))
        if bad:
            raise ValueError(f"metrics {bad} are not finite")
        if output.error is not None:  # the responses were fine, a later stage (latency) was not
            result.update(error=output.error)
            return result, None
        env = output.environment or environment("cpu")
        result.update(status="ok", metrics=evaluation.metrics, efficiency=output.efficiency, environment=env)
        result["model"]["num_parameters"] = output.num_parameters
        return result, evaluation.per_example
    except Exception as e:
        result.update(error=error_info(stage, e))
        return result, None


def group_runs(runs: list[PlannedRun]) -> list[list[PlannedRun]]:
    groups: dict[Any, list[PlannedRun]] = {}
    for n, run in enumerate(runs):
        key = run.fit_key or n
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def run_plan(config: Config, validate_submission: Validator | None = None) -> PlanReport:
    report = PlanReport()
    choices = model_choices(config, report, validate_submission)
    for folder, problems in report.invalid_submissions.items():
        tqdm.write(f"submission {folder} is invalid and skipped:\n  - " + "\n  - ".join(problems), file=sys.stderr)
    runs = expand(config, choices)
    store = ResultStore(config.results_dir)
    store.sweep()
    gpus = {id(c.ref): c.gpus for c in choices}
    bar = tqdm(total=len(runs), desc=config.name, unit="run", file=sys.stderr)

    def claimed_orders(submissions: bool):
        for group in group_runs(runs):
            if group[0].ref.is_submission != submissions:
                continue
            mine = []
            for run in group:
                state = store.claim(run.run_id)
                if state == "claimed":
                    mine.append(run)
                else:
                    (report.skipped if state == "done" else report.busy).append(run.run_id)
                    bar.update(1)
            if not mine:
                continue
            pending = make_pending(mine, config.threads)
            for run in mine:
                if run.run_id in pending.early:
                    record(run, JobOutput(run.run_id, False, error=pending.early[run.run_id]), pending, "none")
            if pending.order is not None:
                by_id[id(pending.order)] = pending
                limits = {"timeout_s": config.timeout_s, "memory_mb": config.memory_mb, "gpus": gpus[id(group[0].ref)],
                          "cpus": config.threads or 1}
                bar.set_postfix_str(mine[0].run_id[:60])
                yield pending.order, limits

    def record(run: PlannedRun, output: JobOutput, pending: Pending, executor: str) -> None:
        try:
            result, columns = finish(run, output, pending.requests.get(run.run_id), executor)
            try:
                report.written.append(write_result(result, config.results_dir, columns))
            except ResultError as e:  # what came back does not make a valid result: record why
                result = base_result(run, executor) | {"error": error_info("record", e)}
                report.written.append(write_result(result, config.results_dir))
        finally:
            store.release(run.run_id)
            bar.update(1)
        if result["status"] == "ok":
            m = result["main_metric"]
            tqdm.write(f"{run.run_id}: {m}={result['metrics'][m]:.4f} "
                       f"latency={result['efficiency']['latency_ms']['mean']:.2f} ms", file=sys.stderr)
        else:
            report.failed.append(run.run_id)
            err = result["error"]
            tqdm.write(f"{run.run_id}: FAILED at {err['stage']}: {err['type']}: {err['message'][:300]}", file=sys.stderr)

    by_id: dict[int, Pending] = {}
    try:
        for submissions, executor in ((False, make_executor(config.executor)), (True, make_executor("subprocess"))):
            for order, outputs in executor.map(claimed_orders(submissions)):
                pending = by_id.pop(id(order))
                runs_by_id = {r.run_id: r for r in pending.runs}
                for output in outputs:
                    record(runs_by_id[output.run_id], output, pending, executor.name)
    finally:
        engines.close_all()  # LLM engines shared by this plan's runs (benchmark/llm/engines.py)
        for pending in by_id.values():  # interrupted: give the claims back
            for run in pending.runs:
                store.release(run.run_id)
        bar.close()
    return report
