"""Parity with RecBole (issue 9 §4): the same split, matched hyper-parameters, both harnesses.

    make parity                      # or:
    .venv/bin/python scripts/parity_recbole.py [--models sasrec,gru4rec,bert4rec] [--epochs N]

1. ml-100k is read from the atomic files that ship inside the recbole package (in .venv-recbole)
   through RecBoard's own RecBole adapter, and RecBoard's leave-one-out next-item split is built
   (protocol recboard-v1, its default fields).
2. That split is exported as RecBole benchmark files (`benchmark_filename: [train, valid, test]`,
   rows `user_id, item_id_list, item_id`). Training rows, for RecBole's next-item models (SASRec,
   GRU4Rec): one per next-item target of RecBoard's training windows, with exactly the history
   RecBoard's model sees for it (the items before it in its window); for its cloze model
   (BERT4Rec): the windows themselves (see training_rows). The valid and test rows are RecBoard's
   valid and test requests.
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
from benchmark.registry import get_model, model_keys  # noqa: E402
from benchmark.stats import paired_test  # noqa: E402
from tasks.seqrec import SeqRecTask  # noqa: E402

DATASET = "ml100k_parity"  # not "ml-100k", or RecBole would overlay its own ml-100k.yaml

# Shared by every model and both harnesses: the protocol's window, Adam's settings, the batch (of
# RecBoard training examples; RecBole's batch is sized to take as many steps an epoch) and early
# stopping on validation NDCG@10.
COMMON = {"window": 20, "lr": 1e-3, "batch_size": 64, "patience": 3}

# Each model's network arguments: RecBoard's defaults, and RecBole's names for the same network.
MODELS: dict[str, dict[str, Any]] = {
    "sasrec": {
        "recbole_model": "SASRec",
        "train_rows": "targets",
        "recboard": {"hidden": 64, "blocks": 2, "heads": 1, "dropout": 0.2},
        # inner_size = hidden and ReLU: RecBoard's point-wise feed-forward net is hidden→hidden, ReLU.
        "recbole": {"hidden_size": 64, "n_layers": 2, "n_heads": 1, "hidden_dropout_prob": 0.2,
                    "attn_dropout_prob": 0.2, "inner_size": 64, "hidden_act": "relu", "layer_norm_eps": 1e-5,
                    "initializer_range": 0.02},
    },
    "gru4rec": {
        "recbole_model": "GRU4Rec",
        "train_rows": "targets",
        "recboard": {"hidden": 64, "layers": 1, "dropout": 0.2},
        "recbole": {"embedding_size": 64, "hidden_size": 64, "num_layers": 1, "dropout_prob": 0.2},
    },
    "bert4rec": {
        "recbole_model": "BERT4Rec",
        # RecBole's BERT4Rec trains on the cloze task over item_id_list alone: its rows are
        # RecBoard's training windows themselves (window + 1 items), each twice (see training_rows).
        "train_rows": "windows",
        "recboard": {"hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.1, "mask_prob": 0.2},
        # BERT's feed-forward width 4 × hidden and GELU, as RecBoard's encoder layers; RecBole's
        # ft_ratio 0.5 (half the batches mask only the last item) matches RecBoard's one last-item
        # example per cloze example.
        "recbole": {"hidden_size": 64, "n_layers": 2, "n_heads": 2, "hidden_dropout_prob": 0.1,
                    "attn_dropout_prob": 0.1, "inner_size": 256, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
                    "initializer_range": 0.02, "mask_ratio": 0.2, "ft_ratio": 0.5},
    },
}


def recbole_package_dir(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import os, recbole; print(os.path.dirname(recbole.__file__))"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def training_rows(td: TaskData, mode: str) -> list[tuple[int, list[int], int]]:
    """(user, item_id_list, item_id) rows of RecBoard's training windows.

    `targets`: one row per next-item target, its history being what RecBoard's model sees for it
    (the earlier items of its window): RecBole's next-item models train on the last position of
    a row, RecBoard's on every position of a window, so both see the same (history, target) pairs.
    `windows`: each window whole, twice: RecBole's BERT4Rec ignores item_id and masks the list
    (a batch is either cloze-masked or last-item-masked, each with probability ft_ratio = 0.5),
    so two copies give the cloze and the last-item example per window that RecBoard's BERT4Rec
    trains on every epoch, in expectation."""
    rows = []
    for user, items in zip(td.column("train", "user"), td.column("train", "items")):
        items = list(items)
        if len(items) < 2:
            continue
        if mode == "windows":
            rows += [(int(user), items, items[-1])] * 2
        else:
            rows += [(int(user), items[:k], items[k]) for k in range(1, len(items))]
    return rows


def write_inter(path: Path, rows: list[tuple[int, list[int], int]]) -> None:
    with path.open("w") as f:
        f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
        for user, history, target in rows:
            f.write(f"{user}\t{' '.join(map(str, history))}\t{target}\n")


def export_benchmark(td: TaskData, data_path: Path, mode: str) -> tuple[str, int]:
    """RecBole benchmark files <data_path>/<name>/<name>.{train,valid,test}.inter of RecBoard's
    split, training rows as `mode` (training_rows) says; returns the dataset name and the number
    of training rows. The valid and test rows are RecBoard's requests, in order."""
    name = f"{DATASET}_{mode}"
    folder = data_path / name
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("valid", "test"):
        rows = [(int(u), list(h), int(t)) for u, h, t in
                zip(td.column(split, "user"), td.column(split, "history"), td.column(split, "target"))]
        write_inter(folder / f"{name}.{split}.inter", rows)
    rows = training_rows(td, mode)
    write_inter(folder / f"{name}.train.inter", rows)
    return name, len(rows)


