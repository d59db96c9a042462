"""Bootstrap intervals and "not distinguishable from the best" marks for main-metric cells.

For every cell the per-example responses of its seeds' runs are loaded (sha256-checked); the cell's
value is the mean over seeds, so its interval is the percentile bootstrap of that mean with the
test users resampled jointly across seeds. All cells of a column are resampled from the same drawn
users (one fixed seed), so any two of them are paired: a cell is marked when the paired bootstrap
p-value of its difference to the column's best cell is at least alpha. A cell whose responses are
missing, altered or do not reproduce the reported metric gets no interval and a note instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.compare import CompareError, load_responses
from benchmark.stats import Replicates, bootstrap_many, compare_replicates, percentile_interval, requests_key

if TYPE_CHECKING:
    from leaderboard.build import Cell, Table

SHORT = {
    "no-responses": "no per-example responses",
    "missing": "responses file missing",
    "sha256": "responses file altered",
    "unreadable": "responses unreadable",
    "disagree": "responses disagree with the result",
    "requests": "seeds on other requests",
    "undefined": "interval undefined",
}
TOLERANCE = 1e-6  # |reported main metric - metric recomputed from the responses|


@dataclass
class Settings:
    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95
    alpha: float = 0.05


@dataclass
class Notice:
    path: str
    reason: str


def _file(run: dict[str, Any]) -> str:
    return str(run.get("_file") or run["run_id"] + ".json")


def _no_ci(cell: Cell, kind: str, reason: str, path: str, notices: list[Notice]) -> None:
    cell.note, cell.note_title = SHORT[kind], reason
    notices.append(Notice(path, f"shown without a confidence interval: {reason}"))


def _load(cell: Cell, task: str, results_dir: Path, notices: list[Notice]) -> list[dict[str, Any]] | None:
    tables = []
    for run in cell.contributing:
        try:
            tables.append(load_responses(run, results_dir))
        except CompareError as e:
            _no_ci(cell, e.kind if e.kind in SHORT else "unreadable", str(e), _file(run), notices)
            return None
    try:
        keys = {requests_key(task, t) for t in tables}
    except ValueError as e:
        _no_ci(cell, "unreadable", str(e), _file(cell.contributing[0]), notices)
        return None
    if len(keys) > 1:
        _no_ci(cell, "requests", "the seeds' responses are not on the same requests", _file(cell.contributing[0]), notices)
        return None
    return tables


def annotate_column(cells: list[Cell], task: str, metric: str, results_dir: Path, settings: Settings) -> list[Notice]:
    """Set ``ci``, ``note``, ``sig`` and ``p`` on the value cells of one column (best cells already
    marked); return a notice per cell that is shown without an interval."""
    notices: list[Notice] = []
    loaded = {i: t for i, cell in enumerate(cells) if (t := _load(cell, task, results_dir, notices)) is not None}
    by_requests: dict[str, list[int]] = {}
    for i, tables in loaded.items():
        by_requests.setdefault(requests_key(task, tables[0]), []).append(i)

    replicates: dict[int, Replicates] = {}
    for members in by_requests.values():
        try:
            reps = bootstrap_many(task, metric, [loaded[i] for i in members], settings.n_boot, settings.seed)
        except ValueError as e:
            for i in members:
                _no_ci(cells[i], "unreadable", str(e), _file(cells[i].contributing[0]), notices)
            continue
        for i, rep in zip(members, reps):
            cell, path = cells[i], _file(cells[i].contributing[0])
            if cell.mean is None or not math.isclose(rep.point, cell.mean, rel_tol=0, abs_tol=TOLERANCE):
                reported = "nothing" if cell.mean is None else f"{cell.mean:.6f}"
                _no_ci(cell, "disagree", f"{metric} recomputed from the responses is {rep.point:.6f}, "
                                         f"the result reports {reported}", path, notices)
                continue
            lo, hi = percentile_interval(rep.values, settings.level)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                _no_ci(cell, "undefined", f"{metric} is undefined in every resample of the users", path, notices)
                continue
            cell.ci = (lo, hi)
            replicates[i] = rep

    reference = next((i for i, c in enumerate(cells) if c.best and i in replicates), None)
    for i, cell in enumerate(cells):
        if cell.best:
            cell.sig = "best"
        elif reference is not None and i in replicates and replicates[i].requests == replicates[reference].requests:
            cell.p = float(compare_replicates(replicates[i], replicates[reference], settings.level)["p"])
            cell.sig = "tie" if cell.p >= settings.alpha else "worse"
    return notices


def annotate(tables: list[Table], results_dir: Path, settings: Settings) -> list[Notice]:
    """Annotate every main-metric column of every table; warnings in page order."""
    notices: list[Notice] = []
    for table in tables:
        for col in table.columns:
            cells = [c for row in table.rows if (c := row.cells.get(col.key)) is not None and c.state == "value"]
            if cells:
                notices += annotate_column(cells, table.task, col.metric["name"], results_dir, settings)
    return notices
