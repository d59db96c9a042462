"""Prompt templates owned by the tasks: loading, strict rendering, their record in results and
identities, and how the runner hands them to prompted models."""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tasks.prompts
from benchmark.api import Model, ModelError, ModelMeta
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.registry import get_model, register_model, unregister_model
from benchmark.results import read_result
from benchmark.runner.config import parse_config
from benchmark.runner.run import make_pending, run_plan
from tasks import CTRTask, SeqRecTask, UQATask

ROOT = Path(__file__).resolve().parent.parent


def test_each_task_owns_a_versioned_template_file():
    assert tasks.prompts.names() == ["ctr_yes_no", "seqrec_next_item", "seqrec_next_item__item_tokens", "uqa_answer",
                                     "uqa_answer__user_emb"]
    assert UQATask().prompt_for("user-emb").name == "uqa_answer__user_emb"  # the variant for embedding prompts
    for task, name, chat, prefix in (
            (CTRTask(), "ctr_yes_no", "tokenizer", ""), (SeqRecTask("full"), "seqrec_next_item", "tokenizer", ""),
            (SeqRecTask("sampled-100"), "seqrec_next_item", "tokenizer", ""), (UQATask(), "uqa_answer", "tokenizer", ""),
            (SeqRecTask("full").prompt_for(get_model("llm-sid").meta.item_repr), "seqrec_next_item__item_tokens",
             "none", " ")):
        t = task if isinstance(task, PromptTemplate) else task.prompt
        raw = (ROOT / "tasks" / "prompts" / f"{name}.j2").read_bytes()
        assert (t.name, t.version, t.text.encode()) == (name, "1", raw)
        assert t.to_dict() == {"name": name, "version": "1", "sha256": hashlib.sha256(raw).hexdigest(),
                               "chat": chat, "answer_prefix": prefix}
        assert t.to_order() == {"name": name, "version": "1", "text": raw.decode()}
        assert PromptTemplate.from_dict(t.to_order()) == t


def test_installed_copies_get_the_template_files():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data["tasks"] == ["prompts/*.j2", "uqa_templates/*.j2"]
    assert resources.files("tasks").joinpath("prompts", "ctr_yes_no.j2").is_file()
    assert resources.files("tasks").joinpath("uqa_templates", "df_1.j2").is_file()


def test_ctr_template_renders_the_question_with_its_answer_words():
    t = CTRTask().prompt
    text = t.render(history=["A", "B"], candidate="C", details="category: x", yes="YES", no="NO")
    assert text == ("You are a recommender system. These are the items a user interacted with, oldest first:\n"
                    "1. A\n2. B\n\nCandidate item: C (category: x)\n"
                    "Will the user interact with the candidate item? Answer YES or NO.")
    assert "(no history)\n\nCandidate item: C\n" in t.render(history=[], candidate="C", details="", yes="y", no="n")
    assert "{{" in t.render(history=["{{ yes }}"], candidate="C", details="", yes="y", no="n")  # titles are data


def test_next_item_template_renders():
    t = SeqRecTask().prompt
    text = t.render(history=["Toy Story", "The Matrix"])
    assert text == ("You are a recommender system. These are the items a user interacted with, oldest first:\n"
                    "1. Toy Story\n2. The Matrix\n\n"
                    "What is the title of the item the user will interact with next? Answer with the title only.")
    assert "(no history)" in t.render(history=[])


def test_a_missing_variable_is_an_error():
    with pytest.raises(PromptError, match="'yes' is undefined"):
        CTRTask().prompt.render(history=[], candidate="C", details="", no="No")
    with pytest.raises(PromptError, match="'history' is undefined"):
        SeqRecTask().prompt.render()


def test_the_cue_and_the_chat_wrapping_are_explicit():
    front = "{#-\nname: t\nversion: 2\nchat: %s\nanswer_prefix: %s\n-#}\nQ {{ x }}?\n"
    wrap = lambda m: f"<u>{m}</u><a>"  # noqa: E731
    plain = PromptTemplate.from_text(front % ("tokenizer", '""'))
    assert plain.render(x=1) == "Q 1?" and plain.full_prompt("Q 1?", wrap) == "<u>Q 1?</u><a>"
    cued = PromptTemplate.from_text(front % ("tokenizer", '"Answer: "'))
    assert cued.full_prompt("Q 1?", wrap) == "<u>Q 1?</u><a>Answer: "
    raw = PromptTemplate.from_text(front % ("none", '"A:"'))
    assert raw.full_prompt("Q 1?", wrap) == "Q 1?A:" and raw.to_dict()["chat"] == "none"
    assert cued.sha256 != plain.sha256 and raw.version == "2"


@pytest.mark.parametrize(("text", "message"), [
    ("Q {{ x }}", "no front matter"),
    ("{#- version: 1 -#}Q", "needs name and version"),
    ("{#- [1, 2] -#}Q", "must be a mapping"),
    ("{#-\nname: t\nversion: 1\nchat: html\n-#}Q", "chat must be one of"),
    ("{#-\nname: t\nversion: 1\nanswer_prefix: 3\n-#}Q", "answer_prefix must be a string"),
    ("{#-\nname: t\nversion: 1\n-#}Q {% if %}", "line 4"),
])
def test_malformed_templates_are_refused(text, message):
    with pytest.raises(PromptError, match=message):
        PromptTemplate.from_text(text)


