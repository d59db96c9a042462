"""A plan that points at local MovieLens-100K, MovieLens-1M, RecBole-atomic and SASRec-style folders
runs end to end (fixture files written here, in each format)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.results import read_result
from benchmark.runner.config import parse_config
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
