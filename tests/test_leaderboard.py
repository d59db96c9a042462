"""The static leaderboard: fake but schema-valid results in, one self-contained page out."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from benchmark.results import write_result
from leaderboard.build import build_site, format_number, metric_info

MAIN = {"ctr": "auc", "seqrec": "ndcg@10"}
SECONDARY = {
    "ctr": {"logloss": 0.523456, "gauc_users": 1234},
    "seqrec": {"hr@10": 0.2, "hr@5": 0.1, "ndcg@5": 0.05, "coverage@10": 0.3},
}


def make_result(
    key: str,
    *,
    task: str = "ctr",
    variant: str | None = None,
    dataset: str = "ml-1m",
    task_data_hash: str = "aaaa1111bbbb2222",
    seed: int = 0,
    value: float = 0.75,
    status: str = "ok",
    error_message: str = "",
    name: str | None = None,
    source: str = "builtin",
    args: dict[str, Any] | None = None,
    latency_ms: float = 1.5,
    throughput: float = 1000.0,
    created: str = "2024-05-01T12:00:00Z",
) -> dict[str, Any]:
    main = MAIN[task]
    args = args or {"dim": 16}
    args_hash = hashlib.sha1(repr(sorted(args.items())).encode()).hexdigest()[:12]
    stamp = created[-9:-1].replace(":", "")
    run_id = f"{key}-{args_hash[:4]}-{task}-{variant}-{dataset}-{task_data_hash[:4]}-s{seed}-{stamp}"
    failed = status == "failed"
    return {
        "schema_version": 1,
        "run_id": run_id,
        "spec_hash": hashlib.sha1(run_id.encode()).hexdigest()[:16],
        "created": created,
        "harness": {"version": "0.1.0", "git_sha": "0123456789abcdef0123"},
        "status": status,
        "error": (
            {"type": "RuntimeError", "message": error_message, "stage": "fit", "traceback": "Traceback: boom"}
            if failed
            else None
        ),
        "model": {
            "key": key,
            "meta": {
                "name": name or key.upper(),
                "paradigm": "dlrm",
                "item_repr": "id",
                "scheme": "fine-tuned",
                "backend": "torch",
                "supports": ["score", "rank"],
                "license": "MIT",
                "citation": "Someone et al. 2020",
                "group": "B",
                "description": f"The {key} model.",
            },
            "args": args,
            "args_hash": args_hash,
            "source": source,
            "num_parameters": 12345,
        },
        "task": {
            "name": task,
            "version": "1",
            "variant": variant,
            "protocol": {"name": "recboard-v1", "window": 20, "max_test_users": 1000},
            "dataset": {"name": dataset, "fingerprint": "f" * 16, "source": {"adapter": "fake"}},
            "task_data_hash": task_data_hash,
            "counts": {"test": 100, "train": 800, "valid": 100},
        },
        "seed": seed,
        "metrics": {} if failed else {main: value, **SECONDARY[task]},
        "main_metric": main,
        "efficiency": {
            "latency_ms": {"mean": latency_ms, "p50": latency_ms, "p95": latency_ms * 2, "n": 50, "warmup": 5},
            "throughput_rps": throughput,
            "batch_size": 256,
            "fit_s": 3.0,
            "predict_s": 0.5,
            "peak_memory_mb": 321.0,
            "device": "cpu",
            "threads": 2,
            "extra": {},
        },
        "environment": {"python": "3.11.9", "platform": "linux", "torch": "2.4.0", "numpy": "1.26.4", "device": "cpu"},
    }


class Page(HTMLParser):
    """Tables, their header labels and, for every leaderboard row, its cells' text and data-value."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.resources: list[tuple[str, str]] = []
        self._stack: list[str] = []
        self._cell: dict[str, Any] | None = None
        self._header: list[str] | None = None
        self._row: list[dict[str, Any]] | None = None
        self._depth = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "link", "img", "iframe") and (a.get("src") or a.get("href")):
            self.resources.append((tag, a.get("src") or a.get("href") or ""))
        classes = (a.get("class") or "").split()
        if tag == "table" and "leaderboard" in classes:
            self.tables.append({"task": a["data-task"], "variant": a["data-variant"], "headers": [], "rows": []})
            self._depth = 0
        if not self.tables:
            return
        if tag == "table":
            self._depth += 1
        if self._depth != 1:
            return
        if tag == "th":
            self._header = []
        elif tag == "tr" and "main" in classes:
            self._row = []
            self.tables[-1]["rows"].append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = {"text": [], "value": a.get("data-value"), "class": classes}
            self._row.append(self._cell)

    def handle_endtag(self, tag: str) -> None:
        if not self.tables:
            return
        if tag == "table":
            self._depth -= 1
        if tag == "th" and self._header is not None:
            self.tables[-1]["headers"].append(" ".join(" ".join(self._header).split()))
            self._header = None
        elif tag == "td" and self._cell is not None and self._depth == 1:
            self._cell["text"] = " ".join(" ".join(self._cell["text"]).split())
            self._cell = None
        elif tag == "tr" and self._depth == 1:
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._header is not None:
            self._header.append(data)
        if self._cell is not None and self._depth == 1:
            self._cell["text"].append(data)

    def table(self, task: str, variant: str = "") -> dict[str, Any]:
        (found,) = [t for t in self.tables if t["task"] == task and t["variant"] == variant]
        return found


