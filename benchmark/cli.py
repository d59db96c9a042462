"""The `recboard` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class ResultsFolderError(ValueError):
    pass


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
          + (f", {len(report.busy)} left to a concurrent runner" if report.busy else "")
          + (f", {len(report.invalid_submissions)} invalid submission(s) skipped" if report.invalid_submissions else ""))
    for run_id in report.failed:
        print(f"  failed: {run_id} (see {config.results_dir / (run_id + '.json')})")
    for folder in report.invalid_submissions:
        print(f"  invalid submission: {folder} (recboard validate {folder})")
    return 0 if report.ok else 1


def cmd_results_ls(args: argparse.Namespace) -> int:
    from benchmark.results import StaleResult, iter_results

    folder = Path(args.results)
    if not folder.is_dir():
        raise ResultsFolderError(f"{folder}: no such results folder")
    rows, problems = [], []
    for path, result in iter_results(folder):
        if isinstance(result, StaleResult):
            problems.append(f"stale    {path.name}: {result}")
        elif isinstance(result, Exception):
            problems.append(f"invalid  {path.name}: {result}")
        else:
            metric = result["main_metric"]
            value = result["metrics"].get(metric)
            rows.append((result["result_id"], result["status"], result["model"]["key"],
                         result["task"]["name"] + (f"-{result['task']['variant']}" if result["task"]["variant"] else ""),
                         result["task"]["dataset"]["name"], str(result["seed"]),
                         str(result["task"]["task_data_hash"]), f"{metric}={value:.4f}" if value is not None else "-"))
    header = ("result_id", "status", "model", "task", "dataset", "seed", "task_data", "main metric")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *sorted(rows, key=lambda r: r[2:6])]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for p in problems:
        print(p)
    print(f"{len(rows)} result(s), {len(problems)} stale or invalid file(s) in {folder}")
    return 0 if not problems else 1


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

    sub, meta, problems = validate_submission(args.folder, timeout_s=args.timeout)
    if problems:
        print(f"{args.folder}: INVALID ({len(problems)} problem(s))")
        for p in problems:
            print("  - " + p.replace("\n", "\n    "))
        return 1
    print(f"{args.folder}: OK — {sub.name!r} ({', '.join(meta.supports)}) ran on the tiny tasks")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from benchmark.registry import get_model, model_keys

    keys = model_keys()
    width = max(map(len, keys), default=0)
    for key in keys:
        m = get_model(key).meta
        print(f"{key:{width}s} {m.paradigm:10s} {m.item_repr:8s} {m.scheme:10s} {','.join(m.supports)}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from benchmark.data import load_dataset
    from benchmark.data.summary import describe

    options = {name: getattr(args, name) for name in _adapter_options() if getattr(args, name) is not None}
    print(describe(load_dataset(args.adapter, path=args.path, **options), k=args.core))
    return 0


def _adapter_options() -> dict[str, tuple[type, list[str]]]:
    """Each file adapter's options beyond `path`: {name: (type, adapters that take it)}."""
    import inspect

    from benchmark.data import ADAPTERS

    options: dict[str, tuple[type, list[str]]] = {}
    for adapter, load in ADAPTERS.items():
        if adapter == "synthetic":
            continue
        for p in list(inspect.signature(load).parameters.values())[1:]:
            kind = type(p.default) if isinstance(p.default, (bool, int, float)) else str
            options.setdefault(p.name, (kind, []))[1].append(adapter)
    return options


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return text.lower() in ("true", "yes", "1")


def parser() -> argparse.ArgumentParser:
    from benchmark.data import ADAPTERS

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
    rq.add_argument("--task", required=True, choices=["ctr", "seqrec", "uqa"])
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
    v.add_argument("--timeout", type=float, default=300, help="seconds before a hanging submission is stopped")
    v.set_defaults(fn=cmd_validate)
    rs = sub.add_parser("results", help="inspect a results folder")
    rs_sub = rs.add_subparsers(dest="results_command", required=True)
    ls = rs_sub.add_parser("ls", help="list results with their identity; report stale or invalid files")
    ls.add_argument("--results", default="results")
    ls.set_defaults(fn=cmd_results_ls)
    d = sub.add_parser("data", help="look at a dataset through its adapter")
    d_sub = d.add_subparsers(dest="data_command", required=True)
    di = d_sub.add_parser("inspect", help="read a dataset and print counts, text fields, a sample row and "
                                          "p-core statistics")
    di.add_argument("path", help="the file or folder the adapter reads")
    di.add_argument("--adapter", required=True, choices=[a for a in ADAPTERS if a != "synthetic"],
                    help="the adapter, as named in a plan's datasets: block")
    di.add_argument("--core", type=int, default=5, help="p of the p-core statistics (default 5)")
    for name, (kind, adapters) in _adapter_options().items():
        di.add_argument("--" + name.replace("_", "-"), dest=name, type=_boolean if kind is bool else kind,
                        metavar="BOOL" if kind is bool else None, help=f"option of {', '.join(adapters)}")
    di.set_defaults(fn=cmd_data_inspect)
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
            LeaderboardError, ResultsFolderError) as e:
        print(f"recboard {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
