"""Name → model class. Registration fails loudly on a collision; a lookup of an unknown name
suggests the closest registered ones."""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, TypeVar

from benchmark.api import Model, ModelMeta

M = TypeVar("M", bound=type[Model])

_MODELS: dict[str, type[Model]] = {}
_LOADED = False


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register_model(key: str) -> Callable[[M], M]:
    def decorate(cls: M) -> M:
        if not isinstance(getattr(cls, "meta", None), ModelMeta):
            raise TypeError(f"model {key!r} ({cls.__qualname__}) must set a ModelMeta as class attribute 'meta'")
        if key in _MODELS and _MODELS[key] is not cls:
            other = _MODELS[key]
            raise RegistryError(
                f"model key {key!r} is already registered by {other.__module__}.{other.__qualname__}; "
                f"cannot register {cls.__module__}.{cls.__qualname__} under the same key"
            )
        _MODELS[key] = cls
        return cls

    return decorate


def _load_builtin() -> None:
    global _LOADED
    if not _LOADED:
        importlib.import_module("models")
        _LOADED = True


def get_model(key: str) -> type[Model]:
    _load_builtin()
    if key not in _MODELS:
        close = difflib.get_close_matches(key, list(_MODELS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise RegistryError(f"no model registered as {key!r}{hint} (registered: {', '.join(sorted(_MODELS))})")
    return _MODELS[key]


def model_keys() -> list[str]:
    _load_builtin()
    return sorted(_MODELS)


def unregister_model(key: str) -> None:
    """For submissions loaded and validated in-process, and for tests."""
    _MODELS.pop(key, None)
