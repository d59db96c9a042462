"""Parity with RecBole (issue 9 §4): the same split, matched hyper-parameters, both harnesses.

    make parity                      # or:
    .venv/bin/python scripts/parity_recbole.py [--models sasrec,gru4rec,bert4rec] [--epochs N]

1. ml-100k is read from the atomic files that ship inside the recbole package (in .venv-recbole)
   through RecBoard's own RecBole adapter, and RecBoard's leave-one-out next-item split is built
   (protocol recboard-v1, its default fields).
2. That split is exported as RecBole benchmark files (`benchmark_filename: [train, valid, test]`,
   rows `user_id, item_id_list, item_id`): one training row per next-item target of RecBoard's
   training windows, with exactly the history RecBoard's model sees for it (the items before it
   in its window); the valid and test rows are RecBoard's valid and test requests.
3. Each model trains in RecBoard (this virtualenv) and in RecBole (.venv-recbole, a subprocess
   running parity_recbole_worker.py) with matched hyper-parameters, early stopping on the same
   validation metric (NDCG@10, whole catalogue, seen items masked), and the best epoch's weights.
4. Both harnesses' test scores over the whole catalogue are evaluated by RecBoard's seqrec task
   (full mode: each user's earlier items masked) and, as RecBole evaluates sequential models,
   without masking. Epoch seconds: training only (validation excluded), wall clock and process
   CPU time, both harnesses on the same number of threads, one after the other in one run.

Writes <out>/parity.md (also printed) and <out>/parity.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the checkout's packages, not an installed copy
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import models.layers.train as train_loop  # noqa: E402
from benchmark.data.loaders import load_recbole  # noqa: E402
from benchmark.metrics import per_user_ranking_metrics, rank_positions  # noqa: E402
from benchmark.protocol import ProtocolSpec, TaskData  # noqa: E402
from benchmark.protocol.taskdata import build_one  # noqa: E402
from benchmark.registry import get_model  # noqa: E402
from tasks.seqrec import SeqRecTask  # noqa: E402

DATASET = "ml100k_parity"  # not "ml-100k": RecBole would overlay its own ml-100k.yaml

# Shared hyper-parameters; each model maps them onto both harnesses' argument names below.
COMMON = {"window": 20, "hidden": 64, "dropout": 0.2, "lr": 1e-3, "batch_size": 64, "patience": 3}

MODELS: dict[str, dict[str, Any]] = {
    "sasrec": {
        "recbole_model": "SASRec",
        "recboard": lambda c: {"hidden": c["hidden"], "blocks": 2, "heads": 1, "dropout": c["dropout"],
                               "window": c["window"]},
        # inner_size = hidden and ReLU: RecBoard's point-wise feed-forward net is hidden→hidden, ReLU.
        "recbole": lambda c: {"n_layers": 2, "n_heads": 1, "hidden_size": c["hidden"], "inner_size": c["hidden"],
                              "hidden_dropout_prob": c["dropout"], "attn_dropout_prob": c["dropout"],
                              "hidden_act": "relu", "layer_norm_eps": 1e-5, "initializer_range": 0.02},
    },
}


def recbole_package_dir(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import os, recbole; print(os.path.dirname(recbole.__file__))"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def training_rows(td: TaskData) -> list[tuple[int, list[int], int]]:
    """(user, history, target) for every next-item target of RecBoard's training windows, the
    history being what RecBoard's model sees for that target: the earlier items of its window."""
    rows = []
    for user, items in zip(td.column("train", "user"), td.column("train", "items")):
        for k in range(1, len(items)):
            rows.append((int(user), list(items[:k]), int(items[k])))
    return rows


def write_inter(path: Path, rows: list[tuple[int, list[int], int]]) -> None:
    with path.open("w") as f:
        f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
        for user, history, target in rows:
            f.write(f"{user}\t{' '.join(map(str, history))}\t{target}\n")