def test_a_work_order_template_must_match_its_text():
    order = CTRTask().prompt.to_order()
    with pytest.raises(PromptError, match="front matter names it 'ctr_yes_no'"):
        PromptTemplate.from_dict({**order, "name": "other"})
    with pytest.raises(PromptError, match="version '9'"):
        PromptTemplate.from_dict({**order, "version": "9"})
    with pytest.raises(PromptError, match="needs its text"):
        PromptTemplate.from_dict({"name": "ctr_yes_no"})
    with pytest.raises(PromptError, match="no prompt template 'nope'"):
        tasks.prompts.load("nope")


# --- the runner: the template travels in the work order, into the result and its identity ---

SEEN: list[dict] = []


class PromptedFake(Model):
    """A prompted model without an LLM: its score depends on the template text it is handed."""

    meta = ModelMeta(name="t-prompted", paradigm="llm", item_repr="text", scheme="zero-shot", backend="numpy",
                     supports=("score",), license="MIT")

    def setup(self, catalogue, seed):
        super().setup(catalogue, seed)
        if "ctr" not in self.prompts:
            raise ModelError("no ctr template")
        SEEN.append(dict(self.prompts))
        self.template = PromptTemplate.from_dict(self.prompts["ctr"])

    def score(self, requests):
        salt = int(self.template.sha256[:6], 16)
        return np.array([((r.item * 7919 + salt) % 1000) / 1000 for r in requests])


@pytest.fixture
def prompted():
    register_model("t-prompted")(PromptedFake)
    SEEN.clear()
    yield "t-prompted"
    unregister_model("t-prompted")


def config(tmp_path, models):
    return parse_config({
        "name": "t", "results_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 200, "ctr_finetune_rows": 500, "latency_sample": 2, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 100, "n_items": 80, "seed": 3}},
        "tasks": ["ctr"], "models": models,
    })


def edited_ctr_template() -> PromptTemplate:
    original = tasks.prompts.load("ctr_yes_no")
    return PromptTemplate.from_text(original.text.replace("Will the user", "Would the user"), "ctr_yes_no")


def test_results_record_the_template_and_an_edit_makes_a_new_result(tmp_path, prompted, monkeypatch):
    cfg = config(tmp_path, [prompted, "random"])
    first = run_plan(cfg)
    assert first.ok and len(first.written) == 2
    assert SEEN == [{"ctr": CTRTask().prompt.to_order()}]  # handed over before setup
    by_key = {r["model"]["key"]: r for r in map(read_result, first.written)}
    assert by_key[prompted]["task"]["template"] == CTRTask().prompt.to_dict()
    assert by_key[prompted]["identity"]["template"] == CTRTask().prompt.to_dict()
    assert by_key["random"]["task"]["template"] is None and "template" not in by_key["random"]["identity"]

    edited = edited_ctr_template()
    monkeypatch.setattr(CTRTask, "prompt", property(lambda self: edited))
    second = run_plan(cfg)
    assert len(second.written) == 1 and len(second.skipped) == 1  # random's result is unchanged
    new = read_result(second.written[0])
    assert new["model"]["key"] == prompted and new["task"]["template"]["sha256"] == edited.sha256
    assert new["result_id"] != by_key[prompted]["result_id"]
    assert new["metrics"]["auc"] != by_key[prompted]["metrics"]["auc"]  # the model used the edited text
    assert SEEN[-1]["ctr"]["text"] == edited.text


def test_only_prompted_models_are_handed_templates(tmp_path, prompted):
    from benchmark.runner.run import expand, model_choices, PlanReport

    cfg = config(tmp_path, [prompted, "random"])
    runs = {r.ref.key: r for r in expand(cfg, model_choices(cfg, PlanReport()))}
    assert make_pending([runs[prompted]], None).order.prompts == {"ctr": CTRTask().prompt.to_order()}
    assert make_pending([runs["random"]], None).order.prompts == {}
    assert re.fullmatch(r"[0-9a-f]{64}", runs[prompted].template["sha256"]) and runs["random"].template is None


def test_a_prompted_model_without_a_template_fails_at_setup(tmp_path, prompted, monkeypatch):
    monkeypatch.setattr(CTRTask, "prompt_name", None)
    report = run_plan(config(tmp_path, [prompted]))
    result = read_result(report.written[0])
    assert result["status"] == "failed" and result["error"]["stage"] == "setup"
    assert result["error"]["message"] == "no ctr template" and result["task"]["template"] is None


def test_the_schema_checks_a_recorded_template():
    from helpers_results import make_result

    from benchmark.results import ResultError, validate_result

    r = make_result("llm", status="failed", error_message="x")  # outputs null is valid
    validate_result(r)  # null: a model without prompts
    r["task"]["template"] = CTRTask().prompt.to_dict()
    validate_result(r)
    for bad in ({"name": "ctr_yes_no", "version": "1"}, {**CTRTask().prompt.to_dict(), "sha256": "abc"},
                {**CTRTask().prompt.to_dict(), "chat": "html"}):
        r["task"]["template"] = bad
        with pytest.raises(ResultError, match="template"):
            validate_result(r)
