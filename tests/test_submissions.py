from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.results import read_result
from benchmark.runner.config import parse_config
from benchmark.runner.run import run_plan
from benchmark.submissions import load_submission
from benchmark.validate import run_tiny, validate_submission

EXAMPLE = Path(__file__).resolve().parent.parent / "submissions" / "example"


def copy_example(tmp_path, name="sub") -> Path:
    dst = tmp_path / name
    shutil.copytree(EXAMPLE, dst)
    return dst


def test_example_submission_is_valid(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: edit(d / "model.py", "    def rank(", "    def rank_renamed("),
         "does not implement rank()"),
        (lambda d: edit(d / "model.py", "        return raw / (1.0 + raw)", "        return (raw / (1.0 + raw))[:-1]"),
         "ctr: checking the responses: CTR: expected responses of shape"),
        (lambda d: edit(d / "model.py", "        return raw / (1.0 + raw)", "        return raw * float('nan')"),
         "NaN response"),
        (lambda d: edit(d / "model.py", "        n = self.catalogue.n_items\n", "        raise KeyError('no such feature')\n"),
         "fit: KeyError"),
        (lambda d: edit(d / "submission.yaml", "scheme: fine-tuned", "scheme: zero-shot"),
         "scheme='zero-shot' disagrees with the class's meta.scheme='fine-tuned'"),
        (lambda d: edit(d / "submission.yaml", "license: Apache-2.0\n", ""),
         "missing required fields ['license']"),
        (lambda d: edit(d / "submission.yaml", "name: example-covisit", "name: sasrec"),
         "collides with a built-in model"),
        (lambda d: edit(d / "model.py", "import numpy as np", "import numpy as np\nimport not_a_module"),
         "raised ModuleNotFoundError on import"),
        (lambda d: (d / "submission.yaml").unlink(), "submission.yaml: missing"),
        (lambda d: edit(d / "submission.yaml", "paradigm: baseline", "paradigm: oracle"),
         "'oracle' is reserved to built-in models"),
    ],
)
def test_invalid_submissions_say_what_is_wrong(tmp_path, change, expected):
    folder = copy_example(tmp_path)
    change(folder)
    _, _, problems = validate_submission(folder)
    assert problems, "expected problems"
    assert any(expected in p for p in problems), problems


def test_cli_reports_invalid(tmp_path, capsys):
    folder = copy_example(tmp_path)
    edit(folder / "submission.yaml", "license: Apache-2.0\n", "")
    assert main(["validate", str(folder)]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_submission_code_is_not_imported_by_the_harness(tmp_path):
    folder = copy_example(tmp_path)
    edit(folder / "model.py", "import numpy as np", "import numpy as np\nraise SystemExit('imported in the parent')")
    sub = load_submission(folder)  # reading the folder must not run its code
    assert sub.ok


# Hostile submissions: a CTR-only model whose methods are replaced by the attack under test.
HOSTILE = '''
import numpy as np
from benchmark.api import Model, ModelMeta

{preamble}


class Hostile(Model):
    meta = ModelMeta(name="hostile", paradigm="{paradigm}", item_repr="id", scheme="zero-shot", backend="numpy",
                     supports=("score",), license="MIT")

    def score(self, requests):
{body}
'''
YAML = """name: hostile
authors: [Mallory]
paradigm: baseline
item_repr: id
scheme: zero-shot
license: MIT
citation: none
entry: model.py:Hostile
"""
HONEST = "        return np.full(len(requests), 0.5)"


def hostile(tmp_path, body=HONEST, preamble="", paradigm="baseline") -> Path:
    folder = tmp_path / "subs" / "hostile"
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(YAML)
    (folder / "model.py").write_text(HOSTILE.format(body=body, preamble=preamble, paradigm=paradigm))
    return folder


STACK_WALK = """        import gc, inspect
        for obj in gc.get_objects():
            if type(obj).__name__ == "TaskData":
                labels = np.asarray(obj.splits["test"]["label"], dtype=float)
                if len(labels) == len(requests):
                    return labels
        for frame in inspect.stack():
            for value in frame.frame.f_locals.values():
                if type(value).__name__ == "TaskData":
                    return np.asarray(value.splits["test"]["label"], dtype=float)
        return np.full(len(requests), 0.5)"""


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"preamble": "import sys\nsys.exit(0)"}, "called sys.exit(0) on import"),
        ({"preamble": "import tasks.ctr\ntasks.ctr.auc = lambda *a, **k: 1.0"}, "replaced harness code ['tasks.ctr.auc']"),
        ({"paradigm": "oracle"}, "reserved to built-in models"),
        ({"body": "        import time\n        time.sleep(3600)"}, "timed out after 20 s"),
        ({"body": "        import os\n        os._exit(0)"}, "must not exit the process"),
        ({"body": "        chunks = []\n        while True:\n            chunks.append(np.ones(10**7))"}, "MemoryError"),
    ],
)
def test_hostile_submissions_are_refused_with_a_reason(tmp_path, kwargs, expected):
    folder = hostile(tmp_path, **kwargs)
    _, problems = run_tiny(load_submission(folder), timeout_s=20, memory_mb=1500)
    assert any(expected in p for p in problems), problems


def test_a_submission_cannot_read_the_test_labels(tmp_path):
    folder = hostile(tmp_path, body=STACK_WALK)
    config = parse_config({
        "name": "h", "results_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "latency_sample": 2, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 3}},
        "tasks": ["ctr"], "models": ["random"], "submissions": str(folder.parent)})
    report = run_plan(config, validate_submission=lambda sub: run_tiny(sub, timeout_s=60))
    results = {read_result(p)["model"]["key"]: read_result(p) for p in report.written}
    assert results["hostile"]["status"] == "ok" and results["hostile"]["executor"] == "subprocess"
    assert results["hostile"]["metrics"]["auc"] == pytest.approx(0.5)  # no labels were found to copy
    assert results["random"]["metrics"]["auc"] < 0.7


def test_a_hanging_submission_in_a_plan_fails_its_runs_and_the_plan_goes_on(tmp_path):
    folder = hostile(tmp_path, body="        import time\n        if len(requests) > 1: time.sleep(3600)\n" + HONEST)
    config = parse_config({
        "name": "h", "results_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 300, "ctr_finetune_rows": 2000, "latency_sample": 2, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 3}},
        "tasks": ["ctr"], "models": ["random"], "submissions": str(folder.parent), "timeout_s": 15})
    report = run_plan(config, validate_submission=lambda sub: (__import__("benchmark.api").api.ModelMeta(
        name="hostile", paradigm="baseline", item_repr="id", scheme="zero-shot", backend="numpy",
        supports=("score",), license="MIT"), []))
    results = {read_result(p)["model"]["key"]: read_result(p) for p in report.written}
    assert results["random"]["status"] == "ok"
    err = results["hostile"]["error"]
    assert results["hostile"]["status"] == "failed" and err["stage"] == "timeout" and "timed out after 15 s" in err["message"]
    assert not report.ok
