"""Data adapters: raw files (or the synthetic generator) to one canonical Dataset."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from benchmark.data.adapters.amazon import load_amazon_2018, load_amazon_2023
from benchmark.data.adapters.goodreads import load_goodreads
from benchmark.data.adapters.mind import load_mind
from benchmark.data.adapters.steam import load_steam
from benchmark.data.dataset import TEXT_FIELDS, Catalogue, DataError, Dataset
from benchmark.data.loaders import load_movielens_1m, load_movielens_100k, load_recbole, load_s3rec, load_sasrec
from benchmark.data.synthetic import SyntheticParams, SyntheticWorld, generate

ADAPTERS: dict[str, Callable[..., Dataset]] = {
    "synthetic": generate,
    "movielens-100k": load_movielens_100k,
    "movielens-1m": load_movielens_1m,
    "recbole": load_recbole,
    "sasrec": load_sasrec,
    "s3rec": load_s3rec,
    "amazon-2018": load_amazon_2018,
    "amazon-2023": load_amazon_2023,
    "mind": load_mind,
    "goodreads": load_goodreads,
    "steam": load_steam,
}


def load_dataset(adapter: str, **kwargs: Any) -> Dataset:
    """The Dataset of `adapter`: "synthetic" takes generator parameters (see SyntheticParams), the
    file adapters take `path` and an optional `name` for the Dataset, and their own options:
    recbole `dataset` (the atomic files' stem); amazon-2018 and amazon-2023 `meta`; mind `history`;
    goodreads `books`, `genres`, `read_only`; steam `games`, `user_key` (see each adapter's module)."""
    if adapter not in ADAPTERS:
        raise DataError(f"unknown dataset adapter {adapter!r}; known adapters: {', '.join(ADAPTERS)}")
    load = ADAPTERS[adapter]
    if adapter != "synthetic":
        try:
            inspect.signature(load).bind(**kwargs)
        except TypeError as e:
            raise DataError(f"dataset adapter {adapter!r}: {e}; expected arguments {inspect.signature(load)}") from None
    return load(**kwargs)


__all__ = [
    "ADAPTERS", "TEXT_FIELDS", "Catalogue", "DataError", "Dataset", "SyntheticParams", "SyntheticWorld",
    "generate", "load_amazon_2018", "load_amazon_2023", "load_dataset", "load_goodreads", "load_mind",
    "load_movielens_1m", "load_movielens_100k", "load_recbole", "load_s3rec", "load_sasrec", "load_steam",
]
