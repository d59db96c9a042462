"""A plan that points at local MovieLens-100K, MovieLens-1M, RecBole-atomic and SASRec-style folders,
and one at Amazon 2018/2023, MIND, S3-Rec, Goodreads and Steam files,
runs end to end (fixture files written here, in each format)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.results import read_result
from benchmark.runner.config import load_config, parse_config
from benchmark.runner.run import run_plan

N_USERS, N_ITEMS = 120, 230


def interactions(seed=0):
    rng = np.random.default_rng(seed)
    for u in range(1, N_USERS + 1):
        items = rng.choice(np.arange(1, N_ITEMS + 1), size=int(rng.integers(5, 25)), replace=False)
        for t, i in enumerate(items):
            yield u, int(i), int(rng.integers(1, 6)), 880_000_000 + 1000 * u + t


def write_ml100k(folder):
    folder.mkdir()
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in interactions()))
    flags = "|".join(["0"] * 18 + ["1"])
    (folder / "u.item").write_bytes("".join(
        f"{i}|Café Film {i} (1995)|01-Jan-1995||http://x/{i}|{flags}\n" for i in range(1, N_ITEMS + 1)
    ).encode("latin-1"))


def write_ml1m(folder):
    folder.mkdir()
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in interactions(1)))
    (folder / "movies.dat").write_bytes("".join(
        f"{i}::Crème Movie {i} (1999)::Comedy|Drama\n" for i in range(1, N_ITEMS + 1)).encode("latin-1"))


def write_recbole(folder):
    folder.mkdir()
    rows = "".join(f"u{u}\ti{i}\t{r}.0\t{t}\n" for u, i, r, t in interactions(2))
    (folder / "shop.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + rows)
    (folder / "shop.item").write_text("item_id:token\ttitle:token_seq\tcategories:token_seq\n" + "".join(
        f"i{i}\tgadget number {i}\telectronics audio\n" for i in range(1, N_ITEMS + 1)))


def write_sasrec(folder):
    folder.mkdir()
    (folder / "seq.txt").write_text("".join(f"{u} {i}\n" for u, i, _, _ in interactions(3)))


@pytest.mark.slow
def test_real_format_plan_runs_end_to_end(tmp_path):
    for name, writer in [("ml100k", write_ml100k), ("ml1m", write_ml1m), ("rb", write_recbole), ("sr", write_sasrec)]:
        writer(tmp_path / name)
    config = parse_config({
        "name": "formats",
        "results_dir": str(tmp_path / "results"),
        "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 200, "ctr_finetune_rows": 3000, "seq_test_users": 50, "seq_valid_users": 50,
                     "latency_sample": 3, "latency_warmup": 1},
        "datasets": {
            "ml100k": {"adapter": "movielens-100k", "path": str(tmp_path / "ml100k")},
            "ml1m": {"adapter": "movielens-1m", "path": str(tmp_path / "ml1m")},
            "rb": {"adapter": "recbole", "path": str(tmp_path / "rb"), "dataset": "shop"},
            "sr": {"adapter": "sasrec", "path": str(tmp_path / "sr" / "seq.txt")},
        },
        "tasks": ["ctr", {"name": "seqrec", "candidates": "full"}, {"name": "seqrec", "candidates": "sampled-100"}],
        "models": ["random", "most-popular"],
    })
    report = run_plan(config)
    assert not report.failed
    results = [read_result(p) for p in report.written]
    assert len(results) == 4 * 3 * 2
    assert {r["task"]["dataset"]["name"] for r in results} == {"ml100k", "ml1m", "rb", "sr"}
    assert {r["task"]["dataset"]["source"]["adapter"] for r in results} == {
        "movielens-100k", "movielens-1m", "recbole", "sasrec"}
    assert all(r["status"] == "ok" for r in results)


def write_record_formats(root):
    """The same kind of log in each record-file format (gzipped where users keep it so)."""
    import gzip
    import json

    def gz(path, text):
        path.write_bytes(gzip.compress(text.encode()))

    log = list(interactions(4))
    gz(root / "Toys_5.json.gz", "".join(json.dumps({"reviewerID": f"A{u}", "asin": f"B{i:04d}", "overall": float(r),
                                                    "unixReviewTime": t}) + "\n" for u, i, r, t in log))
    gz(root / "meta_Toys.json.gz", "".join(repr({"asin": f"B{i:04d}", "title": f"toy {i}", "category": ["Toys"],
                                                 "description": [f"Toy number {i}."]}) + "\n"
                                           for i in range(1, N_ITEMS + 1)))
    (root / "All_Toys.jsonl").write_text("".join(json.dumps(
        {"user_id": f"AG{u}", "parent_asin": f"P{i}", "rating": float(r), "timestamp": 1000 * t}) + "\n"
        for u, i, r, t in log))
    mind = root / "MINDsmall"
    mind.mkdir()
    (mind / "behaviors.tsv").write_text("".join(
        f"{n}\tU{u}\t11/{1 + t % 28}/2019 {1 + t % 12}:00:{t % 60:02d} {'AM' if t % 2 else 'PM'}\tN1 N2\t"
        f"N{i}-1 N{1 + (i * 7) % N_ITEMS}-0 N{1 + (i * 13) % N_ITEMS}-0\n" for n, (u, i, _, t) in enumerate(log)))
    (mind / "news.tsv").write_text("".join(f"N{i}\tnews\tworld\tHeadline {i}\tAbstract {i}.\turl\t[]\t[]\n"
                                           for i in range(1, N_ITEMS + 1)))
    (root / "Beauty.txt").write_text("".join(f"{u} " + " ".join(str(i) for v, i, _, _ in log if v == u) + "\n"
                                             for u in range(1, N_USERS + 1)))
    gz(root / "goodreads_interactions_poetry.json.gz", "".join(json.dumps(
        {"user_id": f"g{u}", "book_id": str(i), "is_read": True, "rating": r,
         "date_added": f"Fri Sep 08 10:{t % 60:02d}:{t % 7:02d} -0700 2017"}) + "\n" for u, i, r, t in log))
    gz(root / "steam_reviews.json.gz", "".join(repr(
        {"username": f"gamer {u}", "product_id": str(i), "date": f"2017-{1 + t % 12:02d}-{1 + t % 28:02d}",
         "text": "fun"}) + "\n" for u, i, _, t in log))
    gz(root / "steam_games.json.gz", "".join(repr({"id": str(i), "app_name": f"Game {i}", "genres": ["Action"],
                                                   "publisher": "Valve"}) + "\n" for i in range(1, N_ITEMS + 1)))


@pytest.mark.slow
def test_record_format_plan_runs_end_to_end(tmp_path):
    write_record_formats(tmp_path)
    plan = f"""
