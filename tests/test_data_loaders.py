import gzip
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import (
    DataError,
    load_dataset,
    load_movielens_1m,
    load_movielens_100k,
    load_recbole,
    load_s3rec,
    load_sasrec,
)

FLAGS = {"Action": 1, "Comedy": 5, "Crime": 6, "Thriller": 16}


def flags(*genres):
    row = ["0"] * 19
    for g in genres:
        row[FLAGS[g]] = "1"
    return "|".join(row)


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


@pytest.fixture
def ml100k(tmp_path):
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", "7\t10\t4\t300\n2\t20\t3\t100\n7\t20\t5\t200\n3\t10\t1\t50\n")
    write(folder / "u.item",
          f"10|Café Society (1995)|01-Jan-1995||http://a|{flags('Action', 'Comedy')}\n"
          f"20|Heat (1995)|15-Dec-1995||http://b|{flags('Crime', 'Thriller')}\n"
          f"30|Never Rated (1996)|||http://c|{flags()}\n", encoding="latin-1")
    return folder


@pytest.fixture
def ml1m(tmp_path):
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "1::20::4::300\n2::10::3::100\n1::10::5::200\n")
    write(folder / "movies.dat", "10::Toy Story (1995)::Animation|Children's|Comedy\n20::Heat (1995)::Action\n"
                                 "30::Amélie (2001)::Comedy|Romance\n", encoding="latin-1")
    return folder


@pytest.fixture
def recbole(tmp_path):
    folder = tmp_path / "rb"
    write(folder / "shop.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\tlabel:float\n"
                                 "u2\tb\t3\t10\t1\n"
                                 "u10\tz\t4.5\t5.0\t0\n"
                                 "u2\ta\t5\t8\t1\n")
    write(folder / "shop.item", "item_id:token\tmovie_title:token_seq\tclass:token_seq\tbrand:token\tprice:float\n"
                                "a\tToy Story\tAnimation Comedy\tPixar\t9.5\n"
                                "b\tHeat\tAction\tWarner\t7\n"
                                "c\tUnseen Film\tDrama\tA24\t3\n")
    return folder


def assert_data_error(excinfo, path: Path, line: int | None, *fragments: str) -> None:
    message = str(excinfo.value)
    assert excinfo.value.path == str(path)
    assert excinfo.value.line == line
    assert message.startswith(f"{path}:{line}: " if line is not None else f"{path}: ")
    assert "expected" in message
    for fragment in fragments:
        assert fragment in message


def test_movielens_100k(ml100k):
    ds = load_movielens_100k(ml100k)
    assert ds.name == "movielens-100k"
    assert ds.source == {"adapter": "movielens-100k", "path": str(ml100k), "encoding": {"u.item": "latin-1"}}
    assert ds.n_users == 3 and ds.n_items == 3
    assert ds.items["raw_id"].tolist() == [10, 20, 30]
    assert ds.items["title"].tolist() == ["Café Society (1995)", "Heat (1995)", "Never Rated (1996)"]
    assert ds.items["category"].tolist() == ["Action, Comedy", "Crime, Thriller", ""]
    assert ds.items["description"].tolist() == ["Released 01-Jan-1995.", "Released 15-Dec-1995.", ""]
    assert (ds.items["brand"] == "").all()
    inter = ds.interactions
    # users 2, 3, 7 become 0, 1, 2; user 7's interactions are ordered by time
    assert inter[["user", "item", "timestamp"]].values.tolist() == [[0, 1, 100], [1, 0, 50], [2, 1, 200], [2, 0, 300]]
    assert inter["rating"].tolist() == [3.0, 1.0, 5.0, 4.0]
    assert inter["rating"].dtype == np.float64


def test_movielens_100k_genre_names_from_u_genre(ml100k):
    names = [f"g{k}" for k in range(19)]
    write(ml100k / "u.genre", "".join(f"{n}|{k}\n" for k, n in enumerate(names)) + "\n")
    ds = load_movielens_100k(ml100k)
    assert ds.items["category"].tolist() == ["g1, g5", "g6, g16", ""]


def test_movielens_1m(ml1m):
    ds = load_movielens_1m(ml1m, name="ml1m")
    assert ds.name == "ml1m"
    assert ds.source == {"adapter": "movielens-1m", "path": str(ml1m), "encoding": {"movies.dat": "latin-1"}}
    assert ds.items["title"].tolist() == ["Toy Story (1995)", "Heat (1995)", "Amélie (2001)"]
    assert ds.items["category"].tolist() == ["Animation, Children's, Comedy", "Action", "Comedy, Romance"]
    assert ds.items["description"].tolist() == ["Released in 1995.", "Released in 1995.", "Released in 2001."]
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [[0, 0, 200], [0, 1, 300], [1, 0, 100]]


