from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.validate import validate_submission

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
         "ctr: checking responses of score(): CTR: expected responses of shape"),
        (lambda d: edit(d / "model.py", "        return raw / (1.0 + raw)", "        return raw * float('nan')"),
         "NaN response"),
        (lambda d: edit(d / "model.py", "        n = self.catalogue.n_items\n", "        raise KeyError('no such feature')\n"),
         "fit() raised KeyError"),
        (lambda d: edit(d / "submission.yaml", "scheme: fine-tuned", "scheme: zero-shot"),
         "disagrees with CoVisitation.meta.scheme"),
        (lambda d: edit(d / "submission.yaml", "license: Apache-2.0\n", ""),
         "missing required fields ['license']"),
        (lambda d: edit(d / "submission.yaml", "name: example-covisit", "name: sasrec"),
         "collides with a built-in model"),
        (lambda d: edit(d / "model.py", "import numpy as np", "import numpy as np\nimport not_a_module"),
         "raised ModuleNotFoundError on import"),
        (lambda d: (d / "submission.yaml").unlink(), "submission.yaml: missing"),
    ],
)
def test_invalid_submissions_say_what_is_wrong(tmp_path, change, expected):
    folder = copy_example(tmp_path)
    change(folder)
    _, problems = validate_submission(folder)
    assert problems, "expected problems"
    assert any(expected in p for p in problems), problems


def test_cli_reports_invalid(tmp_path, capsys):
    folder = copy_example(tmp_path)
    edit(folder / "submission.yaml", "license: Apache-2.0\n", "")
    assert main(["validate", str(folder)]) == 1
    assert "INVALID" in capsys.readouterr().out
