"""A reduced `scripts/crash_safety.py`: `recboard run` killed with SIGKILL at three kinds of moment
and re-run, and two runners on one results folder, on a plan of random and most-popular; and the
checks themselves, shown to catch a damaged results folder."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location("crash_safety", REPO / "scripts" / "crash_safety.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cs = _load_script()
MODELS = cs.QUICK_MODELS


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("crash")
    return workdir, cs.reference_run(workdir, MODELS)


@pytest.mark.slow
def test_killed_runs_rerun_to_the_reference_results(reference):
    workdir, ref = reference
    assert ref.runs == 6 and len(ref.folder.complete) == 6
    moments = [
        cs.Moment("cache", nth=1, delay=0.005),  # while the first task-data cache entry is saved
        cs.Moment("write", nth=7),  # while the 4th run's responses file is written
        cs.Moment("uniform", at=ref.active / 2),
    ]
    # the third as PID 1 of a PID namespace, killed and re-run as PID 1 again (a restarted
    # container) where this machine allows it: the re-run must not take the dead run's claims
    # and temporary files for its own
    same_pid = [False, False, cs.pid_namespaces()]
    with ThreadPoolExecutor(3) as pool:  # independent folders; at once, as most of each is start-up
        outcomes = list(pool.map(lambda n, m, ns: cs.kill_trial(workdir, n, ref, MODELS, m, ns), (1, 2, 3),
                                 moments, same_pid))
    for outcome in outcomes:
        assert outcome.problems == [], outcome.line
    assert all(o.killed for o in outcomes[:2]), [o.line for o in outcomes]
    assert outcomes[0].cache_state_at_kill in ("temp", "partial", "none"), outcomes[0].line


@pytest.mark.slow
def test_two_concurrent_runners_do_each_run_once(reference):
    workdir, ref = reference
    line, problems = cs.concurrent_check(workdir, ref, MODELS)
    assert problems == [], line


def _copy(ref_folder: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(ref_folder, dest)
    return dest


def test_the_checks_catch_a_damaged_results_folder(reference, tmp_path):
    workdir, ref = reference
    clean = _copy(workdir / "reference" / "results", tmp_path)
    assert cs.compare(cs.inspect_folder(clean), ref.folder) == []

    def problems_after(damage) -> list[str]:
        folder = tmp_path / "damaged"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(clean, folder)
        damage(folder)
        return cs.compare(cs.inspect_folder(folder), ref.folder)

    first = sorted(clean.glob("*.json"))[0]
    resp = first.with_name(first.stem + ".responses.parquet")

    def plant_orphan(f):  # a responses file without its JSON
        shutil.copy(f / resp.name, f / "most-popular__ctr__syn__seed0__0123456789abcdef.responses.parquet")

    def change_metric(f):
        data = json.loads((f / first.name).read_text())
        data["metrics"][data["main_metric"]] += 1e-9
        (f / first.name).write_text(json.dumps(data))

    def swap_responses(f):
        other = sorted(f.glob("*.responses.parquet"))[-1]
        shutil.copy(other, f / resp.name)

    cases = {
        "orphaned responses file": plant_orphan,
        "temporary file left": lambda f: (f / ".tmp-999999-abc.json").write_text("{"),
        "claim left": lambda f: (f / f".claim-{first.stem}").write_text("1 1"),
        "metrics differ": change_metric,
        "failed to parse": lambda f: (f / first.name).write_text((f / first.name).read_text()[:100]),
        "missing result": lambda f: (f / first.name).unlink(),
        "does not match the sha256": swap_responses,
    }
    for expected, damage in cases.items():
        found = problems_after(damage)
        assert any(expected in p for p in found), (expected, found)


def test_the_cache_check_catches_a_broken_entry(reference, tmp_path):
    workdir, _ = reference
    cache = tmp_path / "cache"
    shutil.copytree(workdir / "reference" / "cache", cache)
    assert cs.check_cache(cache) == ([], 0)
    entry = sorted(p for p in cache.iterdir())[0]
    meta = json.loads((entry / "recboard_meta.json").read_text())
    (entry / "recboard_meta.json").write_text(json.dumps(meta | {"content_hash": "0" * 16}))
    (cache / ".tmp-999999-left").mkdir()
    problems, litter = cs.check_cache(cache)
    assert litter == 1 and any("does not match its recorded hash" in p for p in problems), problems


@pytest.mark.parametrize("text", ["crash-safety: 2 run(s) written to r, 4 skipped (complete), 0 failed, "
                                  "1 left to a concurrent runner"])
def test_summary_lines_are_parsed(tmp_path, text):
    (tmp_path / "x.out").write_text(text + "\n")
    (tmp_path / "x.err").write_text("random__ctr__syn__seed0__0123456789abcdef: auc=0.5 latency=0.01 ms\n")
    s = cs.summary(tmp_path / "x", 0)
    assert (s.written, s.skipped, s.failed, s.busy) == (2, 4, 0, 1)
    assert s.run_lines == ["random__ctr__syn__seed0__0123456789abcdef"]
