"""Reading files of one record per line (JSON objects, or Python dict literals) into a Table.

Each non-empty line must be one object. With `literals`, a line that is not JSON may be a Python
dict literal (as in the 2018 Amazon metadata and the Steam files, written with Python's repr); it
is read with ast.literal_eval, never eval. A gzip file (known by its first bytes) is read as the
text it holds, streamed. Every DataError names the file, the 1-based line and what was expected.

An adapter turns each record into a row with a `convert` function built from the field helpers
below (ident, number, integer, flag, text); they raise Expected, which the reader turns into a
DataError at the record's line.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from benchmark.data.dataset import DataError
from benchmark.data.tables import GZIP_ERRORS, Table, check_utf8, gzip_error, open_binary

_SPACE = re.compile(r"\s+")


class Expected(ValueError):
    """A record lacks what its format needs; the message says what it found."""


def iter_records(path: Path, what: str, literals: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line, object) for each non-empty line of `path`."""
    number = 0
    with open_binary(path, what) as f:
        try:
            for number, raw in enumerate(f, start=1):
                if raw.strip():
                    yield number, _parse(raw, path, number, what, literals)
        except GZIP_ERRORS as e:
            raise gzip_error(path, e, number + 1) from None
    if number == 0:
        raise DataError(f"no records; expected {what}", str(path), 1)


def read_records(path: Path, columns: list[str], convert: Callable[[dict[str, Any]], tuple | None], what: str,
                 literals: bool = False) -> Table:
    """The rows `convert` makes of each record (None drops a record) as a Table of `columns`."""
    rows, lines = [], []
    for number, record in iter_records(path, what, literals):
        try:
            row = convert(record)
        except Expected as e:
            raise DataError(f"{e}; expected {what}", str(path), number) from None
        if row is not None:
            rows.append(row)
            lines.append(number)
    if not rows:
        raise DataError(f"no usable records; expected {what}", str(path))
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return Table(frame, np.asarray(lines, dtype=np.int64), path)


def _parse(raw: bytes, path: Path, number: int, what: str, literals: bool) -> dict[str, Any]:
    check_utf8(raw, path, number)
    text = raw.decode("utf-8").lstrip("\ufeff").strip()
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        record, reason = None, f"not JSON ({e.msg} at column {e.colno})"
        if literals:
            try:
                record = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                reason = "neither JSON nor a Python literal"
        if record is None:
            raise DataError(f"{reason}; expected one object per line: {what}", str(path), number) from None
    if not isinstance(record, dict):
        raise DataError(f"found a {type(record).__name__}, not an object; expected one object per line: {what}",
                        str(path), number)
    return record


def field(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """The first of `keys` the record has, and its value."""
    for key in keys:
        if key in record:
            return key, record[key]
    raise Expected(f"no field {' or '.join(repr(k) for k in keys)}")


def ident(record: dict[str, Any], *keys: str) -> str:
    """An id (a non-empty string or an integer, as a string) from the first of `keys` present."""
    key, value = field(record, keys)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise Expected(f"field {key!r} is {value!r}, not an id")
    return value.strip()


def number(record: dict[str, Any], *keys: str) -> float:
    key, value = field(record, keys)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Expected(f"field {key!r} is {value!r}, not a finite number")
    return float(value)


def integer(record: dict[str, Any], *keys: str) -> int:
    key, value = field(record, keys)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Expected(f"field {key!r} is {value!r}, not an integer")
    return value


def flag(record: dict[str, Any], *keys: str) -> bool:
    key, value = field(record, keys)
    if not isinstance(value, bool):
        raise Expected(f"field {key!r} is {value!r}, not true or false")
    return value


def string(record: dict[str, Any], *keys: str) -> str:
    key, value = field(record, keys)
    if not isinstance(value, str):
        raise Expected(f"field {key!r} is {value!r}, not a string")
    return value


def text(record: dict[str, Any], *keys: str, sep: str = " ") -> str:
    """Free text from the first of `keys` present ('' when none is, or it is null): a string, or a
    list of strings (lists of lists too) whose parts are joined by `sep`. See texts."""
    return sep.join(texts(record, *keys))


def texts(record: dict[str, Any], *keys: str) -> list[str]:
    """The non-empty parts of a text or list-of-text field (the first of `keys` present), repeats
    dropped; runs of white space become one space."""
    try:
        key, value = field(record, keys)
    except Expected:
        return []
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise Expected(f"field {key!r} is {value!r}, not text or a list of text")
    parts = (_SPACE.sub(" ", p).strip() for p in _flatten(value, key))
    return list(dict.fromkeys(p for p in parts if p))


def _flatten(value: list, key: str) -> Iterator[str]:
    for part in value:
        if isinstance(part, list):
            yield from _flatten(part, key)
        elif isinstance(part, str):
            yield part
        elif part is not None:
            raise Expected(f"field {key!r} holds {part!r}, not text")


def parse_times(table: Table, column: str, fmt: str, example: str) -> np.ndarray:
    """Seconds since the epoch (UTC; a time without an offset is read as UTC) of a column of
    formatted times; a DataError names the first line whose time does not fit `fmt`."""
    values = table.frame[column]
    parsed = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise table.error(bad[0], f"time {values.iloc[bad[0]]!r} is not a time; expected one like {example!r}")
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def find_file(folder: Path, name: str, what: str) -> Path:
    """`folder/name`, or `folder/name.gz` when only that exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"file not found (nor {name}.gz); expected {what}", str(folder / name))
