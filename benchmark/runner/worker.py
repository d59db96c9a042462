"""The model side of a run: everything that touches model code, and nothing that touches labels.

A `WorkOrder` carries one model (by reference), the catalogue, the fit split (for fine-tuned
models) and one `Job` per run that shares the fitted model: the run's test requests (without
targets or labels) and the latency sample. `execute_order` builds the model, fits it once, and
answers each job, emitting a `JobOutput` as each finishes. Executors run it in this process, in
a subprocess (`python -m benchmark.runner.worker ORDER OUT`), or as a Ray task; the parent then
validates and scores the responses, so metric code and test labels never reach the model.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import json
import os
import pickle
import random
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmark.api import Model, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.llm import engines
from benchmark.requests import TopK
from benchmark.runner.environment import environment
from benchmark.runner.spec import ModelRef
from benchmark.runner.timing import PeakMemory, measure_latency, timed_call

METHOD_FOR = {"score": "score", "rank": "rank", "answer": "answer"}


class LoadError(RuntimeError):
    """A submission's code could not be turned into a usable model class."""


@dataclass
class Job:
    run_id: str
    request_kind: str
    requests: list
    latency_warm: np.ndarray
    latency_timed: np.ndarray


@dataclass
class WorkOrder:
    ref: ModelRef
    catalogue: Catalogue
    seed: int
    jobs: list[Job]
    fit_data: Any = None
    threads: int | None = None
    expected_meta: dict[str, Any] | None = None  # a submission's meta as validated; must not change
    # task name → {"name", "version", "text"}: the prompt templates of the order's task(s), handed
    # to the model as `model.prompts` before setup (empty for models that take no prompts)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class JobOutput:
    run_id: str | None  # None: the whole order failed before any job (load, setup, fit)
    ok: bool  # responses came back; `error` may still hold a later failure (latency)
    responses: Any = None
    error: dict[str, Any] | None = None
    efficiency: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    num_parameters: int | None = None
    meta: dict[str, Any] | None = None


