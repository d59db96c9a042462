"""Requests out to JSONL and responses back in, so a model run outside the harness can be scored.

A requests file starts with one header line that says how to rebuild the task data (dataset
adapter arguments, protocol fields, task, variant) and the task-data hash it must reproduce;
each further line is one request with its `id`. A responses file has one line per request:
{"id": 0, "score": 0.7} for CTR, {"id": 0, "scores": [...]} for next item.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data import load_dataset
from benchmark.protocol import ProtocolSpec, TaskData, build_task_data
from tasks import Evaluation, ResponseError, Task, make_task

FORMAT = "recboard-requests"


class ExchangeError(ValueError):
    pass


def task_from_header(header: dict[str, Any]) -> Task:
    args = {"candidates": header["variant"]} if header.get("variant") else {}
    return make_task(header["task"], **args)


def write_requests(path: str | Path, dataset_args: dict[str, Any], dataset_name: str, spec: ProtocolSpec,
                   task: Task, cache_dir: str | Path | None) -> tuple[TaskData, int]:
    ds = load_dataset(**dataset_args, name=dataset_name)
    td = build_task_data(ds, spec, (task.name,), cache_dir=cache_dir)[task.name]
    requests = task.requests(td)
    header = {"format": FORMAT, "version": 1, "dataset_name": dataset_name, "dataset": dataset_args,
              "protocol": spec.to_dict(), "task": task.name, "variant": task.variant,
              "task_data_hash": td.content_hash, "n_requests": len(requests), "n_items": td.n_items}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write(json.dumps(header) + "\n")
        for i, r in enumerate(requests):
            f.write(json.dumps({"id": i, **task.to_json_request(r)}) + "\n")
    return td, len(requests)


def read_header(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ExchangeError(f"{path}: requests file not found")
    with path.open() as f:
        first = f.readline()
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ExchangeError(f"{path}:1: expected a {FORMAT} header line (written by `recboard requests`)")
    return header


def read_responses(path: str | Path, n: int, key: str) -> list[Any]:
    path = Path(path)
    if not path.exists():
        raise ExchangeError(f"{path}: responses file not found")
    out: list[Any] = [None] * n
    with path.open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ExchangeError(f"{path}:{lineno}: not valid JSON: {e.msg}") from None
            if not isinstance(obj, dict) or "id" not in obj or key not in obj:
                raise ExchangeError(f"{path}:{lineno}: expected {{\"id\": <int>, \"{key}\": ...}}")
            i = obj["id"]
            if not isinstance(i, int) or not 0 <= i < n:
                raise ExchangeError(f"{path}:{lineno}: id {i!r} is not a request id in 0..{n - 1}")
            if out[i] is not None:
                raise ExchangeError(f"{path}:{lineno}: duplicate response for id {i}")
            out[i] = obj[key]
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        raise ExchangeError(f"{path}: no response for {len(missing)} request(s), first id {missing[0]}")
    return out


def score_responses(requests_path: str | Path, responses_path: str | Path,
                    cache_dir: str | Path | None) -> tuple[dict[str, Any], Evaluation]:
    header = read_header(requests_path)
    task = task_from_header(header)
    known = {f.name for f in fields(ProtocolSpec)}
    spec = ProtocolSpec(**{k: v for k, v in header["protocol"].items() if k in known})
    ds = load_dataset(**header["dataset"], name=header["dataset_name"])
    td = build_task_data(ds, spec, (task.name,), cache_dir=cache_dir)[task.name]
    if td.content_hash != header["task_data_hash"]:
        raise ExchangeError(f"{requests_path}: the task data rebuilt here has hash {td.content_hash}, "
                            f"not the {header['task_data_hash']} the requests were written from "
                            "(different data files or harness version)")
    requests = task.requests(td)
    raw = read_responses(responses_path, len(requests), "score" if task.request_kind == "score" else "scores")
    try:
        responses = task.check(np.asarray(raw, dtype=np.float64), requests, td.n_items)
    except (ValueError, TypeError) as e:
        raise ResponseError(f"{responses_path}: {e}") from None
    return header, task.evaluate(td, responses)
