"""The `recboard` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.runner.config import load_config
    from benchmark.runner.run import run_plan
    from benchmark.validate import run_tiny

    config = load_config(args.config)
    if args.results:
        config.results_dir = Path(args.results)
    report = run_plan(config, validate_submission=run_tiny)
    print(f"{config.name}: {len(report.written)} run(s) written to {config.results_dir}, "
          f"{len(report.skipped)} skipped (complete), {len(report.failed)} failed"
          + (f", {len(report.invalid_submissions)} invalid submission(s) skipped" if report.invalid_submissions else ""))
    for run_id in report.failed:
        print(f"  failed: {run_id} (see {config.results_dir / (run_id + '.json')})")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from leaderboard.build import build

    built = build(args.results, args.out)
    for s in built.skipped:
        print(f"recboard leaderboard: skipped {s.path}: {s.reason}", file=sys.stderr)
    for n in built.notices:
        print(f"recboard leaderboard: warning: {n.path}: {n.reason}", file=sys.stderr)
    print(f"leaderboard written to {built.index}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmark.compare import compare_runs, format_comparison

    print(format_comparison(compare_runs(args.result_a, args.result_b, args.metric, args.n_boot, args.seed)))
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    from benchmark.exchange import write_requests
    from benchmark.runner.config import load_config
    from tasks import make_task

    config = load_config(args.config)
    if args.dataset not in config.datasets:
        raise SystemExit(f"{args.config}: no dataset {args.dataset!r}; defined: {sorted(config.datasets)}")
    task = make_task(args.task, **({"candidates": args.candidates} if args.task == "seqrec" else {}))
    _, n = write_requests(args.out, config.datasets[args.dataset], args.dataset, config.protocol, task,
                          config.cache_dir)
    print(f"{n} {task.label} request(s) written to {args.out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from benchmark.exchange import score_responses

    header, evaluation = score_responses(args.requests, args.responses, args.cache_dir)
    out = {"task": header["task"], "variant": header["variant"], "dataset": header["dataset_name"],
           "task_data_hash": header["task_data_hash"], "metrics": evaluation.metrics}
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from benchmark.validate import validate_submission

    sub, problems = validate_submission(args.folder)
    if problems:
        print(f"{args.folder}: INVALID ({len(problems)} problem(s))")
        for p in problems:
            print("  - " + p.replace("\n", "\n    "))
        return 1
    print(f"{args.folder}: OK — {sub.name!r} ({', '.join(sub.model_cls.meta.supports)}) ran on the tiny tasks")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from benchmark.registry import get_model, model_keys

    for key in model_keys():
        m = get_model(key).meta
        print(f"{key:22s} {m.paradigm:10s} {m.item_repr:8s} {m.scheme:10s} {','.join(m.supports)}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recboard", description="RecBoard benchmark harness")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a plan (YAML) and write one result file per run")
    r.add_argument("config")
    r.add_argument("--results", help="results folder (overrides the config's results_dir)")
    r.set_defaults(fn=cmd_run)
    lb = sub.add_parser("leaderboard", help="build the static leaderboard from result files")
    lb.add_argument("--results", default="results")
    lb.add_argument("--out", default="leaderboard/site")
    lb.set_defaults(fn=cmd_leaderboard)
    cp = sub.add_parser("compare", help="paired bootstrap test of two results on the same task data")
    cp.add_argument("result_a", help="result JSON of model A (its responses Parquet beside it)")
    cp.add_argument("result_b", help="result JSON of model B, on the same task data")
    cp.add_argument("--metric", help="metric to compare (default: the result's main metric)")
    cp.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the test users")
    cp.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    cp.set_defaults(fn=cmd_compare)
    rq = sub.add_parser("requests", help="write a task's test requests as JSONL")
    rq.add_argument("config")
    rq.add_argument("--dataset", required=True)
    rq.add_argument("--task", required=True, choices=["ctr", "seqrec"])
    rq.add_argument("--candidates", default="full", choices=["full", "sampled-100"])
    rq.add_argument("--out", required=True)
    rq.set_defaults(fn=cmd_requests)
    sc = sub.add_parser("score", help="score a JSONL of responses against a requests file")
    sc.add_argument("requests")
    sc.add_argument("responses")
    sc.add_argument("--cache-dir", default=".cache/recboard/taskdata")
    sc.set_defaults(fn=cmd_score)
    v = sub.add_parser("validate", help="check a submission folder on a tiny task")
    v.add_argument("folder")
    v.set_defaults(fn=cmd_validate)
    m = sub.add_parser("models", help="list registered models")
    m.set_defaults(fn=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from benchmark.compare import CompareError
    from benchmark.data import DataError
    from benchmark.exchange import ExchangeError
    from benchmark.protocol import ProtocolError
    from benchmark.registry import RegistryError
    from benchmark.runner.config import ConfigError
    from leaderboard.build import LeaderboardError
    from tasks import ResponseError

    try:
        return args.fn(args)
    except (ConfigError, DataError, ProtocolError, RegistryError, ExchangeError, ResponseError, CompareError,
            LeaderboardError) as e:
        print(f"recboard {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
