"""Amazon reviews: the 2018 release (Ni, Li & McAuley; the 2014 release reads the same way) and the
2023 release (Hou et al., Amazon Reviews'23).

amazon-2018
  path  the reviews file, one JSON object per line (Beauty_5.json.gz, All_Beauty.json, or the 2014
        reviews_Beauty_5.json.gz): reviewerID (user), asin (item), overall (the rating, kept in
        column `rating`), unixReviewTime (seconds). Other keys are ignored.
  meta  optional metadata file (meta_Beauty.json.gz), one product per line as strict JSON or as a
        Python dict literal (the older files are written that way): asin; title → title;
        category (list; the 2014 `categories`, lists of lists) joined by ", " → category;
        brand → brand; description (list or string) → description.
  name  the Dataset's name (default: the reviews file name without extensions).

amazon-2023
  path  the reviews file (All_Beauty.jsonl.gz): user_id, parent_asin (the item: ratings of a
        product's variants count for the product, as in the release's own benchmarks), rating,
        timestamp (milliseconds; floored to seconds, the unit of every adapter).
  meta  optional metadata file (meta_All_Beauty.jsonl.gz), strict JSON: parent_asin; title → title;
        main_category then categories, repeats dropped, joined by ", " → category; store → brand;
        description (list) → description.
  name  as above.

Reviewed items without a metadata record have empty text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.adapters.common import with_catalogue
from benchmark.data.dataset import TEXT_FIELDS, Dataset
from benchmark.data.loaders import stem
from benchmark.data.records import ident, integer, number, read_records, text, texts
from benchmark.data.tables import Table

REVIEW_COLUMNS = ["user", "item", "rating", "timestamp"]
META_COLUMNS = ["raw_id", *TEXT_FIELDS]


def load_amazon_2018(path: str | Path, meta: str | Path | None = None, name: str | None = None) -> Dataset:
    def review(r: dict) -> tuple:
        return ident(r, "reviewerID"), ident(r, "asin"), number(r, "overall"), integer(r, "unixReviewTime")

    def product(r: dict) -> tuple:
        return (ident(r, "asin"), text(r, "title"), text(r, "category", "categories", sep=", "), text(r, "brand"),
                text(r, "description"))

    reviews = read_records(Path(path), REVIEW_COLUMNS, review, "a JSON object with reviewerID, asin, overall "
                           "(a number) and unixReviewTime (integer seconds) per line")
    items = None
    if meta is not None:
        items = read_records(Path(meta), META_COLUMNS, product, "a JSON object or Python dict with asin and "
                             "optionally title, category, brand, description per line", literals=True)
    return _reviews("amazon-2018", path, meta, name, reviews, reviews.frame["timestamp"].to_numpy(np.int64), items)


def load_amazon_2023(path: str | Path, meta: str | Path | None = None, name: str | None = None) -> Dataset:
    def review(r: dict) -> tuple:
        return ident(r, "user_id"), ident(r, "parent_asin"), number(r, "rating"), integer(r, "timestamp")

    def product(r: dict) -> tuple:
        category = ", ".join(dict.fromkeys(texts(r, "main_category") + texts(r, "categories")))
        return ident(r, "parent_asin"), text(r, "title"), category, text(r, "store"), text(r, "description")

    reviews = read_records(Path(path), REVIEW_COLUMNS, review, "a JSON object with user_id, parent_asin, rating "
                           "(a number) and timestamp (integer milliseconds) per line")
    items = None
    if meta is not None:
        items = read_records(Path(meta), META_COLUMNS, product, "a JSON object with parent_asin and optionally "
                             "title, main_category, categories, store, description per line")
    seconds = reviews.frame["timestamp"].to_numpy(np.int64) // 1000
    return _reviews("amazon-2023", path, meta, name, reviews, seconds, items)


def _reviews(adapter: str, path: str | Path, meta: str | Path | None, name: str | None, reviews: Table,
             timestamps: np.ndarray, items: Table | None) -> Dataset:
    source = {"adapter": adapter, "path": str(path), **({"meta": str(meta)} if meta is not None else {})}
    return with_catalogue(name or stem(Path(path)), source, reviews, timestamps,
                          {"rating": reviews.frame["rating"].to_numpy(np.float64)}, items)
