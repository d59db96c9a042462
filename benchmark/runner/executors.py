"""Executors turn work orders into job outputs. The parent validates and scores what comes back.

- `inprocess`: the fast default for built-in models (no re-import of torch per run).
- `subprocess`: one Python process per order, with a wall-clock timeout and a memory limit
  (RLIMIT_DATA, which counts heap and anonymous mappings). A hang, an out-of-memory or a crash
  becomes a failed job with its reason; outputs the worker emitted before it died are kept.
  Outputs come back as JSON and plain .npy files, never as pickles, so nothing the model's process
  wrote can run code in the parent. Submissions always run here.
- `ray`: one Ray task per order on the cluster at RAY_ADDRESS (or a local instance), with the
  plan's `threads` as CPUs and the model's GPUs requested; orders run concurrently and are
  collected as they finish.
"""

from __future__ import annotations

import collections
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from benchmark.runner.worker import JobOutput, WorkOrder, collect, read_outputs

EXECUTORS = ("inprocess", "subprocess", "ray")


def _failed(order: WorkOrder, done: set[str], stage: str, message: str, kind: str = "ExecutorError") -> list[JobOutput]:
    return [JobOutput(job.run_id, False, error={"type": kind, "message": message, "stage": stage})
            for job in order.jobs if job.run_id not in done]


def expand_order_failure(order: WorkOrder, outputs: list[JobOutput]) -> list[JobOutput]:
    """One output per job: an order-level failure (load, setup, fit) applies to every job. A probe
    (an order without jobs) keeps its single output."""
    if not order.jobs:
        return outputs
    by_run = {o.run_id: o for o in outputs if o.run_id is not None}
    whole = next((o for o in outputs if o.run_id is None), None)
    out = []
    for job in order.jobs:
        if job.run_id in by_run:
            out.append(by_run[job.run_id])
        elif whole is not None:
            out.append(JobOutput(job.run_id, False, error=whole.error, meta=whole.meta))
    return out


class InProcessExecutor:
    name = "inprocess"

    def map(self, orders: Iterable[tuple[WorkOrder, dict]]) -> Iterator[tuple[WorkOrder, list[JobOutput]]]:
        for order, _limits in orders:
            yield order, expand_order_failure(order, collect(order))


def _limit_memory(memory_mb: int | None):
    def apply() -> None:
        os.setsid()
        if memory_mb:
            limit = int(memory_mb) * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return apply


class SubprocessExecutor:
    name = "subprocess"

    def __init__(self, echo: bool = True):
        self.echo = echo

    def map(self, orders: Iterable[tuple[WorkOrder, dict]]) -> Iterator[tuple[WorkOrder, list[JobOutput]]]:
        for order, limits in orders:
            yield order, self.run(order, limits.get("timeout_s"), limits.get("memory_mb"))

    def run(self, order: WorkOrder, timeout_s: float | None, memory_mb: int | None) -> list[JobOutput]:
        work = Path(tempfile.mkdtemp(prefix="recboard-order-"))
        try:
            (work / "out").mkdir()
            with open(work / "order.pkl", "wb") as f:
                pickle.dump(order, f, protocol=pickle.HIGHEST_PROTOCOL)
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmark.runner.worker", str(work / "order.pkl"), str(work / "out")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=work,
                preexec_fn=_limit_memory(memory_mb), env=os.environ | {"PYTHONUNBUFFERED": "1"})
            tail: collections.deque[str] = collections.deque(maxlen=25)
            reader = threading.Thread(target=self._pump, args=(proc, tail), daemon=True)
            reader.start()
            reason = None
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                reason = f"timed out after {timeout_s:g} s (the plan's timeout_s) and was killed"
            finally:
                self._kill_group(proc)
            reader.join(timeout=5)
            try:
                outputs = read_outputs(work / "out")
            except (ValueError, TypeError, OSError) as e:  # the model's process wrote garbage
                return _failed(order, set(), "executor", f"unreadable worker output: {e}")
            finished = (work / "out" / "DONE").exists()
            outputs = expand_order_failure(order, outputs)
            if reason is None and not finished:
                reason = self._exit_reason(proc.returncode, memory_mb)
            if reason is not None:
                log = "".join(tail).strip()
                message = reason + (f"\n--- last output of the model's process ---\n{log}" if log else "")
                stage = "timeout" if "timed out" in reason else "executor"
                outputs += _failed(order, {o.run_id for o in outputs}, stage, message)
            return outputs
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _pump(self, proc: subprocess.Popen, tail: collections.deque) -> None:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            tail.append(line)
            if self.echo:
                sys.stderr.write(line)
        proc.stdout.close()

    @staticmethod
    def _kill_group(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    @staticmethod
    def _exit_reason(code: int, memory_mb: int | None) -> str:
        if code == 0:
            return ("the model's process ended (exit code 0) before answering every request: "
                    "model code must not exit the process (sys.exit, os._exit)")
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = " (likely the system's out-of-memory killer)" if -code == signal.SIGKILL else ""
            return f"the model's process was killed by {name}{hint}"
        hint = f"; the memory limit is {memory_mb} MB (the plan's memory_mb)" if memory_mb else ""
        return f"the model's process exited with code {code}{hint}"


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs the ray extra: pip install -e '.[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), log_to_driver=True,
                     include_dashboard=False)

    def map(self, orders: Iterable[tuple[WorkOrder, dict]]) -> Iterator[tuple[WorkOrder, list[JobOutput]]]:
        """Submit every order at once, then yield them as they finish. A timeout counts from
        submission, since the cluster may queue an order before it starts."""
        ray = self.ray
        pending: dict[Any, tuple[WorkOrder, dict, float]] = {}
        for order, limits in orders:
            task = ray.remote(num_cpus=limits.get("cpus", 1), num_gpus=limits.get("gpus", 0), max_retries=0)(collect)
            pending[task.remote(order)] = (order, limits, time.monotonic())
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                order, limits, _ = pending.pop(ref)
                try:
                    outputs = expand_order_failure(order, ray.get(ref))
                except Exception as e:  # a worker crash, an out-of-memory kill, a lost node
                    outputs = _failed(order, set(), "executor", f"{type(e).__name__}: {e}")
                yield order, outputs
            now = time.monotonic()
            for ref, (order, limits, started) in list(pending.items()):
                timeout = limits.get("timeout_s")
                if timeout and now - started > timeout:
                    ray.cancel(ref, force=True)
                    del pending[ref]
                    yield order, _failed(order, set(), "timeout", f"timed out after {timeout:g} s on Ray (counted "
                                                                    "from submission) and was cancelled")


def make_executor(name: str) -> InProcessExecutor | SubprocessExecutor | RayExecutor:
    if name == "inprocess":
        return InProcessExecutor()
    if name == "subprocess":
        return SubprocessExecutor()
    if name == "ray":
        return RayExecutor()
    raise ValueError(f"unknown executor {name!r}; known: {list(EXECUTORS)}")
