"""Result files: one JSON per run plus its per-example responses (Parquet) beside it, both written
atomically, the JSON validated against schema.json on read.

A result is named by its identity: `<model>__<task label>__<dataset>__seed<N>__<result_id>.json`,
where `result_id` hashes everything that can change its numbers (see `benchmark.runner.spec`).
The responses file is written first and the JSON, which records the responses' sha256, last:
a result exists once its JSON does, and a responses file without its JSON is an orphan.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema

SCHEMA_VERSION = 2
RESPONSES_SUFFIX = ".responses.parquet"
TMP_PREFIX = ".tmp-"


class ResultError(ValueError):
    pass


class StaleResult(ResultError):
    """A result written by an older harness whose identity cannot be reconstructed."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files("benchmark.results").joinpath("schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def validate_result(result: dict[str, Any], where: str = "result") -> None:
    version = result.get("schema_version") if isinstance(result, dict) else None
    if isinstance(version, int) and version < SCHEMA_VERSION:
        raise StaleResult(f"{where}: stale result of schema version {version} (this harness writes "
                          f"{SCHEMA_VERSION}); its numbers cannot be matched to a result identity: re-run its plan")
    error = jsonschema.exceptions.best_match(_validator().iter_errors(result))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultError(f"{where}: invalid at {path}: {error.message}")


def process_start_time(pid: int) -> str | None:
    """When process `pid` started (clock ticks after boot), or None (no such process, no /proc).
    With its id it names one process even once the id is reused: a container's PID 1 is PID 1
    again after a restart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def temp_prefix() -> str:
    """`.tmp-<pid>-<start time>-`: temporary files and folders are named by their writer, so a
    sweep tells a dead writer's leftovers from a live one's (see `left_by_dead_writer`)."""
    return f"{TMP_PREFIX}{os.getpid()}-{process_start_time(os.getpid()) or 0}-"


def left_by_dead_writer(name: str) -> bool:
    """Whether a `temp_prefix()` name was left by a process that no longer runs. A name without
    the start time is from an older harness: the id alone decides."""
    pid, _, rest = name[len(TMP_PREFIX):].partition("-")
    started = rest.split("-", 1)[0]
    if not name.startswith(TMP_PREFIX) or not pid.isdigit():
        return False
    if not started.isdigit():
        return not os.path.exists(f"/proc/{pid}")
    now = process_start_time(int(pid))
    return now is None or now != started


def _atomic_write(final: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=final.suffix, dir=final.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_responses(columns: dict[str, Any], directory: Path, run_id: str) -> dict[str, Any]:
    """Write the per-example table; return the reference the result JSON records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    final = directory / f"{run_id}{RESPONSES_SUFFIX}"
    _atomic_write(final, lambda f: pq.write_table(table, f))
    return {"file": final.name, "sha256": sha256_file(final), "rows": table.num_rows}


def write_result(result: dict[str, Any], directory: str | Path, responses: dict[str, Any] | None = None) -> Path:
    """Validate, then write the responses (when given) and `<run_id>.json`, each via a temporary
    file and a rename: a reader never sees half a file, and a crash mid-write leaves the previous
    version intact."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    where = f"result {result.get('run_id')!r}"
    if responses is not None:
        placeholder = {"file": f"{result.get('run_id')}{RESPONSES_SUFFIX}", "sha256": "0" * 64, "rows": 0}
        validate_result(result | {"outputs": {"responses": placeholder}}, where)  # nothing written if invalid
        result["outputs"] = {"responses": write_responses(responses, directory, result["run_id"])}
    validate_result(result, where)
    final = directory / f"{result['run_id']}.json"
    text = json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n"
    _atomic_write(final, lambda f: f.write(text.encode()))
    return final


def read_result(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ResultError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ResultError(f"{path}: unreadable: {e}") from None
    validate_result(data, where=str(path))
    return data


def result_files(directory: str | Path) -> list[Path]:
    return [p for p in sorted(Path(directory).glob("*.json")) if not p.name.startswith(TMP_PREFIX)]


def iter_results(directory: str | Path) -> Iterator[tuple[Path, dict[str, Any] | ResultError]]:
    """Every result file in `directory` (temporary files skipped), each parsed or with its error."""
    for path in result_files(directory):
        try:
            yield path, read_result(path)
        except ResultError as e:
            yield path, e