name: record-formats
results_dir: {tmp_path / "results"}
cache_dir: {tmp_path / "cache"}
protocol: {{ctr_test_rows: 200, ctr_finetune_rows: 1000, latency_sample: 3, latency_warmup: 1}}
datasets:
  amazon18: {{adapter: amazon-2018, path: {tmp_path / "Toys_5.json.gz"}, meta: {tmp_path / "meta_Toys.json.gz"}}}
  amazon23: {{adapter: amazon-2023, path: {tmp_path / "All_Toys.jsonl"}}}
  mind: {{adapter: mind, path: {tmp_path / "MINDsmall"}, history: true}}
  s3rec: {{adapter: s3rec, path: {tmp_path / "Beauty.txt"}}}
  goodreads: {{adapter: goodreads, path: {tmp_path / "goodreads_interactions_poetry.json.gz"}, read_only: true}}
  steam: {{adapter: steam, path: {tmp_path / "steam_reviews.json.gz"}, games: {tmp_path / "steam_games.json.gz"}}}
tasks: [ctr]
models: [most-popular]
"""
    (tmp_path / "plan.yaml").write_text(plan)
    report = run_plan(load_config(tmp_path / "plan.yaml"))
    assert not report.failed
    results = [read_result(p) for p in report.written]
    assert len(results) == 6 and all(r["status"] == "ok" for r in results)
    assert {r["task"]["dataset"]["source"]["adapter"] for r in results} == {
        "amazon-2018", "amazon-2023", "mind", "s3rec", "goodreads", "steam"}
