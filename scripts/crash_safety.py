#!/usr/bin/env python
"""Crash safety, measured: kill `recboard run` at random moments, re-run it, check what is left.

    python scripts/crash_safety.py --trials 20 [--seed 0] [--quick] [--workdir DIR] [--keep]

1. A reference: one uninterrupted `recboard run` of a small plan (synthetic data, 150 users and
   200 items; ctr, seqrec full and sampled-100; random, most-popular, dnn and sasrec with one
   epoch each) into its own folder, watched to measure its timeline: when it first writes
   anything (task-data cache or results folder), how long each cache save lasts, and when its
   last result lands.
2. N kill trials, each in a fresh folder of its own (results and task-data cache, so each trial
   also builds the cache cold and is independent of the others): start `recboard run`, SIGKILL
   its process group at a moment drawn from `--seed`, then re-run it to completion. Moments:
     uniform  after the run's own first write, by a delay uniform over the reference's active
              window (its first write to its last result; before its first write a run leaves
              nothing behind, and start-up time varies too much to aim a kill from the start);
     cache    while the task-data cache is being saved (the k-th cache save seen, plus a delay
              uniform over that save's measured duration);
     write    while a file is being written to the results folder (the k-th one seen).
   After the re-run the results folder must hold exactly the reference's results: the same
   run ids, and for each the same status, result_id, task_data_hash and metrics (latency and
   timing naturally differ); every responses file must match the sha256 its JSON records (and
   the reference's); no `.tmp-*`, `.claim-*` or orphaned `*.responses.parquet` may remain; every
   file must parse; the re-run must write exactly the runs the killed one did not complete, and
   every task-data cache entry must load and match its recorded content hash.
3. A concurrent check: two `recboard run`s of the same plan started at once into one results
   folder (and one cold cache). Each run must be written by exactly one of them (their printed
   summaries' written counts add up to the plan's run count, and each run's line is printed by
   one runner only), and the folder must pass the same checks.
4. A same-pid check (where `unshare` may make PID namespaces): a run that is PID 1 of its own
   PID namespace, as in a container, killed while it writes a result, and re-run as PID 1 of a
   fresh namespace, as when the container restarts on the same results volume; same checks.

Prints one line per trial and a summary; exits 1 when anything was not clean. The workdir is
removed afterwards unless --keep is given or something was not clean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmark.results import RESPONSES_SUFFIX, TMP_PREFIX, ResultError, read_result, sha256_file  # noqa: E402
from benchmark.results.store import CLAIM_PREFIX  # noqa: E402

PROTOCOL = {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "seq_test_users": 40, "seq_valid_users": 40,
            "seq_finetune_sequences": 300, "latency_sample": 4, "latency_warmup": 1}
DATASET = {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 3}
TASKS = ["ctr", {"name": "seqrec", "candidates": "full"}, {"name": "seqrec", "candidates": "sampled-100"}]
FULL_MODELS = ["random", "most-popular", {"key": "dnn", "args": {"epochs": 1}},
               {"key": "sasrec", "args": {"epochs": 1}}]
QUICK_MODELS = ["random", "most-popular"]
COMPARED = ("status", "result_id", "metrics")  # plus task.task_data_hash and the responses' sha256

SUMMARY = re.compile(r"(\d+) run\(s\) written to .*?, (\d+) skipped \(complete\), (\d+) failed"
                     r"(?:, (\d+) left to a concurrent runner)?")
RUN_LINE = re.compile(r"^(\S+__seed\d+__[0-9a-f]{16}): ", re.M)
CACHE_REBUILT = "task-data cache"


# --- running recboard --------------------------------------------------------------------------

def write_plan(folder: Path, models: list) -> Path:
    """A plan whose results and task-data cache live in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = {"name": "crash-safety", "results_dir": str(folder / "results"), "cache_dir": str(folder / "cache"),
            "seeds": [0], "threads": 1, "protocol": PROTOCOL, "datasets": {"syn": DATASET}, "tasks": TASKS,
            "models": models}
    path = folder / "plan.yaml"
    path.write_text(json.dumps(plan, indent=2) + "\n")  # JSON is YAML
    return path


UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def start(plan: Path, log: Path, pid_namespace: bool = False) -> subprocess.Popen:
    """`recboard run plan` (this checkout's code) in its own process group, output to log.{out,err};
    with `pid_namespace`, as PID 1 of a new PID namespace, as in a container."""
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "benchmark.cli", "run", str(plan)]
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        return subprocess.Popen(UNSHARE + cmd if pid_namespace else cmd, cwd=REPO,
                                stdout=out, stderr=err, env=env, start_new_session=True)


