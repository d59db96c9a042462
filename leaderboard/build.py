"""Result files → one static, self-contained index.html.

The page is a pure function of the result files and their per-example responses: nothing about
the build (time, paths outside the results folder) reaches it, everything is sorted, and the
bootstrap behind the confidence intervals uses a fixed seed, so the same files give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from benchmark.protocol.spec import stable_hash
from benchmark.results import read_result
from leaderboard.significance import Notice, Settings, annotate

NO_HASH = "no-hash"


@lru_cache(maxsize=1)
def display() -> dict[str, Any]:
    return yaml.safe_load(resources.files("leaderboard").joinpath("templates", "display.yaml").read_text(encoding="utf-8"))


def format_number(value: float | None, spec: str) -> str:
    """Format with a Python format spec, or "sigN": N significant digits without an exponent
    (values of N digits or more before the point are shown whole, with thousands separators)."""
    if value is None or not math.isfinite(value):
        return "—"
    if spec.startswith("sig"):
        digits = int(spec[3:])
        if value == 0:
            return "0"
        magnitude = math.floor(math.log10(abs(value)))
        if magnitude >= digits - 1:
            return f"{value:,.0f}"
        return f"{value:.{digits - 1 - magnitude}f}"
    return format(value, spec)


def metric_info(name: str) -> dict[str, Any]:
    """Display settings for a metric: its own entry, else its "base@k" family's, else defaults."""
    d = display()
    entry = d["metrics"].get(name)
    if entry is None and "@" in name:
        base, k = name.split("@", 1)
        family = d["metrics"].get(f"{base}@k")
        if family is not None:
            entry = {**family, "label": str(family.get("label", name)).replace("{k}", k)}
    return {"label": name, **d["default_metric"], **(entry or {}), "name": name}


def natural_key(text: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p is not None)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def short_id(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:12]


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None




class LeaderboardError(ValueError):
    """The leaderboard cannot be built (nothing is written)."""


@dataclass
class Skipped:
    path: str
    reason: str


def load(results_dir: Path) -> tuple[list[dict[str, Any]], list[Skipped], int]:
    """Valid results, and the files that could not be used with why. Paths are shown relative to
    the results folder so the page does not depend on where that folder lives. Each result keeps
    its file name under the private key "_file" (its responses lie beside it)."""
    runs, skipped, n_files = [], [], 0
    for path in sorted(results_dir.glob("*.json")):
        if path.name.startswith(".tmp-"):
            continue
        n_files += 1
        try:
            runs.append({**read_result(path), "_file": path.name})
        except (ValueError, OSError, RecursionError) as e:
            reason = str(e).replace(str(path), path.name) or type(e).__name__
            reason = re.sub(rf"^{re.escape(path.name)}:(?:(\d+):)? ", lambda m: f"line {m[1]}: " if m[1] else "", reason)
            skipped.append(Skipped(path.name, reason))
    return runs, skipped, n_files


@dataclass
class Column:
    """One metric on one task data (dataset and task-data hash). A table shows its main metric per
    task data, or, when display.yaml lists `metrics` for it, each of those metrics side by side
    (`first` marks the first column of each task data)."""

    dataset: str
    task_data_hash: str | None
    label: str
    hash_label: str | None
    metric: dict[str, Any]
    n_rows: int
    first: bool = True

    @property
    def data_key(self) -> tuple[str, str | None]:
        return (self.dataset, self.task_data_hash)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.dataset, self.task_data_hash, self.metric["name"])


@dataclass
class Cell:
    runs: list[dict[str, Any]]
    superseded: list[dict[str, Any]]
    metric: dict[str, Any]
    mean: float | None = field(init=False)
    std: float | None = field(init=False)
    text: str = field(init=False)
    std_text: str = field(init=False)
    n: int = field(init=False)
    best: bool = False
    ci: tuple[float, float] | None = None  # bootstrap interval of the mean over seeds (users resampled)
    note: str | None = None  # why there is no interval, shown in the cell
    note_title: str = ""
    sig: str | None = None  # "best", "tie" (not distinguishable from the best) or "worse"
    p: float | None = None  # paired bootstrap p-value against the column's best

    def __post_init__(self) -> None:
        values = [v for r in self.ok for v in [finite(r["metrics"].get(self.metric["name"]))] if v is not None]
        self.n = len(values)
        self.mean, self.std = mean_std(values)
        self.text = format_number(self.mean, self.metric["format"])
        self.std_text = format_number(self.std, self.metric["format"]) if self.std is not None else ""

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "ok"]

    @property
    def contributing(self) -> list[dict[str, Any]]:
        """The runs whose main metric makes up the mean."""
        return [r for r in self.ok if finite(r["metrics"].get(self.metric["name"])) is not None]

    @property
    def ci_text(self) -> str:
        if self.ci is None:
            return ""
        return f"[{format_number(self.ci[0], self.metric['format'])}, {format_number(self.ci[1], self.metric['format'])}]"

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] != "ok"]

    @property
    def state(self) -> str:
        if self.mean is not None:
            return "value"
        if self.failed and not self.ok:
            return "failed"
        return "missing"

    @property
    def sort_value(self) -> str:
        return repr(self.mean) if self.mean is not None else ""

    def efficiency(self, name: str) -> float | None:
        return mean_std([v for r in self.ok for v in [finite(efficiency_value(r, name))] if v is not None])[0]