def test_recbole_maps_fields_and_adds_unlisted_items(recbole):
    ds = load_recbole(recbole)
    assert ds.name == "shop" and ds.source == {"adapter": "recbole", "path": str(recbole), "dataset": "shop"}
    assert ds.items["raw_id"].tolist() == ["a", "b", "c", "z"]
    assert ds.items["title"].tolist() == ["Toy Story", "Heat", "Unseen Film", ""]
    assert ds.items["category"].tolist() == ["Animation, Comedy", "Action", "Drama", ""]
    assert ds.items["brand"].tolist() == ["Pixar", "Warner", "A24", ""]
    assert (ds.items["description"] == "").all()
    inter = ds.interactions
    # raw users sort as strings: u10 < u2
    assert inter[["user", "item", "timestamp"]].values.tolist() == [[0, 3, 5], [1, 0, 8], [1, 1, 10]]
    assert inter["label"].dtype == np.int8 and inter["label"].tolist() == [0, 1, 1]
    assert inter["rating"].tolist() == [4.5, 5.0, 3.0]
    assert ds.has_real_negatives


def test_recbole_numeric_tokens_sort_numerically_and_line_order_stands_in_for_time(tmp_path):
    write(tmp_path / "nums.inter", "user_id:token\titem_id:token\n10\t100\n9\t20\n10\t3\n")
    ds = load_recbole(tmp_path, dataset="nums")
    assert ds.items["raw_id"].tolist() == ["3", "20", "100"]
    assert ds.source["timestamp"] == "line order"
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [[0, 1, 1], [1, 2, 0], [1, 0, 2]]
    assert (ds.items[["title", "category", "brand", "description"]] == "").all().all()


def test_sasrec_text_file(tmp_path):
    path = write(tmp_path / "beauty.txt", "5 30\n5 10\n2 30\n\n5 20\n")
    ds = load_sasrec(path)
    assert ds.name == "beauty" and ds.source == {"adapter": "sasrec", "path": str(path)}
    assert ds.items["raw_id"].tolist() == [10, 20, 30]
    assert (ds.items[["title", "category", "brand", "description"]] == "").all().all()
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 2, 2], [1, 2, 0], [1, 0, 1], [1, 1, 3]]


def test_load_dataset_dispatches_to_every_adapter(ml100k, ml1m, recbole, tmp_path):
    path = write(tmp_path / "s.txt", "1 1\n1 2\n")
    assert load_dataset("movielens-100k", path=ml100k).fingerprint() == load_movielens_100k(ml100k).fingerprint()
    assert load_dataset("movielens-1m", path=ml1m).name == "movielens-1m"
    assert load_dataset("recbole", path=recbole, dataset="shop").name == "shop"
    assert load_dataset("sasrec", path=path, name="tiny").name == "tiny"
    lines = write(tmp_path / "l.txt", "1 1 2\n")
    assert load_dataset("s3rec", path=lines, name="l").fingerprint() == load_sasrec(path).fingerprint()
    assert load_dataset("synthetic", n_users=20, n_items=40, n_categories=4).n_users == 20


def test_load_dataset_unknown_adapter_and_bad_arguments():
    with pytest.raises(DataError, match="unknown dataset adapter 'movielens'; known adapters: synthetic, "
                                        "movielens-100k, movielens-1m, recbole, sasrec"):
        load_dataset("movielens")
    with pytest.raises(DataError, match="adapter 'sasrec'.*path"):
        load_dataset("sasrec")
    with pytest.raises(DataError, match="adapter 'recbole'.*unexpected keyword"):
        load_dataset("recbole", path=".", atomic="x")


def test_missing_folder_and_files(tmp_path, ml100k):
    with pytest.raises(DataError) as e:
        load_movielens_100k(tmp_path / "nowhere")
    assert_data_error(e, tmp_path / "nowhere", None, "folder not found", "u.data and u.item")
    (ml100k / "u.item").unlink()
    with pytest.raises(DataError) as e:
        load_movielens_100k(ml100k)
    assert_data_error(e, ml100k / "u.item", None, "file not found", "movie id|title")
    with pytest.raises(DataError) as e:
        load_sasrec(tmp_path / "none.txt")
    assert_data_error(e, tmp_path / "none.txt", None, "file not found", "'user item'")


