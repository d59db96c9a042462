"""Check, with the paired test over users, the model orderings that are known on the embedded
synthetic data, on the results of `make bench`, and print each cell's 95% CI half-width.

    python scripts/check_orderings.py results

Exits 1 when an ordering does not hold at p < 0.05 (or a result is missing).
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark import stats
from benchmark.compare import load_run

# (task label, [models, best first]) — the true order on the synthetic generator's data
ORDERINGS = [
    ("seqrec-sampled-100", ["oracle", "sasrec", "most-popular", "random"]),
    ("ctr", ["oracle", "dnn", "random"]),
]


def main(folder: str) -> int:
    runs: dict[tuple[str, str], tuple[dict, dict]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            result, table = load_run(path)
        except Exception:
            continue
        label = result["task"]["name"] + (f"-{result['task']['variant']}" if result["task"]["variant"] else "")
        runs[(result["model"]["key"], label)] = (result, table)
    print("cell CI half-widths (95%, users resampled):")
    for (model, label), (result, table) in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        point, lo, hi = stats.bootstrap_ci(result["task"]["name"], result["main_metric"], table)
        print(f"  {label:20s} {model:20s} {result['main_metric']}={point:.4f} ±{(hi - lo) / 2:.4f}")
    failures = 0
    for label, order in ORDERINGS:
        for better, worse in zip(order, order[1:]):
            if (better, label) not in runs or (worse, label) not in runs:
                print(f"MISSING {label}: {better} or {worse} has no ok result")
                failures += 1
                continue
            (a, ta), (b, tb) = runs[(better, label)], runs[(worse, label)]
            test = stats.paired_test(a["task"]["name"], a["main_metric"], ta, tb)
            ok = test["diff"] > 0 and test["p"] < 0.05
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {label}: {better} > {worse}: diff {test['diff']:+.4f} "
                  f"[{test['lo']:+.4f}, {test['hi']:+.4f}], p = {test['p']:.4f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results"))
