"""`recboard validate`: run a submission on tiny tasks, in a subprocess under a short timeout, and
say exactly what is wrong. `make bench` validates every submission the same way before its runs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from benchmark.api import ModelMeta, meta_errors
from benchmark.data import load_dataset
from benchmark.protocol import ProtocolSpec, TaskData, build_task_data
from benchmark.registry import model_keys
from benchmark.runner.executors import SubprocessExecutor
from benchmark.runner.timing import latency_sample_indices
from benchmark.runner.worker import Job, WorkOrder
from benchmark.submissions import Submission, load_submission, meta_problems
from tasks import ResponseError, make_task

TINY_DATA = {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 7}
TINY_PROTOCOL = {"ctr_test_rows": 300, "ctr_finetune_rows": 1500, "seq_test_users": 40, "seq_valid_users": 40,
                 "seq_finetune_sequences": 400, "uqa_min_history": 6, "uqa_test_users": 20, "uqa_valid_users": 10,
                 "uqa_train_users": 40, "latency_sample": 3, "latency_warmup": 1}
TASKS_FOR_KIND = {"score": [("ctr", {})], "rank": [("seqrec", {"candidates": "full"}),
                                                   ("seqrec", {"candidates": "sampled-100"})],
                  "answer": [("uqa", {})]}
DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY_MB = 8192


@lru_cache(maxsize=1)
def tiny_task_data() -> dict[str, TaskData]:
    ds = load_dataset(**TINY_DATA, name="validate-tiny")
    return build_task_data(ds, ProtocolSpec.from_overrides(TINY_PROTOCOL), ("ctr", "seqrec", "uqa"), cache_dir=None)


def _meta(raw: dict | None) -> tuple[ModelMeta | None, list[str]]:
    try:
        meta = ModelMeta(**{**raw, "supports": tuple(raw["supports"])})
    except (TypeError, ValueError, KeyError) as e:
        return None, [f"the class's meta is invalid: {e}"]
    return meta, meta_errors(meta)


def run_tiny(sub: Submission, timeout_s: float = DEFAULT_TIMEOUT_S,
             memory_mb: int | None = DEFAULT_MEMORY_MB) -> tuple[ModelMeta | None, list[str]]:
    """The submission's validated meta and the problems found by running it on tiny tasks (none
    when it behaves). Every step runs in a worker subprocess under `timeout_s` and `memory_mb`."""
    executor = SubprocessExecutor(echo=False)
    limits = (timeout_s, memory_mb)
    tds = tiny_task_data()
    catalogue = tds["ctr"].catalogue.without_generator()
    probe = executor.run(WorkOrder(sub.ref, catalogue, 0, []), *limits)
    if not probe or not probe[0].ok:
        err = probe[0].error if probe else {"stage": "load", "message": "the worker reported nothing"}
        return None, [f"loading the code ({err['stage']}): {err['message']}"]
    meta, problems = _meta(probe[0].meta)
    if meta is None:
        return None, problems
    problems += meta_problems(sub, probe[0].meta)
    for kind in meta.supports:
        if kind not in TASKS_FOR_KIND:
            problems.append(f"request kind {kind!r} has no task to validate against yet")
            continue
        tasks = [make_task(name, **args) for name, args in TASKS_FOR_KIND[kind]]
        td = tds[tasks[0].name]
        jobs, requests = [], {}
        for task in tasks:
            requests[task.label] = task.requests(td)
            warm, timed = latency_sample_indices(len(requests[task.label]), 1, 3, 0)
            jobs.append(Job(task.label, kind, requests[task.label], warm, timed))
        fit_data = tasks[0].fit_data(td) if meta.scheme == "fine-tuned" else None
        order = WorkOrder(sub.ref, catalogue, 0, jobs, fit_data, expected_meta=probe[0].meta)
        outputs = {o.run_id: o for o in executor.run(order, *limits)}
        for task in tasks:
            out = outputs[task.label]
            if not out.ok:
                err = out.error
                problems.append(f"{task.label}: {err['stage']}: {err['type']}: {err['message']}")
                continue
            try:
                task.check(out.responses, requests[task.label], td.n_items)
            except ResponseError as e:
                problems.append(f"{task.label}: checking the responses: {e}")
    return meta, problems


def validate_submission(folder: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Submission, ModelMeta | None, list[str]]:
    sub = load_submission(folder, builtin_keys=model_keys())
    if not sub.ok:
        return sub, None, sub.problems
    meta, problems = run_tiny(sub, timeout_s)
    return sub, meta, problems
