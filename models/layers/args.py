"""Checks of model constructor arguments, so a bad plan fails before it runs instead of publishing
a result: each returns the value and raises a ValueError naming the model, the argument and the
value."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _fail(model: str, name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{model}: argument {name} must be {expected}, got {value!r}")


def positive_int(model: str, name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise _fail(model, name, value, "a positive integer")
    return int(value)


def non_negative_int(model: str, name: str, value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise _fail(model, name, value, "an integer >= 0")
    return int(value)


def positive_ints(model: str, name: str, values: Iterable[Any]) -> tuple[int, ...]:
    """A sequence of positive integers, e.g. layer widths (possibly empty)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _fail(model, name, values, "a list of positive integers")
    values = tuple(values)
    if not all(_is_int(v) and v >= 1 for v in values):
        raise _fail(model, name, list(values), "a list of positive integers")
    return tuple(int(v) for v in values)


def positive_number(model: str, name: str, value: Any) -> float:
    if not _is_real(value) or value <= 0:
        raise _fail(model, name, value, "a finite number > 0")
    return float(value)


def non_negative_number(model: str, name: str, value: Any) -> float:
    if not _is_real(value) or value < 0:
        raise _fail(model, name, value, "a finite number >= 0")
    return float(value)


def dropout_rate(model: str, name: str, value: Any) -> float:
    if not _is_real(value) or not 0 <= value < 1:
        raise _fail(model, name, value, "a probability in [0, 1)")
    return float(value)
