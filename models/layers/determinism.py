"""Bitwise-reproducible torch on CUDA wherever a seed is promised (training and inference).

CUDA kernels may add in a different order from run to run (atomics in scatter/index backward
passes, cuBLAS split reductions), so a seed alone does not fix the result on a GPU. Inside
`deterministic(device)` on a CUDA device, torch uses its deterministic algorithms and cuDNN its
deterministic, non-benchmarked kernels; the previous settings come back on exit. The CPU path is
untouched.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

# cuBLAS reads its workspace configuration once, when the process first uses it, and is only
# deterministic with a fixed one: set it on import, before any model runs, keeping a value
# already in the environment.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@contextmanager
def deterministic(device: torch.device | str) -> Iterator[None]:
    if torch.device(device).type != "cuda":
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]
