"""A results folder shared safely by concurrent and interrupted `recboard run`s.

Before a run starts, its runner claims it: under an exclusive lock on the folder it checks that no
complete result and no live claim exist, then writes `.claim-<run_id>` holding its process id and
start time. A claim whose process is gone (a kill -9) is stale, and so is one whose process id
now names a process that started at another time (a restarted container's PID 1). Every claim pass
also removes what dead writers left: stale claims, temporary files of dead processes (named by
process id and start time too), and responses files without their JSON. So two runners on one
plan do every run once, and a re-run after a crash finishes the plan with nothing partial left
behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmark.results import RESPONSES_SUFFIX, TMP_PREFIX, ResultError, left_by_dead_writer, read_result, sha256_file
from benchmark.results import process_start_time as _start_time

CLAIM_PREFIX = ".claim-"


def _alive(token: str) -> bool:
    """Whether the process named by a `pid starttime` token still runs. The start time decides
    even for this process's own id: a runner restarted with the id of a dead one (PID 1 of a
    container again) must not take the dead one's claims for its own."""
    try:
        pid_text, started = token.split()
        pid = int(pid_text)
    except ValueError:
        return False
    now = _start_time(pid)
    if now is not None:
        return now == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _token() -> str:
    return f"{os.getpid()} {_start_time(os.getpid()) or 0}"


class ResultStore:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.json"

    def is_complete(self, run_id: str) -> bool:
        """An ok result whose responses file is present and matches its recorded hash."""
        path = self.path(run_id)
        if not path.exists():
            return False
        try:
            result = read_result(path)
        except ResultError:
            return False
        if result["status"] != "ok":
            return False
        ref = result["outputs"]["responses"]
        resp = self.directory / ref["file"]
        return resp.exists() and sha256_file(resp) == ref["sha256"]

    def _claim_path(self, run_id: str) -> Path:
        return self.directory / f"{CLAIM_PREFIX}{run_id}"

    def _live_claim(self, run_id: str) -> bool:
        try:
            return _alive(self._claim_path(run_id).read_text())
        except OSError:
            return False

    def claim(self, run_id: str) -> str:
        """'claimed' (this process runs it), 'done' (complete already) or 'busy' (another live
        runner has it)."""
        with self.locked():
            self._sweep()
            if self.is_complete(run_id):
                return "done"
            if self._live_claim(run_id):
                return "busy"
            self._claim_path(run_id).write_text(_token())
            return "claimed"

    def release(self, run_id: str) -> None:
        with self.locked():
            self._claim_path(run_id).unlink(missing_ok=True)

    def sweep(self) -> None:
        with self.locked():
            self._sweep()

    def _sweep(self) -> None:
        for p in self.directory.glob(f"{CLAIM_PREFIX}*"):
            try:
                if not _alive(p.read_text()):
                    p.unlink(missing_ok=True)
            except OSError:
                continue
        for p in self.directory.glob(f"{TMP_PREFIX}*"):
            if left_by_dead_writer(p.name):
                p.unlink(missing_ok=True)
        for p in self.directory.glob(f"*{RESPONSES_SUFFIX}"):
            run_id = p.name[: -len(RESPONSES_SUFFIX)]
            if not self.path(run_id).exists() and not self._live_claim(run_id):
                p.unlink(missing_ok=True)