def models(table: dict[str, Any]) -> list[str]:
    """Each row's model key, from the model cell's "KEY · source" line."""
    return [re.search(r"(\S+) · ", row[1]["text"]).group(1) for row in table["rows"]]


def build(tmp_path: Path, results: list[dict[str, Any]]) -> tuple[str, Page]:
    for r in results:
        write_result(r, tmp_path / "results")
    index = build_site(tmp_path / "results", tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    html = index.read_text(encoding="utf-8")
    return html, Page(html)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Page]:
    tmp_path = tmp_path_factory.mktemp("board")
    results = [
        make_result("alpha", value=0.80, seed=0),
        make_result("alpha", value=0.82, seed=1),
        make_result("beta", value=0.85),
        make_result("gamma", value=0.70),
        make_result("gamma", dataset="amazon-books", value=0.66),
        make_result("delta", status="failed", error_message="CUDA out of memory: tried 9 GiB"),
        make_result("alpha", dataset="amazon-books", task_data_hash="cccc3333dddd4444", value=0.61),
        make_result("beta", dataset="amazon-books", task_data_hash="eeee5555ffff6666", value=0.64),
        make_result("alpha", task="seqrec", variant="full", value=0.0512),
        make_result("beta", task="seqrec", variant="full", value=0.0731),
        make_result("alpha", task="seqrec", variant="sampled-100", value=0.4123),
        make_result("evil", name="<script>alert('x')</script>", args={"prompt": "<img src=x onerror=alert(1)>"}),
    ]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "broken.json").write_text("{not json")
    (tmp_path / "results" / "wrong-shape.json").write_text('{"schema_version": 1}')
    (tmp_path / "results" / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "results" / "a-folder.json").mkdir()
    return build(tmp_path, results)


def test_one_table_per_task_and_variant_in_display_order(board: tuple[str, Page]) -> None:
    html, page = board
    assert [(t["task"], t["variant"]) for t in page.tables] == [("ctr", ""), ("seqrec", "full"), ("seqrec", "sampled-100")]
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    assert titles[:3] == ["CTR", "Next item — full catalogue", "Next item — sampled-100"]


def test_rows_ranked_by_first_dataset_column(board: tuple[str, Page]) -> None:
    _, page = board
    ctr = page.table("ctr")
    # beta 0.85, alpha mean 0.81, evil 0.75, gamma 0.70, then delta (failed) last
    assert models(ctr) == ["beta", "alpha", "evil", "gamma", "delta"]
    assert [row[0]["text"] for row in ctr["rows"]] == ["1", "2", "3", "4", ""]
    assert models(page.table("seqrec", "full")) == ["beta", "alpha"]
    assert models(page.table("seqrec", "sampled-100")) == ["alpha"]


