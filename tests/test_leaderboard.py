"""The static leaderboard: fake but schema-valid results in, one self-contained page out."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_results import ctr_responses, make_result, seq_responses, write_run

from benchmark.cli import main
from benchmark.stats import bootstrap, compare_replicates, percentile_interval
from leaderboard.build import LeaderboardError, build, build_site, format_number, metric_info

SEQ_USERS = 200


def responses(result: dict[str, Any], n_users: int = 20) -> dict[str, np.ndarray]:
    """Responses whose main metric is the result's reported value (exactly for AUC; NDCG@10 in
    steps of 1/200); the scores vary with the model and seed, the requests do not."""
    value = result["metrics"][result["main_metric"]]
    seed = sum(map(ord, result["model"]["key"])) * 100 + result["seed"]
    if result["task"]["name"] == "ctr":
        return ctr_responses(value, n_users=n_users, seed=seed)
    return seq_responses(int(round(value * SEQ_USERS)), n_users=SEQ_USERS, seed=seed)


def write_all(folder: Path, results: list[dict[str, Any]]) -> list[Path]:
    """Each ok result with responses reproducing its value; failed ones with outputs null."""
    return [write_run(folder, r, responses(r) if r["status"] == "ok" else None) for r in results]


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
            self._cell = {"text": [], "value": a.get("data-value"), "class": classes, "attrs": a}
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


def build_page(tmp_path: Path, results: list[dict[str, Any]]) -> tuple[str, Page]:
    write_all(tmp_path / "results", results)
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
        make_result("alpha", task="seqrec", variant="full", value=0.05),
        make_result("beta", task="seqrec", variant="full", value=0.075),
        make_result("alpha", task="seqrec", variant="sampled-100", value=0.41),
        make_result("evil", name="<script>alert('x')</script>", args={"prompt": "<img src=x onerror=alert(1)>"}),
    ]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "broken.json").write_text("{not json")
    (tmp_path / "results" / "wrong-shape.json").write_text('{"schema_version": 1}')
    (tmp_path / "results" / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "results" / "a-folder.json").mkdir()
    return build_page(tmp_path, results)


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
    assert re.fullmatch(r"0\.8500 best \[0\.\d{4}, 0\.\d{4}\] n=1", beta[2]["text"])
    assert re.fullmatch(r"0\.8100 ± 0\.0141 (≈ best )?\[0\.\d{4}, 0\.\d{4}\] n=2", alpha[2]["text"])
    assert float(alpha[2]["value"]) == pytest.approx(0.81)
    assert re.fullmatch(r"0\.0750 best \[0\.\d{4}, 0\.\d{4}\] n=1", page.table("seqrec", "full")["rows"][0][2]["text"])
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
    ci = r" \[0\.\d{4}, 0\.\d{4}\] n=1"  # one model per column: an interval, no best
    assert [re.sub(ci, " CI n=1", c["text"]) for c in rows["gamma"][3:6]] == ["0.6600 CI n=1", "—", "—"]
    assert [re.sub(ci, " CI n=1", c["text"]) for c in rows["alpha"][3:6]] == ["—", "0.6100 CI n=1", "—"]
    assert [re.sub(ci, " CI n=1", c["text"]) for c in rows["beta"][3:6]] == ["—", "—", "0.6400 CI n=1"]


def test_invalid_files_reported_not_fatal(board: tuple[str, Page]) -> None:
    html, _ = board
    skipped = html[html.index('id="skipped"') :]
    assert "broken.json" in skipped and "not valid JSON" in skipped
    assert "wrong-shape.json" in skipped and "stale result of schema version 1" in skipped
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
    results += [make_result("beta", seed=s, value=0.72 + s / 100) for s in range(2)]
    results += [make_result("beta", task="seqrec", variant="full", value=0.05)]
    write_all(tmp_path / "results", results)
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
    assert b'data-ci-lo="' in third and b'data-p="' in third  # the bootstrap is part of what is identical


def test_rerun_of_a_seed_replaces_the_earlier_run(tmp_path: Path) -> None:
    _, page = build_page(
        tmp_path,
        [
            make_result("alpha", status="failed", error_message="flaky", created="2024-05-01T10:00:00Z",
                        identity_extra={"harness": "0.0.9"}),
            make_result("alpha", value=0.9, created="2024-05-02T10:00:00Z"),
        ],
    )
    cell = page.table("ctr")["rows"][0][2]
    assert re.fullmatch(r"0\.9000 \[0\.\d{4}, 0\.\d{4}\] n=1", cell["text"])


def test_some_seeds_failed_shows_value_and_failure_count(tmp_path: Path) -> None:
    _, page = build_page(
        tmp_path,
        [make_result("alpha", value=0.9, seed=0), make_result("alpha", status="failed", error_message="nan loss", seed=1)],
    )
    cell = page.table("ctr")["rows"][0][2]
    assert re.match(r"0\.9000 \[0\.\d{4}, 0\.\d{4}\] n=1 1 failed", cell["text"])
    assert "nan loss" in cell["text"]


def test_same_model_with_other_args_is_another_row(tmp_path: Path) -> None:
    _, page = build_page(
        tmp_path,
        [make_result("alpha", args={"dim": 16}, value=0.7), make_result("alpha", args={"dim": 64}, value=0.8)],
    )
    rows = page.table("ctr")["rows"]
    assert len(rows) == 2
    assert all(" · args " in row[1]["text"] for row in rows)


def prompted_result(key: str, template: dict[str, Any] | None, **kwargs: Any) -> dict[str, Any]:
    """A result of a prompted model made with `template` (recorded and part of its identity)."""
    r = make_result(key, identity_extra={"template": template} if template else None, **kwargs)
    r["task"]["template"] = template
    return r


def test_prompt_templates_split_rows_not_columns(tmp_path: Path) -> None:
    v1 = {"name": "ctr_yes_no", "version": "1", "sha256": "1" * 64, "chat": "tokenizer", "answer_prefix": ""}
    v2 = {**v1, "version": "2", "sha256": "2" * 64}
    html, page = build_page(tmp_path, [
        prompted_result("llm", v1, value=0.60), prompted_result("llm", v2, value=0.70),
        prompted_result("llm", v2, value=0.72, seed=1), make_result("dnn", value=0.80),
    ])
    table = page.table("ctr")
    assert [h for h in table["headers"] if "AUC" in h] == ["ml-1m AUC ↑"]  # one column for all three
    texts = [row[1]["text"] for row in table["rows"]]
    assert models(table) == ["dnn", "llm", "llm"]
    assert "prompt" not in texts[0]
    assert "llm · builtin · prompt ctr_yes_no v2 #22222222" in texts[1]
    assert "llm · builtin · prompt ctr_yes_no v1 #11111111" in texts[2]
    assert " · args " not in texts[1]  # same args: the template alone tells the rows apart
    cells = [re.sub(r" \[.*", "", row[2]["text"]) for row in table["rows"]]
    assert cells[0].startswith("0.8000") and cells[1].startswith("0.7100") and cells[2].startswith("0.6000")
    assert html.count("<h3>Prompt template</h3>") == 2


def test_item_tokenizer_report_is_shown_in_the_model_details(tmp_path: Path) -> None:
    tokenized = make_result("tiger", task="seqrec", variant="full")
    tokenized["efficiency"]["extra"] = {"tokenizer": {
        "kind": "sid-rqkmeans", "config": {"kind": "sid-rqkmeans", "levels": 3, "codebook_size": 32},
        "report": {"n_items": 1000, "code_length": 4, "new_tokens": 108, "utilisation": [1.0, 0.875, 0.5, 1.0],
                   "level_sizes": [32, 32, 32, 12], "collision_rate": 0.862, "distinct_codes": 387,
                   "max_collision_group": 12, "reconstruction_rel": 0.2267, "reconstruction_mse": 0.000478}}}
    html, _ = build_page(tmp_path, [tokenized, make_result("sasrec", task="seqrec", variant="full")])
    assert html.count("<h3>Item tokenizer</h3>") == 1  # sasrec has no tokenizer
    section = html[html.index("<h3>Item tokenizer</h3>"):]
    assert "level 2: 87.5% of 32" in section and "level 4: 100.0% of 12" in section
    assert "86.2% of items share a code (387 distinct codes; largest group 12)" in section
    assert "0.227 of the embeddings&#39; variance" in section or "0.227 of the embeddings' variance" in section


def test_ok_run_without_its_main_metric_is_a_dash(tmp_path: Path) -> None:
    result = make_result("alpha")
    result["metrics"] = {"other": 0.5}
    write_run(tmp_path / "results", result, ctr_responses(0.5), set_metric=False)
    _, page = build_page(tmp_path, [make_result("beta", value=0.6)])
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


# Confidence intervals and significance marks.

def metric_cells(page: Page, task: str = "ctr", variant: str = "", column: int = 2) -> dict[str, dict[str, Any]]:
    table = page.table(task, variant)
    return {m: row[column] for m, row in zip(models(table), table["rows"])}


def test_cells_carry_the_bootstrap_interval_and_the_paired_test_against_the_best(tmp_path: Path) -> None:
    tables = {"best": ctr_responses(0.90, n_users=40, seed=1), "close": ctr_responses(0.89, n_users=40, seed=2),
              "far": ctr_responses(0.60, n_users=40, seed=3)}
    for key, table in tables.items():
        write_run(tmp_path / "results", make_result(key), table)
    page = Page(build_site(tmp_path / "results", tmp_path / "site").read_text())
    cells = metric_cells(page)
    reps = {k: bootstrap("ctr", "auc", t, n_boot=1000, seed=0) for k, t in tables.items()}
    for key, cell in cells.items():
        lo, hi = percentile_interval(reps[key].values)
        assert (cell["attrs"]["data-ci-lo"], cell["attrs"]["data-ci-hi"]) == (repr(lo), repr(hi))
        assert lo < float(cell["value"]) < hi
        assert f"[{lo:.4f}, {hi:.4f}]" in cell["text"]
    assert "best" in cells["best"]["text"] and "data-p" not in cells["best"]["attrs"]
    p_close = compare_replicates(reps["close"], reps["best"])["p"]
    p_far = compare_replicates(reps["far"], reps["best"])["p"]
    assert float(cells["close"]["attrs"]["data-p"]) == p_close >= 0.05
    assert float(cells["far"]["attrs"]["data-p"]) == p_far < 0.05
    assert "≈ best" in cells["close"]["text"] and "tie" in cells["close"]["class"]
    assert "best" not in cells["far"]["text"]


def test_several_seeds_resample_the_same_users_for_their_mean(tmp_path: Path) -> None:
    seeds = [ctr_responses(0.80, n_users=30, seed=s) for s in (4, 5)]
    for s, table in enumerate(seeds):
        write_run(tmp_path / "results", make_result("alpha", seed=s), table)
    write_run(tmp_path / "results", make_result("beta"), ctr_responses(0.70, n_users=30, seed=6))
    cells = metric_cells(Page(build_site(tmp_path / "results", tmp_path / "site").read_text()))
    lo, hi = percentile_interval(bootstrap("ctr", "auc", seeds, n_boot=1000, seed=0).values)
    assert (cells["alpha"]["attrs"]["data-ci-lo"], cells["alpha"]["attrs"]["data-ci-hi"]) == (repr(lo), repr(hi))
    one_seed = percentile_interval(bootstrap("ctr", "auc", seeds[0], n_boot=1000, seed=0).values)
    assert (lo, hi) != one_seed
    assert cells["alpha"]["text"].startswith("0.8000 ± 0.0000 best")


def test_missing_or_altered_responses_show_no_interval_and_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    write_all(results, [make_result("best", value=0.9), make_result("kept", value=0.8)])
    gone, altered = write_all(results, [make_result("gone", value=0.7), make_result("altered", value=0.6)])
    (results / json.loads(gone.read_text())["outputs"]["responses"]["file"]).unlink()
    parquet = results / json.loads(altered.read_text())["outputs"]["responses"]["file"]
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    (results / "broken.json").write_text("{")
    (tmp_path / "site").mkdir()

    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "site")]) == 0
    err = capsys.readouterr().err.splitlines()
    html = (tmp_path / "site" / "index.html").read_text()
    cells = metric_cells(Page(html))
    assert re.fullmatch(r"0\.7000 no CI: responses file missing n=1", cells["gone"]["text"])
    assert re.fullmatch(r"0\.6000 no CI: responses file altered n=1", cells["altered"]["text"])
    assert all("data-ci-lo" not in cells[k]["attrs"] and "data-p" not in cells[k]["attrs"] for k in ("gone", "altered"))
    assert "data-p" in cells["kept"]["attrs"]  # the rest of the column is still tested
    warnings = html[html.index('id="warnings"') : html.index('id="skipped"')]
    for name in (gone.name, altered.name):
        assert name in warnings
    assert "is missing" in warnings and "sha256" in warnings and "2 warnings" in html
    assert [line for line in err if "skipped" in line] == [
        "recboard leaderboard: skipped broken.json: line 1: not valid JSON: Expecting property name enclosed in double quotes"
    ]
    assert sum(f"recboard leaderboard: warning: {name}: shown without a confidence interval" in line
               for line in err for name in (gone.name, altered.name)) == 2


def test_without_the_best_responses_nothing_is_marked_as_indistinguishable(tmp_path: Path) -> None:
    best, close = write_all(tmp_path / "results", [make_result("best", value=0.9), make_result("close", value=0.89)])
    (tmp_path / "results" / json.loads(best.read_text())["outputs"]["responses"]["file"]).unlink()
    cells = metric_cells(Page(build_site(tmp_path / "results", tmp_path / "site").read_text()))
    assert cells["best"]["text"] == "0.9000 best no CI: responses file missing n=1"
    assert re.fullmatch(r"0\.8900 \[0\.\d{4}, 0\.\d{4}\] n=1", cells["close"]["text"])


def test_responses_that_do_not_reproduce_the_reported_value_give_no_interval(tmp_path: Path) -> None:
    write_run(tmp_path / "results", make_result("alpha", value=0.75), ctr_responses(0.7), set_metric=False)
    built = build(tmp_path / "results", tmp_path / "site")
    cells = metric_cells(Page(built.index.read_text()))
    assert cells["alpha"]["text"] == "0.7500 no CI: responses disagree with the result n=1"
    (notice,) = built.notices
    assert "auc recomputed from the responses is 0.700000, the result reports 0.750000" in notice.reason


def test_legend_explains_the_interval_and_the_marks(board: tuple[str, Page]) -> None:
    html, _ = board
    legend = html[html.index('<dl class="legend">') : html.index("</dl>")]
    for expected in ("95% CI", "resampled with replacement 1,000 times (fixed seed 0", "≈ best",
                     "p ≥ 0.05", "recboard compare", "no CI"):
        assert expected in legend, expected


def test_a_missing_results_folder_leaves_the_site_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("the old page")
    with pytest.raises(LeaderboardError, match="does not exist"):
        build_site(tmp_path / "no-such-folder", site)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(LeaderboardError, match="is not a folder"):
        build_site(tmp_path / "a-file", site)
    assert main(["leaderboard", "--results", str(tmp_path / "typo"), "--out", str(site)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recboard leaderboard: error: results folder ") and "typo does not exist" in err
    assert (site / "index.html").read_text() == "the old page"
