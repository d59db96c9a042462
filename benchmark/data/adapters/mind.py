"""MIND (Microsoft News Dataset; MINDsmall or MINDlarge, train or dev).

mind
  path     a folder with behaviors.tsv and news.tsv (either may be gzipped as <name>.gz).
           behaviors.tsv, tab-separated: impression id, user id, time (11/15/2019 8:55:22 AM,
           read as UTC), history (space-separated news ids, oldest first; may be empty),
           impressions (space-separated `news id-label`, label 1 clicked, 0 shown and not clicked).
           news.tsv, tab-separated: news id, category, subcategory, title, abstract, url, title
           entities, abstract entities. Every news id the behaviors name must be listed there.
  history  whether history clicks become interactions (default true).
  name     the Dataset's name (default: the folder's name).

Each impression is an interaction at the impression's time with column `label` (1 a click, 0 a
real negative). History clicks are positives; MIND does not say when they happened, only that they
came before the user's impressions, so a user's history (the union over the user's lines, in order
of first appearance, lines taken by time) gets made-up times: history click k of n (0-based, oldest
first) is at t0 − (n − k) seconds, t0 the user's first impression in the file. Text: title → title;
"category, subcategory" → category; abstract → description; brand is ''. The test split of
MINDlarge has no labels and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.adapters.common import with_catalogue
from benchmark.data.dataset import DataError, Dataset
from benchmark.data.records import find_file, parse_times
from benchmark.data.tables import Table, read_table

BEHAVIORS = "impression id, user id, time, history, impressions (tab-separated)"
NEWS = "news id, category, subcategory, title, abstract, url, title entities, abstract entities (tab-separated)"


def load_mind(path: str | Path, history: bool = True, name: str | None = None) -> Dataset:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("folder not found; expected a MIND folder with behaviors.tsv and news.tsv", str(folder))
    behaviors = read_table(find_file(folder, "behaviors.tsv", BEHAVIORS),
                           dict.fromkeys(["impression", "user", "time", "history", "impressions"], "str"),
                           sep="\t", what=BEHAVIORS)
    times = parse_times(behaviors, "time", "%m/%d/%Y %I:%M:%S %p", "11/15/2019 8:55:22 AM")
    rows = [_impressions(behaviors, times)]
    if history:
        rows.insert(0, _history(behaviors, times))
    inter = pd.concat(rows, ignore_index=True)

    news = read_table(find_file(folder, "news.tsv", NEWS),
                      dict.fromkeys(["raw_id", "category", "subcategory", "title", "abstract", "url", "e1", "e2"],
                                    "str"), sep="\t", what=NEWS)
    n = news.frame
    category = (n["category"] + ", " + n["subcategory"]).str.removeprefix(", ").str.removesuffix(", ")
    catalogue = pd.DataFrame({"raw_id": n["raw_id"], "title": n["title"], "category": category, "brand": "",
                              "description": n["abstract"]})
    return with_catalogue(
        name or folder.name, {"adapter": "mind", "path": str(path), "history": history},
        Table(inter[["user", "item"]], inter["line"].to_numpy(), behaviors.path),
        inter["timestamp"].to_numpy(np.int64), {"label": inter["label"].to_numpy(np.int8)},
        Table(catalogue, news.lines, news.path), add_unknown_items=False,
    )


def _impressions(behaviors: Table, times: np.ndarray) -> pd.DataFrame:
    shown = behaviors.frame["impressions"].str.split().explode()
    missing = np.flatnonzero(shown.isna().to_numpy())
    if len(missing):
        raise behaviors.error(int(shown.index[missing[0]]), "no impressions; expected space-separated "
                                                            "`news id-label` pairs such as N55689-1")
    parts = shown.str.extract(r"^(\S+)-([01])$")
    bad = np.flatnonzero(parts[1].isna().to_numpy())
    if len(bad):
        raise behaviors.error(int(shown.index[bad[0]]), f"impression {shown.iloc[bad[0]]!r}; expected "
                                                        "`news id-label` with label 1 (click) or 0, e.g. N55689-1")
    row = shown.index.to_numpy()
    return pd.DataFrame({"user": behaviors.frame["user"].to_numpy()[row], "item": parts[0].to_numpy(),
                         "timestamp": times[row], "label": (parts[1] == "1").to_numpy(np.int8),
                         "line": behaviors.lines[row]})


def _history(behaviors: Table, times: np.ndarray) -> pd.DataFrame:
    users = behaviors.frame["user"]
    first = pd.Series(times).groupby(users.to_numpy()).min()
    clicked = behaviors.frame["history"].str.split().explode().dropna()
    row = clicked.index.to_numpy()
    h = pd.DataFrame({"user": users.to_numpy()[row], "item": clicked.to_numpy(), "time": times[row], "row": row,
                      "position": clicked.groupby(level=0).cumcount().to_numpy()})
    h = h.sort_values(["user", "time", "row", "position"], kind="stable").drop_duplicates(["user", "item"])
    k = h.groupby("user").cumcount().to_numpy()
    n = h.groupby("user")["item"].transform("size").to_numpy()
    return pd.DataFrame({"user": h["user"].to_numpy(), "item": h["item"].to_numpy(),
                         "timestamp": first.loc[h["user"]].to_numpy() - (n - k), "label": np.ones(len(h), np.int8),
                         "line": behaviors.lines[h["row"].to_numpy()]})