def test_recbole_needs_exactly_one_inter_file_without_a_name(tmp_path, recbole):
    with pytest.raises(DataError) as e:
        load_recbole(tmp_path)
    assert_data_error(e, tmp_path, None, "found 0 .inter files")
    write(recbole / "other.inter", "user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(DataError) as e:
        load_recbole(recbole)
    assert_data_error(e, recbole, None, "found 2 .inter files ['other', 'shop']", "dataset=")
    with pytest.raises(DataError) as e:
        load_recbole(recbole, dataset="missing")
    assert_data_error(e, recbole / "missing.inter", None, "file not found")


BAD_NUMERIC = [
    # (file, content, line, fragments)
    ("u.data", "1\t10\t4\t300\n2\t20\t3\n", 2,
     ("found 3 tab-separated fields", "expected 4 (user, item, rating, timestamp)")),
    ("u.data", "1\t10\t4\t300\n1\t10\t4\t300\t9\n", 2, ("found 5 tab-separated fields", "expected 4")),
    ("u.data", "1\t10\t4\t300\nx\t10\t4\t300\n", 2, ("field 'user' is 'x'", "expected an integer")),
    ("u.data", "1\t10\t4\t300\n\n2\t20\t3\t12:30\n", 3, ("field 'timestamp' is '12:30'", "expected an integer")),
    ("u.data", "1\t10\t4\t300\n2\t20\tfive\t300\n", 2, ("field 'rating' is 'five'", "expected a number")),
    ("u.data", "1\t10\tnan\t300\n", 1, ("field 'rating' is 'nan'", "expected a number")),
    ("u.data", "1\t10\t1e999\t300\n", 1, ("field 'rating' is inf", "expected a finite number")),
    ("u.data", "1\t10\t4\t99999999999999999999\n", 1, ("field 'timestamp'", "expected an integer")),
    ("u.data", "", 1, ("no data lines", "expected user, item, rating, timestamp")),
    ("u.data", "\n\n", 1, ("no data lines",)),
    ("u.data", "1\t30\t4\t300\n1\t99\t4\t300\n", 2, ("item id 99 is not listed in u.item", "expected an item id")),
    ("u.item", "10|A|||x|" + flags() + "\n30|B|||x|" + flags().replace("0", "2", 1) + "\n", 2,
     ("genre flags are [2, 0,", "expected each 0 or 1")),
    ("u.item", "10|A|||x|" + flags() + "\n30|B|||x\n", 2, ("found 5 '|'-separated fields", "expected 24")),
    ("u.item", "10|A|||x|" + flags() + "\n10|B|||x|" + flags() + "\n", 2,
     ("item id 10 is listed again (first on line 1)", "expected each item once")),
]


@pytest.mark.parametrize(("name", "content", "line", "fragments"), BAD_NUMERIC)
def test_movielens_100k_bad_input_names_file_line_and_expectation(ml100k, name, content, line, fragments):
    if name == "u.data":
        write(ml100k / "u.item", f"10|A|||x|{flags()}\n30|B|||x|{flags()}\n")
    else:
        write(ml100k / "u.data", "1\t10\t4\t300\n")
    write(ml100k / name, content)
    with pytest.raises(DataError) as e:
        load_movielens_100k(ml100k)
    assert_data_error(e, ml100k / name, line, *fragments)


def test_movielens_1m_bad_input(ml1m):
    write(ml1m / "ratings.dat", "1::10::4::300\n1::20::4::3OO\n")
    with pytest.raises(DataError) as e:
        load_movielens_1m(ml1m)
    assert_data_error(e, ml1m / "ratings.dat", 2, "field 'timestamp' is '3OO'", "UserID::MovieID::Rating::Timestamp")
    write(ml1m / "ratings.dat", "1::10::4::300\n")
    write(ml1m / "movies.dat", "10::Toy Story (1995)::Comedy\n20::Heat (1995)\n")
    with pytest.raises(DataError) as e:
        load_movielens_1m(ml1m)
    assert_data_error(e, ml1m / "movies.dat", 2, "found 2 '::'-separated fields", "expected 3")


def test_latin1_files_always_decode(ml1m):
    write(ml1m / "movies.dat", b"10::Caf\xe9 \x85 (1995)::Comedy\n20::Heat (1995)::Action\n")
    ds = load_movielens_1m(ml1m)
    assert ds.items["title"].tolist() == ["Café \x85 (1995)", "Heat (1995)"]
    assert ds.source["encoding"] == {"movies.dat": "latin-1"}


def test_utf8_movielens_1m_is_read_as_utf8(ml1m):
    write(ml1m / "movies.dat", "10::Amélie (2001)::Comedy\n20::Crouching Tiger (卧虎藏龙) (2000)::Action\n")
    ds = load_movielens_1m(ml1m)
    assert ds.items["title"].tolist() == ["Amélie (2001)", "Crouching Tiger (卧虎藏龙) (2000)"]
    assert ds.source["encoding"] == {"movies.dat": "utf-8"}


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_movielens_100k_text_decodes_in_either_encoding(ml100k, encoding):
    last_genre_only = "|".join(["0"] * 18 + ["1"])
    write(ml100k / "u.item", f"10|Amélie (2001)|01-Jan-2001||http://a|{last_genre_only}\n"
                             f"20|Heat (1995)|15-Dec-1995||http://b|{flags('Crime')}\n", encoding=encoding)
    names = [f"g{k}" for k in range(18)] + ["Ciné"]
    write(ml100k / "u.genre", "".join(f"{n}|{k}\n" for k, n in enumerate(names)), encoding=encoding)
    write(ml100k / "u.data", "7\t10\t4\t300\n2\t20\t3\t100\n")
    ds = load_movielens_100k(ml100k)
    assert ds.items["title"].tolist() == ["Amélie (2001)", "Heat (1995)"]
    assert ds.items["category"].tolist() == ["Ciné", "g6"]
    assert ds.source["encoding"] == {"u.item": encoding, "u.genre": encoding}


BAD_RECBOLE = [
    ("shop.inter", "user_id:token\titem_id:token\nu1\ta\nu2\tb\nu3\t\xff\n".encode("latin-1"), 4,
     ("byte 0xff at column 4 is not valid UTF-8", "expected UTF-8 text")),
    ("shop.inter", b"user_id:token\titem_id:token\nu1\ta\xc3(\n", 2, ("byte 0xc3", "UTF-8")),
    ("shop.inter", "user_id\titem_id:token\nu1\ta\n", 1, ("header field 'user_id'", "name:type")),
    ("shop.inter", "user_id:token\titem_id:number\nu1\ta\n", 1, ("header field 'item_id:number'", "token, token_seq")),
    ("shop.inter", "user_id:token\trating:float\nu1\t1\n", 1, ("header lacks ['item_id']", "item_id:token")),
    ("shop.inter", "user_id:token\tuser_id:token\titem_id:token\nu1\tu1\ta\n", 1, ("'user_id' appears twice",)),
    ("shop.inter", "", 1, ("empty header line",)),
    ("shop.inter", "user_id:token\titem_id:token\n", 2, ("no data lines", "user_id, item_id")),
    ("shop.inter", "user_id:token\titem_id:token\tlabel:float\nu1\ta\t1\nu1\tb\t2\n", 3,
     ("label is 2.0", "expected 0 or 1")),
    ("shop.inter", "user_id:token\titem_id:token\ttimestamp:float\nu1\ta\t10.5\n", 2,
     ("timestamp 10.5 is not whole seconds", "expected an integer time")),
    ("shop.inter", "user_id:token\titem_id:token\ttimestamp:float\nu1\ta\tyesterday\n", 2,
     ("field 'timestamp' is 'yesterday'", "expected a number")),
    ("shop.inter", "user_id:token\titem_id:token\nu1\ta\r\nu2\tb\rc\n", 3, ("stray carriage return",)),
    ("shop.item", "item_id:token\ttitle:token_seq\na\tA\nb\tB\na\tC\n", 4,
     ("item id 'a' is listed again (first on line 2)",)),
    ("shop.item", "item_id:token\ttitle:token_seq\na\tA\textra\n", 2, ("found 3 tab-separated fields", "expected 2")),
]


@pytest.mark.parametrize(("name", "content", "line", "fragments"), BAD_RECBOLE)
def test_recbole_bad_input_names_file_line_and_expectation(recbole, name, content, line, fragments):
    write(recbole / name, content)
    with pytest.raises(DataError) as e:
        load_recbole(recbole, dataset="shop")
    assert_data_error(e, recbole / name, line, *fragments)


@pytest.mark.parametrize(("content", "line", "fragments"), [
    ("1 2\n1 2 3\n", 2, ("found 3 space-separated fields", "expected 2 (user, item)")),
    ("1 2\n1  2\n", 2, ("found 3 space-separated fields",)),
    ("1 2\n1\t2\n", 2, ("found 1 space-separated fields",)),
    ("1 2\n\n1 2.5\n", 3, ("field 'item' is '2.5'", "expected an integer")),
    ("1 2\n1 \xe9\n", 2, ("byte 0xe9", "expected UTF-8 text")),
])
def test_sasrec_bad_input_names_file_line_and_expectation(tmp_path, content, line, fragments):
    path = write(tmp_path / "seq.txt", content.encode("latin-1"))
    with pytest.raises(DataError) as e:
        load_sasrec(path)
    assert_data_error(e, path, line, *fragments)


def test_s3rec_lines_match_the_same_data_in_sasrec_form(tmp_path):
    s3 = write(tmp_path / "Beauty.txt.gz", gzip.compress(b"1 5 3 7\n\n2 3\n10 7 5\n"))
    sas = write(tmp_path / "Beauty_sasrec.txt", "1 5\n1 3\n1 7\n2 3\n10 7\n10 5\n")
    ds = load_s3rec(s3)
    assert ds.name == "Beauty" and ds.source == {"adapter": "s3rec", "path": str(s3)}
    assert ds.items["raw_id"].tolist() == [3, 5, 7]
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 1, 0], [0, 0, 1], [0, 2, 2], [1, 0, 3], [2, 2, 4], [2, 1, 5]]
    assert ds.fingerprint() == load_sasrec(sas).fingerprint()