def test_metric_values_formatted_and_seeds_aggregated(board: tuple[str, Page]) -> None:
    _, page = board
    ctr = page.table("ctr")
    beta, alpha = ctr["rows"][0], ctr["rows"][1]
    assert beta[2]["text"] == "0.8500 n=1"
    assert alpha[2]["text"] == "0.8100 ± 0.0141 n=2"
    assert float(alpha[2]["value"]) == pytest.approx(0.81)
    assert page.table("seqrec", "full")["rows"][0][2]["text"] == "0.0731 n=1"
    assert "best" in beta[2]["class"]


def test_efficiency_columns(board: tuple[str, Page]) -> None:
    _, page = board
    ctr = page.table("ctr")
    assert ctr["headers"][-3:] == ["Latency ms ↓", "p95 ms ↓", "Throughput req/s ↑"]
    beta = ctr["rows"][0]
    assert [c["text"] for c in beta[-3:]] == ["1.50", "3.00", "1,000"]


def test_failed_run_shows_failed_with_its_error(board: tuple[str, Page]) -> None:
    html, page = board
    delta = page.table("ctr")["rows"][-1]
    cell = delta[2]
    assert "failed" in cell["class"]
    assert cell["value"] == ""
    assert cell["text"].startswith("failed")
    assert "CUDA out of memory: tried 9 GiB" in cell["text"]
    assert "RuntimeError during fit" in cell["text"]
    assert "Traceback: boom" in html


def test_different_task_data_hash_gives_separate_columns(board: tuple[str, Page]) -> None:
    _, page = board
    headers = page.table("ctr")["headers"]
    books = [h for h in headers if h.startswith("amazon-books")]
    assert books == ["amazon-books #aaaa1111 AUC ↑", "amazon-books #cccc3333 AUC ↑", "amazon-books #eeee5555 AUC ↑"]
    assert headers[:3] == ["#", "Model", "ml-1m AUC ↑"]
    rows = {m: row for m, row in zip(models(page.table("ctr")), page.table("ctr")["rows"])}
    assert [c["text"] for c in rows["gamma"][3:6]] == ["0.6600 n=1", "—", "—"]
    assert [c["text"] for c in rows["alpha"][3:6]] == ["—", "0.6100 n=1", "—"]
    assert [c["text"] for c in rows["beta"][3:6]] == ["—", "—", "0.6400 n=1"]


def test_invalid_files_reported_not_fatal(board: tuple[str, Page]) -> None:
    html, _ = board
    skipped = html[html.index('id="skipped"') :]
    assert "broken.json" in skipped and "not valid JSON" in skipped
    assert "wrong-shape.json" in skipped and "invalid at" in skipped
    assert "binary.json" in skipped and "a-folder.json" in skipped
    assert "4 skipped files" in html


def test_user_text_is_escaped(board: tuple[str, Page]) -> None:
    html, page = board
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert html.count("<script>") == 1
    assert page.resources == []


def test_details_carry_metadata_provenance_and_secondary_metrics(board: tuple[str, Page]) -> None:
    html, _ = board
    start = html.index('data-model="gamma"')
    details = html[start : html.index('class="entry"', start)]
    for expected in (
        "Paradigm</dt><dd>dlrm",
        "Item representation</dt><dd>id",
        "RecBench group</dt><dd>B",
        "Parameters</dt><dd>12,345",
        "Licence</dt><dd>MIT",
        "Someone et al. 2020",
        "The gamma model.",
        "&#34;dim&#34;: 16",
        "recboard-v1",
        "&#34;window&#34;: 20",
        "aaaa1111bbbb2222",
        "ffffffffffffffff",
        "&#34;adapter&#34;: &#34;fake&#34;",
        "0.1.0 @ 0123456789ab",
        "python 3.11.9 · platform linux · torch 2.4.0 · numpy 1.26.4 · device cpu",
        "2024-05-01T12:00:00Z",
        "<th class=\"num\">Log loss</th>",
        "0.5235",
        "<th class=\"num\">GAUC users</th>",
        "1,234",
    ):
        assert expected in details, expected


