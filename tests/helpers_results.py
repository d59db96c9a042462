"""Result files in the schema-version-2 format, with their per-example Parquet responses,
validated by the real schema when written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.metrics import per_user_ranking_metrics
from benchmark.results import write_result

MAIN = {"ctr": "auc", "seqrec": "ndcg@10"}
SECONDARY = {
    "ctr": {"logloss": 0.523456, "gauc_users": 1234},
    "seqrec": {"hr@10": 0.2, "hr@5": 0.1, "ndcg@5": 0.05, "coverage@10": 0.3},
}
CUTOFFS = (1, 5, 10, 20)


def ctr_responses(auc: float, n_users: int = 20, per_user: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """`per_user` positives and negatives per user, scored so that the AUC is exactly `auc`
    (to 1 / (n_users * per_user)^2): positive j beats the k_j lowest-scored negatives, no ties.
    The requests (users and labels, in order) depend only on the sizes, the scores on `seed`."""
    n = n_users * per_user
    layout = np.random.default_rng(n_users * 1000 + per_user)
    user = np.repeat(np.arange(n_users, dtype=np.int64) * 10 + 1, 2 * per_user)
    label = np.concatenate([layout.permutation(np.r_[np.ones(per_user), np.zeros(per_user)]) for _ in range(n_users)])
    rng = np.random.default_rng(seed)
    wins = int(round(auc * n * n))
    k = np.clip(np.round(auc * n + rng.normal(0, n / 6, n)), 0, n).astype(int)
    while k.sum() != wins:
        j = rng.integers(n)
        step = 1 if k.sum() < wins else -1
        if 0 <= k[j] + step <= n:
            k[j] += step
    score = np.empty(2 * n)
    score[label == 1] = rng.permutation((k + 0.5) / (n + 2))
    score[label == 0] = rng.permutation((np.arange(n) + 1) / (n + 2))
    return {"user": user, "label": label.astype(np.int8), "score": score}


def seq_responses(hits: int, n_users: int = 200, seed: int = 0, greater: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """`hits` users ranking the target first and the rest ranking it past 20 (so NDCG@10 = hits /
    n_users), or explicit `greater` counts; every per-user ranking metric as a column."""
    rng = np.random.default_rng(seed)
    if greater is None:
        greater = rng.integers(25, 60, n_users)
        greater[rng.permutation(n_users)[:hits]] = 0
    greater = np.asarray(greater, dtype=np.int64)
    equal = np.zeros_like(greater)
    return {"user": np.arange(greater.size, dtype=np.int64) * 3, "greater": greater.astype(np.float64),
            "equal": equal.astype(np.float64), **per_user_ranking_metrics(greater, equal, CUTOFFS)}


def table_metric(task: str, table: dict[str, np.ndarray]) -> float:
    from benchmark.stats import metric_value

    return metric_value(task, MAIN[task], table)


def make_result(
    key: str,
    *,
    task: str = "ctr",
    variant: str | None = None,
    dataset: str = "ml-1m",
    task_data_hash: str = "aaaa1111bbbb2222",
    seed: int = 0,
    value: float | None = 0.75,
    status: str = "ok",
    error_message: str = "",
    name: str | None = None,
    source: str = "builtin",
    args: dict[str, Any] | None = None,
    latency_ms: float = 1.5,
    throughput: float = 1000.0,
    created: str = "2024-05-01T12:00:00Z",
    identity_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A version-2 result without outputs (`write_run` adds them with the responses)."""
    main = MAIN[task]
    args = args or {"dim": 16}
    args_hash = hashlib.sha1(repr(sorted(args.items())).encode()).hexdigest()[:12]
    label = task if variant is None else f"{task}-{variant}"
    identity = {"model": key, "source": source, "args": args, "code": args_hash, "task": task, "task_version": "1",
                "variant": variant, "dataset": dataset, "task_data_hash": task_data_hash, "seed": seed,
                "harness": "0.2.0", **(identity_extra or {})}
    result_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    failed = status == "failed"
    return {
        "schema_version": 2,
        "run_id": f"{key}__{label}__{dataset}__seed{seed}__{result_id}",
        "result_id": result_id,
        "identity": identity,
        "created": created,
        "harness": {"version": "0.1.0", "git_sha": "0123456789abcdef0123"},
        "status": status,
        "error": (
            {"type": "RuntimeError", "message": error_message, "stage": "fit", "traceback": "Traceback: boom"}
            if failed
            else None
        ),
        "model": {
            "key": key,
            "meta": {
                "name": name or key.upper(),
                "paradigm": "dlrm",
                "item_repr": "id",
                "scheme": "fine-tuned",
                "backend": "torch",
                "supports": ["score", "rank"],
                "license": "MIT",
                "citation": "Someone et al. 2020",
                "group": "B",
                "description": f"The {key} model.",
            },
            "args": args,
            "code": args_hash,
            "source": source,
            "num_parameters": 12345,
        },
        "task": {
            "name": task,
            "version": "1",
            "variant": variant,
            "template": None,
            "protocol": {"name": "recboard-v1", "window": 20, "max_test_users": 1000},
            "dataset": {"name": dataset, "fingerprint": "f" * 16, "source": {"adapter": "fake"}},
            "task_data_hash": task_data_hash,
            "counts": {"test": 100, "train": 800, "valid": 100},
        },
        "seed": seed,
        "metrics": {} if failed else {**({} if value is None else {main: value}), **SECONDARY[task]},
        "main_metric": main,
        "outputs": None,
        "executor": "inprocess",
        "efficiency": {
            "latency_ms": {"mean": latency_ms, "p50": latency_ms, "p95": latency_ms * 2, "n": 50, "warmup": 5},
            "throughput_rps": throughput,
            "batch_size": 256,
            "fit_s": 3.0,
            "predict_s": 0.5,
            "peak_memory_mb": 321.0,
            "device": "cpu",
            "threads": 2,
            "extra": {},
        },
        "environment": {"python": "3.11.9", "platform": "linux", "torch": "2.4.0", "numpy": "1.26.4", "device": "cpu"},
    }


def parquet_bytes(task: str, table: dict[str, np.ndarray]) -> bytes:
    types = {"user": pa.int64(), "label": pa.int8()}
    arrays = {k: pa.array(np.asarray(v), type=types.get(k, pa.float64())) for k, v in table.items()}
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue().to_pybytes()


def write_run(folder: Path, result: dict[str, Any], table: dict[str, np.ndarray] | None = None,
              set_metric: bool = True) -> Path:
    """Write an ok result with its responses (the main metric taken from them unless told
    otherwise), or a failed one with outputs null; returns the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    if result["status"] == "ok" and table is not None:
        data = parquet_bytes(result["task"]["name"], table)
        file = f"{result['run_id']}.responses.parquet"
        (folder / file).write_bytes(data)
        result["outputs"] = {"responses": {"file": file, "sha256": hashlib.sha256(data).hexdigest(),
                                           "rows": len(table["user"])}}
        if set_metric:
            result["metrics"][result["main_metric"]] = table_metric(result["task"]["name"], table)
    return write_result(result, folder)