def pid_namespaces() -> bool:
    """Whether this machine lets us start a process as PID 1 of a new PID namespace."""
    try:
        r = subprocess.run(UNSHARE + [sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and r.stdout.strip() == "1"


def kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@dataclass
class Summary:
    rc: int
    written: int
    skipped: int
    failed: int
    busy: int
    run_lines: list[str]
    stderr: str

    def __str__(self) -> str:
        busy = f", {self.busy} left to the other" if self.busy else ""
        return f"{self.written} written, {self.skipped} skipped, {self.failed} failed{busy}"


def summary(log: Path, rc: int) -> Summary | None:
    out, err = Path(f"{log}.out").read_text(), Path(f"{log}.err").read_text()
    m = SUMMARY.search(out)
    if m is None:
        return None
    return Summary(rc, int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), RUN_LINE.findall(err), err)


def listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


# --- checking a results folder -----------------------------------------------------------------

@dataclass
class Folder:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id → result
    complete: set[str] = field(default_factory=set)  # ok, with a responses file matching its hash
    problems: list[str] = field(default_factory=list)
    temp: int = 0
    claims: int = 0
    orphans: int = 0


def inspect_folder(folder: Path) -> Folder:
    """Parse every file in a results folder; what is there, and what is wrong with it."""
    import pyarrow.parquet as pq

    found = Folder()
    names = sorted(listdir(folder))
    for name in names:
        path = folder / name
        if name.startswith(TMP_PREFIX):
            found.temp += 1
            found.problems.append(f"temporary file left: {name}")
        elif name.startswith(CLAIM_PREFIX):
            found.claims += 1
            found.problems.append(f"claim left: {name}")
        elif name.endswith(RESPONSES_SUFFIX):
            if name[: -len(RESPONSES_SUFFIX)] + ".json" not in names:
                found.orphans += 1
                found.problems.append(f"orphaned responses file: {name}")
            try:
                pq.read_table(path)
            except Exception as e:
                found.problems.append(f"{name}: unreadable Parquet: {type(e).__name__}: {e}")
        elif name.endswith(".json"):
            try:
                result = read_result(path)
            except ResultError as e:
                found.problems.append(f"{name}: failed to parse: {e}")
                continue
            if result["run_id"] != path.stem:
                found.problems.append(f"{name}: holds run {result['run_id']!r}")
            found.results[result["run_id"]] = result
            ref = (result.get("outputs") or {}).get("responses")
            if ref is None:
                continue
            resp = folder / ref["file"]
            if not resp.exists():
                found.problems.append(f"{name}: its responses file {ref['file']} is missing")
            elif sha256_file(resp) != ref["sha256"]:
                found.problems.append(f"{name}: its responses file does not match the sha256 it records")
            elif result["status"] == "ok":
                found.complete.add(result["run_id"])
        else:
            found.problems.append(f"unexpected file: {name}")
    return found


def compared(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in COMPARED}
    out["task_data_hash"] = result["task"]["task_data_hash"]
    out["responses_sha256"] = ((result.get("outputs") or {}).get("responses") or {}).get("sha256")
    return out


def compare(found: Folder, reference: Folder) -> list[str]:
    """How a results folder differs from the reference (its problems included)."""
    problems = list(found.problems)
    missing = sorted(set(reference.results) - set(found.results))
    extra = sorted(set(found.results) - set(reference.results))
    problems += [f"missing result: {r}" for r in missing] + [f"result not in the reference: {r}" for r in extra]
    for run_id in sorted(set(found.results) & set(reference.results)):
        got, want = compared(found.results[run_id]), compared(reference.results[run_id])
        for key in want:
            if got[key] != want[key]:
                if key == "metrics":
                    diff = {m: (got[key].get(m), v) for m, v in want[key].items() if got[key].get(m) != v}
                    diff |= {m: (v, None) for m, v in got[key].items() if m not in want[key]}
                    problems.append(f"{run_id}: metrics differ from the reference (got, want): {diff}")
                else:
                    problems.append(f"{run_id}: {key} {got[key]!r} != reference {want[key]!r}")
    return problems


def check_cache(cache: Path) -> tuple[list[str], int]:
    """Every built entry loads and matches its content hash; also the number of temporary folders
    that killed builds left (harmless: never read, named by the dead process)."""
    import datasets

    from benchmark.protocol.taskdata import content_hash

    problems, litter = [], 0
    for name in sorted(listdir(cache)):
        if name.startswith(TMP_PREFIX):
            litter += 1
            continue
        try:
            meta = json.loads((cache / name / "recboard_meta.json").read_text())
            splits = datasets.load_from_disk(str(cache / name))
            plain = {s: split.to_dict() for s, split in splits.items()}
            if content_hash(plain, meta["inputs"]) != meta["content_hash"]:
                problems.append(f"cache entry {name}: content does not match its recorded hash")
        except Exception as e:
            problems.append(f"cache entry {name}: unreadable: {type(e).__name__}: {e}")
    return problems, litter


# --- the reference -----------------------------------------------------------------------------

@dataclass
class Reference:
    folder: Folder
    runs: int
    wall: float
    first_write: float  # seconds after start
    last_result: float
    cache_saves: list[float]  # each cache save's measured duration (its temporary folder's lifetime)
    result_writes: int  # files written to the results folder: two per run (responses, then JSON)

    @property
    def active(self) -> float:
        """From its first write to its last result."""
        return self.last_result - self.first_write


def reference_run(workdir: Path, models: list, poll: float = 0.0005) -> Reference:
    """One uninterrupted run, polled to measure when it writes what."""
    folder = workdir / "reference"
    plan = write_plan(folder, models)
    results, cache = folder / "results", folder / "cache"
    t0 = time.monotonic()
    proc = start(plan, folder / "run")
    first_write = last_result = None
    tmp_seen: dict[str, list[float]] = {}
    jsons: set[str] = set()
    while True:
        done = proc.poll() is not None
        now = time.monotonic() - t0
        if first_write is None and (cache.exists() or results.exists()):
            first_write = now
        for n in listdir(cache):
            if n.startswith(TMP_PREFIX):
                tmp_seen.setdefault(n, [now, now])[1] = now
        for n in listdir(results):
            if n.endswith(".json") and n not in jsons:
                jsons.add(n)
                last_result = now
        if done:
            break
        time.sleep(poll)
    wall = time.monotonic() - t0
    s = summary(folder / "run", proc.returncode)
    if proc.returncode != 0 or s is None or s.failed:
        raise SystemExit(f"the reference run failed (rc {proc.returncode}); see {folder}/run.err")
    found = inspect_folder(results)
    problems = found.problems + check_cache(cache)[0]
    if problems or len(found.complete) != s.written:
        raise SystemExit("the reference run left a folder that is not clean:\n  " + "\n  ".join(problems))
    saves = [b - a for a, b in tmp_seen.values()]
    saves += [0.01] * (len(listdir(cache)) - len(saves))  # saves too quick to be seen
    return Reference(found, s.written, wall, first_write or 0.0, last_result or wall, saves, 2 * s.written)


# --- a kill trial ------------------------------------------------------------------------------

@dataclass
class Moment:
    mode: str  # uniform | cache | write
    at: float = 0.0  # uniform: seconds after the run's first write
    nth: int = 1  # cache, write: kill at the n-th cache save / results file write seen
    delay: float = 0.0  # cache: then wait this long

    def __str__(self) -> str:
        if self.mode == "uniform":
            return f"uniform, first write +{self.at:4.2f} s"
        if self.mode == "cache":
            return f"cache save #{self.nth} +{self.delay * 1000:.0f} ms"
        return f"result write #{self.nth}"


def draw_moments(ref: Reference, trials: int, seed: int) -> list[Moment]:
    """Every 5th trial (from the 2nd) kills during a cache save, every 5th (from the 4th) during a
    result write, the rest uniformly over the reference's active window (first write to last result)."""
    rng = random.Random(seed)
    moments = []
    for i in range(trials):
        if i % 5 == 1 and ref.cache_saves:
            k = rng.randrange(len(ref.cache_saves))
            moments.append(Moment("cache", nth=k + 1, delay=rng.uniform(0, max(ref.cache_saves[k], 0.005))))
        elif i % 5 == 3 and ref.result_writes:
            moments.append(Moment("write", nth=rng.randint(1, ref.result_writes)))
        else:
            moments.append(Moment("uniform", at=rng.uniform(0, ref.active)))
    return moments


def kill_at(proc: subprocess.Popen, moment: Moment, results: Path, cache: Path, t0: float) -> float | None:
    """Kill the run at the moment; seconds after start when it was killed, None when it finished first.

    A uniform moment counts from the run's own first write, so the start-up time (imports), which
    varies from run to run, does not shift it out of the window. A cache (write) moment is the
    n-th cache save (results file write) seen starting, or seen finished when too quick to be
    seen in progress."""
    watched = cache if moment.mode == "cache" else results
    seen: set[str] = set()
    first_write = None
    while proc.poll() is None:
        now = time.monotonic()
        if moment.mode == "uniform":
            if first_write is None:
                if cache.exists() or results.exists():
                    first_write = now
            elif now - first_write >= moment.at:
                break
            time.sleep(0.0005 if first_write is None else min(0.005, max(0.0, first_write + moment.at - now)))
            continue
        names = listdir(watched)
        seen.update(n for n in names if n.startswith(TMP_PREFIX))
        if max(len(seen), sum(not n.startswith((TMP_PREFIX, CLAIM_PREFIX)) for n in names)) >= moment.nth:
            if moment.delay:
                time.sleep(moment.delay)
            break
        time.sleep(0.0005)
    else:
        return None
    at = time.monotonic() - t0
    kill(proc)
    return at


def describe(found: Folder, cache: Path) -> str:
    names = listdir(cache)
    built = sum(not n.startswith(TMP_PREFIX) for n in names)
    parts = [f"{len(found.complete)} complete"]
    for n, what in ((len(found.results) - len(found.complete), "incomplete JSON"), (found.orphans, "orphan responses"),
                    (found.temp, "temp"), (found.claims, "claim")):
        if n:
            parts.append(f"{n} {what}")
    parts.append(f"cache {built} built" + (f" + {len(names) - built} temp" if len(names) > built else ""))
    return ", ".join(parts)


@dataclass
class TrialOutcome:
    line: str
    problems: list[str]
    mode: str
    killed: bool
    incomplete: bool  # the kill left some run of the plan without a complete result
    cache_state_at_kill: str  # what the kill left in the cache: none | temp | partial | all


def kill_trial(workdir: Path, n: int, ref: Reference, models: list, moment: Moment,
               pid_namespace: bool = False) -> TrialOutcome:
    """Kill a run at the moment, re-run it, check. With `pid_namespace` both are PID 1 of a PID
    namespace of their own, as when a container is restarted on the same results volume: the
    re-run has the very process id the dead run's claims and temporary files name."""
    folder = workdir / (f"same-pid-{n:02d}" if pid_namespace else f"trial-{n:02d}")
    plan = write_plan(folder, models)
    results, cache = folder / "results", folder / "cache"
    t0 = time.monotonic()
    proc = start(plan, folder / "killed", pid_namespace)
    at = kill_at(proc, moment, results, cache, t0)
    after_kill = inspect_folder(results)
    cache_names = listdir(cache)
    built = sum(not x.startswith(TMP_PREFIX) for x in cache_names)
    cache_state = ("temp" if any(x.startswith(TMP_PREFIX) for x in cache_names) else
                   "none" if built == 0 else "all" if built >= 2 else "partial")
    left = describe(after_kill, cache)
    problems = []
    # the killed run's own folder may hold temp files, claims and orphans; never a broken result
    problems += [f"after the kill: {p}" for p in after_kill.problems
                 if not p.startswith(("temporary file left", "claim left", "orphaned responses"))]
    proc2 = start(plan, folder / "rerun", pid_namespace)
    proc2.wait()
    s = summary(folder / "rerun", proc2.returncode)
    if s is None:
        problems.append(f"the re-run printed no summary (rc {proc2.returncode}); see {folder}/rerun.err")
        rerun = f"re-run rc {proc2.returncode}"
    else:
        rerun = f"re-run: {s}"
        if s.rc != 0 or s.failed or s.busy:
            problems.append(f"re-run: rc {s.rc}, {s.failed} failed, {s.busy} busy")
        todo = ref.runs - len(after_kill.complete)
        if (s.written, s.skipped) != (todo, len(after_kill.complete)):
            problems.append(f"re-run wrote {s.written} and skipped {s.skipped}; the kill left "
                            f"{len(after_kill.complete)} of {ref.runs} complete")
        if CACHE_REBUILT in s.stderr:
            problems.append("re-run found a broken task-data cache entry: "
                            + next(line for line in s.stderr.splitlines() if CACHE_REBUILT in line))
    problems += compare(inspect_folder(results), ref.folder)
    cache_problems, litter = check_cache(cache)
    problems += cache_problems
    when = f"killed at {at:5.2f} s" if at is not None else "finished before the kill"
    note = f"; {litter} dead cache temp folder(s) left" if litter else ""
    verdict = "clean" if not problems else "NOT CLEAN: " + "; ".join(problems)
    kind = "same-pid" if pid_namespace else "trial"
    line = f"{kind} {n:2d} [{moment}] {when} | left: {left} | {rerun}{note} | {verdict}"
    return TrialOutcome(line, problems, moment.mode, at is not None, len(after_kill.complete) < ref.runs, cache_state)


# --- two runners at once -----------------------------------------------------------------------

def concurrent_check(workdir: Path, ref: Reference, models: list) -> tuple[str, list[str]]:
    folder = workdir / "concurrent"
    plan = write_plan(folder, models)
    procs = [start(plan, folder / f"runner{i}") for i in (1, 2)]
    for p in procs:
        p.wait()
    problems, parts = [], []
    summaries = []
    for i, p in enumerate(procs, 1):
        s = summary(folder / f"runner{i}", p.returncode)
        if s is None:
            problems.append(f"runner {i} printed no summary (rc {p.returncode}); see {folder}/runner{i}.err")
            continue
        summaries.append(s)
        parts.append(f"runner {i}: {s}")
        if s.rc != 0 or s.failed:
            problems.append(f"runner {i}: rc {s.rc}, {s.failed} failed")
        if s.written + s.skipped + s.busy != ref.runs:
            problems.append(f"runner {i} accounts for {s.written + s.skipped + s.busy} of {ref.runs} runs")
        if len(s.run_lines) != s.written:
            problems.append(f"runner {i} says it wrote {s.written} but printed {len(s.run_lines)} run lines")
    if len(summaries) == 2:
        written = sum(s.written for s in summaries)
        if written != ref.runs:
            problems.append(f"the runners wrote {written} results for a plan of {ref.runs} runs")
        lines = [r for s in summaries for r in s.run_lines]
        twice = sorted({r for r in lines if lines.count(r) > 1})
        problems += [f"run done by both runners: {r}" for r in twice]
        if set(lines) != set(ref.folder.results):
            problems.append("the runners' printed runs are not the plan's runs")
    problems += compare(inspect_folder(folder / "results"), ref.folder)
    problems += check_cache(folder / "cache")[0]
    verdict = "clean" if not problems else "NOT CLEAN: " + "; ".join(problems)
    line = "concurrent: " + "; ".join(parts) + " | " + verdict
    return line, problems


# --- main --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20, help="kill trials (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    ap.add_argument("--quick", action="store_true", help="random and most-popular only (no dnn, sasrec)")
    ap.add_argument("--no-concurrent", action="store_true", help="skip the two-runners check")
    ap.add_argument("--no-same-pid", action="store_true", help="skip the same-pid re-run check")
    ap.add_argument("--workdir", type=Path, help="where the folders go (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir even when everything is clean")
    args = ap.parse_args(argv)
    models = QUICK_MODELS if args.quick else FULL_MODELS
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="recboard-crash-"))
    workdir.mkdir(parents=True, exist_ok=True)

    ref = reference_run(workdir, models)
    print(f"reference: {ref.runs} runs in {ref.wall:.2f} s, writing from {ref.first_write:.2f} s to its last "
          f"result at {ref.last_result:.2f} s ({ref.active:.2f} s active); {len(ref.cache_saves)} cache saves "
          f"({', '.join(f'{1000 * d:.0f} ms' for d in ref.cache_saves)}); kill seed {args.seed}", flush=True)
    outcomes = []
    for n, moment in enumerate(draw_moments(ref, args.trials, args.seed), 1):
        outcome = kill_trial(workdir, n, ref, models, moment)
        outcomes.append(outcome)
        print(outcome.line, flush=True)
    clean = sum(not o.problems for o in outcomes)
    in_cache = sum(o.killed and o.cache_state_at_kill in ("temp", "partial") for o in outcomes)
    conc_problems: list[str] = []
    conc = "not run"
    if not args.no_concurrent:
        line, conc_problems = concurrent_check(workdir, ref, models)
        print(line, flush=True)
        conc = "clean" if not conc_problems else "NOT CLEAN"
    same_pid, same_pid_problems = "not run", []
    if not args.no_same_pid:
        if pid_namespaces():
            # kill while the middle run's JSON is written: a temporary file, a claim and a responses
            # file without its JSON are left, all named after PID 1, which the re-run is too
            outcome = kill_trial(workdir, 1, ref, models, Moment("write", nth=2 * (ref.runs // 2)), pid_namespace=True)
            print(outcome.line, flush=True)
            same_pid_problems = outcome.problems
            same_pid = "clean" if not outcome.problems else "NOT CLEAN"
        else:
            same_pid = "skipped (no PID namespaces here: unshare --pid --fork --mount-proc failed)"
    ok = clean == len(outcomes) and not conc_problems and not same_pid_problems
    midway = sum(o.killed and o.incomplete for o in outcomes)
    print(f"crash safety: {clean}/{len(outcomes)} trials clean ({midway} killed with runs left to do, {in_cache} "
          f"during the task-data cache build); concurrent runs: {conc}; same-pid re-run: {same_pid}")
    if ok and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"folders kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
