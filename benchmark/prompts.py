"""Prompt templates as data: a versioned jinja2 text that a task owns and hands to a model through
the work order (`Model.prompts`), so that the prompt is part of the task, recorded in the result
and in its identity, and never a string inside model code.

A template file opens with a jinja comment holding YAML front matter (it renders to nothing):

    {#-
    name: ctr_yes_no        # must match the file name
    version: "1"
    chat: tokenizer         # "tokenizer": the rendered text is one user turn in the tokenizer's
                            # chat template (when it has one), ending with its assistant cue;
                            # "none": the rendered text is used as is
    answer_prefix: ""       # the exact text between the (wrapped) prompt and the answer
    -#}

The text a model scores is `wrap(render(**vars)) + answer_prefix` (see `full_prompt`): the answer's
first token is scored at the position right after exactly that text. Rendering is strict: a
variable the template uses but the caller does not pass is an error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any, Callable

import jinja2
import yaml

CHAT_MODES = ("tokenizer", "none")
_FRONT = re.compile(r"\A\{#-?(.*?)-?#\}", re.S)


class PromptError(ValueError):
    """A template is malformed, or rendering it failed (a missing variable, say)."""


def _environment() -> jinja2.Environment:
    # No autoescape (plain text, not HTML); keep_trailing_newline off, so a file's final newline
    # is not part of the prompt.
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    text: str
    chat: str = "tokenizer"
    answer_prefix: str = ""
    front: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def from_text(cls, text: str, name: str | None = None) -> "PromptTemplate":
        m = _FRONT.match(text)
        if m is None:
            raise PromptError(f"prompt template {name or '?'}: no front matter comment ({{#- ... -#}}) at the top")
        try:
            front = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as e:
            raise PromptError(f"prompt template {name or '?'}: front matter is not YAML: {e}") from None
        if not isinstance(front, dict):
            raise PromptError(f"prompt template {name or '?'}: front matter must be a mapping")
        declared = front.get("name")
        if name is not None and declared != name:
            raise PromptError(f"prompt template {name}: front matter names it {declared!r}")
        if declared is None or "version" not in front:
            raise PromptError(f"prompt template {name or '?'}: front matter needs name and version")
        chat = front.get("chat", "tokenizer")
        if chat not in CHAT_MODES:
            raise PromptError(f"prompt template {declared}: chat must be one of {list(CHAT_MODES)}, got {chat!r}")
        prefix = front.get("answer_prefix", "")
        if not isinstance(prefix, str):
            raise PromptError(f"prompt template {declared}: answer_prefix must be a string, got {prefix!r}")
        template = cls(str(declared), str(front["version"]), text, chat, prefix, front)
        template._compiled  # a syntax error shows now, not at the first render
        return template

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PromptTemplate":
        """From what a work order carries ({name, version, text}); the name and version must be
        the text's own."""
        if not isinstance(d, dict) or "text" not in d:
            raise PromptError(f"a prompt template needs its text, got {d!r}")
        template = cls.from_text(d["text"], d.get("name"))
        if "version" in d and str(d["version"]) != template.version:
            raise PromptError(f"prompt template {template.name}: version {d['version']!r} != the text's {template.version!r}")
        return template

    @cached_property
    def _compiled(self) -> jinja2.Template:
        try:
            return _environment().from_string(self.text)
        except jinja2.TemplateSyntaxError as e:
            raise PromptError(f"prompt template {self.name}: line {e.lineno}: {e.message}") from None

    def render(self, **variables: Any) -> str:
        """The user message (before any chat wrapping and before `answer_prefix`)."""
        try:
            return self._compiled.render(**variables)
        except jinja2.UndefinedError as e:
            raise PromptError(f"prompt template {self.name} v{self.version}: {e.message}") from None

    def full_prompt(self, message: str, apply_chat: Callable[[str], str]) -> str:
        """The exact text after which the answer is scored: the message wrapped as `chat` says
        (`apply_chat` is the backend's), then `answer_prefix`."""
        wrapped = apply_chat(message) if self.chat == "tokenizer" else message
        return wrapped + self.answer_prefix

    def to_dict(self) -> dict[str, Any]:
        """What a result records (and its identity hashes)."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "chat": self.chat,
                "answer_prefix": self.answer_prefix}

    def to_order(self) -> dict[str, Any]:
        """What a work order carries to the model."""
        return {"name": self.name, "version": self.version, "text": self.text}


def package_template_names(package: str) -> list[str]:
    """The templates a package of template files holds: its `<name>.j2` files, sorted."""
    return sorted(p.name[:-3] for p in resources.files(package).iterdir() if p.name.endswith(".j2"))


def load_package_template(package: str, name: str) -> PromptTemplate:
    """The template `<name>.j2` of a package of template files (tasks/prompts, tasks/uqa_templates)."""
    path = resources.files(package).joinpath(f"{name}.j2")
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} in {package}; known: {package_template_names(package)}")
    return PromptTemplate.from_text(path.read_text(encoding="utf-8"), name)
