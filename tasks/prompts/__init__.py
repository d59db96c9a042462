"""The tasks' prompt templates: versioned jinja2 files in this package (`<name>.j2`), loaded as
`PromptTemplate`s (benchmark/prompts.py describes the front matter and how a prompt is wrapped).
Editing a file changes its sha256, hence the identity of every result made with it; bump
`version` in its front matter when the change is meant."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from benchmark.prompts import PromptError, PromptTemplate


def names() -> list[str]:
    return sorted(p.name[:-3] for p in resources.files(__name__).iterdir() if p.name.endswith(".j2"))


@lru_cache(maxsize=None)
def load(name: str) -> PromptTemplate:
    path = resources.files(__name__).joinpath(f"{name}.j2")
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r}; known: {names()}")
    return PromptTemplate.from_text(path.read_text(encoding="utf-8"), name)


__all__ = ["PromptError", "PromptTemplate", "load", "names"]
