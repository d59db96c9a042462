"""Exact list-wise scoring (sampled-100), measured: the embedded SmolLM2 scores 101 candidate titles
per next-item prompt with `continuation_logprobs`, once the efficient way (prompt run once, the
candidates batched on copies of its KV cache) and once the naive way (prompt + title recomputed
for every candidate alone), on the same requests in one run. Prints the largest difference
between the two, the tokens each computed, their wall times and the ratios.

    python scripts/bench_listwise.py                 # 8 requests, both ways (a few minutes on CPU)
    python scripts/bench_listwise.py --naive-n 2     # naive on the first 2 only; per-request ratios
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark.data import load_dataset  # noqa: E402
from benchmark.llm import load_backend  # noqa: E402

HISTORY_LEN = 20
CANDIDATES = 101


def requests(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """`n` next-item requests from the synthetic dataset: a user's 20 items before their last one,
    and that last item among 100 sampled items it is not."""
    data = load_dataset(adapter="synthetic", n_users=200, n_items=1000, seed=0, name="s")
    titles = data.items["title"].tolist()
    inter = data.interactions.sort_values(["user", "timestamp"])
    rng = np.random.default_rng(seed)
    out = []
    for _, items in inter.groupby("user")["item"]:
        items = items.tolist()
        if len(items) < HISTORY_LEN + 1:
            continue
        history, target = items[-HISTORY_LEN - 1 : -1], items[-1]
        pool = np.setdiff1d(np.arange(len(titles)), [target])
        candidates = [target, *rng.choice(pool, CANDIDATES - 1, replace=False).tolist()]
        rng.shuffle(candidates)
        listing = "\n".join(f"{k + 1}. {titles[i]}" for k, i in enumerate(history))
        message = (
            f"A shopper bought these items, oldest first:\n{listing}\n"
            "Name the one item they will buy next. Answer with its title only."
        )
        out.append((message, [titles[i] for i in candidates]))
        if len(out) == n:
            return out
    raise SystemExit(f"the synthetic dataset has only {len(out)} users with {HISTORY_LEN + 1}+ items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=8, help="requests scored the efficient way (default 8)")
    parser.add_argument("--naive-n", type=int, default=None, help="of those, how many also run naively (default all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--normalize", choices=["mean", "sum"], default="mean")
    args = parser.parse_args()
    naive_n = args.n if args.naive_n is None else min(args.naive_n, args.n)

    backend = load_backend("hf", batch_size=args.batch_size)  # the embedded SmolLM2, CPU, float32
    reqs = [(backend.apply_chat(m), c) for m, c in requests(args.n)]
    print(f"{len(reqs)} requests x {CANDIDATES} candidates, {backend.count_tokens([reqs[0][0]])[0]} prompt tokens "
          f"in the first, batch_size {args.batch_size}, normalize {args.normalize!r}, naive on {naive_n}")
    backend.continuation_logprobs(reqs[0][0], reqs[0][1][:2])  # warm-up, not timed

    rows = []
    for i, (prompt, cands) in enumerate(reqs):
        backend.reset_counts()
        t = time.perf_counter()
        fast = backend.continuation_logprobs(prompt, cands, args.normalize)
        row = {"fast_s": time.perf_counter() - t, "fast_tok": backend.counts.computed_tokens, "fast": fast}
        if i < naive_n:
            backend.reset_counts()
            t = time.perf_counter()
            slow = backend.continuation_logprobs(prompt, cands, args.normalize, naive=True)
            row.update(naive_s=time.perf_counter() - t, naive_tok=backend.counts.computed_tokens,
                       diff=float(np.abs(fast - slow).max()))
        rows.append(row)
        line = f"request {i}: efficient {row['fast_tok']:>6} tokens {row['fast_s']:6.2f}s"
        if "naive_s" in row:
            line += (f" | naive {row['naive_tok']:>6} tokens {row['naive_s']:6.2f}s | max |diff| {row['diff']:.2e}"
                     f" | {row['naive_tok'] / row['fast_tok']:.1f}x tokens, {row['naive_s'] / row['fast_s']:.1f}x time")
        print(line, flush=True)

    both = rows[:naive_n]
    fast_tok, fast_s = sum(r["fast_tok"] for r in both), sum(r["fast_s"] for r in both)
    naive_tok, naive_s = sum(r["naive_tok"] for r in both), sum(r["naive_s"] for r in both)
    diff = max(r["diff"] for r in both)
    print(f"\nall {len(rows)} requests, efficient: {sum(r['fast_tok'] for r in rows)} tokens, "
          f"{sum(r['fast_s'] for r in rows):.2f}s")
    print(f"on the {naive_n} requests run both ways:")
    print(f"  efficient: {fast_tok} tokens computed, {fast_s:.2f}s")
    print(f"  naive:     {naive_tok} tokens computed, {naive_s:.2f}s")
    print(f"  ratios:    {naive_tok / fast_tok:.1f}x fewer tokens, {naive_s / fast_s:.1f}x faster")
    print(f"  agreement: max |efficient - naive| = {diff:.2e} ({args.normalize} log-prob)")
    ok = diff <= 1e-4 and naive_tok >= 10 * fast_tok and naive_s >= 5 * fast_s
    print("targets (agree within 1e-4, >= 10x fewer tokens, >= 5x faster):", "met" if ok else "NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
