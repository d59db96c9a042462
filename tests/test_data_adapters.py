"""The record-file adapters (Amazon 2018/2023, MIND, Goodreads, Steam) and `recboard data inspect`,
on tiny fixtures written here in each format (gzipped where users keep them so)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data import (
    DataError,
    load_amazon_2018,
    load_amazon_2023,
    load_dataset,
    load_goodreads,
    load_mind,
    load_steam,
)
from benchmark.data.summary import core_stats, k_core
from tests.test_data_loaders import assert_data_error, write

TEXT = ["title", "category", "brand", "description"]


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def literals(*records: dict) -> str:
    return "".join(repr(r) + "\n" for r in records)


def assert_rejects(load, path: Path, line: int | None, fragments: tuple[str, ...]) -> None:
    with pytest.raises(DataError) as e:
        load()
    assert_data_error(e, path, line, *fragments)


def gz(path: Path, content: str) -> Path:
    return write(path, gzip.compress(content.encode("utf-8")))


def review18(user, item, t, rating=5.0):
    return {"overall": rating, "verified": True, "reviewTime": "01 1, 2016", "reviewerID": user, "asin": item,
            "reviewText": "nice", "unixReviewTime": t}


@pytest.fixture
def amazon18(tmp_path):
    reviews = gz(tmp_path / "Beauty_5.json.gz", jsonl(
        review18("A2", "B02", 300, 4.0), review18("A1", "B01", 200), review18("A2", "B01", 100, 3.0),
        review18("A1", "B03", 100, 1.0)))
    meta = gz(tmp_path / "meta_Beauty.json.gz", literals(
        {"asin": "B01", "title": "Rose  Soap\n", "category": ["Beauty", "Bath", "Beauty"], "brand": "Acme",
         "description": ["", "Smells of roses.", "Made by hand."]},
        {"asin": "B09", "title": "Never reviewed"},
        {"asin": "B02", "title": "Comb", "category": [], "description": "Wooden."},
        {"asin": "B01", "title": "A repeat of B01"},
    ) + jsonl({"asin": "B04", "title": "Strict JSON line, not reviewed", "brand": None}))
    return reviews, meta


def test_amazon_2018_reviews_with_python_literal_meta(amazon18):
    reviews, meta = amazon18
    ds = load_amazon_2018(reviews, meta=meta)
    assert ds.name == "Beauty_5"
    assert ds.source == {"adapter": "amazon-2018", "path": str(reviews), "meta": str(meta), "meta_repeats": 1}
    # the catalogue holds the reviewed items only; B03 has no metadata record
    assert ds.items["raw_id"].tolist() == ["B01", "B02", "B03"]
    assert ds.items[TEXT].values.tolist() == [
        ["Rose Soap", "Beauty, Bath", "Acme", "Smells of roses. Made by hand."],
        ["Comb", "", "", "Wooden."],
        ["", "", "", ""],
    ]
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 2, 100], [0, 0, 200], [1, 0, 100], [1, 1, 300]]
    assert ds.interactions["rating"].tolist() == [1.0, 5.0, 3.0, 4.0]


def test_amazon_2014_meta_categories_as_lists_of_lists(tmp_path):
    reviews = write(tmp_path / "reviews_Toys_5.json", jsonl(review18("A1", "T1", 5)))
    meta = write(tmp_path / "meta_Toys.json", literals(
        {"asin": "T1", "title": "Kite", "categories": [["Toys", "Outdoor"], ["Toys", "Kites"]],
         "description": "Flies."}))
    ds = load_amazon_2018(reviews, meta=meta, name="toys")
    assert ds.name == "toys"
    assert ds.items[TEXT].values.tolist() == [["Kite", "Toys, Outdoor, Kites", "", "Flies."]]


def test_amazon_2023_reviews_and_meta(tmp_path):
    def review(user, parent, ms, rating):
        return {"rating": rating, "title": "t", "text": "x", "images": [], "asin": parent + "-variant",
                "parent_asin": parent, "user_id": user, "timestamp": ms, "helpful_vote": 0, "verified_purchase": True}

    reviews = gz(tmp_path / "All_Beauty.jsonl.gz", jsonl(
        review("AG1", "P2", 1588615855070, 5.0), review("AG1", "P1", 1588615854999, 2.0),
        review("AF9", "P1", 1600000000000, 4.0)))
    meta = write(tmp_path / "meta_All_Beauty.jsonl", jsonl(
        {"main_category": "All Beauty", "title": "Lip balm", "categories": ["All Beauty", "Lips"], "store": "Shiny",
         "description": ["Soft.", "Lasts long."], "parent_asin": "P1", "details": {"Size": "1 oz"}},
        {"main_category": None, "title": "Brush", "categories": [], "store": None, "description": [],
         "parent_asin": "P2"}))
    ds = load_amazon_2023(reviews, meta=meta)
    assert ds.name == "All_Beauty"
    assert ds.items["raw_id"].tolist() == ["P1", "P2"]
    assert ds.items[TEXT].values.tolist() == [["Lip balm", "All Beauty, Lips", "Shiny", "Soft. Lasts long."],
                                              ["Brush", "", "", ""]]
    # users AF9 < AG1; milliseconds floored to seconds
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 0, 1600000000], [1, 0, 1588615854], [1, 1, 1588615855]]
    assert ds.interactions["rating"].tolist() == [4.0, 2.0, 5.0]


REVIEW = json.dumps(review18("A1", "B1", 1))
REVIEW23 = jsonl({"user_id": "A", "parent_asin": "P", "rating": 1, "timestamp": 1})
BAD_AMAZON = [
    # (version, file, content, line, fragments); the other file is the fixture's
    ("2018", "reviews", REVIEW + "\n" + json.dumps({"reviewerID": "A", "overall": 5, "unixReviewTime": 1}),
     2, ("no field 'asin'", "expected a JSON object with reviewerID, asin")),
    ("2018", "reviews", REVIEW + '\n\n{"reviewerID": "A2", "asin": "B1", "overall": "five"}', 3,
     ("field 'overall' is 'five', not a finite number",)),
    ("2018", "reviews", REVIEW + "\n" + repr(review18("A2", "B1", 1)), 2,
     ("not JSON (Expecting property name enclosed in double quotes at column 2)", "one object per line")),
    ("2018", "reviews", REVIEW + "\n[1, 2]", 2, ("found a list, not an object",)),
    ("2018", "reviews", REVIEW + '\n{"reviewerID": "A\xff"}', 2, ("byte 0xff", "expected UTF-8")),
    ("2018", "reviews", REVIEW + '\n{"reviewerID": "", "asin": "B", "overall": 1, "unixReviewTime": 1}', 2,
     ("field 'reviewerID' is '', not an id",)),
    ("2018", "reviews", "", 1, ("no records", "reviewerID")),
    ("2018", "meta", "{'asin': 'B01', 'title': 'x'}\n{'asin': 'B02', 'title': ", 2,
     ("neither JSON nor a Python literal", "asin and optionally title")),
    ("2018", "meta", "{'asin': 'B01', 'description': 5}\n", 1,
     ("field 'description' is 5, not text or a list of text",)),
    ("2018", "meta", "{'asin': 'B01', 'category': ['a', 3]}\n", 1, ("field 'category' holds 3, not text",)),
    ("2023", "reviews", json.dumps({"user_id": "A", "parent_asin": "P", "rating": 5.0, "timestamp": "1588615855070"}),
     1,
     ("field 'timestamp' is '1588615855070', not an integer", "integer milliseconds")),
    ("2023", "meta", json.dumps({"title": "no id"}), 1, ("no field 'parent_asin'",)),
]


@pytest.mark.parametrize(("version", "file", "content", "line", "fragments"), BAD_AMAZON)
def test_amazon_bad_input_names_file_line_and_expectation(version, file, content, line, fragments, tmp_path,
                                                          amazon18):
    path = write(tmp_path / "bad.json", content.encode("latin-1"))
    load = {"2018": load_amazon_2018, "2023": load_amazon_2023}[version]
    reviews = amazon18[0] if version == "2018" else write(tmp_path / "r.jsonl", REVIEW23)
    assert_rejects(lambda: load(path) if file == "reviews" else load(reviews, meta=path), path, line, fragments)


def test_damaged_gzip_names_the_file_and_line(tmp_path):
    whole = gzip.compress(jsonl(*[review18(f"A{k}", "B1", k) for k in range(2000)]).encode())
    path = write(tmp_path / "cut.json.gz", whole[: len(whole) // 2])
    with pytest.raises(DataError) as e:
        load_amazon_2018(path)
    assert str(e.value).startswith(f"{path}:") and "the gzip stream is damaged" in str(e.value)
    assert e.value.path == str(path) and 1 < e.value.line < 2000


BEHAVIORS = (
    "1\tU2\t11/15/2019 8:55:22 AM\tN1 N2\tN3-1 N4-0\n"
    "2\tU1\t11/14/2019 10:00:00 PM\t\tN4-1 N1-0 N3-0\n"
    "3\tU2\t11/13/2019 12:00:05 PM\tN1 N2 N5\tN2-0\n"
)
NEWS = "".join(f"{n}\t{c}\t{s}\t{t}\t{a}\thttps://x/{n}\t[]\t[]\n" for n, c, s, t, a in [
    ("N1", "sports", "football_nfl", "Big game", "Who won."),
    ("N2", "news", "newsworld", "World news", ""),
    ("N3", "lifestyle", "", "Royal visit", "The queen came."),
    ("N4", "finance", "markets", "Stocks up", "Markets rose."),
    ("N5", "tv", "tvnews", "Show renewed", ""),
    ("N6", "tv", "tvnews", "Never shown", ""),
])


@pytest.fixture
def mind(tmp_path):
    folder = tmp_path / "MINDsmall_train"
    write(folder / "behaviors.tsv", BEHAVIORS)
    gz(folder / "news.tsv.gz", NEWS)
    return folder


def test_mind_impressions_are_labelled_and_history_clicks_come_first(mind):
    ds = load_mind(mind)
    assert ds.name == "MINDsmall_train"
    assert ds.source == {"adapter": "mind", "path": str(mind), "history": True, "meta_repeats": 0}
    assert ds.items["raw_id"].tolist() == ["N1", "N2", "N3", "N4", "N5"]
    assert ds.items[TEXT].values.tolist()[:3] == [
        ["Big game", "sports, football_nfl", "", "Who won."],
        ["World news", "news, newsworld", "", ""],
        ["Royal visit", "lifestyle", "", "The queen came."],
    ]
    t13 = 1573646405  # 11/13/2019 12:00:05 PM, U2's first impression
    t14, t15 = 1573768800, 1573808122
    inter = ds.interactions
    assert inter[["user", "item", "timestamp", "label"]].values.tolist() == [
        # U1: no history
        [0, 3, t14, 1], [0, 0, t14, 0], [0, 2, t14, 0],
        # U2: history N1 N2 N5 (union over lines, earliest line first) just before t13
        [1, 0, t13 - 3, 1], [1, 1, t13 - 2, 1], [1, 4, t13 - 1, 1],
        [1, 1, t13, 0], [1, 2, t15, 1], [1, 3, t15, 0],
    ]
    assert inter["label"].dtype == np.int8 and ds.has_real_negatives


def test_mind_without_history(mind):
    ds = load_mind(mind, history=False, name="mind")
    assert len(ds.interactions) == 6 and ds.source["history"] is False
    assert ds.items["raw_id"].tolist() == ["N1", "N2", "N3", "N4"]


BAD_MIND = [
    ("behaviors.tsv", "1\tU1\t2019-11-15 08:55:22\t\tN1-1\n", 1,
     ("time '2019-11-15 08:55:22' is not a time", "expected one like '11/15/2019 8:55:22 AM'")),
    ("behaviors.tsv", BEHAVIORS + "4\tU1\t11/15/2019 8:55:22 AM\tN1\tN1-1 N2-2\n", 4,
     ("impression 'N2-2'", "label 1 (click) or 0")),
    ("behaviors.tsv", BEHAVIORS + "4\tU1\t11/15/2019 8:55:22 AM\tN1\tN1 N2\n", 4, ("impression 'N1'",)),
    ("behaviors.tsv", "1\tU1\t11/15/2019 8:55:22 AM\tN1\t\n", 1, ("no impressions",)),
    ("behaviors.tsv", "1\tU1\t11/15/2019 8:55:22 AM\tN1-1\n", 1,
     ("found 4 tab-separated fields", "expected 5")),
    ("behaviors.tsv", BEHAVIORS + "4\tU1\t11/15/2019 8:55:22 AM\t\tN99-1\n", 4,
     ("item id 'N99' is not listed in news.tsv.gz", "expected an item id defined there")),
    ("news.tsv.gz", "N1\tsports\tnfl\tBig game\tWho won.\thttps://x\t[]\n", 1,
     ("found 7 tab-separated fields", "expected 8")),
]


@pytest.mark.parametrize(("file", "content", "line", "fragments"), BAD_MIND)
def test_mind_bad_input_names_file_line_and_expectation(file, content, line, fragments, mind):
    path = write(mind / file, gzip.compress(content.encode()) if file.endswith(".gz") else content)
    assert_rejects(lambda: load_mind(mind), path, line, fragments)


def shelf(user, book, date, rating=0, is_read=False):
    return {"user_id": user, "book_id": book, "review_id": "r", "is_read": is_read, "rating": rating,
            "review_text_incomplete": "", "date_added": date, "date_updated": date, "read_at": "", "started_at": ""}


@pytest.fixture
def goodreads(tmp_path):
    inter = gz(tmp_path / "goodreads_interactions_poetry.json.gz", jsonl(
        shelf("u9", "20", "Fri Sep 08 10:44:24 -0700 2017", 4, True),
        shelf("u9", "3", "Fri Sep 08 17:44:20 +0000 2017"),
        shelf("u1", "3", "Mon Jan 01 00:00:00 +0000 2018", 5, True)))
    books = write(tmp_path / "books.json", jsonl(
        {"book_id": "3", "title": "", "title_without_series": "Odes", "publisher": "Faber",
         "description": "Poems.", "popular_shelves": [{"count": "3", "name": "to-read"}]},
        {"book_id": "77", "title": "Not shelved"}))
    genres = write(tmp_path / "genres.json", jsonl(
        {"book_id": "20", "genres": {"poetry": 10, "fiction": 2, "history, biography": 10}},
        {"book_id": "3", "genres": {}}))
    return inter, books, genres


def test_goodreads_interactions_books_and_genres(goodreads):
    inter, books, genres = goodreads
    ds = load_goodreads(inter, books=books, genres=genres)
    assert ds.name == "goodreads_interactions_poetry"
    assert ds.source == {"adapter": "goodreads", "path": str(inter), "read_only": False, "books": str(books),
                         "genres": str(genres), "meta_repeats": 0}
    # digit ids sort numerically; book 20 has genres but no books record
    assert ds.items["raw_id"].tolist() == ["3", "20"]
    assert ds.items[TEXT].values.tolist() == [["Odes", "", "Faber", "Poems."],
                                              ["", "history, biography, poetry, fiction", "", ""]]
    # 10:44:24 -0700 is 17:44:24 UTC, after 17:44:20 UTC
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 0, 1514764800], [1, 0, 1504892660], [1, 1, 1504892664]]
    assert ds.interactions["rating"].tolist() == [5.0, 0.0, 4.0]


def test_goodreads_read_only_and_genres_without_books(goodreads):
    inter, _, genres = goodreads
    ds = load_goodreads(inter, genres=genres, read_only=True)
    assert len(ds.interactions) == 2 and ds.items["raw_id"].tolist() == ["3", "20"]
    assert ds.items["category"].tolist() == ["", "history, biography, poetry, fiction"]


BAD_GOODREADS = [
    ("interactions", jsonl(shelf("u", "1", "Fri Sep 08 10:44:24 2017")), 1,
     ("time 'Fri Sep 08 10:44:24 2017' is not a time", "'Fri Sep 08 10:44:24 -0700 2017'")),
    ("interactions", jsonl(shelf("u", "1", "x") | {"is_read": "yes"}), 1,
     ("field 'is_read' is 'yes', not true or false",)),
    ("interactions", jsonl(shelf("u", "1", "x", rating=7)), 1, ("field 'rating' is 7, outside 0..5",)),
    ("books", jsonl({"book_id": "3"}, {"title": "no id"}), 2, ("no field 'book_id'",)),
    ("genres", jsonl({"book_id": "3", "genres": ["poetry"]}), 1,
     ("field 'genres' is ['poetry'], not an object of genre: votes",)),
]


@pytest.mark.parametrize(("file", "content", "line", "fragments"), BAD_GOODREADS)
def test_goodreads_bad_input_names_file_line_and_expectation(file, content, line, fragments, tmp_path, goodreads):
    path = write(tmp_path / "bad.json", content)
    files = {"path": goodreads[0], "books": goodreads[1], "genres": goodreads[2]}
    files["path" if file == "interactions" else file] = path
    assert_rejects(lambda: load_goodreads(**files), path, line, fragments)


@pytest.fixture
def steam(tmp_path):
    reviews = gz(tmp_path / "steam_reviews.json.gz", literals(
        {"username": "Chaos Syren", "hours": 0.1, "products": 41, "product_id": "725280", "page_order": 0,
         "date": "2017-12-17", "text": "It's 'fine'", "early_access": False, "page": 1},
        {"username": "Chaos Syren", "hours": 2.0, "product_id": "10", "date": "2017-12-17", "text": "ok",
         "user_id": "7656"},
        {"username": "ahmed", "product_id": "10", "date": "2011-01-02", "text": "good"}))
    games = gz(tmp_path / "steam_games.json.gz", literals(
        {"publisher": "Kotoshiro", "genres": ["Action", "Indie"], "app_name": "Lost Summoner Kitty",
         "title": "Lost Summoner Kitty", "id": "725280", "developer": "Kotoshiro", "tags": ["Strategy"]},
        {"app_name": "Counter-Strike", "developer": "Valve", "id": "10", "genres": ["Action"]},
        {"title": "No id here", "genres": ["Casual"]},
        {"app_name": "Counter-Strike again", "id": "10"}))
    return reviews, games


def test_steam_reviews_and_games(steam):
    reviews, games = steam
    ds = load_steam(reviews, games=games)
    assert ds.name == "steam_reviews"
    assert ds.source == {"adapter": "steam", "path": str(reviews), "user_key": "username", "games": str(games),
                         "games_without_id": 1, "meta_repeats": 1}
    assert ds.items["raw_id"].tolist() == ["10", "725280"]
    assert ds.items[TEXT].values.tolist() == [["Counter-Strike", "Action", "Valve", ""],
                                              ["Lost Summoner Kitty", "Action, Indie", "Kotoshiro", ""]]
    # 'Chaos Syren' < 'ahmed'; a day's reviews keep their file order
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 1, 1513468800], [0, 0, 1513468800], [1, 0, 1293926400]]


def test_steam_user_key(steam, tmp_path):
    reviews, _ = steam
    with pytest.raises(DataError) as e:
        load_steam(reviews, user_key="user_id")
    assert_data_error(e, reviews, 1, "no field 'user_id'", "expected a dict with user_id, product_id")
    with pytest.raises(DataError, match="user_key 'name'; expected one of username, user_id"):
        load_steam(reviews, user_key="name")
    only = write(tmp_path / "ids.json", literals({"user_id": 7656, "item_id": 10, "date": "2014-05-01"}))
    assert load_steam(only, user_key="user_id").n_users == 1


BAD_STEAM = [
    ("reviews", literals({"username": "a", "product_id": "1", "date": "Dec 17, 2017"}), 1,
     ("time 'Dec 17, 2017' is not a time", "expected one like '2017-12-17'")),
    ("reviews", literals({"username": "a", "date": "2017-12-17"}), 1,
     ("no field 'product_id' or 'item_id'", "expected a dict with username")),
    ("games", literals({"id": "1", "genres": "Action", "publisher": ["P"]}, {"id": 2, "title": 3}), 2,
     ("field 'title' is 3, not text",)),
]


@pytest.mark.parametrize(("file", "content", "line", "fragments"), BAD_STEAM)
def test_steam_bad_input_names_file_line_and_expectation(file, content, line, fragments, tmp_path, steam):
    path = write(tmp_path / "bad.json", content)
    assert_rejects(lambda: load_steam(path) if file == "reviews" else load_steam(steam[0], games=path), path, line,
                   fragments)


def test_load_dataset_knows_the_new_adapters(amazon18, mind, tmp_path):
    reviews, meta = amazon18
    assert load_dataset("amazon-2018", path=reviews, meta=meta, name="b").name == "b"
    assert load_dataset("mind", path=mind, history=False).source["history"] is False
    with pytest.raises(DataError, match="adapter 'mind'.*unexpected keyword"):
        load_dataset("mind", path=mind, meta=meta)


def test_k_core_drops_until_stable():
    # item 2 has only user 2; without it user 2 has 1 item, so user 2 and item 2 go; the rest is a 2-core
    users = np.array([0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 0, 1, 1, 2])
    assert k_core(users, items, 2).tolist() == [True, True, True, True, False, False]
    assert not k_core(users, items, 3).any()


def catalogue_fixture(tmp_path):
    """Users A0..A5 review B0..B4 (30 reviews), A6 reviews B5 once; B0 has every text field."""
    rows = [review18(f"A{u}", f"B{i}", 1_500_000_000 + 10 * u + i) for u in range(6) for i in range(5)]
    reviews = write(tmp_path / "Toys_5.json", jsonl(*rows, review18("A6", "B5", 1_400_000_000)))
    meta = write(tmp_path / "meta_Toys.json", literals(
        {"asin": "B0", "title": "Kite", "category": ["Toys"], "brand": "Sky", "description": ["Flies high."]},
        *[{"asin": f"B{i}", "title": f"Toy {i}"} for i in range(1, 5)]))
    return reviews, meta


def test_core_stats(tmp_path):
    ds = load_amazon_2018(*catalogue_fixture(tmp_path))
    stats = core_stats(ds, 5)
    assert (stats.users, stats.items, stats.core_users, stats.core_items, stats.core_interactions) == (6, 5, 6, 5, 30)


def test_cli_data_inspect(tmp_path, capsys):
    reviews, meta = catalogue_fixture(tmp_path)
    assert main(["data", "inspect", str(reviews), "--adapter", "amazon-2018", "--meta", str(meta)]) == 0
    out = capsys.readouterr().out
    assert f"dataset 'Toys_5' (adapter amazon-2018, path {reviews}, meta {meta}, meta_repeats 0)" in out
    assert "users 7, items 6, interactions 31: 31 positive, 0 real negative" in out
    assert "columns: user, item, timestamp, rating" in out
    assert "timestamps: 1400000000 (2014-05-13 16:53:20 UTC) .. 1500000054 (2017-07-14 02:40:54 UTC)" in out
    assert "  title         83.3%  (5)\n  category      16.7%  (1)\n  brand         16.7%  (1)\n" in out
    assert "  description   16.7%  (1)\n" in out
    assert ("sample row:\n  user 0, item 0 (raw id 'B0'), timestamp 1500000000 (2017-07-14 02:40:00 UTC), "
            "rating 5\n  title        'Kite'\n  category     'Toys'\n  brand        'Sky'\n"
            "  description  'Flies high.'\n") in out
    assert ("5-core (over positive interactions, one per user and item: 31):\n"
            "  users with >= 5: 6 of 7 (85.7%)\n  items with >= 5: 5 of 6 (83.3%)\n"
            "  5-core filtered: 6 users, 5 items, 30 interactions\n") in out


def test_cli_data_inspect_labels_and_errors(mind, tmp_path, capsys):
    assert main(["data", "inspect", str(mind), "--adapter", "mind", "--history", "false", "--core", "2"]) == 0
    out = capsys.readouterr().out
    assert "interactions 6: 2 positive, 4 real negative" in out and "columns: user, item, timestamp, label" in out
    assert "users with >= 2: 0 of 2" in out and "2-core filtered: 0 users, 0 items, 0 interactions" in out
    assert main(["data", "inspect", str(mind), "--adapter", "mind", "--meta", "x"]) == 2
    assert "recboard data: error: dataset adapter 'mind'" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path / "none"), "--adapter", "s3rec"]) == 2
    assert "file not found" in capsys.readouterr().err
