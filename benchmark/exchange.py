"""Requests out to JSONL and responses back in, so a model run outside the harness can be scored.

A requests file starts with one header line that says how to rebuild the task data (dataset
adapter arguments, protocol fields, task, variant) and the task-data hash it must reproduce;
each further line is one request with its `id`. A responses file has one line per request:
{"id": 0, "score": 0.7} for CTR; {"id": 0, "scores": [...]} for QA (one score per option, the
highest picked); for next item either {"id": 0, "scores": [...]} (one score per
candidate) or, in every line alike, {"id": 0, "items": [...], "scores": [...]} (the request's top
items as item ids, best first, as a `TopK`; "scores" may be left out and are then the descending
ranks). Ids and items are JSON integers, scores JSON numbers (a string such as "0.5" or a boolean
is refused), and every error names the file and line.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data import load_dataset
from benchmark.protocol import ProtocolSpec, TaskData, build_task_data
from benchmark.requests import TopK
from tasks import Evaluation, ResponseError, Task, make_task

FORMAT = "recboard-requests"
HEADER_TYPES = {"format": str, "task": str, "dataset": dict, "dataset_name": str, "protocol": dict,
                "task_data_hash": str}


class ExchangeError(ValueError):
    pass


def task_from_header(header: dict[str, Any]) -> Task:
    args = {"candidates": header["variant"]} if header.get("variant") else {}
    return make_task(header["task"], **args)


def _is_number(x: Any) -> bool:
    return type(x) in (int, float)  # JSON numbers only: bool is a subclass of int


def _check_value(value: Any, key: str, where: str) -> None:
    if key == "score":
        if not _is_number(value):
            raise ExchangeError(f"{where}: \"score\" must be a JSON number, got {value!r}")
        return
    if not isinstance(value, list):
        raise ExchangeError(f"{where}: \"scores\" must be a list of JSON numbers, got {type(value).__name__}")
    if not set(map(type, value)) <= {int, float}:
        j, bad = next((j, x) for j, x in enumerate(value) if not _is_number(x))
        raise ExchangeError(f"{where}: \"scores\" must be a list of JSON numbers; element {j} is {bad!r}")


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
    expected = f"expected a {FORMAT} header line (written by `recboard requests`)"
    if not isinstance(header, dict):
        raise ExchangeError(f"{path}:1: {expected}")
    missing = [k for k in HEADER_TYPES if k not in header]
    if missing:
        raise ExchangeError(f"{path}:1: header lacks required key(s) {missing}; {expected}")
    if header["format"] != FORMAT:
        raise ExchangeError(f"{path}:1: format {header['format']!r}; {expected}")
    for k, kind in HEADER_TYPES.items():
        if not isinstance(header[k], kind):
            raise ExchangeError(f"{path}:1: header key {k!r} must be a JSON {'object' if kind is dict else 'string'}, "
                                f"got {header[k]!r}")
    return header


def _read_lines(path: Path, n: int, keys: tuple[str, ...], expected: str) -> tuple[list[dict], list[int]]:
    """Each request's response object, by id, and the line it came from."""
    if not path.exists():
        raise ExchangeError(f"{path}: responses file not found")
    out: list[Any] = [None] * n
    lines = [0] * n
    with path.open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ExchangeError(f"{path}:{lineno}: not valid JSON: {e.msg}") from None
            if not isinstance(obj, dict) or "id" not in obj or not any(k in obj for k in keys):
                raise ExchangeError(f"{path}:{lineno}: expected {expected}")
            i = obj["id"]
            if type(i) is not int or not 0 <= i < n:
                raise ExchangeError(f"{path}:{lineno}: id {i!r} is not a request id in 0..{n - 1}")
            if out[i] is not None:
                raise ExchangeError(f"{path}:{lineno}: duplicate response for id {i}")
            out[i], lines[i] = obj, lineno
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        raise ExchangeError(f"{path}: no response for {len(missing)} request(s), first id {missing[0]}")
    return out, lines


def read_responses(path: str | Path, n: int, key: str) -> list[Any]:
    path = Path(path)
    objs, lines = _read_lines(path, n, (key,), f"{{\"id\": <int>, \"{key}\": ...}}")
    for obj, lineno in zip(objs, lines):
        _check_value(obj[key], key, f"{path}:{lineno}")
    return [obj[key] for obj in objs]


