"""Efficiency measurement: a monotonic clock around the model call only (plus a device synchronize
on GPU), per-request latency at batch size 1 after a warm-up, and peak resident memory."""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cuda_sync() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    _cuda_sync()
    start = time.perf_counter()
    out = fn()
    _cuda_sync()
    return out, time.perf_counter() - start


class PeakMemory:
    """Samples the process's resident memory every `interval` seconds while active."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def latency_sample_indices(n: int, warmup: int, sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed sample of request indices (the same for every model on the same task data)."""
    perm = np.random.default_rng([seed, 99]).permutation(n)
    warm = perm[: min(warmup, n)]
    timed = perm[len(warm): len(warm) + sample]
    if len(timed) == 0:
        timed = perm[: min(sample, n)]
    return warm, timed


def measure_latency(call: Callable[[list], Any], requests: Sequence, warm: np.ndarray, timed: np.ndarray,
                    reset: Callable[[], None] | None = None) -> dict[str, Any]:
    """Batch-1 latency over `timed` after warming up on `warm`. `reset` (the model's
    reset_caches) runs, untimed, before every timed request, so a backend with a prefix cache
    answers cold prompts exactly like one without."""
    for i in warm:
        call([requests[i]])
    times = np.empty(len(timed))
    for k, i in enumerate(timed):
        if reset is not None:
            reset()
        _, times[k] = timed_call(lambda: call([requests[i]]))
    ms = times * 1000
    return {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "n": int(len(ms)), "warmup": int(len(warm)),
            "caches": "reset before each timed request" if reset is not None else "not reset"}
