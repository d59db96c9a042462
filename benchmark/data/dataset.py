"""The canonical Dataset every adapter produces, and the item Catalogue models are given."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TEXT_FIELDS = ("title", "category", "brand", "description")
INTERACTION_COLUMNS = ("user", "item", "timestamp")


class DataError(ValueError):
    """Bad input data. The message names the file, the line (when there is one) and what was expected."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Catalogue:
    """What a model is shown at setup: the items and where the data came from (never interactions)."""

    items: pd.DataFrame  # index: item id 0..n_items-1; columns: TEXT_FIELDS (str, '' when unknown)
    dataset_name: str
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def without_generator(self) -> "Catalogue":
        """The catalogue as non-oracle models see it: the synthetic generator's parameters removed,
        so only a model declared as an oracle can rebuild the generative process."""
        source = {k: v for k, v in self.source.items() if k != "params"}
        return Catalogue(items=self.items, dataset_name=self.dataset_name, source=source)

    def text(self, item: int, fields: tuple[str, ...] = ("title",)) -> str:
        row = self.items.iloc[item]
        return " | ".join(str(row[f]) for f in fields if row[f])


@dataclass(frozen=True)
class Dataset:
    """Interactions plus an item catalogue, with contiguous integer ids.

    interactions: columns user (int64), item (int64), timestamp (int64) and, optionally, label
    (int8: 1 positive, 0 a real negative such as a shown-but-not-clicked impression) and rating
    (float64). Without a label column every interaction is a positive.
    items: index 0..n_items-1, columns TEXT_FIELDS.
    source: provenance (adapter name, path, parameters) recorded in results.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    source: dict[str, Any] = field(default_factory=dict)
    n_users: int = 0

    def __post_init__(self) -> None:
        validate(self)
        if not self.n_users:
            object.__setattr__(self, "n_users", int(self.interactions["user"].max()) + 1)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def has_real_negatives(self) -> bool:
        return "label" in self.interactions.columns and bool((self.interactions["label"] == 0).any())

    def catalogue(self) -> Catalogue:
        return Catalogue(items=self.items, dataset_name=self.name, source=dict(self.source))

    def fingerprint(self) -> str:
        """Content hash of the interactions and the catalogue text: same data, same fingerprint."""
        h = hashlib.sha256()
        cols = [c for c in ("user", "item", "timestamp", "label", "rating") if c in self.interactions]
        for c in cols:
            h.update(c.encode())
            h.update(np.ascontiguousarray(self.interactions[c].to_numpy()).tobytes())
        for f in TEXT_FIELDS:
            h.update(f.encode())
            h.update("\x1f".join(self.items[f].astype(str)).encode("utf-8"))
        return h.hexdigest()[:16]


def validate(ds: Dataset) -> None:
    """Check the canonical shape; a DataError names the dataset and what is wrong."""
    where = f"dataset {ds.name!r}"
    inter = ds.interactions
    missing = [c for c in INTERACTION_COLUMNS if c not in inter.columns]
    if missing:
        raise DataError(f"{where}: interactions lack columns {missing}; expected {list(INTERACTION_COLUMNS)}")
    if len(inter) == 0:
        raise DataError(f"{where}: no interactions")
    for c in INTERACTION_COLUMNS:
        if not np.issubdtype(inter[c].dtype, np.integer):
            raise DataError(f"{where}: interactions column {c!r} must be integer, got {inter[c].dtype}")
    missing = [f for f in TEXT_FIELDS if f not in ds.items.columns]
    if missing:
        raise DataError(f"{where}: item catalogue lacks text fields {missing}; expected {list(TEXT_FIELDS)}")
    n_items = len(ds.items)
    if not ds.items.index.equals(pd.RangeIndex(n_items)):
        raise DataError(f"{where}: item catalogue index must be 0..{n_items - 1}")
    lo, hi = int(inter["item"].min()), int(inter["item"].max())
    if lo < 0 or hi >= n_items:
        raise DataError(f"{where}: interaction item ids span {lo}..{hi}, outside the catalogue 0..{n_items - 1}")
    if int(inter["user"].min()) < 0:
        raise DataError(f"{where}: negative user id")
    if "label" in inter.columns and not inter["label"].isin([0, 1]).all():
        raise DataError(f"{where}: label column must hold only 0 and 1")
