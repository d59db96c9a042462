"""Item codes for a catalogue: built per kind, semantic IDs cached on disk.

`item_codes(catalogue, config)` is the one entry point. Semantic IDs are cached as .npz under
`<cache root>/itemtok/<key>.npz`, the key hashing the catalogue's item texts (as the text
encoder keys its embeddings), the tokenizer config and CODE_VERSION (bump it whenever a change
here or in residual.py / rqvae.py changes codes), plus the embeddings themselves when a caller
hands its own. The ID kinds are a function of the item count alone and are not cached.

The report (every kind): n_items, code_length, level_sizes, vocab_size, new_tokens. Semantic
IDs add: codebook_size_requested and codebook_size (after the cut to the catalogue size),
utilisation (per level, the disambiguation level last), collision_rate / distinct_codes /
max_collision_group before disambiguation (see codes.collisions), reconstruction_mse,
input_variance and reconstruction_rel (residual.reconstruction_report: the quantised embedding,
for the RQ-VAE the decoder's output, against the input), build_seconds; the RQ-VAE its
training figures.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from benchmark.cache import atomic_save_npz, cache_dir
from benchmark.data.dataset import Catalogue
from benchmark.itemtok.codes import PAD, ItemCodes, collisions, disambiguate, utilisation
from benchmark.itemtok.config import TokenizerConfig
from benchmark.itemtok.residual import reconstruction_report, residual_kmeans
from benchmark.itemtok.rqvae import train_rqvae
from benchmark.protocol.spec import stable_hash
from benchmark.text import catalogue_digest, encode_catalogue

CODE_VERSION = 1


def item_codes(catalogue: Catalogue, config: "str | dict[str, Any] | TokenizerConfig" = "sid-rqkmeans",
               embeddings: np.ndarray | None = None, use_cache: bool = True) -> ItemCodes:
    """The codes of every item of `catalogue` under `config` (a kind name, a dict or a
    TokenizerConfig). Semantic IDs are built from `embeddings` (n_items, d) when given, else from
    the catalogue's MiniLM text embeddings (benchmark.text.encode_catalogue), and cached unless
    `use_cache` is False. The same catalogue, config and seed give the same codes."""
    config = TokenizerConfig.parse(config)
    n = catalogue.n_items
    if n == 0:
        raise ValueError(f"item tokenizer {config.kind!r}: catalogue {catalogue.dataset_name!r} has no items")
    if config.kind == "unique-id":
        return _finish(config, np.arange(n, dtype=np.int64)[:, None], np.ones(n, dtype=np.int64), (n,), {})
    if config.kind == "number-id":
        return _number_ids(config, n)
    if embeddings is not None:
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or len(embeddings) != n or not np.isfinite(embeddings).all():
            raise ValueError(f"item tokenizer {config.kind!r}: embeddings must be a finite ({n}, d) array, "
                             f"one row per item of {catalogue.dataset_name!r}; got shape {embeddings.shape}")
    if not use_cache:
        return _semantic_ids(config, encode_catalogue(catalogue) if embeddings is None else embeddings)
    key = stable_hash({"catalogue": catalogue_digest(catalogue), "config": config.to_dict(), "version": CODE_VERSION,
                       "embeddings": None if embeddings is None else hashlib.sha256(embeddings.tobytes()).hexdigest()})
    path = cache_dir("itemtok") / f"{key}.npz"
    cached = _load(path, n)
    if cached is not None:
        return cached
    codes = _semantic_ids(config, encode_catalogue(catalogue) if embeddings is None else embeddings)
    atomic_save_npz(path, codes=codes.codes, lengths=codes.lengths, level_sizes=np.asarray(codes.level_sizes),
                    meta=np.asarray(json.dumps({"kind": codes.kind, "config": codes.config, "report": codes.report})))
    return codes


def _finish(config: TokenizerConfig, codes: np.ndarray, lengths: np.ndarray, level_sizes: tuple[int, ...],
            report: dict[str, Any]) -> ItemCodes:
    """ItemCodes with the report fields every kind shares put first."""
    out = ItemCodes(config.kind, codes, lengths, level_sizes, config.to_dict())
    head = {"n_items": out.n_items, "code_length": int(lengths.max()), "level_sizes": list(out.level_sizes),
            "vocab_size": out.vocab_size, "new_tokens": len(out.new_tokens())}
    out.report.update({**head, **report})
    return out


def _number_ids(config: TokenizerConfig, n: int) -> ItemCodes:
    """Item i's decimal digits, most significant first, left-aligned (7 -> [7, PAD, PAD])."""
    ids = np.arange(n, dtype=np.int64)
    lengths = np.char.str_len(ids.astype(str)).astype(np.int64)
    width = int(lengths.max())
    codes = np.full((n, width), PAD, dtype=np.int64)
    for position in range(width):
        power = lengths - 1 - position
        rows = power >= 0
        codes[rows, position] = ids[rows] // 10 ** power[rows] % 10
    return _finish(config, codes, lengths, (10,) * width, {})


def _semantic_ids(config: TokenizerConfig, x: np.ndarray) -> ItemCodes:
    start = time.perf_counter()
    size = min(config.codebook_size, len(x))
    extra: dict[str, Any] = {}
    if config.kind == "sid-rqkmeans":
        raw, _, rebuilt = residual_kmeans(x, config.levels, size, config.seed)
    else:
        raw, rebuilt, extra = train_rqvae(x, config, size)
    codes, extra_size = disambiguate(raw)
    level_sizes = (size,) * config.levels + (extra_size,)
    report = {"codebook_size_requested": config.codebook_size, "codebook_size": size,
              "utilisation": [round(u, 6) for u in utilisation(codes, level_sizes)], **collisions(raw),
              **reconstruction_report(x, rebuilt), "build_seconds": round(time.perf_counter() - start, 3), **extra}
    return _finish(config, codes, np.full(len(x), codes.shape[1], dtype=np.int64), level_sizes, report)


def _load(path, n_items: int) -> ItemCodes | None:
    """The cached codes at `path`, or None when there are none or they are unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            out = ItemCodes(meta["kind"], f["codes"], f["lengths"], tuple(f["level_sizes"].tolist()),
                            meta["config"], meta["report"])
    except (ValueError, OSError, KeyError):
        return None  # a corrupt entry is rebuilt
    return out if out.n_items == n_items else None
