"""Steam (Kang & McAuley, the version SASRec and S3-Rec use).

steam
  path      the reviews file (steam_reviews.json.gz), one review per line as a Python dict literal
            (or JSON): the user (key `user_key`), product_id (or item_id) and date (2017-12-17;
            the timestamp is that day's midnight UTC, so a user's reviews of one day keep their
            file order). Other keys (text, hours, …) are ignored.
  games     optional games file (steam_games.json.gz), one game per line, Python dict literal or
            JSON: id; title (else app_name) → title; genres (list) joined by ", " → category;
            publisher (else developer) → brand; description is ''. Records without an id (the
            published file has a few) are skipped, their number recorded in the source as
            `games_without_id`.
  user_key  the review key naming the user: "username" (default; every review has one) or
            "user_id" (present only on reviews whose author has a numeric profile id).
  name      the Dataset's name (default: the reviews file name without extensions).

The Australian user-reviews files (australian_user_reviews.json) nest many reviews per user under
dates without a year, and are not read by this adapter.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.data.adapters.common import with_catalogue
from benchmark.data.dataset import TEXT_FIELDS, DataError, Dataset
from benchmark.data.loaders import stem
from benchmark.data.records import ident, parse_times, read_records, string, text
from benchmark.data.tables import Table

USER_KEYS = ("username", "user_id")


def load_steam(path: str | Path, games: str | Path | None = None, user_key: str = "username",
               name: str | None = None) -> Dataset:
    if user_key not in USER_KEYS:
        raise DataError(f"user_key {user_key!r}; expected one of {', '.join(USER_KEYS)}")

    def review(r: dict) -> tuple:
        return ident(r, user_key), ident(r, "product_id", "item_id"), string(r, "date")

    def game(r: dict) -> tuple:
        raw_id = ident(r, "id") if "id" in r else None
        return (raw_id, text(r, "title") or text(r, "app_name"), text(r, "genres", sep=", "),
                text(r, "publisher") or text(r, "developer"), "")

    path = Path(path)
    inter = read_records(path, ["user", "item", "date"], review,
                         f"a dict with {user_key}, product_id (or item_id) and date (YYYY-MM-DD) per line",
                         literals=True)
    timestamps = parse_times(inter, "date", "%Y-%m-%d", "2017-12-17")
    source = {"adapter": "steam", "path": str(path), "user_key": user_key}
    items = None
    if games is not None:
        table = read_records(Path(games), ["raw_id", *TEXT_FIELDS], game,
                             "a dict with id and optionally title, app_name, genres, publisher per line", literals=True)
        has_id = table.frame["raw_id"].notna().to_numpy()
        items = Table(table.frame[has_id].reset_index(drop=True), table.lines[has_id], table.path)
        source.update(games=str(games), games_without_id=int((~has_id).sum()))
    return with_catalogue(name or stem(path), source, inter, timestamps, {}, items)
