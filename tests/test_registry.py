from __future__ import annotations

import numpy as np
import pytest
from helpers_models import contract_problems

from benchmark.api import Model, ModelMeta
from benchmark.registry import RegistryError, get_model, model_keys, register_model, unregister_model

BUILTIN = ["random", "most-popular", "oracle", "dnn", "sasrec", "llm-zeroshot-text"]


def test_builtin_models_are_registered_and_keep_their_contract():
    keys = model_keys()
    assert set(BUILTIN) <= set(keys)
    assert {k: contract_problems(k, get_model(k)) for k in keys} == {k: [] for k in keys}


def test_the_contract_check_reports_a_broken_model():
    class Broken(Model):  # claims rank and fine-tuning, implements score instead
        meta = ModelMeta(name="broken", paradigm="baseline", item_repr="none", scheme="fine-tuned", backend="torch",
                         supports=("rank",), license="MIT")

        def score(self, requests):
            return np.zeros(len(requests))

    register_model("broken-test")(Broken)
    try:
        problems = contract_problems("broken-test", Broken)
    finally:
        unregister_model("broken-test")
    assert any("rank is not implemented" in p for p in problems)
    assert any("score is implemented" in p for p in problems)
    assert any("score requests are answered" in p for p in problems)
    assert any("fit is not implemented" in p for p in problems)
    assert any("not a TorchModel" in p for p in problems)


def test_collision_fails_loudly():
    class Other(Model):
        meta = ModelMeta(name="x", paradigm="baseline", item_repr="none", scheme="zero-shot", backend="numpy",
                         supports=("score",), license="MIT")

    with pytest.raises(RegistryError, match="already registered"):
        register_model("random")(Other)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(RegistryError, match="did you mean 'sasrec'"):
        get_model("sasrc")


def test_invalid_metadata_is_rejected():
    with pytest.raises(ValueError, match="scheme='few-shot'"):
        ModelMeta(name="x", paradigm="baseline", item_repr="none", scheme="few-shot", backend="numpy",
                  supports=("score",), license="MIT")
    with pytest.raises(ValueError, match="license is required"):
        ModelMeta(name="x", paradigm="baseline", item_repr="none", scheme="zero-shot", backend="numpy",
                  supports=("score",), license="")


def test_register_requires_meta():
    class NoMeta(Model):
        pass

    with pytest.raises(TypeError, match="ModelMeta"):
        register_model("no-meta")(NoMeta)
    unregister_model("no-meta")
