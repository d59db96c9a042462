"""Where model-side artefacts are cached: item-text embeddings, converted checkpoints, LoRA
adapters. Every entry is named by a content hash, so a stale entry is never read; the root is
`$RECBOARD_CACHE`, else `~/.cache/recboard` (absolute, since workers run in a temporary folder)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("RECBOARD_CACHE")
    return Path(root).expanduser().resolve() if root else Path.home() / ".cache" / "recboard"


def cache_dir(kind: str) -> Path:
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_save_npy(path: Path, array) -> None:
    """Write `array` to `path` through a temporary file in the same folder, so a reader never sees
    half a file and two writers of the same content cannot corrupt it."""
    import numpy as np

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp.npy")
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
