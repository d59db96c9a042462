"""Engines shared across the runs of one plan. Loading an LLM engine costs tens of seconds, so a
model's CTR and next-item runs (separate model instances) borrow one engine per key: model,
dtype, LoRA capacity and engine arguments. At most `capacity` engines stay alive: asking for a
new key closes the least recently used one first, so a second engine in the same plan starts on
freed memory. The runner closes every engine when the plan ends."""

from __future__ import annotations

import gc
from collections import OrderedDict
from typing import Any, Callable, Hashable

_engines: "OrderedDict[Hashable, Any]" = OrderedDict()
_closers: dict[Hashable, Callable[[Any], None]] = {}
capacity = 1
created = 0  # engines built in this process, for tests and logs


def shared(key: Hashable, build: Callable[[], Any], close: Callable[[Any], None]) -> Any:
    """The live engine for `key`, built by `build()` if there is none; `close(engine)` frees it."""
    global created
    if key in _engines:
        _engines.move_to_end(key)
        return _engines[key]
    while len(_engines) >= capacity:
        _close(next(iter(_engines)))
    engine = build()
    created += 1
    _engines[key] = engine
    _closers[key] = close
    return engine


def live() -> list[Hashable]:
    return list(_engines)


def _close(key: Hashable) -> None:
    engine = _engines.pop(key)
    closer = _closers.pop(key)
    try:
        closer(engine)
    finally:
        del engine
        gc.collect()


def close_all() -> None:
    for key in list(_engines):
        _close(key)
