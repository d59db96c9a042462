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


def positive_ints(model: str, name: str, values: Iterable[Any], nonempty: bool = False) -> tuple[int, ...]:
    """A sequence of positive integers, e.g. layer widths (empty unless `nonempty`)."""
    expected = "a non-empty list of positive integers" if nonempty else "a list of positive integers"
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _fail(model, name, values, expected)
    values = tuple(values)
    if not all(_is_int(v) and v >= 1 for v in values) or (nonempty and not values):
        raise _fail(model, name, list(values), expected)
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


def choice(model: str, name: str, value: Any, allowed: Iterable[str]) -> str:
    """One of a fixed set of strings, e.g. a mode."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(model, name, value, f"one of {list(allowed)}")
    return value


def multiple_of(model: str, name: str, value: int, other_name: str, other: int) -> int:
    """value (already checked) split evenly into `other` parts, e.g. a width across heads."""
    if value % other:
        raise ValueError(f"{model}: argument {name} ({value}) must be a multiple of {other_name} ({other})")
    return value
