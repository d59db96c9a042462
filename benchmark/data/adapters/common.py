"""What the record-file adapters share: an interaction table plus an optional metadata table become
a Dataset, with the catalogue cut to the items the interactions name."""

from __future__ import annotations

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.data.loaders import assemble
from benchmark.data.tables import Table


def with_catalogue(name: str, source: dict, inter: Table, timestamps: np.ndarray, extra: dict[str, np.ndarray],
                   items: Table | None, add_unknown_items: bool = True) -> Dataset:
    """`inter` (columns user, item) and `items` (columns raw_id and the text fields) as a Dataset.
    Only the first record of an item id counts; source['meta_repeats'] counts the later ones.
    Without add_unknown_items, an interaction with an item `items` lacks is an error."""
    catalogue = None
    if items is not None:
        frame = items.frame
        repeated = frame["raw_id"].duplicated().to_numpy()
        keep = ~repeated & frame["raw_id"].isin(inter.frame["item"]).to_numpy()
        items = Table(frame[keep].reset_index(drop=True), items.lines[keep], items.path)
        catalogue = items.frame
        source["meta_repeats"] = int(repeated.sum())
    return assemble(name, source, inter, timestamps, extra, catalogue, items, add_unknown_items)
