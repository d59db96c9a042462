"""Protocol recboard-v1, personalized QA (UQABench, Liu et al. 2025): users split into QA test,
validation and training users, and per user a few questions with candidate options, their ground
truth computed from the user's own sequence, worded by the versioned templates of
tasks/uqa_templates.

Users. Those with at least uqa_min_history + 1 positives, shuffled once by data_seed: the first
uqa_test_users are the test users, the next uqa_valid_users validate and the next uqa_train_users
train (QA fine-tuning), so the three are disjoint. The `encoder` split holds the whole positive
sequence (oldest first) of users with two or more positives who are neither test nor validation
users (training users included), up to uqa_encoder_users of them in a data_seed order, for
pre-training user encoders on next item.

Per user, s is the user's positives oldest first. A request carries the history
h = s[:-1][-uqa_history_window:] and holds out the next item s[-1]. Sequence questions (DF, MF, LI,
SI, IT) are answered from h, exactly what the model is handed; prediction questions (IP, AP) from
the next item. "Recent" is the last m = uqa_recent items of h, "earlier" the rest of h.

Attributes come from the catalogue: title, category (called "genre", and split into its genres on
", ", for MovieLens, whose category field lists the genres), brand. Titles and values are cut to
120 characters. An attribute is asked about only when at least half of the items the interactions
name have it; the others are listed under `skipped_attributes`, and a sub-task with no template
left under `skipped_subtasks`, in the task data's extra (the result's `task.details`).

Sub-tasks and dimensions (UQABench Table 1), with the forms of tasks/uqa_templates:

- understanding: DF direct feature. `kth_attribute`: the attribute of the k-th most recent item,
  k ∈ {1, 2, 3} (UQABench's filter k < 4); `last_k_titles`: the titles of the last k ∈ {2, 3}
  items, oldest first, joined by "; ".
- understanding: MF match feature. `count`: how many items of h have a value v drawn from h's
  values; `count_recent`: the same over the last 2m items. v is drawn from the items counted, so
  the answer is never 0 (UQABench's filter).
- prediction: IP item prediction. `next_title`: the next item's title.
- prediction: AP attribute prediction. `next_attribute`: the next item's attribute.
- interest: LI long-term interest. `mode_all`: the value most frequent in h.
- interest: SI short-term interest. `mode_recent`: the value most frequent among the recent items.
- interest: IT interest trajectory. `trajectory`: "from a to b", a the most frequent value of the
  earlier items and b of the recent ones, or "stayed with a" when they agree.

A "most frequent" answer must be unique (a tie gives no question). Values are counted per item
(an item with two genres counts once for each).

Options. uqa_options per question: the truth and distractors distinct from it and from each other
after `benchmark.qa.normalize_answer`, shuffled so the truth lands at a random position (the
column `answer` is its index). Distractors come first from the user's own history where the
question is about it (other values of h, other items of h, other windows of h, the truth's
reverse order; for IT the reversed and the unchanged trajectories), then from the catalogue:
uniformly drawn values, or titles of uniformly drawn items the user never touched (IP). MF
distractors are other counts within max(3, uqa_options) of the truth, 0 included (only the
answer is never 0), so that "the smallest number" is not a winning guess when the truth is 1. A question that
cannot get enough distinct options is not asked.

Assignment. User number r of a split (in split order) tries the sub-tasks in the rotated order
df mf ip ap li si it starting at r mod 7, so the sub-tasks take turns across users; for each sub-task it tries its (template, attribute) pairs in a seeded random
order until one gives a question, and it goes round again (at most ⌈q/7⌉ + 1 rounds) until it has
q = uqa_questions_per_user questions; an identical question is never asked twice. Every draw uses a generator seeded by
(data_seed, user), so a user's questions do not depend on the other users.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from benchmark.data.dataset import Dataset
from benchmark.protocol.spec import ProtocolError, ProtocolSpec
from benchmark.qa import normalize_answer

SUBTASKS = ("df", "mf", "ip", "ap", "li", "si", "it")
DIMENSIONS = {"understanding": ("df", "mf"), "prediction": ("ip", "ap"), "interest": ("li", "si", "it")}
DIMENSION_OF = {s: d for d, subs in DIMENSIONS.items() for s in subs}
ORDINALS = ("most recent", "second most recent", "third most recent")
GENRE_ADAPTERS = ("movielens-100k", "movielens-1m")  # their category field lists the genres
MAX_TEXT_CHARS = 120
MIN_COVERAGE = 0.5
QUESTION_COLUMNS = ("user", "history", "question", "options", "answer", "subtask", "attribute", "template")


@dataclass(frozen=True)
class Attribute:
    """One attribute of the catalogue's items: `display[i]` is item i's text ('' when unknown),
    `values[i]` the values it counts as (one, or its genres)."""

    name: str
    field: str
    display: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    def distinct_displays(self) -> list[str]:
        return sorted({d for d in self.display if d})

    def distinct_values(self) -> list[str]:
        return sorted({v for vs in self.values for v in vs})


def _clip(text: Any) -> str:
    return " ".join(str(text).split())[:MAX_TEXT_CHARS].strip()


def catalogue_attributes(ds: Dataset) -> tuple[dict[str, Attribute], dict[str, str]]:
    """The attributes questions may ask about, and the skipped ones with why."""
    items = ds.items
    used = np.unique(ds.interactions["item"].to_numpy(np.int64))
    genre = ds.source.get("adapter") in GENRE_ADAPTERS
    specs = [("title", "title", False), ("genre" if genre else "category", "category", genre), ("brand", "brand", False)]
    attributes, skipped = {}, {}
    for name, field, split in specs:
        display = tuple(_clip(x) for x in items[field].fillna("").astype(str).tolist())
        if split:
            values = tuple(tuple(dict.fromkeys(v for v in (_clip(p) for p in d.split(", ")) if v)) for d in display)
        else:
            values = tuple((d,) if d else () for d in display)
        coverage = float(np.mean([bool(display[i]) for i in used])) if len(used) else 0.0
        if coverage < MIN_COVERAGE:
            skipped[name] = (f"no item has a {field}" if coverage == 0 else
                             f"only {coverage:.0%} of the items interacted with have a {field} "
                             f"(needs {MIN_COVERAGE:.0%})")
            continue
        attributes[name] = Attribute(name, field, display, values)
    return attributes, skipped


@dataclass
class UserData:
    user: int
    history: np.ndarray  # the request's history, oldest first
    next_item: int
    touched: np.ndarray  # every item of the user, sorted
    rng: np.random.Generator


@dataclass
class Draft:
    """What a form makes: the template's variables, the truth and the distractor pools (tried in
    order, each pool already in a random order)."""

    variables: dict[str, Any]
    truth: str
    pools: list[list[str]]


class Generator:
    """Questions for the users of one dataset under one spec (see the module docstring)."""

    def __init__(self, ds: Dataset, spec: ProtocolSpec, templates: dict[str, list]):
        self.spec = spec
        self.n_items = ds.n_items
        self.attributes, self.skipped_attributes = catalogue_attributes(ds)
        self._displays = {n: a.distinct_displays() for n, a in self.attributes.items()}
        self._values = {n: a.distinct_values() for n, a in self.attributes.items()}
        self.pairs: dict[str, list[tuple[Any, str]]] = {}
        self.skipped_subtasks: dict[str, str] = {}
        for subtask in SUBTASKS:
            found = templates.get(subtask, [])
            pairs = [(t, a) for t in found for a in t.front["attributes"] if a in self.attributes]
            for t, _ in pairs:
                if t.front["form"] not in FORMS:
                    raise ProtocolError(f"question template {t.name}: unknown form {t.front['form']!r}; "
                                        f"known: {sorted(FORMS)}")
            if pairs:
                self.pairs[subtask] = pairs
            elif not found:
                self.skipped_subtasks[subtask] = "no question template"
            else:
                wanted = sorted({a for t in found for a in t.front["attributes"]})
                self.skipped_subtasks[subtask] = f"needs one of the attributes {wanted}, which the data lacks"

    # -- helpers used by the forms ------------------------------------------------------------

    def shuffled(self, rng: np.random.Generator, values: Iterable[str]) -> list[str]:
        values = list(values)
        return [values[i] for i in rng.permutation(len(values))]

    def catalogue_pool(self, rng: np.random.Generator, distinct: list[str]) -> list[str]:
        """Up to 8 × uqa_options values drawn uniformly (with repeats dropped) from `distinct`."""
        if not distinct:
            return []
        picks = rng.integers(0, len(distinct), size=min(len(distinct), 8 * self.spec.uqa_options))
        return [distinct[i] for i in dict.fromkeys(picks.tolist())]

    def untouched_titles(self, u: UserData) -> list[str]:
        """Titles of items drawn uniformly among those the user never touched."""
        titles = self.attributes["title"].display
        picks = u.rng.integers(0, self.n_items, size=8 * self.spec.uqa_options)
        picks = [i for i in dict.fromkeys(picks.tolist()) if not _contains(u.touched, i)]
        return [titles[i] for i in picks if titles[i]]

    def values_of(self, attr: Attribute, items: np.ndarray) -> Counter:
        return Counter(v for i in items.tolist() for v in attr.values[i])

    # -- questions ----------------------------------------------------------------------------

    def questions(self, u: UserData, rank: int) -> list[dict[str, Any]]:
        q = self.spec.uqa_questions_per_user
        start = rank % len(SUBTASKS)
        order = [SUBTASKS[(start + j) % len(SUBTASKS)] for j in range(len(SUBTASKS))]
        out: list[dict[str, Any]] = []
        asked: set[str] = set()
        for _ in range(math.ceil(q / len(SUBTASKS)) + 1):
            for subtask in order:
                if len(out) >= q:
                    return out
                question = self.one(subtask, u, asked)
                if question is not None:
                    out.append(question)
        return out

    def one(self, subtask: str, u: UserData, asked: set[str]) -> dict[str, Any] | None:
        pairs = self.pairs.get(subtask, [])
        for k in u.rng.permutation(len(pairs)):
            template, attr_name = pairs[k]
            draft = FORMS[template.front["form"]](self, u, self.attributes[attr_name])
            if draft is None:
                continue
            variables = {"attribute": attr_name, "m": self.spec.uqa_recent, **draft.variables}
            question = template.render(**variables)
            if question in asked:
                continue
            options = self.options(u.rng, draft)
            if options is None:
                continue
            asked.add(question)
            order = u.rng.permutation(len(options))
            return {"user": u.user, "history": u.history.tolist(), "question": question,
                    "options": [options[i] for i in order], "answer": int(np.flatnonzero(order == 0)[0]),
                    "subtask": subtask, "attribute": attr_name, "template": template.name}
        return None

    def options(self, rng: np.random.Generator, draft: Draft) -> list[str] | None:
        """The truth first, then distractors from the pools in order; None when too few."""
        if not draft.truth:
            return None
        options, seen = [draft.truth], {normalize_answer(draft.truth)}
        for pool in draft.pools:
            for text in pool:
                key = normalize_answer(text)
                if key and key not in seen:
                    options.append(text)
                    seen.add(key)
                    if len(options) == self.spec.uqa_options:
                        return options
        return None


def _contains(sorted_items: np.ndarray, item: int) -> bool:
    k = int(np.searchsorted(sorted_items, item))
    return k < len(sorted_items) and int(sorted_items[k]) == item


def _unique_mode(counts: Counter) -> str | None:
    top = counts.most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


# -- forms: (generator, user, attribute) → Draft, or None when the user gives no such question ---


def kth_attribute(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    k = int(u.rng.integers(1, min(3, len(u.history)) + 1))  # UQABench's filter: k < 4
    item = int(u.history[-k])
    others = [attr.display[i] for i in u.history.tolist() if i != item]
    pool = g.untouched_titles(u) if attr.name == "title" else g.catalogue_pool(u.rng, g._displays[attr.name])
    return Draft({"k": k, "position": ORDINALS[k - 1]}, attr.display[item], [g.shuffled(u.rng, others), pool])


def last_k_titles(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    k = int(u.rng.integers(2, 4))
    titles = [attr.display[i] for i in u.history.tolist()]
    if k > len(titles) or any(not t for t in titles[-k:]):
        return None
    join = "; ".join
    windows = [join(titles[j - k:j]) for j in range(k, len(titles))]
    fake = [join(g.shuffled(u.rng, g.untouched_titles(u))[:k]) for _ in range(2)]
    return Draft({"k": k}, join(titles[-k:]), [[join(titles[-k:][::-1])], g.shuffled(u.rng, windows), fake])


def _count(g: Generator, u: UserData, attr: Attribute, items: np.ndarray, variables: dict[str, Any]) -> Draft | None:
    counts = g.values_of(attr, items)
    if not counts:
        return None
    value = sorted(counts)[int(u.rng.integers(0, len(counts)))]
    truth = counts[value]
    assert truth > 0  # UQABench's filter: no match-feature question whose answer is 0
    reach = max(3, g.spec.uqa_options)
    near = [str(c) for c in range(max(0, truth - reach), truth + reach + 1) if c != truth]
    return Draft({**variables, "value": value}, str(truth), [g.shuffled(u.rng, near)])


def count(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    return _count(g, u, attr, u.history, {})


def count_recent(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    n = 2 * g.spec.uqa_recent
    return _count(g, u, attr, u.history[-n:], {"n": n})


def next_title(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    return Draft({}, attr.display[u.next_item], [g.untouched_titles(u)])


def next_attribute(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    return Draft({}, attr.display[u.next_item], [g.catalogue_pool(u.rng, g._displays[attr.name])])


def _mode(g: Generator, u: UserData, attr: Attribute, items: np.ndarray) -> Draft | None:
    truth = _unique_mode(g.values_of(attr, items))
    if truth is None:
        return None
    others = [v for v in g.values_of(attr, u.history) if v != truth]
    return Draft({}, truth, [g.shuffled(u.rng, others), g.catalogue_pool(u.rng, g._values[attr.name])])


def mode_all(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    return _mode(g, u, attr, u.history)


def mode_recent(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    return _mode(g, u, attr, u.history[-g.spec.uqa_recent:])


def trajectory_text(before: str, after: str) -> str:
    return f"stayed with {before}" if before == after else f"from {before} to {after}"


def trajectory(g: Generator, u: UserData, attr: Attribute) -> Draft | None:
    m = g.spec.uqa_recent
    a = _unique_mode(g.values_of(attr, u.history[:-m]))
    b = _unique_mode(g.values_of(attr, u.history[-m:]))
    if a is None or b is None:
        return None
    others = g.shuffled(u.rng, [v for v in g.values_of(attr, u.history) if v not in (a, b)])
    hard = [trajectory_text(b, a), trajectory_text(a, a), trajectory_text(b, b)]
    near = [t for x in others for t in (trajectory_text(a, x), trajectory_text(x, b), trajectory_text(x, x))]
    far = [trajectory_text(x, y) for x, y in zip(g.catalogue_pool(u.rng, g._values[attr.name]),
                                                 g.catalogue_pool(u.rng, g._values[attr.name]))]
    return Draft({}, trajectory_text(a, b), [g.shuffled(u.rng, hard), near, far])


FORMS: dict[str, Callable[[Generator, UserData, Attribute], Draft | None]] = {
    "kth_attribute": kth_attribute, "last_k_titles": last_k_titles, "count": count, "count_recent": count_recent,
    "next_title": next_title, "next_attribute": next_attribute, "mode_all": mode_all, "mode_recent": mode_recent,
    "trajectory": trajectory,
}


def template_inputs() -> dict[str, Any]:
    """What of the question templates enters the task data's cache key: their digest."""
    from tasks.uqa_templates import digest

    return {"question_templates": digest()}