def efficiency_value(run: dict[str, Any], name: str) -> Any:
    eff = run.get("efficiency") or {}
    latency = eff.get("latency_ms") or {}
    if name.startswith("latency_"):
        return latency.get(name.removeprefix("latency_")) if isinstance(latency, dict) else None
    if name == "throughput":
        return eff.get("throughput_rps")
    return eff.get(name)


@dataclass
class EffValue:
    name: str
    label: str
    unit: str
    value: float | None
    text: str
    best: bool = False

    @property
    def sort_value(self) -> str:
        return repr(self.value) if self.value is not None else ""


@dataclass
class Row:
    id: str
    key: str
    source: str
    args_hash: str
    latest: dict[str, Any]
    template_sha: str | None = None  # the prompt template's sha256, for prompted models
    cells: dict[tuple[str, str | None], Cell] = field(default_factory=dict)
    efficiency: list[EffValue] = field(default_factory=list)
    show_args_hash: bool = False
    rank: int = 0

    @property
    def meta(self) -> dict[str, Any]:
        return self.latest["model"]["meta"]

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.key)

    @property
    def template(self) -> dict[str, Any] | None:
        """The prompt template the row's runs were made with (name, version, sha256, ...)."""
        return self.latest["task"].get("template") if self.template_sha is not None else None

    @property
    def args(self) -> dict[str, Any]:
        return self.latest["model"].get("args") or {}

    @property
    def all_runs(self) -> list[tuple[Cell, dict[str, Any], bool]]:
        """(cell, run, superseded) for every run of the row, in column then seed order; a run is
        listed once, with its first column, however many metric columns show it."""
        out, listed = [], set()
        for cell in self.cells.values():
            for r, superseded in [(r, False) for r in cell.runs] + [(r, True) for r in cell.superseded]:
                if id(r) not in listed:
                    listed.add(id(r))
                    out.append((cell, r, superseded))
        return out

    @property
    def num_parameters(self) -> str:
        counts = sorted({r["model"].get("num_parameters") for _, r, _ in self.all_runs} - {None})
        return ", ".join(f"{c:,}" for c in counts) if counts else "—"

    @property
    def tokenizer(self) -> dict[str, Any] | None:
        """The item tokenizer's config and report (code utilisation per level, collisions,
        reconstruction error) that a model with item tokens recorded in its latest run's
        extra efficiency figures (`efficiency.extra.tokenizer`); None for other models."""
        extra = (self.latest.get("efficiency") or {}).get("extra") or {}
        found = extra.get("tokenizer")
        return found if isinstance(found, dict) and isinstance(found.get("report"), dict) else None

    @property
    def metric_names(self) -> list[str]:
        """Every metric any of the row's runs reported: main metrics first, then alphabetical."""
        names = {m for _, r, _ in self.all_runs for m in r["metrics"]}
        mains = [c.metric["name"] for c in self.cells.values() if c.metric["name"] in names]
        return list(dict.fromkeys(mains)) + sorted(names - set(mains), key=natural_key)


@dataclass
class Table:
    id: str
    task: str
    variant: str | None
    title: str
    description: str
    columns: list[Column]
    rows: list[Row]
    efficiency_labels: list[dict[str, Any]]
    order: tuple[int, str, str]


def template_sha(run: dict[str, Any]) -> str | None:
    """The sha256 of the prompt template a prompted model's run used; None for other runs."""
    template = run["task"].get("template")
    return str(template.get("sha256")) if isinstance(template, dict) else None


def column_key(run: dict[str, Any]) -> tuple[str, str | None]:
    return (str(run["task"]["dataset"]["name"]), run["task"]["task_data_hash"])


def run_order(run: dict[str, Any]) -> tuple[str, str]:
    return (str(run.get("created", "")), run["run_id"])


def dataset_position(name: str) -> int:
    """Where display.yaml lists the dataset; unlisted ones come after all listed ones."""
    listed = [d["name"] for d in display().get("datasets") or []]
    return listed.index(name) if name in listed else len(listed)


