"""Strict, fast reading of delimited text files into typed columns.

The fast path is numpy (field counts per line, straight from the bytes) and pandas' C parser. Only
when that fails does a second, line-by-line pass find the first offending line, so every DataError
names the file, the 1-based line and what was expected. Empty lines are skipped; any other line
must have exactly the expected fields. Fields are never quoted. A file is read as UTF-8, or with
UTF8_OR_LATIN1 as strict UTF-8 when its bytes are valid UTF-8 and as Latin-1 otherwise; the Table
records which. A gzip-compressed file (known by its first bytes, whatever its name) is read as the
text it holds.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.dataset import DataError

KINDS = {"int": "int64", "float": "float64", "str": str}
_EXPECT = {"int": "an integer", "float": "a number", "str": "text"}
_SEP_NAMES = {"\t": "tab", "|": "'|'", "::": "'::'", " ": "space"}
_PATTERNS = {
    "int": re.compile(r"\s*[+-]?[0-9]+\s*"),
    "float": re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"),
}
_INT64_MAX = np.iinfo(np.int64).max
UTF8_OR_LATIN1 = "utf-8, else latin-1"
GZIP_MAGIC = b"\x1f\x8b"
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    lines: np.ndarray  # the 1-based line number of each row
    path: Path
    encoding: str = "utf-8"

    def error(self, row: int, message: str) -> DataError:
        return DataError(message, str(self.path), int(self.lines[row]))


def open_binary(path: Path, what: str) -> io.BufferedIOBase:
    """`path` opened for reading bytes, decompressed on the fly when it is gzip."""
    if not path.is_file():
        raise DataError(f"file not found; expected {what}", str(path))
    with path.open("rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else path.open("rb")


def gzip_error(path: Path, error: Exception, line: int | None = None) -> DataError:
    return DataError(f"the gzip stream is damaged ({error}); expected a complete gzip file", str(path), line)


def read_bytes(path: Path, what: str) -> bytes:
    with open_binary(path, what) as f:
        try:
            return f.read()
        except GZIP_ERRORS as e:
            raise gzip_error(path, e) from None


def check_utf8(raw: bytes, path: Path, first_line: int = 1) -> None:
    """`raw`, whose first line is line `first_line` of `path`, must be UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + first_line
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(f"byte 0x{raw[e.start]:02x} at column {column} is not valid UTF-8; "
                        "expected UTF-8 text", str(path), line) from None