def build_uqa(ds: Dataset, spec: ProtocolSpec, logs: list) -> Any:
    from benchmark.protocol.build import BuiltTask
    from tasks.uqa_templates import by_subtask

    all_logs = logs
    logs = [lg for lg in all_logs if len(lg.pos_items) >= spec.uqa_min_history + 1]
    if not logs:
        raise ProtocolError(f"dataset {ds.name!r}: no user has {spec.uqa_min_history + 1} positives, which a QA "
                            "question needs (lower uqa_min_history)")
    generator = Generator(ds, spec, by_subtask())
    if not generator.pairs:
        raise ProtocolError(f"dataset {ds.name!r}: no QA sub-task can be asked: "
                            + "; ".join(f"{s}: {why}" for s, why in generator.skipped_subtasks.items())
                            + f" (skipped attributes: {generator.skipped_attributes})")
    order = np.random.default_rng([spec.data_seed, 5]).permutation(len(logs))
    bounds = np.cumsum([0, spec.uqa_test_users, spec.uqa_valid_users, spec.uqa_train_users])
    splits: dict[str, dict[str, list]] = {}
    counts: dict[str, dict[str, int]] = {}
    for name, lo, hi in zip(("test", "valid", "train"), bounds[:-1], bounds[1:]):
        rows: dict[str, list] = {c: [] for c in QUESTION_COLUMNS}
        for rank, idx in enumerate(order[lo:hi]):
            lg = logs[idx]
            user = UserData(lg.user, lg.pos_items[:-1][-spec.uqa_history_window:], int(lg.pos_items[-1]), lg.touched,
                            np.random.default_rng([spec.data_seed, 6, lg.user]))
            for question in generator.questions(user, rank):
                for c in QUESTION_COLUMNS:
                    rows[c].append(question[c])
        splits[name] = rows
        counts[name] = dict(sorted(Counter(rows["subtask"]).items()))
    if not splits["test"]["user"]:
        raise ProtocolError(f"dataset {ds.name!r}: the QA test users gave no question")
    held_out = {logs[i].user for i in order[: bounds[2]]}
    pretrain = [lg for lg in all_logs if len(lg.pos_items) >= 2 and lg.user not in held_out]
    shuffle = np.random.default_rng([spec.data_seed, 7]).permutation(len(pretrain))
    encoder = [pretrain[i] for i in shuffle[: spec.uqa_encoder_users]]
    splits["encoder"] = {"user": [lg.user for lg in encoder], "items": [lg.pos_items.tolist() for lg in encoder]}
    extra = {"attributes": sorted(generator.attributes), "skipped_attributes": generator.skipped_attributes,
             "skipped_subtasks": generator.skipped_subtasks, "questions": counts}
    return BuiltTask(splits, extra)
