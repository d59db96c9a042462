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
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.api import Model, ModelMeta

REQUIRED = ("name", "authors", "paradigm", "item_repr", "scheme", "license", "citation", "entry")
META_FIELDS = ("paradigm", "item_repr", "scheme", "license")
METHOD_FOR = {"score": "score", "rank": "rank", "answer": "answer"}


@dataclass
class Submission:
    folder: Path
    info: dict[str, Any]
    model_cls: type[Model] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.folder.name)

    @property
    def source(self) -> str:
        return f"submission:{self.folder.name}"

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.info.get("args") or {})

    @property
    def ok(self) -> bool:
        return not self.problems and self.model_cls is not None


def discover(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/submission.yaml")) if root.is_dir() else []


def load_submission(folder: str | Path, builtin_keys: list[str] | None = None) -> Submission:
    """Read and import a submission; `problems` lists everything static that is wrong with it."""
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
    if builtin_keys and sub.name in builtin_keys:
        sub.problems.append(f"{meta_path}: name {sub.name!r} collides with a built-in model; choose another")
    entry = str(info.get("entry") or "")
    if ":" not in entry:
        sub.problems.append(f"{meta_path}: 'entry' must look like 'model.py:ClassName', got {entry!r}")
        return sub
    file_name, cls_name = entry.split(":", 1)
    code = folder / file_name
    if not code.exists():
        sub.problems.append(f"{meta_path}: entry file {code} does not exist")
        return sub
    module_name = f"recboard_submission_{folder.name.replace('-', '_')}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, code)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as e:
        tb = traceback.format_exc(limit=3)
        sub.problems.append(f"{code}: raised {type(e).__name__} on import: {e}\n{tb}")
        return sub
    cls = getattr(module, cls_name, None)
    if cls is None:
        sub.problems.append(f"{code}: defines no {cls_name!r}")
        return sub
    if not (inspect.isclass(cls) and issubclass(cls, Model)):
        sub.problems.append(f"{code}: {cls_name} must subclass benchmark.api.Model")
        return sub
    meta = getattr(cls, "meta", None)
    if not isinstance(meta, ModelMeta):
        sub.problems.append(f"{code}: {cls_name}.meta must be a benchmark.api.ModelMeta")
        return sub
    for f in META_FIELDS:
        if f in info and info[f] != getattr(meta, f):
            sub.problems.append(f"{meta_path}: {f}={info[f]!r} disagrees with {cls_name}.meta.{f}={getattr(meta, f)!r}")
    for kind in meta.supports:
        if getattr(cls, METHOD_FOR[kind]) is getattr(Model, METHOD_FOR[kind]):
            sub.problems.append(f"{code}: meta.supports lists {kind!r} but {cls_name} does not implement {METHOD_FOR[kind]}()")
    if meta.scheme == "fine-tuned" and cls.fit is Model.fit:
        sub.problems.append(f"{code}: scheme is fine-tuned but {cls_name} does not implement fit()")
    sub.model_cls = cls
    return sub
