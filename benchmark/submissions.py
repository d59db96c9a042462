"""User-submitted wrappers: one folder each, with submission.yaml and the model's code.

    name: my-model                 # the model key on the leaderboard; must not collide
    authors: [Ada Lovelace]
    paradigm: seqrec               # as in ModelMeta
    item_repr: id
    scheme: fine-tuned
    license: MIT
    citation: "..."
    entry: model.py:MyModel        # file in the folder : a benchmark.api.Model subclass
    args: {}                       # optional keyword arguments for the constructor

The paradigm 'oracle' is reserved to built-in models. The code is imported and run only in a
worker subprocess, under the plan's time and memory limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.api import ITEM_REPRESENTATIONS, PARADIGMS, SCHEMES
from benchmark.runner.spec import ModelRef

REQUIRED = ("name", "authors", "paradigm", "item_repr", "scheme", "license", "citation", "entry")
META_FIELDS = ("paradigm", "item_repr", "scheme", "license")
ALLOWED = {"paradigm": tuple(p for p in PARADIGMS if p != "oracle"), "item_repr": ITEM_REPRESENTATIONS,
           "scheme": SCHEMES}


@dataclass
class Submission:
    """A submission as read from its folder. Its code is never imported here: it runs only in a
    worker subprocess (see benchmark.runner.worker and benchmark.validate)."""

    folder: Path
    info: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.folder.name)

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.info.get("args") or {})

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.args, str(self.folder.resolve()), str(self.info.get("entry")))

    @property
    def ok(self) -> bool:
        return not self.problems


def discover(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/submission.yaml")) if root.is_dir() else []


def load_submission(folder: str | Path, builtin_keys: list[str] | None = None) -> Submission:
    """Read submission.yaml; `problems` lists everything wrong that can be seen without running it."""
    folder = Path(folder)
    sub = Submission(folder, {})
    meta_path = folder / "submission.yaml"
    if not meta_path.exists():
        sub.problems.append(f"{meta_path}: missing (every submission needs a submission.yaml)")
        return sub
    try:
        info = yaml.safe_load(meta_path.read_text())
    except yaml.YAMLError as e:
        sub.problems.append(f"{meta_path}: not valid YAML: {e}")
        return sub
    if not isinstance(info, dict):
        sub.problems.append(f"{meta_path}: expected a mapping of fields {list(REQUIRED)}")
        return sub
    sub.info = info
    missing = [k for k in REQUIRED if not info.get(k)]
    if missing:
        sub.problems.append(f"{meta_path}: missing required fields {missing}")
    if not isinstance(info.get("authors", []), list):
        sub.problems.append(f"{meta_path}: 'authors' must be a list of names")
    if not isinstance(info.get("args") or {}, dict):
        sub.problems.append(f"{meta_path}: 'args' must be a mapping of constructor arguments")
    for key, allowed in ALLOWED.items():
        if key in info and info[key] not in allowed:
            reserved = " ('oracle' is reserved to built-in models)" if info[key] == "oracle" else ""
            sub.problems.append(f"{meta_path}: {key}={info[key]!r} is not one of {list(allowed)}{reserved}")
    if builtin_keys and sub.name in builtin_keys:
        sub.problems.append(f"{meta_path}: name {sub.name!r} collides with a built-in model; choose another")
    entry = str(info.get("entry") or "")
    if ":" not in entry:
        sub.problems.append(f"{meta_path}: 'entry' must look like 'model.py:ClassName', got {entry!r}")
        return sub
    code = folder / entry.split(":", 1)[0]
    if not code.is_file():
        sub.problems.append(f"{meta_path}: entry file {code} does not exist")
    return sub


def meta_problems(sub: Submission, meta: dict[str, Any]) -> list[str]:
    """Disagreements between submission.yaml and the class's meta (as the worker reported it)."""
    return [f"{sub.folder / 'submission.yaml'}: {f}={sub.info[f]!r} disagrees with the class's meta.{f}={meta.get(f)!r}"
            for f in META_FIELDS if f in sub.info and sub.info[f] != meta.get(f)]
