"""The results folder's claims and sweep when a dead runner's process id is in use again, as when a
container running `recboard run` as PID 1 is killed and restarted on the same results volume."""

from __future__ import annotations

import os

import pytest

import benchmark.results as results
from benchmark.results import process_start_time
from benchmark.results.store import CLAIM_PREFIX, ResultStore

pytestmark = pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="needs /proc")

RUN = "random__ctr__syn__seed0__0123456789abcdef"


def _me(shift: int = 0) -> tuple[int, str]:
    """This process's id with its start time, or with another start time (a dead process that had the id)."""
    return os.getpid(), str(int(process_start_time(os.getpid())) + shift)


def test_a_claim_of_a_dead_process_with_this_process_id_is_stale(tmp_path):
    store = ResultStore(tmp_path)
    pid, started = _me(-1)
    (tmp_path / f"{CLAIM_PREFIX}{RUN}").write_text(f"{pid} {started}")
    (tmp_path / f"{RUN}{results.RESPONSES_SUFFIX}").write_bytes(b"written before the kill")
    assert store.claim(RUN) == "claimed"  # not "busy": the claim is not this process's own
    assert (tmp_path / f"{CLAIM_PREFIX}{RUN}").read_text() == "%d %s" % _me()
    assert not (tmp_path / f"{RUN}{results.RESPONSES_SUFFIX}").exists()  # the orphan it guarded is gone
    assert store.claim(RUN) == "busy"  # this process's own claim is live
    store.release(RUN)
    assert store.claim(RUN) == "claimed"


def test_the_sweep_removes_temporary_files_of_a_dead_process_with_this_process_id(tmp_path):
    store = ResultStore(tmp_path)
    pid, started = _me()
    dead = tmp_path / f"{results.TMP_PREFIX}{pid}-{int(started) - 1}-k2x9q1ab.json"
    live = tmp_path / f"{results.TMP_PREFIX}{pid}-{started}-k2x9q1ab.parquet"
    older = tmp_path / f"{results.TMP_PREFIX}{pid}-k2x9q1ab.json"  # an older harness's name: the id alone decides
    for p in (dead, live, older):
        p.write_text("{")
    store.sweep()
    assert not dead.exists() and live.exists() and older.exists()


def test_temporary_files_are_named_by_the_writer_id_and_start_time(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(results.os, "replace", lambda src, dst: (seen.append(os.path.basename(src)), real(src, dst)))
    results._atomic_write(tmp_path / "x.json", lambda f: f.write(b"{}"))
    pid, started = _me()
    assert seen and seen[0].startswith(f"{results.TMP_PREFIX}{pid}-{started}-") and seen[0].endswith(".json")