def text_encoding(raw: bytes) -> str:
    """'utf-8' when `raw` is valid UTF-8, else 'latin-1' (which decodes any bytes)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def read_header(path: Path, sep: str, what: str) -> list[str]:
    """The fields of the first line of a UTF-8 file."""
    with open_binary(path, what) as f:
        try:
            first = f.readline()
        except GZIP_ERRORS as e:
            raise gzip_error(path, e, 1) from None
    check_utf8(first, path)
    text = first.decode("utf-8-sig").rstrip("\r\n")
    if not text:
        raise DataError(f"empty header line; expected {what}", str(path), 1)
    return text.split(sep)


def read_table(path: Path, columns: dict[str, str], sep: str, what: str, encoding: str = "utf-8",
               header_lines: int = 0) -> Table:
    """Rows of `path` as columns {name: kind} (kind: int, float or str), after `header_lines`.
    `encoding`: 'utf-8' (strict), 'latin-1' or UTF8_OR_LATIN1."""
    raw = read_bytes(path, what)
    if encoding == UTF8_OR_LATIN1:
        encoding = text_encoding(raw)
    elif encoding == "utf-8":
        check_utf8(raw, path)
    if len(sep) > 1:
        raw = raw.replace(sep.encode(), b"\t")
    byte_sep = "\t" if len(sep) > 1 else sep
    line_no, n_fields = _fields_per_line(raw, byte_sep.encode())
    data = line_no > header_lines
    line_no, n_fields = line_no[data], n_fields[data]
    if len(line_no) == 0:
        raise DataError(f"no data lines; expected {what}", str(path), header_lines + 1)
    bad = np.flatnonzero(n_fields != len(columns))
    if len(bad):
        sep_name = _SEP_NAMES.get(sep, repr(sep))
        raise DataError(f"found {n_fields[bad[0]]} {sep_name}-separated fields; expected {len(columns)} "
                        f"({', '.join(columns)}): {what}", str(path), int(line_no[bad[0]]))
    try:
        frame = pd.read_csv(
            io.BytesIO(raw), sep=byte_sep, header=None, names=list(columns), index_col=False,
            dtype={name: KINDS[kind] for name, kind in columns.items()}, skiprows=header_lines,
            quoting=csv.QUOTE_NONE, encoding="utf-8-sig" if encoding == "utf-8" else encoding,
            keep_default_na=False, na_filter=False, engine="c",
        )
    except (ValueError, OverflowError) as e:
        raise _locate(raw, encoding, byte_sep, columns, header_lines, path, what, line_no, str(e)) from None
    if len(frame) != len(line_no):
        raise _locate(raw, encoding, byte_sep, columns, header_lines, path, what, line_no,
                      f"parsed {len(frame)} rows from {len(line_no)} lines")
    table = Table(frame, line_no, path, encoding)
    for name, kind in columns.items():
        if kind == "float":
            bad = np.flatnonzero(~np.isfinite(frame[name].to_numpy()))
            if len(bad):
                raise table.error(bad[0], f"field {name!r} is {frame[name].iloc[bad[0]]}; expected a finite number")
    return table


def _fields_per_line(raw: bytes, sep: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Line numbers and field counts of the non-empty lines ('\\r' before '\\n' is not content)."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(arr == ord("\n"))
    starts = np.r_[0, newlines + 1]
    ends = np.r_[newlines, len(arr)]
    if starts[-1] == len(arr):
        starts, ends = starts[:-1], ends[:-1]
    has_cr = ends > starts
    has_cr[has_cr] = arr[ends[has_cr] - 1] == ord("\r")
    ends = ends - has_cr
    seps = np.flatnonzero(arr == sep[0])
    n_fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    nonempty = ends > starts
    return np.flatnonzero(nonempty) + 1, n_fields[nonempty]


def _locate(raw: bytes, encoding: str, sep: str, columns: dict[str, str], header_lines: int, path: Path,
            what: str, line_no: np.ndarray, reason: str) -> DataError:
    """The first bad field, found on all lines at once with the columns read as text."""
    try:
        text = pd.read_csv(
            io.BytesIO(raw), sep=sep, header=None, names=list(columns), index_col=False, dtype=str,
            skiprows=header_lines, quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False, engine="c",
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        )
    except ValueError:
        text = None
    if text is None or len(text) != len(line_no):
        return _locate_line_by_line(raw, encoding, sep, columns, header_lines, path, what, reason)
    found = []  # (row, column) of each column's first bad field
    for name, kind in columns.items():
        if kind == "str":
            continue
        values = text[name]
        wrong = ~values.str.fullmatch(_PATTERNS[kind].pattern).to_numpy(dtype=bool)
        if kind == "int":
            long = np.flatnonzero(~wrong & (values.str.len().to_numpy() > 18))
            wrong[long] = [abs(int(values.iloc[i])) > _INT64_MAX for i in long]
        if wrong.any():
            found.append((int(np.argmax(wrong)), name))
    if found:
        row, name = min(found, key=lambda f: (f[0], list(columns).index(f[1])))
        return DataError(f"field {name!r} is {text[name].iloc[row]!r}; expected {_EXPECT[columns[name]]}: {what}",
                         str(path), int(line_no[row]))
    return _locate_line_by_line(raw, encoding, sep, columns, header_lines, path, what, reason)


def _locate_line_by_line(raw: bytes, encoding: str, sep: str, columns: dict[str, str], header_lines: int,
                         path: Path, what: str, reason: str) -> DataError:
    text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if number <= header_lines or not line:
            continue
        if "\r" in line:
            return DataError(f"stray carriage return inside the line; expected one record per line: {what}",
                             str(path), number)
        for (name, kind), value in zip(columns.items(), line.split(sep)):
            if kind != "str" and not _PATTERNS[kind].fullmatch(value):
                return DataError(f"field {name!r} is {value!r}; expected {_EXPECT[kind]}: {what}", str(path), number)
    return DataError(f"could not be parsed ({reason}); expected {what}", str(path))