def evaluate(td: TaskData, scores: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """NDCG@10 and HR@10 of test scores (n_test, n_items), masked as RecBoard's full mode masks
    (each user's earlier items) and unmasked as RecBole ranks sequential models; and the
    per-user columns of the masked evaluation (for the paired bootstrap)."""
    task = SeqRecTask("full")
    evaluation = task.evaluate(td, task.check(scores, task.requests(td), td.n_items))
    greater, equal = rank_positions(scores, np.asarray(td.column("test", "target"), dtype=np.int64))
    plain = {k: float(np.mean(v)) for k, v in per_user_ranking_metrics(greater, equal, (10,)).items()}
    metrics = {"ndcg@10": evaluation.metrics["ndcg@10"], "hr@10": evaluation.metrics["hr@10"],
               "ndcg@10_unmasked": plain["ndcg@10"], "hr@10_unmasked": plain["hr@10"]}
    return metrics, evaluation.per_example


@contextlib.contextmanager
def instrumented_training(record: dict[str, Any]) -> Iterator[None]:
    """Record the number of training examples RecBoard's training loop is given and the seconds of
    each of its validation passes, so epoch times can leave validation out (RecBole's per-epoch
    training time does too)."""
    original = train_loop._train
    record["valid_seconds"] = []

    def wrapper(module, n_examples, loss_fn, evaluate, **kwargs):
        record["n_examples"] = n_examples
        if evaluate is not None:
            inner = evaluate

            def evaluate() -> float:
                start = time.perf_counter()
                try:
                    return inner()
                finally:
                    record["valid_seconds"].append(time.perf_counter() - start)

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
    record: dict[str, Any] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with instrumented_training(record):
        model.fit(task.fit_data(td))
    fit_wall, fit_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    log = model.train_log
    epochs = len(log.losses)
    scores = model.rank(task.requests(td))
    train_wall = log.seconds - sum(record["valid_seconds"])
    return scores, {
        "epochs_run": epochs, "best_epoch": log.best_epoch, "best_valid_ndcg@10": log.best,
        "valid_history": log.history, "fit_seconds": fit_wall, "epoch_seconds": train_wall / epochs,
        # the fit's CPU time, scaled by the share of its wall time spent training
        "epoch_cpu_seconds": fit_cpu * (train_wall / fit_wall) / epochs,
        "train_examples": record["n_examples"],
        "steps_per_epoch": math.ceil(record["n_examples"] / args["batch_size"]),
        "num_parameters": model.num_parameters(), "args": args,
    }


def run_recbole(python: Path, config: dict[str, Any], td: TaskData, work: Path,
                threads: int) -> tuple[np.ndarray, dict[str, Any]]:
    out = work / f"recbole-{config['model']}"
    out.mkdir(parents=True, exist_ok=True)
    job = {
        "model": config["model"], "dataset": config["dataset"], "config": config, "threads": threads, "n_items": td.n_items,
        "out": str(out),
        **{split: {"user": list(td.column(split, "user")), "target": list(td.column(split, "target")),
                   "seen": list(td.column(split, "seen"))} for split in ("valid", "test")},
    }
    (out / "job.json").write_text(json.dumps(job))
    worker = Path(__file__).with_name("parity_recbole_worker.py")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    proc = subprocess.run([str(python), str(worker), str(out / "job.json")], cwd=out, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"RecBole worker failed for {config['model']} (exit {proc.returncode})")
    result = json.loads((out / "result.json").read_text())
    epochs = result["epochs_run"]
    train_wall = sum(result["train_seconds"])
    result["epoch_seconds"] = train_wall / epochs
    result["epoch_cpu_seconds"] = result["fit_cpu_seconds"] * (train_wall / result["fit_seconds"]) / epochs
    return np.load(out / "scores_test.npy"), result


def recbole_config(model: dict[str, Any], c: dict[str, Any], dataset: str, data_path: Path, work: Path,
                   batch: int, epochs: int, seed: int) -> dict[str, Any]:
    return {
        "model": model["recbole_model"], "dataset": dataset, **model["recbole"],
        "data_path": str(data_path), "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": None, "RATING_FIELD": None,
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "alias_of_item_id": ["item_id_list"],  # history ids share the target ids' numbering
        # a whole window is window + 1 items (RecBoard's BERT4Rec also sees window + 1 positions)
        "MAX_ITEM_LIST_LENGTH": c["window"] + (model["train_rows"] == "windows"),
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


def pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "harness", "NDCG@10", "HR@10", "NDCG@10 vs RecBole (95% CI)", "HR@10 vs RecBole (95% CI)",
            "NDCG@10 unmasked", "HR@10 unmasked", "epochs run (best)", "s/epoch", "CPU s/epoch",
            "s/epoch ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['model']} | — | {r['skipped']} |" + " |" * (len(head) - 3))
            continue
        for side in ("recboard", "recbole"):
            m, t = r[side]["metrics"], r[side]["train"]
            compare = ["", ""]
            ratio = ""
            if side == "recboard":
                compare = [f"{pct(d['rel'])} ({pct(d['rel_lo'])} … {pct(d['rel_hi'])})"
                           for d in (r["paired"]["ndcg@10"], r["paired"]["hr@10"])]
                ratio = fmt(t["epoch_seconds"] / r["recbole"]["train"]["epoch_seconds"], 3)
            cells = [r["model"], "RecBoard" if side == "recboard" else "RecBole", fmt(m["ndcg@10"]), fmt(m["hr@10"]),
                     *compare, fmt(m["ndcg@10_unmasked"]), fmt(m["hr@10_unmasked"]),
                     f"{t['epochs_run']} ({t['best_epoch']})", fmt(t["epoch_seconds"], 2),
                     fmt(t["epoch_cpu_seconds"], 2), ratio]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(columns_a: dict[str, np.ndarray], columns_b: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """RecBoard − RecBole on the same test users, as a fraction of RecBole's value, with its 95%
    paired-bootstrap interval (users resampled, 2000 replicates)."""
    out = {}
    for metric in ("ndcg@10", "hr@10"):
        d = paired_test("seqrec", metric, columns_a, columns_b, n_boot=2000, seed=seed)
        out[metric] = {**d, "rel": d["diff"] / d["b"], "rel_lo": d["lo"] / d["b"], "rel_hi": d["hi"] / d["b"]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--epochs", type=int, default=8,
                   help="at most this many epochs in both harnesses (8: about 12 minutes on an idle 2-core CPU)")
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
    out = Path(a.out).resolve()  # the RecBole worker runs in its own folder
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parity-", dir=out))
    started = time.perf_counter()
    c = dict(COMMON)
    rows: list[dict[str, Any]] = []
    try:
        source = recbole_package_dir(python) / "dataset_example" / "ml-100k"
        ds = load_recbole(source, name="ml-100k")
        spec = ProtocolSpec(window=c["window"])
        td = build_one(ds, spec, "seqrec", cache_dir=None)
        exports = {mode: export_benchmark(td, work / "data", mode) for mode in ("targets", "windows")}
        n_windows, n_targets = td.splits["train"].num_rows, exports["targets"][1]
        n_valid, n_test = td.splits["valid"].num_rows, td.splits["test"].num_rows
        print(f"ml-100k from {source}: {ds.n_users} users, {ds.n_items} items, {len(ds.interactions)} interactions; "
              f"split: {n_windows} training windows = {n_targets} targets, {n_valid} valid, {n_test} test users",
              flush=True)
        registered = set(model_keys())
        for key in keys:
            model = MODELS[key]
            if key not in registered:
                print(f"[{key}] not in this checkout's model registry: skipped", flush=True)
                rows.append({"model": key, "skipped": "not in this checkout's model registry"})
                continue
            rb_args = {**model["recboard"], "window": c["window"], "epochs": a.epochs, "batch_size": c["batch_size"],
                       "lr": c["lr"], "patience": c["patience"], "device": "cpu"}
            print(f"[{key}] RecBoard ...", flush=True)
            scores, rb_train = run_recboard(key, rb_args, td, a.seed)
            rb_metrics, rb_columns = evaluate(td, scores)
            print(f"[{key}] RecBoard: {rb_metrics}, {rb_train['epochs_run']} epochs, "
                  f"{rb_train['epoch_seconds']:.2f} s/epoch", flush=True)
            # As many Adam steps an epoch as RecBoard took, over RecBole's one-target rows.
            dataset, n_rows = exports[model["train_rows"]]
            batch = math.ceil(n_rows / rb_train["steps_per_epoch"])
            config = recbole_config(model, c, dataset, work / "data", work, batch, a.epochs, a.seed)
            print(f"[{key}] RecBole {model['recbole_model']} (batch {batch}) ...", flush=True)
            scores, bole_train = run_recbole(python, config, td, work, a.threads)
            bole_train["config"] = {k: v for k, v in config.items() if k not in ("data_path", "checkpoint_dir")}
            bole_metrics, bole_columns = evaluate(td, scores)
            print(f"[{key}] RecBole: {bole_metrics}, {bole_train['epochs_run']} epochs, "
                  f"{bole_train['epoch_seconds']:.2f} s/epoch", flush=True)
            rows.append({"model": key, "recboard": {"metrics": rb_metrics, "train": rb_train},
                         "recbole": {"metrics": bole_metrics, "train": bole_train},
                         "paired": paired(rb_columns, bole_columns, a.seed)})
    finally:
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    command = shlex.join(["make", "parity"] if argv is None and not sys.argv[1:] else
                         [".venv/bin/python", "scripts/parity_recbole.py",
                          *(argv if argv is not None else sys.argv[1:])])
    done = [r for r in rows if "skipped" not in r]
    versions = done[0]["recbole"]["train"]["versions"] if done else {}
    batches = ", ".join(f"{r['model']} {r['recbole']['train']['config']['train_batch_size']}" for r in done)
    md = "\n".join([
        "# Parity with RecBole",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s in all, "
        f"{platform.machine()} CPU, {a.threads} torch thread(s) in each harness; RecBole "
        f"{versions.get('recbole', '?')} (torch {versions.get('torch', '?')}, numpy {versions.get('numpy', '?')}), "
        f"RecBoard (torch {torch.__version__}, numpy {np.__version__}).",
        "",
        f"Data: ml-100k as shipped in the recbole package, read by RecBoard's RecBole adapter; RecBoard's "
        f"leave-one-out split (protocol {spec.name}, window {spec.window}), the same rows in both harnesses: "
        f"{n_windows} training windows = {n_targets} next-item targets, {n_valid} validation and {n_test} test "
        f"users (RecBole's rows: one per target for SASRec and GRU4Rec, each window twice for BERT4Rec). Shared: {json.dumps(c)}, at most {a.epochs} epochs, seed {a.seed}; "
        f"each model's network arguments are RecBoard's defaults (parity.json has both harnesses' full "
        f"arguments). RecBole's batch (rows of one target) is sized so that it takes as many Adam steps an "
        f"epoch as RecBoard: {batches}. Loss: cross-entropy over the whole catalogue, no sampled negatives.",
        "",
        "NDCG@10 / HR@10: whole catalogue, each user's earlier items masked (RecBoard's `full` mode); both "
        "harnesses' test scores go through RecBoard's seqrec evaluation, best validation epoch's weights. "
        "\"vs RecBole\": (RecBoard − RecBole) / RecBole with a 95% paired-bootstrap interval over test users. "
        "Unmasked columns: ranked as RecBole ranks sequential models. s/epoch: training only (validation "
        "excluded), wall clock; CPU s/epoch: process CPU time of the same; ratio = RecBoard / RecBole "
        "wall s/epoch (below 1: RecBoard is faster).",
        "",
        table(rows),
        "",
    ])
    print(md)
    (out / "parity.md").write_text(md)
    (out / "parity.json").write_text(json.dumps({"command": command, "common": c, "epochs": a.epochs,
                                                 "threads": a.threads, "seed": a.seed, "rows": rows},
                                                indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
