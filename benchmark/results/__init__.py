"""Result files: one JSON per run, written atomically, validated against schema.json on read."""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema

SCHEMA_VERSION = 1


class ResultError(ValueError):
    pass


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files("benchmark.results").joinpath("schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def validate_result(result: dict[str, Any], where: str = "result") -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(result))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultError(f"{where}: invalid at {path}: {error.message}")


def write_result(result: dict[str, Any], directory: str | Path) -> Path:
    """Validate, then write `<run_id>.json` via a temporary file and a rename: a reader never sees
    half a file, and a crash mid-write leaves the previous version intact."""
    validate_result(result, where=f"result {result.get('run_id')!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{result['run_id']}.json"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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


def iter_results(directory: str | Path) -> Iterator[tuple[Path, dict[str, Any] | ResultError]]:
    """Every result file in `directory` (temporary files skipped), each parsed or with its error."""
    for path in sorted(Path(directory).glob("*.json")):
        if path.name.startswith(".tmp-"):
            continue
        try:
            yield path, read_result(path)
        except ResultError as e:
            yield path, e
