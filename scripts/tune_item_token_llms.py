"""Tune the item-token LLMs (llm-id, llm-sid) on a plan's validation users, never its test split.

Builds the plan's next-item task data (its first dataset and its protocol), fits each model
given on the fine-tune split exactly as a run would (adapters are cached, so a repeated setting
loads its adapter), ranks `--users` validation users of that split over the whole catalogue
(and, with --sampled, against 100 sampled items), and prints NDCG@10 beside most-popular's on
the same users with the paired bootstrap test over users, plus the fit and predict seconds:

    python scripts/tune_item_token_llms.py configs/default.yaml --users 200 \\
        --model 'llm-sid {"max_history": 5, "max_steps": 40, "train_batch_size": 8}'

Each --model is a registry key, optionally followed by its arguments as JSON. Threads are the
plan's. The validation users' earlier items are excluded from their rankings, as the test split's
are."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import models  # noqa: F401  (registers the models)
from benchmark.api import uses_prompts
from benchmark.data import load_dataset
from benchmark.protocol import build_task_data
from benchmark.registry import get_model
from benchmark.requests import RankRequest, TopK
from benchmark.runner.config import load_config
from benchmark.stats import paired_test
from tasks.seqrec import SeqRecTask


def ndcg_rows(answer: np.ndarray | TopK, candidates: np.ndarray | None, targets: np.ndarray,
              seen: list[tuple[int, ...]], k: int = 10) -> np.ndarray:
    """Per request NDCG@k of its target: in a TopK over the catalogue (seen items skipped, an
    unlisted target scores 0), or in dense scores over candidates (ties count as their
    expectation, as the task counts them)."""
    out = np.zeros(len(targets))
    for r, target in enumerate(targets.tolist()):
        if isinstance(answer, TopK):
            banned = set(seen[r])
            listed = [i for i in answer.items[r].tolist() if i >= 0 and i not in banned]
            rank = listed.index(target) if target in listed else None
            out[r] = 1.0 / np.log2(rank + 2.0) if rank is not None and rank < k else 0.0
        else:
            scores = np.asarray(answer[r], dtype=np.float64)
            t = scores[int(np.flatnonzero(candidates[r] == target)[0])]
            greater, equal = int((scores > t).sum()), int((scores == t).sum()) - 1
            out[r] = np.mean([1.0 / np.log2(greater + j + 2.0) if greater + j < k else 0.0 for j in range(equal + 1)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan")
    parser.add_argument("--model", action="append", required=True, help="KEY or 'KEY {json args}'")
    parser.add_argument("--users", type=int, default=200, help="validation users to rank")
    parser.add_argument("--sampled", action="store_true", help="also rank the target against 100 sampled items")
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()

    plan = load_config(opts.plan)
    if plan.threads:
        torch.set_num_threads(plan.threads)
    name, dataset_args = next(iter(plan.datasets.items()))
    ds = load_dataset(**dataset_args, name=name)
    td = build_task_data(ds, plan.protocol, ("seqrec",), cache_dir=plan.cache_dir)["seqrec"]
    task = SeqRecTask("full")
    data = task.fit_data(td)
    rng = np.random.default_rng([opts.seed, 7])
    pick = np.sort(rng.permutation(len(data.valid))[: opts.users])
    requests = [data.valid[i] for i in pick]
    targets = np.asarray(data.valid_targets)[pick]
    seen = [tuple(data.valid_seen[i]) + tuple(data.valid[i].history) for i in pick]
    modes = {"full": (requests, None)}
    if opts.sampled:
        cands = []
        for target, s in zip(targets.tolist(), seen):
            allowed = np.setdiff1d(np.arange(td.n_items), np.asarray(s + (target,), dtype=np.int64))
            cands.append(np.concatenate([[target], rng.choice(allowed, 100, replace=False)]))
        cands = np.stack(cands)
        modes["sampled-100"] = ([RankRequest(r.user, r.history, c) for r, c in zip(requests, cands)], cands)

    tables: dict[str, dict[str, np.ndarray]] = {}
    for spec in ["most-popular", *opts.model]:
        key, _, raw = spec.partition(" ")
        arguments = json.loads(raw) if raw.strip() else {}
        cls = get_model(key)
        model = cls(**arguments)
        if uses_prompts(cls.meta_for(arguments)):
            model.prompts = {"seqrec": task.prompt_for(cls.meta_for(arguments).item_repr).to_order()}
        start = time.perf_counter()
        model.setup(td.catalogue, opts.seed)
        model.fit(data)
        fit_s = time.perf_counter() - start
        line = [f"{spec}: fit {fit_s:.1f}s"]
        for mode, (reqs, cands) in modes.items():
            start = time.perf_counter()
            answer = model.rank(reqs)
            per_user = ndcg_rows(answer, cands, targets, seen)
            tables[f"{spec}|{mode}"] = {"user": np.asarray([r.user for r in reqs]), "ndcg@10": per_user}
            line.append(f"{mode} NDCG@10 {per_user.mean():.4f} ({time.perf_counter() - start:.1f}s)")
            if not spec.startswith("most-popular"):
                test = paired_test("seqrec", "ndcg@10", tables[f"{spec}|{mode}"], tables[f"most-popular|{mode}"])
                line.append(f"vs most-popular {test['diff']:+.4f} p={test['p']:.3f}")
        stats = model.extra_stats() if hasattr(model, "extra_stats") else {}
        if "train_steps" in stats:
            line.append(f"[train {stats['train_seconds']:.1f}s, {stats['train_steps']} steps, "
                        f"valid {stats['valid_history']}, cached {stats['adapter_cached']}]")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