def test_details_list_every_metric_main_first_then_in_natural_order(board: tuple[str, Page]) -> None:
    html, _ = board
    start = html.index('id="t-seqrec-full"')
    details = html[html.index('class="detail"', start) : html.index('class="entry"', html.index('class="detail"', start))]
    runs_header = details[details.index("<th>Dataset</th>") : details.index("Latency ms")]
    labels = re.findall(r'<th class="num">([^<]+)</th>', runs_header)
    assert labels == ["Seed", "NDCG@10", "Coverage@10", "HR@5", "HR@10", "NDCG@5"]

def test_page_is_self_contained(board: tuple[str, Page]) -> None:
    html, page = board
    assert page.resources == []
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?://", html)
    assert "<style>" in html and "button.sort" in html
    assert "function sortBy" in html


def test_build_is_byte_identical(tmp_path: Path) -> None:
    results = [make_result("alpha", seed=s, value=0.7 + s / 100) for s in range(3)]
    results += [make_result("beta", task="seqrec", variant="full", value=0.05)]
    for r in results:
        write_result(r, tmp_path / "results")
    first = build_site(tmp_path / "results", tmp_path / "a").read_bytes()
    second = build_site(tmp_path / "results", tmp_path / "b").read_bytes()
    assert first == second

    moved = tmp_path / "elsewhere"
    (tmp_path / "results").rename(moved)
    (moved / "zz-bad.json").write_text("[]")
    third = build_site(moved, tmp_path / "c").read_bytes()
    fourth = build_site(moved, tmp_path / "d").read_bytes()
    assert third == fourth
    assert str(tmp_path).encode() not in third


def test_rerun_of_a_seed_replaces_the_earlier_run(tmp_path: Path) -> None:
    _, page = build(
        tmp_path,
        [
            make_result("alpha", status="failed", error_message="flaky", created="2024-05-01T10:00:00Z"),
            make_result("alpha", value=0.9, created="2024-05-02T10:00:00Z"),
        ],
    )
    cell = page.table("ctr")["rows"][0][2]
    assert cell["text"] == "0.9000 n=1"


def test_some_seeds_failed_shows_value_and_failure_count(tmp_path: Path) -> None:
    _, page = build(
        tmp_path,
        [make_result("alpha", value=0.9, seed=0), make_result("alpha", status="failed", error_message="nan loss", seed=1)],
    )
    cell = page.table("ctr")["rows"][0][2]
    assert cell["text"].startswith("0.9000 n=1 1 failed")
    assert "nan loss" in cell["text"]


def test_same_model_with_other_args_is_another_row(tmp_path: Path) -> None:
    _, page = build(
        tmp_path,
        [make_result("alpha", args={"dim": 16}, value=0.7), make_result("alpha", args={"dim": 64}, value=0.8)],
    )
    rows = page.table("ctr")["rows"]
    assert len(rows) == 2
    assert all(" · args " in row[1]["text"] for row in rows)


def test_ok_run_without_its_main_metric_is_a_dash(tmp_path: Path) -> None:
    result = make_result("alpha")
    result["metrics"] = {"other": 0.5}
    _, page = build(tmp_path, [result, make_result("beta", value=0.6)])
    rows = page.table("ctr")["rows"]
    assert models(page.table("ctr")) == ["beta", "alpha"]
    assert rows[1][2]["text"] == "—" and rows[1][2]["value"] == ""


def test_empty_results_folder(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    html = build_site(tmp_path / "results", tmp_path / "site").read_text()
    assert "No results yet." in html


def test_metric_display_comes_from_display_yaml() -> None:
    assert metric_info("ndcg@10")["label"] == "NDCG@10"
    assert metric_info("hr@20")["label"] == "HR@20"
    assert metric_info("logloss")["higher_is_better"] is False
    assert metric_info("unheard_of") == {"name": "unheard_of", "label": "unheard_of", "higher_is_better": True, "format": ".4f"}


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [(0.81234, ".4f", "0.8123"), (1.5, "sig3", "1.50"), (0.012345, "sig3", "0.0123"), (1234.5, "sig3", "1,234"),
     (123.4, "sig3", "123"), (0.0, "sig3", "0"), (None, ".4f", "—"), (float("nan"), ".4f", "—")],
)
def test_format_number(value: float | None, spec: str, text: str) -> None:
    assert format_number(value, spec) == text
