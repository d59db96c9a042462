"""Goodreads (Wan & McAuley, UCSD Book Graph).

goodreads
  path       an interactions file (goodreads_interactions_poetry.json.gz, …), one JSON object per
             line: user_id, book_id, is_read (true/false), rating (0–5; 0 means shelved without a
             rating, kept as 0.0 in column `rating`, so a plan's positive_rating counts it as a
             negative) and date_added (Fri Sep 08 10:44:24 -0700 2017; the timestamp, in UTC).
  books      optional books file (goodreads_books_poetry.json.gz): book_id; title (else
             title_without_series) → title; publisher → brand; description → description.
  genres     optional genres file (goodreads_book_genres_initial.json.gz): book_id and genres, an
             object {genre: votes}; the genres, most votes first (ties by name), joined by ", " →
             category.
  read_only  keep only the interactions with is_read true (default false: every shelving counts).
  name       the Dataset's name (default: the interactions file name without extensions).

Books the interactions name without a books or genres record have empty text there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.adapters.common import with_catalogue
from benchmark.data.dataset import TEXT_FIELDS, Dataset
from benchmark.data.loaders import stem
from benchmark.data.records import Expected, field, flag, ident, integer, parse_times, read_records, string, text
from benchmark.data.tables import Table

DATE = "%a %b %d %H:%M:%S %z %Y"
DATE_EXAMPLE = "Fri Sep 08 10:44:24 -0700 2017"


def load_goodreads(path: str | Path, books: str | Path | None = None, genres: str | Path | None = None,
                   read_only: bool = False, name: str | None = None) -> Dataset:
    def interaction(r: dict) -> tuple | None:
        if not flag(r, "is_read") and read_only:
            return None
        rating = integer(r, "rating")
        if not 0 <= rating <= 5:
            raise Expected(f"field 'rating' is {rating}, outside 0..5")
        return ident(r, "user_id"), ident(r, "book_id"), float(rating), string(r, "date_added")

    def book(r: dict) -> tuple:
        return (ident(r, "book_id"), text(r, "title") or text(r, "title_without_series"), "",
                text(r, "publisher"), text(r, "description"))

    def genre(r: dict) -> tuple:
        key, votes = field(r, ("genres",))
        if not isinstance(votes, dict) or not all(isinstance(v, int) for v in votes.values()):
            raise Expected(f"field {key!r} is {votes!r}, not an object of genre: votes")
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        return ident(r, "book_id"), ", ".join(g for g, _ in ranked if g.strip())

    path = Path(path)
    inter = read_records(path, ["user", "item", "rating", "date_added"], interaction,
                         "a JSON object with user_id, book_id, is_read (true or false), rating (an integer 0–5) "
                         f"and date_added (like {DATE_EXAMPLE!r}) per line")
    timestamps = parse_times(inter, "date_added", DATE, DATE_EXAMPLE)
    source = {"adapter": "goodreads", "path": str(path), "read_only": read_only}
    items = None
    if books is not None:
        source["books"] = str(books)
        items = read_records(Path(books), ["raw_id", *TEXT_FIELDS], book,
                             "a JSON object with book_id and optionally title, publisher, description per line")
    if genres is not None:
        source["genres"] = str(genres)
        voted = read_records(Path(genres), ["raw_id", "category"], genre,
                             "a JSON object with book_id and genres ({genre: votes}) per line")
        items = _with_genres(items, voted)
    return with_catalogue(name or stem(path), source, inter, timestamps,
                          {"rating": inter.frame["rating"].to_numpy(np.float64)}, items)


def _with_genres(books: Table | None, genres: Table) -> Table:
    """The books table, joined by the genres table's books it lacks, with each book's category from
    the genres table (its first record of the book there)."""
    category = genres.frame.drop_duplicates("raw_id").set_index("raw_id")["category"]
    only_genres = genres.frame.assign(title="", brand="", description="")[["raw_id", *TEXT_FIELDS]]
    if books is None:
        return Table(only_genres, genres.lines, genres.path)
    extra = ~only_genres["raw_id"].isin(books.frame["raw_id"]).to_numpy()
    frame = pd.concat([books.frame, only_genres[extra]], ignore_index=True)
    frame["category"] = frame["raw_id"].map(category).fillna("")
    return Table(frame, np.r_[books.lines, genres.lines[extra]], books.path)
