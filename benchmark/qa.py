"""Answers to personalized questions: the harness-owned normalisation and exact matching of an
answer text to a question's options (tasks/uqa.py).

UQABench scores a generated answer by string prefix; RecBoard matches exactly, after one
normalisation applied to the answer and to every option alike (`normalize_answer`):

1. Unicode NFKC, then case folding (so "Ｃａｍｅｒａｓ" and "CAMERAS" read "cameras");
2. every punctuation character (Unicode category P*: . , ; : ! ? ' " - ( ) / …) becomes a space;
3. runs of white space collapse to one space, and the ends are stripped.

A generated answer is its first non-empty line (`parse_answer`); it picks the option whose
normalised text equals its own, and no option when none does: a prefix, a suffix or an extra word
never matches. The question generator (benchmark/protocol/uqa.py) keeps the options of a question
distinct after normalisation, so a match is never ambiguous.
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

NO_ANSWER = -1  # the option index of an answer that matches no option


def normalize_answer(text: str) -> str:
    """`text` as compared (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    spaced = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(spaced.split())


def parse_answer(generated: str) -> str:
    """The answer a generating model gave: the first non-empty line of its text, normalised."""
    for line in str(generated).splitlines():
        if line.strip():
            return normalize_answer(line)
    return ""


def resolve_option(generated: str, options: Sequence[str]) -> int:
    """The index of the option a generated text names exactly (after normalisation), or
    NO_ANSWER when it names none or, for options that are not distinct, more than one."""
    answer = parse_answer(generated)
    hits = [i for i, option in enumerate(options) if normalize_answer(option) == answer]
    return hits[0] if answer and len(hits) == 1 else NO_ANSWER