def export_benchmark(td: TaskData, folder: Path) -> dict[str, int]:
    """RecBole benchmark files <folder>/<DATASET>.{train,valid,test}.inter of RecBoard's split."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("valid", "test"):
        rows = [(int(u), list(h), int(t)) for u, h, t in
                zip(td.column(split, "user"), td.column(split, "history"), td.column(split, "target"))]
        write_inter(folder / f"{DATASET}.{split}.inter", rows)
        counts[split] = len(rows)
    rows = training_rows(td)
    write_inter(folder / f"{DATASET}.train.inter", rows)
    counts["train"] = len(rows)
    return counts


def metrics_of(td: TaskData, scores: np.ndarray) -> dict[str, float]:
    """NDCG@10 and HR@10 of test scores (n_test, n_items): masked as RecBoard's full mode masks
    (each user's earlier items), and unmasked as RecBole ranks sequential models."""
    task = SeqRecTask("full")
    requests = task.requests(td)
    masked = task.evaluate(td, task.check(scores, requests, td.n_items)).metrics
    greater, equal = rank_positions(scores, np.asarray(td.column("test", "target"), dtype=np.int64))
    plain = {k: float(np.mean(v)) for k, v in per_user_ranking_metrics(greater, equal, (10,)).items()}
    return {"ndcg@10": masked["ndcg@10"], "hr@10": masked["hr@10"],
            "ndcg@10_unmasked": plain["ndcg@10"], "hr@10_unmasked": plain["hr@10"]}


@contextlib.contextmanager
def timed_validation(valid_seconds: list[float]) -> Iterator[None]:
    """Record the seconds of each validation pass of RecBoard's training loop, so epoch times can
    leave validation out (RecBole's per-epoch training time does too)."""
    original = train_loop._train

    def wrapper(module, n_examples, loss_fn, evaluate, **kwargs):
        if evaluate is not None:
            inner = evaluate

            def evaluate() -> float:
                start = time.perf_counter()
                try:
                    return inner()
                finally:
                    valid_seconds.append(time.perf_counter() - start)

        return original(module, n_examples, loss_fn, evaluate, **kwargs)

    train_loop._train = wrapper
    try:
        yield
    finally:
        train_loop._train = original


def run_recboard(key: str, args: dict[str, Any], td: TaskData, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    task = SeqRecTask("full")
    model = get_model(key)(**args)
    model.setup(td.catalogue, seed)
    valid_seconds: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with timed_validation(valid_seconds):
        model.fit(task.fit_data(td))
    fit_wall, fit_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    log = model.train_log
    epochs = len(log.losses)
    scores = model.rank(task.requests(td))
    train_wall = log.seconds - sum(valid_seconds)
    return scores, {
        "epochs_run": epochs, "best_epoch": log.best_epoch, "best_valid_ndcg@10": log.best,
        "fit_seconds": fit_wall, "epoch_seconds": train_wall / epochs,
        # CPU time of the whole fit less validation, scaled by the wall share of training
        "epoch_cpu_seconds": fit_cpu * (train_wall / fit_wall) / epochs,
        "num_parameters": model.num_parameters(), "args": args,
    }


def run_recbole(python: Path, model: str, config: dict[str, Any], td: TaskData, data_path: Path, work: Path,
                threads: int) -> tuple[np.ndarray, dict[str, Any]]:
    out = work / f"recbole-{model}"
    out.mkdir(parents=True, exist_ok=True)
    job = {
        "model": model, "dataset": DATASET, "config": config, "threads": threads, "n_items": td.n_items,
        "out": str(out),
        **{split: {"user": list(td.column(split, "user")), "target": list(td.column(split, "target")),
                   "seen": list(td.column(split, "seen"))} for split in ("valid", "test")},
    }
    (out / "job.json").write_text(json.dumps(job))
    worker = Path(__file__).with_name("parity_recbole_worker.py")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    cmd = ["/usr/bin/time", "-f", "%U %S", "-o", str(out / "cpu.txt")] if Path("/usr/bin/time").exists() else []
    proc = subprocess.run([*cmd, str(python), str(worker), str(out / "job.json")], cwd=out, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"RecBole worker failed for {model} (exit {proc.returncode})")
    result = json.loads((out / "result.json").read_text())
    epochs = result["epochs_run"]
    train_wall = sum(result["train_seconds"])
    result["epoch_seconds"] = train_wall / epochs
    if (out / "cpu.txt").exists():  # whole process CPU, scaled by the wall share of training
        user, sys_ = map(float, (out / "cpu.txt").read_text().split()[-2:])
        result["epoch_cpu_seconds"] = (user + sys_) * (train_wall / result["fit_seconds"]) / epochs
    return np.load(out / "scores_test.npy"), result


def recbole_config(model: dict[str, Any], c: dict[str, Any], data_path: Path, work: Path, batch: int,
                   epochs: int, seed: int) -> dict[str, Any]:
    return {
        **model["recbole"](c),
        "data_path": str(data_path), "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": None, "RATING_FIELD": None,
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "alias_of_item_id": ["item_id_list"],  # history ids share the target ids' numbering
        "MAX_ITEM_LIST_LENGTH": c["window"],
        "loss_type": "CE", "train_neg_sample_args": None,
        "epochs": epochs, "train_batch_size": batch, "eval_batch_size": 1024, "learning_rate": c["lr"],
        "weight_decay": 0.0,
        # RecBole stops once more than stopping_step epochs in a row fail to improve; RecBoard once patience do.
        "stopping_step": c["patience"] - 1, "eval_step": 1, "valid_metric": "NDCG@10",
        "metrics": ["Hit", "NDCG"], "topk": [10],
        "eval_args": {"order": "TO", "mode": "full", "group_by": "user"},
        "seed": seed, "reproducibility": True, "use_gpu": False, "device": "cpu", "show_progress": False,
        "checkpoint_dir": str(work / f"recbole-{model['recbole_model']}" / "saved"), "state": "WARNING",
        "save_dataset": False, "save_dataloaders": False, "log_wandb": False,
    }


def fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def rel(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.1f}%" if b else "—"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| model | harness | NDCG@10 | HR@10 | Δ NDCG vs RecBole | Δ HR vs RecBole | NDCG@10 unmasked | "
            "HR@10 unmasked | epochs (best) | s/epoch | CPU s/epoch | s/epoch ratio RecBoard/RecBole |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        for side in ("recboard", "recbole"):
            m, t = r[side]["metrics"], r[side]["train"]
            other = r["recbole"]["metrics"]
            ratio = r["recboard"]["train"]["epoch_seconds"] / r["recbole"]["train"]["epoch_seconds"]
            lines.append(
                f"| {r['model']} | {'RecBoard' if side == 'recboard' else 'RecBole'} | {fmt(m['ndcg@10'])} | "
                f"{fmt(m['hr@10'])} | {rel(m['ndcg@10'], other['ndcg@10']) if side == 'recboard' else ''} | "
                f"{rel(m['hr@10'], other['hr@10']) if side == 'recboard' else ''} | {fmt(m['ndcg@10_unmasked'])} | "
                f"{fmt(m['hr@10_unmasked'])} | {t['epochs_run']} ({t['best_epoch']}) | {fmt(t['epoch_seconds'], 2)} | "
                f"{fmt(t.get('epoch_cpu_seconds'), 2)} | {fmt(ratio, 3) if side == 'recboard' else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs (early stopping: patience 3)")
    p.add_argument("--recbole-python", default=str(ROOT / ".venv-recbole/bin/python"))
    p.add_argument("--out", default="results-parity")
    p.add_argument("--threads", type=int, default=1, help="torch threads, the same in both harnesses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-work", action="store_true", help="keep the benchmark files and RecBole's logs")
    a = p.parse_args(argv)
    keys = [k for k in a.models.split(",") if k]
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        p.error(f"unknown models {unknown}; known: {list(MODELS)}")
    torch.set_num_threads(a.threads)
    python = Path(a.recbole_python)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parity-", dir=out))
    started = time.perf_counter()
    try:
        source = recbole_package_dir(python) / "dataset_example" / "ml-100k"
        ds = load_recbole(source, name="ml-100k")
        spec = ProtocolSpec()
        td = build_one(ds, spec, "seqrec", cache_dir=None)
        c = {**COMMON}
        counts = export_benchmark(td, work / "data" / DATASET)
        n_windows = td.splits["train"].num_rows
        # One RecBoard example is a window of up to `window` targets, one RecBole row one target:
        # RecBole's batch holds as many targets as RecBoard's, so both take as many steps an epoch.
        recbole_batch = round(c["batch_size"] * counts["train"] / n_windows)
        print(f"ml-100k from {source}: {ds.n_users} users, {ds.n_items} items, {len(ds.interactions)} interactions; "
              f"split: {n_windows} training windows = {counts['train']} targets, {counts['valid']} valid, "
              f"{counts['test']} test users", flush=True)
        rows = []
        for key in keys:
            model = MODELS[key]
            rb_args = {**model["recboard"](c), "epochs": a.epochs, "batch_size": c["batch_size"], "lr": c["lr"],
                       "patience": c["patience"], "device": "cpu"}
            print(f"[{key}] RecBoard ...", flush=True)
            scores, rb_train = run_recboard(key, rb_args, td, a.seed)
            rb = {"metrics": metrics_of(td, scores), "train": rb_train}
            print(f"[{key}] RecBoard: {rb['metrics']} {rb_train['epochs_run']} epochs, "
                  f"{rb_train['epoch_seconds']:.2f} s/epoch", flush=True)
            print(f"[{key}] RecBole {model['recbole_model']} ...", flush=True)
            config = recbole_config(model, c, work / "data", work, recbole_batch, a.epochs, a.seed)
            scores, bole_train = run_recbole(python, model["recbole_model"], config, td, work / "data", work,
                                             a.threads)
            bole_train["config"] = config
            bole = {"metrics": metrics_of(td, scores), "train": bole_train}
            print(f"[{key}] RecBole: {bole['metrics']} {bole_train['epochs_run']} epochs, "
                  f"{bole_train['epoch_seconds']:.2f} s/epoch", flush=True)
            rows.append({"model": key, "recboard": rb, "recbole": bole})
    finally:
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    command = shlex.join([".venv/bin/python", "scripts/parity_recbole.py", *(argv if argv is not None else sys.argv[1:])])
    versions = rows[0]["recbole"]["train"]["versions"] if rows else {}
    md = "\n".join([
        "# Parity with RecBole",
        "",
        f"Command: `{command}` (run by `make parity`), {time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - started:.0f} s in all, on {platform.machine()} with {a.threads} torch thread(s) "
        f"in each harness; RecBole {versions.get('recbole', '?')} (torch {versions.get('torch', '?')}, "
        f"numpy {versions.get('numpy', '?')}), RecBoard torch {torch.__version__}, numpy {np.__version__}.",
        "",
        f"Data: ml-100k as shipped in the recbole package, read by RecBoard's RecBole adapter; RecBoard's "
        f"leave-one-out split (protocol {spec.name}, window {spec.window}): {n_windows} training windows = "
        f"{counts['train']} next-item targets, {counts['valid']} validation and {counts['test']} test users, "
        f"the same rows in both harnesses. Shared hyper-parameters: {json.dumps(c)}; at most {a.epochs} epochs; "
        f"RecBole's batch is {recbole_batch} single-target rows (as many targets per step as RecBoard's "
        f"{c['batch_size']} windows). Loss: cross-entropy over the whole catalogue, no negatives.",
        "",
        "NDCG@10 / HR@10: whole catalogue, each user's earlier items masked (RecBoard's `full` mode), both "
        "harnesses' scores evaluated by RecBoard's seqrec task; the unmasked columns rank as RecBole ranks "
        "sequential models. Epoch seconds: training only (validation excluded); ratio < 1: RecBoard is faster.",
        "",
        table(rows),
        "",
    ])
    print(md)
    (out / "parity.md").write_text(md)
    (out / "parity.json").write_text(json.dumps({"command": command, "common": c, "epochs": a.epochs,
                                                 "threads": a.threads, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
