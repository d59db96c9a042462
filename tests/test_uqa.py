"""The personalized-QA task (tasks/uqa.py) and its questions (benchmark/protocol/uqa.py): ground
truth hand-checked on a hand-built dataset, UQABench's filters, disjoint users, exact matching
after normalisation, the metrics on a hand-worked case, and the floor and ceiling of accuracy."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmark import stats
from benchmark.data import Dataset, load_dataset
from benchmark.protocol import ProtocolError, ProtocolSpec
from benchmark.protocol.taskdata import build_one
from benchmark.protocol.uqa import FORMS, ORDINALS, SUBTASKS, Generator, UserData, catalogue_attributes
from benchmark.qa import NO_ANSWER, normalize_answer, parse_answer, resolve_option
from benchmark.requests import QARequest
from tasks import ResponseError, make_task
from tasks.uqa_templates import by_subtask, digest

# item: (title, category, brand)
ITEMS = [
    ("Nikora camera N1", "cameras", "Nikora"),     # 0
    ("Canova camera C1", "cameras", "Canova"),     # 1
    ("Nikora lens N2", "lenses", "Nikora"),        # 2
    ("Nikora lens N3", "lenses", "Nikora"),        # 3
    ("Canova tripod C4", "tripods", "Canova"),     # 4
    ("Fujiro tripod F5", "tripods", "Fujiro"),     # 5
    ("Fujiro bag F6", "bags", "Fujiro"),           # 6
    ("Nikora bag N7", "bags", "Nikora"),           # 7
    ("Lumexa card L8", "cards", "Lumexa"),         # 8
    ("Lumexa card L9", "cards", "Lumexa"),         # 9
    ("Canova camera C10", "cameras", "Canova"),    # 10
    ("Fujiro lens F11", "lenses", "Fujiro"),       # 11
] + [(f"Pentara strap P{i}", "straps", "Pentara") for i in range(12, 16)] + [
    (f"Olympix flash O{i}", "flashes", "Olympix") for i in range(16, 20)]
# The hand-checked user: history oldest first, then the held-out next item 9.
HISTORY = [0, 2, 3, 1, 10, 4, 6, 5, 7, 11, 8]
NEXT = 9
SMALL = {"uqa_test_users": 30, "uqa_valid_users": 10, "uqa_train_users": 20, "uqa_min_history": 8,
         "uqa_questions_per_user": 7}


def dataset(items=ITEMS, source=None, n_users: int = 80, seed: int = 0) -> Dataset:
    """User 0 is HISTORY then NEXT; the others draw 10–15 distinct items at random."""
    rng = np.random.default_rng(seed)
    rows = [(0, i, t) for t, i in enumerate(HISTORY + [NEXT])]
    for u in range(1, n_users):
        for t, i in enumerate(rng.choice(len(items), size=int(rng.integers(10, 16)), replace=False)):
            rows.append((u, int(i), t))
    inter = pd.DataFrame(rows, columns=["user", "item", "timestamp"]).astype("int64")
    catalogue = pd.DataFrame(items, columns=["title", "category", "brand"])
    catalogue["description"] = ""
    return Dataset("hand", inter, catalogue, source or {"adapter": "test"})


def generator(ds: Dataset, **overrides) -> Generator:
    return Generator(ds, ProtocolSpec.from_overrides({**SMALL, **overrides}), by_subtask())


def drafts(form: str, attribute: str, seeds=range(40)):
    """The form's drafts for the hand-checked user over many seeds (each seed draws its own k,
    value, distractors)."""
    g = generator(dataset())
    out = []
    for seed in seeds:
        user = UserData(0, np.array(HISTORY), NEXT, np.array(sorted(HISTORY + [NEXT])), np.random.default_rng(seed))
        out.append(FORMS[form](g, user, g.attributes[attribute]))
    return out


# -- ground truth, by hand -------------------------------------------------------------------------

def test_direct_feature_is_the_kth_most_recent_items_attribute():
    expected = {"brand": {1: "Lumexa", 2: "Fujiro", 3: "Nikora"}, "category": {1: "cards", 2: "lenses", 3: "bags"},
                "title": {1: "Lumexa card L8", 2: "Fujiro lens F11", 3: "Nikora bag N7"}}
    for attribute, by_k in expected.items():
        seen = set()
        for d in drafts("kth_attribute", attribute):
            k = d.variables["k"]
            assert d.truth == by_k[k] and d.variables["position"] == ORDINALS[k - 1]
            seen.add(k)
        assert seen == {1, 2, 3}  # UQABench's filter: k < 4, and every k occurs


def test_direct_feature_last_items_in_order():
    truths = {d.variables["k"]: d.truth for d in drafts("last_k_titles", "title")}
    assert truths == {2: "Fujiro lens F11; Lumexa card L8", 3: "Nikora bag N7; Fujiro lens F11; Lumexa card L8"}
    reverse = drafts("last_k_titles", "title", [0])[0].pools[0]
    assert reverse == ["; ".join(reversed(truths[drafts("last_k_titles", "title", [0])[0].variables["k"]].split("; ")))]


def test_match_feature_counts_the_value_and_is_never_zero():
    whole = {"Nikora": 4, "Canova": 3, "Fujiro": 3, "Lumexa": 1}
    recent = {"Nikora": 3, "Canova": 3, "Fujiro": 3, "Lumexa": 1}  # the last 10 items drop item 0 (Nikora)
    for form, counts in (("count", whole), ("count_recent", recent)):
        values = set()
        for d in drafts(form, "brand"):
            assert d.truth == str(counts[d.variables["value"]]) != "0"
            assert d.truth not in d.pools[0] and all(int(x) >= 0 for x in d.pools[0])
            values.add(d.variables["value"])
        assert values == set(counts)
    cats = {"cameras": 3, "lenses": 3, "tripods": 2, "bags": 2, "cards": 1}
    assert all(d.truth == str(cats[d.variables["value"]]) for d in drafts("count", "category"))
    assert {d.variables["n"] for d in drafts("count_recent", "category")} == {10}


def test_prediction_is_about_the_held_out_next_item():
    assert {d.truth for d in drafts("next_title", "title")} == {"Lumexa card L9"}
    assert {d.truth for d in drafts("next_attribute", "category")} == {"cards"}
    assert {d.truth for d in drafts("next_attribute", "brand")} == {"Lumexa"}
    titles = {t for d in drafts("next_title", "title") for t in d.pools[0]}
    touched = {ITEMS[i][0] for i in HISTORY + [NEXT]}
    assert titles and not titles & touched  # IP distractors: items the user never touched


def test_interests_long_short_and_trajectory():
    # long term over the 11 items: brands Nikora 4 > Canova 3 = Fujiro 3; categories tie (cameras 3, lenses 3)
    assert {d.truth for d in drafts("mode_all", "brand")} == {"Nikora"}
    assert drafts("mode_all", "category") == [None] * 40
    # short term over the last 5 (6, 5, 7, 11, 8): bags 2; Fujiro 3
    assert {d.truth for d in drafts("mode_recent", "category")} == {"bags"}
    assert {d.truth for d in drafts("mode_recent", "brand")} == {"Fujiro"}
    # trajectory: earlier (0, 2, 3, 1, 10, 4) cameras 3 → recent bags; earlier brands tie Nikora 3 = Canova 3
    d = drafts("trajectory", "category")[0]
    assert d.truth == "from cameras to bags"
    assert set(d.pools[0]) == {"from bags to cameras", "stayed with cameras", "stayed with bags"}
    assert drafts("trajectory", "brand") == [None] * 40


def test_long_term_distractors_are_the_users_other_values_first():
    d = drafts("mode_all", "brand", [3])[0]
    assert set(d.pools[0]) == {"Canova", "Fujiro", "Lumexa"}


# -- built task data -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_td():
    ds = load_dataset("synthetic", n_users=400, n_items=300, seed=3, name="syn-uqa")
    spec = ProtocolSpec.from_overrides({"uqa_test_users": 60, "uqa_valid_users": 20, "uqa_train_users": 40})
    return build_one(ds, spec, "uqa", cache_dir=None)


def rows(td, split: str = "test") -> list[dict]:
    s = td.splits[split]
    return [dict(zip(s.column_names, values)) for values in zip(*(s[c] for c in s.column_names))]


def test_every_question_is_well_formed(synthetic_td):
    spec = synthetic_td.spec
    for split in ("test", "valid", "train"):
        for r in rows(synthetic_td, split):
            assert len(r["options"]) == spec.uqa_options and 0 <= r["answer"] < spec.uqa_options
            assert len({normalize_answer(o) for o in r["options"]}) == spec.uqa_options  # distinct as matched
            assert 1 <= len(r["history"]) <= spec.uqa_history_window
            assert r["template"].startswith(r["subtask"] + "_")
    counts = synthetic_td.extra["questions"]["test"]
    assert set(counts) == set(SUBTASKS) and min(counts.values()) >= 0.5 * max(counts.values())
    assert len(synthetic_td.splits["test"]) == 60 * spec.uqa_questions_per_user


def test_uqabench_filters_hold(synthetic_td):
    questions = rows(synthetic_td) + rows(synthetic_td, "train")
    mf = [r for r in questions if r["subtask"] == "mf"]
    assert mf and all(int(r["options"][r["answer"]]) >= 1 for r in mf)  # no match-feature answer is 0
    df = [r for r in questions if r["subtask"] == "df"]
    positions = "|".join(ORDINALS)
    for r in df:  # k < 4: the k-th most recent item, or the last 2 or 3 items
        assert re.search(rf"(the|user.s) ({positions}) (item|interaction)|the last [23] items", r["question"]), r["question"]


def test_truth_lands_at_every_position(synthetic_td):
    assert set(synthetic_td.splits["test"]["answer"]) == set(range(synthetic_td.spec.uqa_options))


def test_users_are_disjoint_across_splits(synthetic_td):
    users = {s: set(synthetic_td.splits[s]["user"]) for s in ("test", "valid", "train", "encoder")}
    assert not users["test"] & users["valid"] and not users["test"] & users["train"] and not users["valid"] & users["train"]
    assert not users["encoder"] & (users["test"] | users["valid"])
    assert users["train"] <= users["encoder"]  # QA training users' sequences may pre-train encoders
    assert len(users["test"]) == 60 and len(users["valid"]) == 20 and len(users["train"]) == 40


def test_questions_are_deterministic_and_templates_key_the_cache(synthetic_td):
    ds = load_dataset("synthetic", n_users=400, n_items=300, seed=3, name="syn-uqa")
    again = build_one(ds, synthetic_td.spec, "uqa", cache_dir=None)
    assert again.content_hash == synthetic_td.content_hash
    from benchmark.protocol.taskdata import build_inputs

    assert build_inputs(ds, synthetic_td.spec, "uqa")["question_templates"] == digest()
    assert "question_templates" not in build_inputs(ds, synthetic_td.spec, "ctr")


def test_other_tasks_hashes_ignore_the_qa_fields():
    base, changed = ProtocolSpec(), ProtocolSpec.from_overrides({"uqa_test_users": 7, "uqa_options": 5})
    for task in ("ctr", "seqrec"):
        assert base.hash(task) == changed.hash(task)
        assert not any(k.startswith("uqa_") for k in base.data_fields(task))
    assert base.hash("uqa") != changed.hash("uqa")
    assert base.hash("uqa") == ProtocolSpec.from_overrides({"window": 5}).hash("uqa")


def test_bad_qa_fields_are_refused():
    with pytest.raises(ProtocolError, match="uqa_options must be"):
        ProtocolSpec.from_overrides({"uqa_options": 1})
    with pytest.raises(ProtocolError, match="uqa_recent < uqa_min_history"):
        ProtocolSpec.from_overrides({"uqa_recent": 10})


# -- attributes the data lacks -----------------------------------------------------------------------

def test_missing_brand_skips_brand_questions_and_says_so():
    items = [(t, c, "") for t, c, _ in ITEMS]
    ds = dataset(items)
    attributes, skipped = catalogue_attributes(ds)
    assert sorted(attributes) == ["category", "title"] and skipped == {"brand": "no item has a brand"}
    td = build_one(ds, ProtocolSpec.from_overrides(SMALL), "uqa", cache_dir=None)
    assert "brand" not in set(td.splits["test"]["attribute"]) | set(td.splits["train"]["attribute"])
    task = make_task("uqa")
    details = task.details(td)
    assert details["skipped_attributes"] == {"brand": "no item has a brand"} and details["skipped_subtasks"] == {}
    assert set(details["test_questions"]) == set(SUBTASKS)  # category carries every sub-task


def test_missing_titles_skip_item_prediction_and_its_metric():
    items = [("", c, b) for _, c, b in ITEMS]
    td = build_one(dataset(items), ProtocolSpec.from_overrides(SMALL), "uqa", cache_dir=None)
    task = make_task("uqa")
    details = task.details(td)
    assert details["skipped_subtasks"] == {"ip": "needs one of the attributes ['title'], which the data lacks"}
    assert "title" in details["skipped_attributes"]
    evaluation = task.evaluate(td, task.check(td.splits["test"]["answer"], task.requests(td), td.n_items))
    assert "acc_ip" not in evaluation.metrics and evaluation.metrics["acc_prediction"] == 1.0


def test_a_dataset_without_any_text_cannot_be_built():
    items = [("", "", "") for _ in ITEMS]
    with pytest.raises(ProtocolError, match="no QA sub-task can be asked"):
        build_one(dataset(items), ProtocolSpec.from_overrides(SMALL), "uqa", cache_dir=None)


def test_movielens_genres_are_counted_one_by_one():
    items = [(f"Movie {i}", ["Action, Comedy", "Comedy", "Drama, Action"][i % 3], "") for i in range(len(ITEMS))]
    attributes, skipped = catalogue_attributes(dataset(items, {"adapter": "movielens-100k"}))
    assert sorted(attributes) == ["genre", "title"] and "brand" in skipped
    genre = attributes["genre"]
    assert genre.display[0] == "Action, Comedy" and genre.values[0] == ("Action", "Comedy")
    assert genre.distinct_values() == ["Action", "Comedy", "Drama"]


# -- normalisation and exact matching --------------------------------------------------------------

def test_normalisation_folds_case_punctuation_and_space():
    assert normalize_answer("  Camera-Lenses!! ") == "camera lenses"
    assert normalize_answer("ＣＡＭＥＲＡＳ") == "cameras"
    assert normalize_answer("from\tcameras  to bags.") == "from cameras to bags"
    assert parse_answer("\n  Cameras.\nBecause the user ...") == "cameras"


def test_matching_is_exact_never_by_prefix():
    options = ["camera lenses", "cameras", "from cameras to bags", "3"]
    assert resolve_option("Cameras.", options) == 1
    assert resolve_option("camera", options) == NO_ANSWER  # a prefix of two options
    assert resolve_option("camera lenses and tripods", options) == NO_ANSWER  # an option is its prefix
    assert resolve_option("from cameras", options) == NO_ANSWER
    assert resolve_option("3", options) == 3 and resolve_option("33", options) == NO_ANSWER
    assert resolve_option("", options) == NO_ANSWER
    assert resolve_option("cameras", ["Cameras", "cameras!"]) == NO_ANSWER  # ambiguous


# -- metrics -----------------------------------------------------------------------------------------

def hand_task_data():
    test = {"user": [1, 1, 2, 2, 3, 3], "subtask": ["df", "df", "mf", "ip", "li", "it"],
            "answer": [0, 1, 2, 0, 3, 1], "attribute": ["brand"] * 6, "template": ["t"] * 6}
    return SimpleNamespace(splits={"test": test})


def hand_requests(n: int = 6) -> list[QARequest]:
    return [QARequest(1, (1, 2), "q?", ("a", "b", "c", "d")) for _ in range(n)]


def test_metrics_on_a_hand_worked_case():
    task = make_task("uqa")
    picks = [0, 0, 2, 1, 3, NO_ANSWER]  # right, wrong, right, wrong, right, none
    evaluation = task.evaluate(hand_task_data(), task.check(picks, hand_requests(), 0))
    assert evaluation.metrics == pytest.approx({
        "acc_df": 0.5, "acc_mf": 1.0, "acc_ip": 0.0, "acc_li": 1.0, "acc_it": 0.0,
        "acc_understanding": 2 / 3, "acc_prediction": 0.0, "acc_interest": 0.5, "acc_overall": 0.5})
    cols = evaluation.per_example
    assert cols["correct"].tolist() == [1, 0, 1, 0, 1, 0] and cols["chosen"].tolist() == picks
    assert cols["dimension"].tolist() == ["understanding"] * 3 + ["prediction", "interest", "interest"]
    for metric, value in evaluation.metrics.items():  # the bootstrap machinery recomputes each one
        assert stats.metric_value("uqa", metric, cols) == pytest.approx(value)
        assert stats.bootstrap("uqa", metric, cols, n_boot=20).point == pytest.approx(value)


def test_scores_pick_the_top_option_and_ties_count_their_expectation():
    task = make_task("uqa")
    scores = np.array([[2.0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 5, 5], [-np.inf] * 4, [0, 3, 1, 2], [1, 2, 3, 4]])
    evaluation = task.evaluate(hand_task_data(), task.check(scores, hand_requests(), 0))
    assert evaluation.per_example["correct"].tolist() == [1, 0.5, 0.5, 0, 0, 0]
    assert evaluation.per_example["chosen"].tolist() == [0, 0, 2, NO_ANSWER, 1, 3]


def test_bad_responses_are_refused():
    task = make_task("uqa")
    with pytest.raises(ResponseError, match="request 2 has 4 options"):
        task.check([0, 1, 4, 0, 0, 0], hand_requests(), 0)
    with pytest.raises(ResponseError, match="whole numbers"):
        task.check([0, 1, 0.5, 0, 0, 0], hand_requests(), 0)
    with pytest.raises(ResponseError, match=r"expected \(6,\) option indices or \(6, 4\) scores"):
        task.check(np.zeros((6, 3)), hand_requests(), 0)
    with pytest.raises(ResponseError, match="NaN"):
        task.check(np.full((6, 4), np.nan), hand_requests(), 0)
    with pytest.raises(ResponseError, match=r"\+inf"):
        task.check(np.full((6, 4), np.inf), hand_requests(), 0)


def test_the_truth_scores_one_and_random_picks_score_one_in_n(synthetic_td):
    task = make_task("uqa")
    requests = task.requests(synthetic_td)
    truth = task.answers(synthetic_td)
    perfect = task.evaluate(synthetic_td, task.check(truth, requests, synthetic_td.n_items)).metrics
    assert set(perfect.values()) == {1.0} and len(perfect) == len(SUBTASKS) + 4
    n = synthetic_td.spec.uqa_options
    rng = np.random.default_rng(0)
    accuracy = [task.evaluate(synthetic_td, task.check(rng.integers(0, n, len(requests)), requests, 0)).metrics["acc_overall"]
                for _ in range(20)]
    assert np.mean(accuracy) == pytest.approx(1 / n, abs=0.02)


def test_fit_data_carries_the_training_split_and_encoder_sequences(synthetic_td):
    task = make_task("uqa")
    fit = task.fit_data(synthetic_td)
    assert len(fit.train) == len(fit.train_answers) == len(fit.train_subtasks) == len(synthetic_td.splits["train"])
    assert len(fit.valid) == len(fit.valid_answers) > 0 and fit.n_items == synthetic_td.n_items
    assert {r.user for r in fit.train}.isdisjoint(r.user for r in task.requests(synthetic_td))
    assert all(len(s) >= 2 for s in fit.sequences) and len(fit.sequences) == len(synthetic_td.splits["encoder"])
    request = fit.train[0]
    assert isinstance(request, QARequest) and request.options[fit.train_answers[0]]
