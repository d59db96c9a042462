"""Adapters from public dataset formats to the canonical Dataset.

Ids: users and items are numbered 0..n−1 in ascending order of their raw ids, numerically when
every raw id is an integer, otherwise as strings. The catalogue keeps the raw item id in column
`raw_id`. Catalogue items never interacted with are kept here (the record-file adapters of
benchmark/data/adapters keep only the items the interactions name). Interactions are ordered by
user, then timestamp, ties in file order.

MovieLens (100K, 1M): the item file is authoritative, so an interaction with an item it does not
list is an error. brand is ''; category is the genres joined by ", "; description is the release
date (100K: "Released 01-Jan-1995.", 1M: "Released in 1995." from the year in the title). Ratings
are kept in column `rating`.

RecBole atomic files: `<name>.inter` with a typed header (`user_id:token item_id:token
rating:float timestamp:float label:float`; only user_id and item_id are required) and an optional
`<name>.item`. rating → `rating`; label → `label` (must be 0 or 1); timestamps must be whole
seconds, and without a timestamp field the line order stands in for time (recorded in the source as
`"timestamp": "line order"`). Item fields map to text: the first of title, movie_title, item_title,
name → title; of categories, category, class, genre, genres → category (token_seq tokens joined by
", "); brand → brand; of description, desc → description. Items that interactions name but the
item file lacks (or every item, without an item file) join the catalogue with empty text.

SASRec text file (adapter `sasrec`): `user item` per line, two integers separated by one space,
each user's lines in chronological order. The 0-based line order is the timestamp. The format has
no text, so every text field is ''.

S3-Rec / LLMSeqRec sequence file (adapter `s3rec`, e.g. Beauty.txt): one user per line, `user item
item …` separated by white space, the items oldest first; a user may have only one line. Ids are
integers when every one is, otherwise strings. There are no times: item k of the file (counting
across lines, from 0) gets timestamp k, so the same data written in SASRec's `user item` form gets
the same timestamps and the same interactions (the same fingerprint). No text.

MovieLens files are read as UTF-8 when their bytes are valid UTF-8 and as Latin-1 (the encoding
GroupLens ships) otherwise; the source records the encoding of each text file under `encoding`.
RecBole, SASRec and S3-Rec files must be UTF-8. A gzipped file is read as the text it holds, known
by its first bytes whatever its name (so sasrec and s3rec take Beauty.txt.gz; the folder adapters
still look for their usual file names).

Every adapter takes `path` and an optional `name` for the Dataset. The adapters of record files
(Amazon 2018/2023, MIND, Goodreads, Steam) are in benchmark/data/adapters/, one module each, whose
docstrings list their options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.dataset import TEXT_FIELDS, DataError, Dataset
from benchmark.data.tables import UTF8_OR_LATIN1, Table, check_utf8, read_bytes, read_header, read_table

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
RECBOLE_TYPES = {"token": "str", "token_seq": "str", "float": "float", "float_seq": "str"}
RECBOLE_TEXT = {
    "title": ("title", "movie_title", "item_title", "name"),
    "category": ("categories", "category", "class", "genre", "genres"),
    "brand": ("brand",),
    "description": ("description", "desc"),
}


def load_movielens_100k(path: str | Path, name: str = "movielens-100k") -> Dataset:
    folder = _folder(path, "a MovieLens-100K folder with u.data and u.item")
    ratings = read_table(
        folder / "u.data", {"user": "int", "item": "int", "rating": "float", "timestamp": "int"}, sep="\t",
        encoding=UTF8_OR_LATIN1, what="user, item, rating, timestamp per line",
    )
    encodings = {}
    genres = ML100K_GENRES
    if (folder / "u.genre").exists():
        genres, encodings["u.genre"] = _ml100k_genres(folder / "u.genre")
    flags = [f"genre_{k}" for k in range(len(genres))]
    movies = read_table(
        folder / "u.item",
        {"raw_id": "int", "title": "str", "release": "str", "video_release": "str", "url": "str",
         **dict.fromkeys(flags, "int")},
        sep="|", encoding=UTF8_OR_LATIN1,
        what=f"movie id|title|release date|video release date|IMDb URL|{len(genres)} genre flags per line",
    )
    flag_values = movies.frame[flags].to_numpy()
    bad = np.flatnonzero(~np.isin(flag_values, (0, 1)).all(axis=1))
    if len(bad):
        raise movies.error(bad[0], f"genre flags are {flag_values[bad[0]].tolist()}; expected each 0 or 1")
    release = movies.frame["release"]
    catalogue = pd.DataFrame({
        "raw_id": movies.frame["raw_id"],
        "title": movies.frame["title"],
        "category": _join_genres(flag_values, genres),
        "brand": "",
        "description": np.where(release != "", "Released " + release + ".", ""),
    })
    encodings["u.item"] = movies.encoding
    return assemble(
        name, {"adapter": "movielens-100k", "path": str(path), "encoding": encodings}, ratings,
        ratings.frame["timestamp"].to_numpy(),
        {"rating": ratings.frame["rating"].to_numpy()}, catalogue, movies, add_unknown_items=False,
    )


def load_movielens_1m(path: str | Path, name: str = "movielens-1m") -> Dataset:
    folder = _folder(path, "a MovieLens-1M folder with ratings.dat and movies.dat")
    ratings = read_table(
        folder / "ratings.dat", {"user": "int", "item": "int", "rating": "float", "timestamp": "int"}, sep="::",
        encoding=UTF8_OR_LATIN1, what="UserID::MovieID::Rating::Timestamp per line",
    )
    movies = read_table(
        folder / "movies.dat", {"raw_id": "int", "title": "str", "genres": "str"}, sep="::",
        encoding=UTF8_OR_LATIN1, what="MovieID::Title::Genres per line",
    )
    title = movies.frame["title"]
    year = title.str.extract(r"\((\d{4})\)\s*$", expand=False)
    catalogue = pd.DataFrame({
        "raw_id": movies.frame["raw_id"],
        "title": title,
        "category": movies.frame["genres"].str.replace("|", ", ", regex=False),
        "brand": "",
        "description": ("Released in " + year + ".").fillna(""),
    })
    return assemble(
        name, {"adapter": "movielens-1m", "path": str(path), "encoding": {"movies.dat": movies.encoding}}, ratings,
        ratings.frame["timestamp"].to_numpy(),
        {"rating": ratings.frame["rating"].to_numpy()}, catalogue, movies, add_unknown_items=False,
    )


def load_recbole(path: str | Path, dataset: str | None = None, name: str | None = None) -> Dataset:
    """`dataset` is the atomic files' stem (found when the folder holds one .inter file); `name`
    names the Dataset (default: that stem)."""
    folder = _folder(path, "a RecBole folder with <dataset>.inter and optionally <dataset>.item")
    stem = dataset
    if stem is None:
        found = sorted(p.stem for p in folder.glob("*.inter"))
        if len(found) != 1:
            raise DataError(f"found {len(found)} .inter files {found}; expected exactly one, or pass dataset=",
                            str(folder))
        stem = found[0]
    name = name or stem
    inter_path = folder / f"{stem}.inter"
    fields = _recbole_fields(inter_path, required=("user_id", "item_id"))
    columns = {f: ("float" if f in ("timestamp", "rating", "label") else RECBOLE_TYPES[t]) for f, t in fields.items()}
    inter = read_table(inter_path, columns, sep="\t", header_lines=1,
                       what=f"tab-separated {', '.join(fields)} per line")
    frame = inter.frame.rename(columns={"user_id": "user", "item_id": "item"})
    inter = Table(frame, inter.lines, inter.path)
    source = {"adapter": "recbole", "path": str(path), "dataset": stem}
    if "timestamp" in frame:
        seconds = frame["timestamp"].to_numpy()
        bad = np.flatnonzero(seconds != np.floor(seconds))
        if len(bad):
            raise inter.error(bad[0], f"timestamp {seconds[bad[0]]} is not whole seconds; expected an integer time")
        timestamps = seconds.astype(np.int64)
    else:
        timestamps = np.arange(len(frame), dtype=np.int64)
        source["timestamp"] = "line order"
    extra = {}
    if "rating" in frame:
        extra["rating"] = frame["rating"].to_numpy()
    if "label" in frame:
        labels = frame["label"].to_numpy()
        bad = np.flatnonzero(~np.isin(labels, (0.0, 1.0)))
        if len(bad):
            raise inter.error(bad[0], f"label is {labels[bad[0]]}; expected 0 or 1")
        extra["label"] = labels.astype(np.int8)

    item_path = folder / f"{stem}.item"
    catalogue, items = None, None
    if item_path.exists():
        item_fields = _recbole_fields(item_path, required=("item_id",))
        items = read_table(item_path, dict.fromkeys(item_fields, "str"), sep="\t", header_lines=1,
                           what=f"tab-separated {', '.join(item_fields)} per line")
        catalogue = pd.DataFrame({"raw_id": items.frame["item_id"]})
        for text_field, candidates in RECBOLE_TEXT.items():
            match = next((f for f in candidates if f in item_fields), None)
            values = items.frame[match] if match else pd.Series("", index=catalogue.index)
            if match and text_field == "category" and item_fields[match] == "token_seq":
                values = values.str.split().str.join(", ")
            catalogue[text_field] = values
    return assemble(name, source, inter, timestamps, extra, catalogue, items, add_unknown_items=True)


def load_sasrec(path: str | Path, name: str | None = None) -> Dataset:
    path = Path(path)
    table = read_table(path, {"user": "int", "item": "int"}, sep=" ",
                       what="'user item' per line (two integers separated by one space)")
    return _in_file_order(name or stem(path), {"adapter": "sasrec", "path": str(path)}, table)


def load_s3rec(path: str | Path, name: str | None = None) -> Dataset:
    path = Path(path)
    what = "'user item item …' per line: a user id, then that user's item ids oldest first, separated by spaces"
    raw = read_bytes(path, what)
    check_utf8(raw, path)
    users, items, lines, first_line = [], [], [], {}
    for number, line in enumerate(raw.decode("utf-8-sig").split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        user = tokens[0]
        if len(tokens) < 2:
            raise DataError(f"user {user!r} has no items; expected {what}", str(path), number)
        if user in first_line:
            raise DataError(f"user {user!r} already has line {first_line[user]}; expected one line per user",
                            str(path), number)
        first_line[user] = number
        users += [user] * (len(tokens) - 1)
        items += tokens[1:]
        lines += [number] * (len(tokens) - 1)
    if not users:
        raise DataError(f"no data lines; expected {what}", str(path), 1)
    frame = pd.DataFrame({"user": _integers_if_all(users), "item": _integers_if_all(items)})
    return _in_file_order(name or stem(path), {"adapter": "s3rec", "path": str(path)},
                          Table(frame, np.asarray(lines, dtype=np.int64), path))


def stem(path: Path) -> str:
    """The file name without its extension (and without .gz before it): Beauty.txt.gz → Beauty."""
    return Path(path.name.removesuffix(".gz")).stem


def _integers_if_all(tokens: list[str]) -> np.ndarray:
    """The tokens as int64 when every one is an integer, else as they are."""
    try:
        return np.array(tokens).astype(np.int64)
    except (ValueError, OverflowError):
        return np.array(tokens, dtype=object)


def _in_file_order(name: str, source: dict, table: Table) -> Dataset:
    """Interactions without times: the 0-based position of each row in the file is its timestamp."""
    timestamps = np.arange(len(table.frame), dtype=np.int64)
    return assemble(name, source, table, timestamps, {}, None, None, add_unknown_items=True)


def _folder(path: str | Path, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"folder not found; expected {what}", str(folder))
    return folder


def _ml100k_genres(path: Path) -> tuple[tuple[str, ...], str]:
    table = read_table(path, {"genre": "str", "index": "int"}, sep="|", encoding=UTF8_OR_LATIN1,
                       what="genre|index per line")
    index = table.frame["index"].to_numpy()
    bad = np.flatnonzero(index != np.arange(len(index)))
    if len(bad):
        raise table.error(bad[0], f"genre index is {index[bad[0]]}; expected {bad[0]} (indices 0, 1, 2, … in order)")
    return tuple(table.frame["genre"]), table.encoding


def _join_genres(flags: np.ndarray, genres: tuple[str, ...]) -> list[str]:
    names = np.array(genres, dtype=object)
    return [", ".join(names[row.astype(bool)]) for row in flags]


def _recbole_fields(path: Path, required: tuple[str, ...]) -> dict[str, str]:
    """Header `name:type` fields of a RecBole atomic file, as {name: type}."""
    what = f"a header of tab-separated name:type fields, type one of {', '.join(RECBOLE_TYPES)}"
    fields: dict[str, str] = {}
    for field in read_header(path, "\t", what):
        name, _, kind = field.partition(":")
        if not name or kind not in RECBOLE_TYPES:
            raise DataError(f"header field {field!r}; expected {what}", str(path), 1)
        if name in fields:
            raise DataError(f"header field {name!r} appears twice; expected each field once", str(path), 1)
        fields[name] = kind
    missing = [f for f in required if f not in fields]
    if missing:
        raise DataError(f"header lacks {missing}; expected fields {', '.join(f + ':token' for f in required)}",
                        str(path), 1)
    return fields


def _show(raw_id: object) -> str:
    return repr(raw_id.item() if isinstance(raw_id, np.generic) else raw_id)


def _id_order(raw: pd.Series) -> np.ndarray:
    """Positions that sort raw ids: numerically when all are integers, otherwise as strings."""
    if pd.api.types.is_integer_dtype(raw):
        return np.argsort(raw.to_numpy(), kind="stable")
    text = raw.astype(str).to_numpy()
    if raw.astype(str).str.fullmatch(r"[+-]?[0-9]+").all():
        return np.lexsort((text, pd.to_numeric(raw).to_numpy(np.float64)))
    return np.argsort(text, kind="stable")


def assemble(name: str, source: dict, inter: Table, timestamps: np.ndarray, extra: dict[str, np.ndarray],
             catalogue: pd.DataFrame | None, items: Table | None, add_unknown_items: bool) -> Dataset:
    raw_items = inter.frame["item"]
    if catalogue is None:
        catalogue = pd.DataFrame({"raw_id": raw_items.iloc[:0], **{f: pd.Series([], dtype=str) for f in TEXT_FIELDS}})
    else:
        duplicated = np.flatnonzero(catalogue["raw_id"].duplicated().to_numpy())
        if len(duplicated):
            raw = catalogue["raw_id"].to_numpy()[duplicated[0]]
            first = int(items.lines[np.flatnonzero((catalogue["raw_id"] == raw).to_numpy())[0]])
            raise items.error(duplicated[0], f"item id {_show(raw)} is listed again (first on line {first}); "
                                             "expected each item once")
    unknown = ~raw_items.isin(catalogue["raw_id"]).to_numpy()
    if unknown.any():
        if not add_unknown_items:
            row = int(np.argmax(unknown))
            raise inter.error(row, f"item id {_show(raw_items.iloc[row])} is not listed in {items.path.name}; "
                                   f"expected an item id defined there")
        new = pd.unique(raw_items[unknown])
        catalogue = pd.concat([catalogue, pd.DataFrame({"raw_id": new, **dict.fromkeys(TEXT_FIELDS, "")})],
                              ignore_index=True)
    catalogue = catalogue.iloc[_id_order(catalogue["raw_id"])].reset_index(drop=True)
    catalogue = catalogue[[*TEXT_FIELDS, "raw_id"]].astype(dict.fromkeys(TEXT_FIELDS, str))

    raw_users = inter.frame["user"]
    distinct = raw_users.drop_duplicates()
    user_index = pd.Index(distinct).take(_id_order(distinct))
    users = user_index.get_indexer(raw_users)
    item_ids = pd.Index(catalogue["raw_id"]).get_indexer(raw_items)
    order = np.lexsort((timestamps, users))
    interactions = pd.DataFrame({
        "user": users[order].astype(np.int64),
        "item": item_ids[order].astype(np.int64),
        "timestamp": np.asarray(timestamps, dtype=np.int64)[order],
        **{column: values[order] for column, values in extra.items()},
    })
    return Dataset(name=name, interactions=interactions, items=catalogue, source=source, n_users=len(user_index))