def dataset_label(name: str) -> str:
    for d in display().get("datasets") or []:
        if d["name"] == name:
            return str(d.get("label", name))
    return name


def table_spec(task: str, variant: str | None) -> tuple[int, dict[str, Any]]:
    specs = display()["tables"]
    for i, spec in enumerate(specs):
        if spec["task"] == task and spec.get("variant") == variant:
            return i, spec
    title = task if variant is None else f"{task} — {variant}"
    return len(specs), {"title": title, "description": ""}


def build_table(task: str, variant: str | None, runs: list[dict[str, Any]]) -> Table:
    order, spec = table_spec(task, variant)

    def row_key(r: dict[str, Any]) -> tuple[str, str, str, str | None]:
        # Columns are task data; the prompt template belongs to the row, so one model's results
        # with two templates are two rows, and every model shares the task data's column.
        return (r["model"]["key"], r["model"]["source"], stable_hash(r["model"]["args"]), template_sha(r))

    by_column: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in runs:
        by_column.setdefault(column_key(r), []).append(r)
    hashes_per_dataset = Counter(ds for ds, _ in by_column)
    ranked_rows_per_dataset: dict[str, set[tuple[str, str, str, str | None]]] = {}
    for (ds, _), col_runs in by_column.items():
        ranked_rows_per_dataset.setdefault(ds, set()).update(row_key(r) for r in col_runs if r["status"] == "ok")
    runs_per_dataset = Counter(column_key(r)[0] for r in runs)

    columns = []
    for (ds, tdh), col_runs in by_column.items():
        mains = Counter(r["main_metric"] for r in col_runs)
        main = sorted(mains.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        hash_label = None
        if hashes_per_dataset[ds] > 1:
            hash_label = "#" + tdh[:8] if tdh else NO_HASH
        n_rows = len({row_key(r) for r in col_runs})
        columns.append(Column(ds, tdh, dataset_label(ds), hash_label, metric_info(main), n_rows))
    columns.sort(
        key=lambda c: (
            dataset_position(c.dataset),
            -len(ranked_rows_per_dataset[c.dataset]),
            -runs_per_dataset[c.dataset],
            c.dataset,
            -c.n_rows,
            c.task_data_hash or "",
        )
    )
    if spec.get("metrics"):
        columns = metric_columns(columns, spec["metrics"], by_column)

    by_row: dict[tuple[str, str, str, str | None], list[dict[str, Any]]] = {}
    for r in runs:
        by_row.setdefault(row_key(r), []).append(r)
    configs_per_model = Counter((k, s) for k, s, _ in {key[:3] for key in by_row})

    table_id = "t-" + slug(task, variant)
    rows = []
    for (key, source, args_hash, sha), row_runs in by_row.items():
        row = Row(
            id="r-" + short_id(table_id, key, source, args_hash, *([sha] if sha is not None else [])),
            key=key,
            source=source,
            args_hash=args_hash,
            latest=max(row_runs, key=run_order),
            template_sha=sha,
            show_args_hash=configs_per_model[(key, source)] > 1,
        )
        for col in columns:
            col_runs = [r for r in row_runs if column_key(r) == col.data_key]
            if not col_runs:
                continue
            latest_per_seed: dict[int, dict[str, Any]] = {}
            for r in sorted(col_runs, key=run_order):
                latest_per_seed[r["seed"]] = r
            kept = [latest_per_seed[s] for s in sorted(latest_per_seed)]
            superseded = sorted((r for r in col_runs if all(r is not k for k in kept)), key=lambda r: (r["seed"], run_order(r)))
            row.cells[col.key] = Cell(kept, superseded, col.metric)
        rows.append(row)

    def rank_key(row: Row) -> tuple[Any, ...]:
        parts: list[Any] = []
        for col in columns:
            cell = row.cells.get(col.key)
            if cell is None or cell.mean is None:
                parts.append((1, 0.0))
            else:
                parts.append((0, -cell.mean if col.metric["higher_is_better"] else cell.mean))
        return (*parts, row.name.lower(), row.key, row.source, row.args_hash, row.template_sha or "")

    rows.sort(key=rank_key)
    for i, row in enumerate(rows, 1):
        row.rank = i

    for col in columns:
        means = [c.mean for r in rows if (c := r.cells.get(col.key)) and c.mean is not None]
        if len(means) > 1:
            best = max(means) if col.metric["higher_is_better"] else min(means)
            for r in rows:
                if (c := r.cells.get(col.key)) and c.mean == best:
                    c.best = True

    eff_spec = display()["efficiency"]
    eff_labels = []
    for name in ("latency_mean", "latency_p95", "throughput"):
        info = {"name": name, "unit": "", "higher_is_better": True, **eff_spec[name]}
        eff_labels.append(info)
        for row in rows:
            cell = row.cells.get(columns[0].key)
            value = cell.efficiency(name) if cell else None
            row.efficiency.append(EffValue(name, info["label"], info["unit"], value, format_number(value, info["format"])))
        values = [e.value for r in rows for e in r.efficiency if e.name == name and e.value is not None]
        if len(values) > 1:
            best = max(values) if info["higher_is_better"] else min(values)
            for r in rows:
                for e in r.efficiency:
                    if e.name == name and e.value == best:
                        e.best = True

    return Table(
        table_id, task, variant, spec["title"], spec.get("description", ""), columns, rows, eff_labels,
        order=(order, task, variant or ""),
    )


def metric_columns(columns: list[Column], metrics: list[str],
                   by_column: dict[tuple[str, str | None], list[dict[str, Any]]]) -> list[Column]:
    """Each task data's column as one column per listed metric that one of its runs reports
    (a QA table's per-sub-task accuracies), in the listed order."""
    out = []
    for col in columns:
        reported = {m for r in by_column[col.data_key] for m in r["metrics"]}
        shown = [m for m in metrics if m in reported] or [col.metric["name"]]
        out += [Column(col.dataset, col.task_data_hash, col.label, col.hash_label, metric_info(m), col.n_rows, i == 0)
                for i, m in enumerate(shown)]
    return out


def build_tables(runs: list[dict[str, Any]]) -> list[Table]:
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["task"]["name"], r["task"]["variant"]), []).append(r)
    tables = [build_table(task, variant, g) for (task, variant), g in groups.items()]
    return sorted(tables, key=lambda t: t.order)




