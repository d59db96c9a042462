"""The tasks' prompt templates: versioned jinja2 files in this package (`<name>.j2`), loaded as
`PromptTemplate`s (benchmark/prompts.py describes the front matter and how a prompt is wrapped).
Editing a file changes its sha256, hence the identity of every result made with it; bump
`version` in its front matter when the change is meant."""

from __future__ import annotations

from functools import lru_cache

from benchmark.prompts import PromptError, PromptTemplate, load_package_template, package_template_names


def names() -> list[str]:
    return package_template_names(__name__)


@lru_cache(maxsize=None)
def load(name: str) -> PromptTemplate:
    return load_package_template(__name__, name)


__all__ = ["PromptError", "PromptTemplate", "load", "names"]
