from __future__ import annotations

import pytest

from benchmark.api import Model, ModelMeta
from benchmark.registry import RegistryError, get_model, model_keys, register_model, unregister_model

BUILTIN = ["random", "most-popular", "oracle", "dnn", "sasrec", "llm-zeroshot-text"]


def test_builtin_models_are_registered_with_valid_metadata():
    keys = model_keys()
    for k in BUILTIN:
        assert k in keys
        meta = get_model(k).meta
        assert isinstance(meta, ModelMeta) and meta.license and meta.supports


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