def _sparse_row(obj: dict[str, Any], where: str) -> tuple[list[int], list[float]]:
    items = obj["items"]
    if not isinstance(items, list):
        raise ExchangeError(f"{where}: \"items\" must be a list of JSON integers (item ids), got {type(items).__name__}")
    bad = next((j for j, x in enumerate(items) if type(x) is not int), None)
    if bad is not None:
        raise ExchangeError(f"{where}: \"items\" must be a list of JSON integers (item ids); element {bad} is {items[bad]!r}")
    if "scores" not in obj:
        return items, list(range(len(items), 0, -1))
    _check_value(obj["scores"], "scores", where)
    if len(obj["scores"]) != len(items):
        raise ExchangeError(f"{where}: {len(obj['scores'])} \"scores\" for {len(items)} \"items\"")
    return items, obj["scores"]


def read_rank_responses(path: str | Path, n: int) -> tuple[list[Any] | TopK, list[int]]:
    """Next-item responses, all dense (a list of score lists) or all sparse (a TopK), and the
    line of each request's response."""
    path = Path(path)
    objs, lines = _read_lines(path, n, ("scores", "items"), '{"id": <int>, "scores": [...]} or '
                                                            '{"id": <int>, "items": [...], "scores": [...]}')
    by_line = sorted(range(n), key=lines.__getitem__)
    sparse = n > 0 and "items" in objs[by_line[0]]
    odd = next((i for i in by_line if ("items" in objs[i]) != sparse), None)
    if odd is not None:
        raise ExchangeError(f"{path}:{lines[odd]}: a {'dense' if sparse else 'sparse'} response in a file of "
                            f"{'sparse' if sparse else 'dense'} ones (line {lines[by_line[0]]}); use one form throughout")
    if not sparse:
        for obj, lineno in zip(objs, lines):
            _check_value(obj["scores"], "scores", f"{path}:{lineno}")
        return [obj["scores"] for obj in objs], lines
    rows = [_sparse_row(obj, f"{path}:{lineno}") for obj, lineno in zip(objs, lines)]
    try:
        return TopK.from_lists([r[0] for r in rows], [r[1] for r in rows]), lines
    except (ValueError, OverflowError) as e:
        raise ExchangeError(f"{path}: {e}") from None


def score_responses(requests_path: str | Path, responses_path: str | Path,
                    cache_dir: str | Path | None) -> tuple[dict[str, Any], Evaluation]:
    header = read_header(requests_path)
    try:
        task = task_from_header(header)
    except ValueError as e:
        raise ExchangeError(f"{requests_path}:1: {e}") from None
    header = {**header, "variant": task.variant}
    known = {f.name for f in fields(ProtocolSpec)}
    spec = ProtocolSpec(**{k: v for k, v in header["protocol"].items() if k in known})
    ds = load_dataset(**header["dataset"], name=header["dataset_name"])
    td = build_task_data(ds, spec, (task.name,), cache_dir=cache_dir)[task.name]
    if td.content_hash != header["task_data_hash"]:
        raise ExchangeError(f"{requests_path}: the task data rebuilt here has hash {td.content_hash}, "
                            f"not the {header['task_data_hash']} the requests were written from "
                            "(different data files or harness version)")
    requests = task.requests(td)
    if task.request_kind == "rank":
        raw, lines = read_rank_responses(responses_path, len(requests))
    elif task.request_kind == "answer":
        raw, lines = read_responses(responses_path, len(requests), "scores"), None
    else:
        raw, lines = read_responses(responses_path, len(requests), "score"), None
    try:
        responses = task.check(raw if isinstance(raw, TopK) else np.asarray(raw, dtype=np.float64), requests,
                               td.n_items)
    except ResponseError as e:
        where = responses_path if e.row is None or lines is None else f"{responses_path}:{lines[e.row]}"
        raise ResponseError(f"{where}: {e}", row=e.row) from None
    except (ValueError, TypeError) as e:
        raise ResponseError(f"{responses_path}: {e}") from None
    return header, task.evaluate(td, responses)
