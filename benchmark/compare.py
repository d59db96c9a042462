"""Two results on the same task data: their per-example responses and the paired difference.

A result (schema version 2) names its responses file, lying next to its JSON, with the file's
sha256 and row count: `load_responses` checks all three, so a statistic is never computed from
responses that are not the ones the result was scored on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import stats
from benchmark.results import read_result

REQUIRED_COLUMNS = {"ctr": ("user", "label", "score"), "seqrec": ("user", "greater", "equal"),
                    "uqa": ("user", "subtask", "dimension", "correct")}


class CompareError(ValueError):
    """Results or responses that cannot be compared, with why. ``kind`` names the cause for
    callers that summarise it: "no-responses", "missing", "sha256", "unreadable", "task", "requests"."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def responses_path(result: dict[str, Any], folder: str | Path) -> Path:
    """Where a result's responses file lies (raises CompareError if it names none)."""
    if result.get("status") != "ok":
        raise CompareError(f"{result.get('run_id')}: a {result.get('status')} run has no responses", "no-responses")
    responses = (result.get("outputs") or {}).get("responses")
    if not isinstance(responses, dict) or not isinstance(responses.get("file"), str):
        raise CompareError(f"{result.get('run_id')}: the result names no per-example responses file "
                           f"(outputs.responses; result schema version {result.get('schema_version')})", "no-responses")
    name = responses["file"]
    if not name or Path(name).name != name or name in (".", ".."):
        raise CompareError(f"{result.get('run_id')}: responses file {name!r} is not a plain file name", "unreadable")
    return Path(folder) / name


def load_responses(result: dict[str, Any], folder: str | Path) -> dict[str, np.ndarray]:
    """The result's per-example responses as numpy columns, after checking the file's sha256, its
    row count and the task's required columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = responses_path(result, folder)
    expected = result["outputs"]["responses"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CompareError(f"{result['run_id']}: responses file {path.name} is missing", "missing") from None
    except OSError as e:
        raise CompareError(f"{result['run_id']}: responses file {path.name} is unreadable: {e}", "unreadable") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected.get("sha256"):
        raise CompareError(f"{result['run_id']}: responses file {path.name} has sha256 {digest[:12]}…, "
                           f"the result records {str(expected.get('sha256'))[:12]}…: not the file it was scored on", "sha256")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise CompareError(f"{result['run_id']}: responses file {path.name} is not readable Parquet: {e}", "unreadable") from None
    if table.num_rows != expected.get("rows"):
        raise CompareError(f"{result['run_id']}: responses file {path.name} has {table.num_rows} rows, "
                           f"the result records {expected.get('rows')}", "unreadable")
    task = result["task"]["name"]
    missing = [c for c in REQUIRED_COLUMNS.get(task, ("user",)) if c not in table.column_names]
    if missing:
        raise CompareError(f"{result['run_id']}: responses file {path.name} lacks column(s) {missing}", "unreadable")
    return {name: table.column(name).to_numpy() for name in table.column_names}


def load_run(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A result file and its checked responses."""
    path = Path(path)
    try:
        result = read_result(path)
    except ValueError as e:
        raise CompareError(str(e)) from None
    return result, load_responses(result, path.parent)


def task_data(result: dict[str, Any]) -> tuple[str, str | None, str | None, str]:
    t = result["task"]
    return (t["name"], t.get("variant"), t.get("task_data_hash"), str(t["dataset"]["name"]))


def check_same_task_data(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Raise CompareError unless both results answer the same task on the same task data."""
    (task_a, var_a, hash_a, ds_a), (task_b, var_b, hash_b, ds_b) = task_data(a), task_data(b)
    if (task_a, var_a) != (task_b, var_b):
        raise CompareError(f"not the same task: {task_a} ({var_a}) vs {task_b} ({var_b})", "task")
    if hash_a is None or hash_b is None:
        raise CompareError("a result records no task-data hash, so its task data cannot be matched", "task")
    if hash_a != hash_b:
        raise CompareError(f"not the same task data: {ds_a} #{hash_a} vs {ds_b} #{hash_b}", "task")


@dataclass(frozen=True)
class Comparison:
    a: dict[str, Any]
    b: dict[str, Any]
    metric: str
    level: float
    n_boot: int
    seed: int
    n_rows: int
    test: dict[str, float | int]


def compare_runs(path_a: str | Path, path_b: str | Path, metric: str | None = None, n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> Comparison:
    """Paired bootstrap of metric(A) − metric(B) over the test users (default: A's main metric)."""
    a, table_a = load_run(path_a)
    b, table_b = load_run(path_b)
    check_same_task_data(a, b)
    metric = metric or a["main_metric"]
    try:
        test = stats.paired_test(a["task"]["name"], metric, table_a, table_b, n_boot=n_boot, seed=seed, level=level)
    except ValueError as e:
        raise CompareError(str(e)) from None
    return Comparison(a, b, metric, level, n_boot, seed, len(table_a["user"]), test)


def _reported(run: dict[str, Any], metric: str, value: float) -> str:
    reported = run["metrics"].get(metric)
    if isinstance(reported, (int, float)) and abs(reported - value) > 1e-6:
        return f" (the result reports {reported:.6f})"
    return ""


def format_comparison(c: Comparison) -> str:
    t = c.test
    task, variant, tdh, dataset = task_data(c.a)
    label = task if variant is None else f"{task}-{variant}"
    pct = f"{c.level * 100:g}%"
    verdict = ("not significant at 0.05: the two cannot be told apart on these users" if t["p"] >= 0.05
               else "significant at 0.05")
    return "\n".join([
        f"A: {c.a['run_id']}",
        f"B: {c.b['run_id']}",
        f"{label} on {dataset} (task data {tdh}): {c.n_rows:,} requests from {t['n_users']:,} users",
        f"{c.metric}: A {t['a']:.4f}{_reported(c.a, c.metric, t['a'])}  B {t['b']:.4f}{_reported(c.b, c.metric, t['b'])}",
        f"A - B = {t['diff']:+.4f}, {pct} CI [{t['lo']:+.4f}, {t['hi']:+.4f}], p = {t['p']:.4f} ({verdict})",
        f"paired bootstrap over test users: {t['n_boot']} resamples, seed {c.seed}",
    ])