def environment_text(env: dict[str, Any]) -> str:
    order = display()["environment_order"]
    keys = [k for k in order if k in env] + sorted(k for k in env if k not in order)
    return " · ".join(f"{k} {env[k]}" for k in keys if env[k] not in (None, ""))


def harness_text(harness: dict[str, Any]) -> str:
    sha = harness.get("git_sha")
    return f"{harness.get('version', '?')}" + (f" @ {sha[:12]}" if sha else " (no git sha)")


def metric_text(run: dict[str, Any], name: str) -> str:
    return format_number(finite(run["metrics"].get(name)), metric_info(name)["format"])


def efficiency_text(run: dict[str, Any], name: str) -> str:
    value = efficiency_value(run, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(float(value), display()["efficiency"][name]["format"])
    return "—" if value is None else str(value)


def plain(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def omit(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _resource(*parts: str) -> str:
    return resources.files("leaderboard").joinpath(*parts).read_text(encoding="utf-8")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(json=to_json, plain=plain, omit=omit, env=environment_text, harness=harness_text, repr=repr)
    env.globals.update(
        metric_text=metric_text,
        metric_info=metric_info,
        efficiency_text=efficiency_text,
        efficiency_value=efficiency_value,
        format_number=format_number,
    )
    return env


def render(tables: list[Table], skipped: list[Skipped], n_files: int, n_runs: int,
           notices: list[Notice] | None = None, settings: Settings | None = None) -> str:
    css, js = _resource("static", "style.css"), _resource("static", "sort.js")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("inlined assets must not close their own element")
    template = _environment().from_string(_resource("templates", "index.html.j2"))
    return template.render(
        site=display()["site"],
        tables=tables,
        skipped=skipped,
        notices=notices or [],
        stats=settings or statistics_settings(),
        n_files=n_files,
        n_runs=n_runs,
        n_models=len({(r.key, r.source, r.args_hash) for t in tables for r in t.rows}),
        css=Markup(css),
        js=Markup(js),
    )


def statistics_settings() -> Settings:
    return Settings(**(display().get("statistics") or {}))


@dataclass
class Built:
    index: Path
    skipped: list[Skipped]
    notices: list[Notice]


def build(results_dir: str | Path, out_dir: str | Path) -> Built:
    """Build out_dir/index.html from every result file in results_dir. Raises LeaderboardError,
    writing nothing, when results_dir is not an existing folder (an empty folder gives an empty
    page)."""
    results = Path(results_dir)
    if not results.is_dir():
        what = "is not a folder" if results.exists() else "does not exist"
        raise LeaderboardError(f"results folder {results} {what}; the existing site was left untouched")
    runs, skipped, n_files = load(results)
    tables = build_tables(runs)
    settings = statistics_settings()
    notices = annotate(tables, results, settings)
    html = render(tables, skipped, n_files, len(runs), notices, settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8", newline="\n")
    return Built(index, skipped, notices)


def build_site(results_dir: str | Path, out_dir: str | Path) -> Path:
    """Build out_dir/index.html (see ``build``); returns its path."""
    return build(results_dir, out_dir).index