def error_info(stage: str, exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "stage": stage,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def load_submission_class(folder: str | Path, entry: str) -> type[Model]:
    """Import a submission's entry (`file.py:ClassName`) and check the class and its meta."""
    folder = Path(folder)
    file_name, _, cls_name = entry.partition(":")
    code = folder / file_name
    module_name = f"recboard_submission_{folder.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, code)
    if spec is None or spec.loader is None:
        raise LoadError(f"{code}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:
        raise LoadError(f"{code}: called sys.exit({e.code!r}) on import") from None
    except Exception as e:
        raise LoadError(f"{code}: raised {type(e).__name__} on import: {e}\n{traceback.format_exc(limit=-3)}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise LoadError(f"{code}: defines no {cls_name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Model)):
        raise LoadError(f"{code}: {cls_name} must subclass benchmark.api.Model")
    meta = getattr(cls, "meta", None)
    if not isinstance(meta, ModelMeta):
        raise LoadError(f"{code}: {cls_name}.meta must be a benchmark.api.ModelMeta")
    problems = []
    if meta.paradigm == "oracle":
        problems.append(f"{cls_name}.meta.paradigm is 'oracle', which is reserved to built-in models")
    for kind in meta.supports:
        if getattr(cls, METHOD_FOR[kind]) is getattr(Model, METHOD_FOR[kind]):
            problems.append(f"meta.supports lists {kind!r} but {cls_name} does not implement {METHOD_FOR[kind]}()")
    if meta.scheme == "fine-tuned" and cls.fit is Model.fit:
        problems.append(f"scheme is fine-tuned but {cls_name} does not implement fit()")
    if problems:
        raise LoadError(f"{code}: " + "; ".join(problems))
    return cls


HARNESS_PACKAGES = ("benchmark", "tasks")


def harness_snapshot() -> dict[tuple[str, str], int]:
    """The identity of every attribute of the harness's loaded modules, to tell whether model code
    replaced one (a metric, a task's check). The worker refuses a model that does."""
    import benchmark.metrics  # noqa: F401  (loaded first, so a replacement is seen)
    import benchmark.results  # noqa: F401
    import tasks  # noqa: F401

    snap = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in HARNESS_PACKAGES:
            continue
        for attr, value in list(vars(module).items()):
            if callable(value) or inspect.ismodule(value):  # code, not the harness's own state
                snap[(name, attr)] = id(value)
    return snap


def tampered(before: dict[tuple[str, str], int]) -> list[str]:
    now = harness_snapshot()
    return sorted(f"{m}.{a}" for (m, a), ident in before.items() if now.get((m, a), ident) != ident)


def model_class(ref: ModelRef) -> type[Model]:
    if ref.is_submission:
        return load_submission_class(ref.folder, ref.entry)
    from benchmark.registry import get_model

    return get_model(ref.key)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def _reset(model: Model) -> None:
    model.reset_caches()


def _check_tampering(snapshot: dict | None) -> None:
    changed = tampered(snapshot) if snapshot is not None else []
    if changed:
        raise LoadError(f"the model's code replaced harness code {changed[:5]}: refused")


def execute_order(order: WorkOrder, emit: Callable[[JobOutput], None]) -> None:
    """Answer every job of the order; never raises for the model's faults."""
    if order.threads:
        import torch

        from threadpoolctl import threadpool_limits

        torch.set_num_threads(order.threads)
        threadpool_limits(order.threads)  # numpy / scipy BLAS too (PCA, kNN), not only torch
    stage = "load"
    model: Model | None = None
    snapshot = harness_snapshot() if order.ref.is_submission else None
    try:
        cls = model_class(order.ref)
        _check_tampering(snapshot)
        meta_obj = cls.meta_for(dict(order.ref.args))
        meta = meta_obj.to_dict()
        if order.expected_meta is not None and meta != order.expected_meta:
            raise LoadError(f"the model's meta changed since it was validated: {meta} != {order.expected_meta}")
        if not order.jobs:  # a probe: report the class's meta only
            emit(JobOutput(None, True, meta=meta))
            return
        stage = "setup"
        seed_everything(order.seed)
        model = cls(**order.ref.args)
        model.prompts = {task: dict(template) for task, template in order.prompts.items()}
        model.setup(order.catalogue, order.seed)
        fit_s = 0.0
        if meta_obj.scheme == "fine-tuned":
            stage = "fit"
            _, fit_s = timed_call(lambda: model.fit(order.fit_data))
        _check_tampering(snapshot)
    except BaseException as e:  # SystemExit from model code included: it is the model's fault
        if isinstance(e, KeyboardInterrupt):
            raise
        emit(JobOutput(None, False, error=error_info(stage, e)))
        return
    for n, job in enumerate(order.jobs):
        output = _answer(model, meta, job, order.seed, fit_s, reused=n > 0, first_run=order.jobs[0].run_id)
        try:
            _check_tampering(snapshot)
        except LoadError as e:
            output = JobOutput(job.run_id, False, error=error_info("predict", e), meta=meta)
        emit(output)
    del model
    gc.collect()


def _answer(model: Model, meta: dict[str, Any], job: Job, seed: int, fit_s: float, reused: bool,
            first_run: str) -> JobOutput:
    stage = "predict"
    try:
        seed_everything(seed)
        call = getattr(model, job.request_kind)
        with PeakMemory() as mem:
            responses, predict_s = timed_call(lambda: call(job.requests))
        extra = _jsonable(model.extra_stats())  # before the latency sample adds to its counters
        latency, latency_error = None, None
        try:  # a failure here is reported after the parent has checked the responses themselves
            latency = measure_latency(call, job.requests, job.latency_warm, job.latency_timed,
                                      reset=lambda: _reset(model))
        except Exception as e:
            latency_error = error_info("latency", e)
        device = str(model.device)
        efficiency = {"latency_ms": latency, "throughput_rps": len(job.requests) / max(predict_s, 1e-12),
                      "batch_size": int(getattr(model, "batch_size", 0) or 0), "fit_s": fit_s,
                      "predict_s": predict_s, "peak_memory_mb": mem.peak_mb, "memory_delta_mb": mem.delta_mb,
                      "device": device, "extra": extra}
        if reused:
            efficiency["fit_reused_from"] = first_run
        env = environment(device)
        efficiency["threads"] = env.get("threads")
        stage = "validate"
        responses = transportable(responses)
        return JobOutput(job.run_id, True, responses=responses, efficiency=efficiency, environment=env,
                         num_parameters=model.num_parameters(), meta=meta, error=latency_error)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return JobOutput(job.run_id, False, error=error_info(stage, e), meta=meta)


def transportable(responses: Any) -> np.ndarray | TopK:
    """Responses as plain numeric arrays, which every executor carries alike: float64 scores, or a
    TopK of int64 ids and float64 scores (the parent's task checks the values)."""
    try:
        if isinstance(responses, TopK):
            items = np.asarray(responses.items)
            if not np.issubdtype(items.dtype, np.integer):
                raise TypeError(f"TopK.items must hold integer item ids, got dtype {items.dtype}")
            return TopK(items.astype(np.int64, copy=False), np.asarray(responses.scores, dtype=np.float64))
        return np.asarray(responses, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"responses are not numeric: {e}") from None


def collect(order: WorkOrder) -> list[JobOutput]:
    outputs: list[JobOutput] = []
    execute_order(order, outputs.append)
    return outputs


def _save(array: np.ndarray, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".npy")
    with os.fdopen(fd, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def write_output(out_dir: Path, index: int, output: JobOutput) -> None:
    """JSON plus plain .npy files (`0000.npy` for dense scores; `0000.items.npy` and
    `0000.scores.npy` for a TopK): the parent never unpickles what a model's process wrote."""
    fields = {k: v for k, v in output.__dict__.items() if k != "responses"}
    if isinstance(output.responses, TopK):
        _save(np.asarray(output.responses.items, dtype=np.int64), out_dir / f"{index:04d}.items.npy")
        _save(np.asarray(output.responses.scores, dtype=np.float64), out_dir / f"{index:04d}.scores.npy")
    elif output.responses is not None:
        _save(np.asarray(output.responses, dtype=np.float64), out_dir / f"{index:04d}.npy")
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".part-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(fields, f, default=str, allow_nan=True)
    os.replace(tmp, out_dir / f"{index:04d}.json")


def read_outputs(out_dir: Path) -> list[JobOutput]:
    outputs = []
    for path in sorted(out_dir.glob("[0-9]*.json")):
        fields = json.loads(path.read_text())
        if not isinstance(fields, dict) or set(fields) - set(JobOutput.__dataclass_fields__):
            raise ValueError(f"{path.name}: not a job output")
        fields["responses"] = _read_responses(path)
        outputs.append(JobOutput(**fields))
    return outputs


def _read_responses(json_path: Path) -> np.ndarray | TopK | None:
    dense, items, scores = (json_path.with_suffix(suffix) for suffix in (".npy", ".items.npy", ".scores.npy"))
    present = [p.exists() for p in (dense, items, scores)]
    if present == [True, False, False]:
        return np.load(dense, allow_pickle=False)
    if present == [False, True, True]:
        return TopK(np.load(items, allow_pickle=False), np.load(scores, allow_pickle=False))
    if any(present):
        raise ValueError(f"{json_path.name}: responses need {dense.name} alone or both {items.name} and {scores.name}")
    return None


def main(argv: list[str]) -> int:
    order_path, out_dir = Path(argv[0]), Path(argv[1])
    with open(order_path, "rb") as f:
        order: WorkOrder = pickle.load(f)
    counter = iter(range(1_000_000))
    try:
        execute_order(order, lambda out: write_output(out_dir, next(counter), out))
    finally:
        engines.close_all()  # an LLM engine's own process ends with this worker's
    (out_dir / "DONE").write_text("ok")
    return 0


if __name__ == "__main__":
    # The model's own code must not be able to end this process early and look successful:
    # the parent requires DONE and reads what was emitted.
    sys.exit(main(sys.argv[1:]))