def test_s3rec_string_ids(tmp_path):
    ds = load_s3rec(write(tmp_path / "seq.txt", "alice B2 B1\nbob B1\n"))
    assert ds.items["raw_id"].tolist() == ["B1", "B2"]
    assert ds.interactions[["user", "item"]].values.tolist() == [[0, 1], [0, 0], [1, 0]]


def test_gzip_reaches_the_table_adapters_too(tmp_path):
    path = write(tmp_path / "seq.txt.gz", gzip.compress(b"1 2\n1 3\n"))
    ds = load_sasrec(path)
    assert ds.name == "seq" and len(ds.interactions) == 2


def test_damaged_gzip_names_the_file(tmp_path):
    path = write(tmp_path / "cut.txt.gz", gzip.compress(b"1 2\n" * 100)[:-4])
    with pytest.raises(DataError) as e:
        load_sasrec(path)
    assert_data_error(e, path, None, "the gzip stream is damaged", "expected a complete gzip file")


@pytest.mark.parametrize(("content", "line", "fragments"), [
    ("1 2 3\n4\n", 2, ("user '4' has no items", "expected 'user item item …' per line")),
    ("1 2 3\n2 3\n1 4\n", 3, ("user '1' already has line 1", "expected one line per user")),
    ("1 2 3\n2 \xe9\n", 2, ("byte 0xe9", "expected UTF-8 text")),
    ("\n\n", 1, ("no data lines",)),
])
def test_s3rec_bad_input_names_file_line_and_expectation(tmp_path, content, line, fragments):
    path = write(tmp_path / "seq.txt", content.encode("latin-1"))
    with pytest.raises(DataError) as e:
        load_s3rec(path)
    assert_data_error(e, path, line, *fragments)


def test_windows_line_endings_and_utf8_bom(tmp_path):
    write(tmp_path / "w.inter", "\ufeffuser_id:token\titem_id:token\r\nu1\ta\r\nu1\tb\r\n")
    ds = load_recbole(tmp_path)
    assert ds.items["raw_id"].tolist() == ["a", "b"] and len(ds.interactions) == 2


def test_many_lines_parse(tmp_path):
    rng = np.random.default_rng(0)
    n = 200_000
    users, items = rng.integers(1, 6041, n), rng.integers(1, 3953, n)
    lines = np.char.add(np.char.add(users.astype(str), "::"), items.astype(str))
    write(tmp_path / "ml" / "ratings.dat", "\n".join(np.char.add(lines, "::3::978300760")) + "\n")
    write(tmp_path / "ml" / "movies.dat", "".join(f"{i}::Movie {i} (2000)::Drama\n" for i in range(1, 3953)))
    ds = load_movielens_1m(tmp_path / "ml")
    assert len(ds.interactions) == n and ds.n_items == 3952
    assert ds.n_users == len(np.unique(users))
    expected = np.sort(np.unique(users).searchsorted(users))
    assert (ds.interactions["user"].to_numpy() == expected).all()
