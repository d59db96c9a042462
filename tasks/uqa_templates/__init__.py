"""The UQA question templates: one versioned jinja2 file per wording, `<subtask>_<n>.j2`, several
per sub-task. Each renders one question; its ground truth and its options are computed from the
user's data by the template's `form` (benchmark/protocol/uqa.py).

Front matter (a jinja comment, as in tasks/prompts; benchmark/prompts.py parses it):

    name: df_1                 # the file name
    version: "1"               # bump when a change is meant
    subtask: df                # one of df mf ip ap li si it
    form: kth_attribute        # how the ground truth and options are computed
    attributes: [title, category, brand, genre]   # what it may ask about
    chat: none                 # a question, not a whole prompt

Variables a template may use: attribute (the word: title, category, brand or genre), position
("most recent", "second most recent", "third most recent") and k (1–3, or the number of items
listed), value (the attribute value counted), n (the last interactions counted), m (the recent
window, protocol field uqa_recent).

The questions are built into the task data, and the templates' names and texts are part of its
cache key (`digest`), so editing a template rebuilds the questions and changes the task-data hash.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from benchmark.prompts import PromptError, PromptTemplate, load_package_template, package_template_names

SUBTASK_KEYS = ("subtask", "form", "attributes")


def names() -> list[str]:
    return package_template_names(__name__)


@lru_cache(maxsize=None)
def load(name: str) -> PromptTemplate:
    template = load_package_template(__name__, name)
    missing = [k for k in SUBTASK_KEYS if k not in template.front]
    if missing:
        raise PromptError(f"question template {name}: front matter lacks {missing}")
    if not isinstance(template.front["attributes"], list) or not template.front["attributes"]:
        raise PromptError(f"question template {name}: attributes must be a non-empty list")
    return template


def by_subtask() -> dict[str, list[PromptTemplate]]:
    """Every template, grouped by its sub-task, each group in name order."""
    groups: dict[str, list[PromptTemplate]] = {}
    for name in names():
        template = load(name)
        groups.setdefault(str(template.front["subtask"]), []).append(template)
    return groups


def digest() -> str:
    """sha256 of every template's name and text: part of the QA task data's cache key."""
    h = hashlib.sha256()
    for name in names():
        h.update(name.encode() + b"\x00" + load(name).text.encode("utf-8") + b"\x00")
    return h.hexdigest()


__all__ = ["by_subtask", "digest", "load", "names"]
