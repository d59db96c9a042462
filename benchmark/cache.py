"""Where model-side artefacts are cached: item-text embeddings, item codes, converted checkpoints,
LoRA adapters. Every entry is named by a content hash, so a stale entry is never read; the root is
`$RECBOARD_CACHE`, else `~/.cache/recboard` (absolute, since workers run in a temporary folder)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    root = os.environ.get("RECBOARD_CACHE")
    return Path(root).expanduser().resolve() if root else Path.home() / ".cache" / "recboard"


def cache_dir(kind: str) -> Path:
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, write: Callable[[str], None], suffix: str = "") -> None:
    """Call `write(tmp)` on a temporary file in `path`'s folder, then rename it to `path`, so a
    reader never sees half a file and two writers of the same content cannot corrupt it. `suffix`
    is the temporary name's ending, for writers that insist on one (np.save adds .npy)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp" + suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_save_npy(path: Path, array) -> None:
    """`np.save(path, array)`, atomically (see `atomic_write`)."""
    import numpy as np

    atomic_write(path, lambda tmp: np.save(tmp, array), suffix=".npy")


def atomic_save_npz(path: Path, **arrays) -> None:
    """`np.savez(path, **arrays)`, atomically (see `atomic_write`)."""
    import numpy as np

    atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
