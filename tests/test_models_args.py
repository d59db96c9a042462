"""Constructor arguments of the built-in models are checked before anything runs."""

from __future__ import annotations

import re

import pytest

from benchmark.registry import get_model
from models.baselines.oracle import Oracle
from models.baselines.popularity import MostPopular
from models.baselines.random import Random
from models.ctr.dnn import DNN
from models.layers import args
from models.llm.zeroshot_text import LLMZeroShotText
from models.seq.sasrec import SASRec

COUNTS = {
    DNN: ("embed_dim", "epochs", "batch_size", "patience", "window"),
    SASRec: ("hidden", "blocks", "heads", "window", "epochs", "batch_size", "patience"),
    LLMZeroShotText: ("batch_size",),
    MostPopular: ("top_k",),
}
BAD_COUNTS = (0, -3, 2.5, "8", True, None)
BAD_CASES = [(cls, name, value) for cls, names in COUNTS.items() for name in names for value in BAD_COUNTS]
BAD_CASES += [(cls, "lr", value) for cls in (DNN, SASRec) for value in (0, -1e-3, float("nan"), float("inf"), "1e-3")]
BAD_CASES += [(cls, "dropout", value) for cls in (DNN, SASRec) for value in (-0.1, 1.0, 1.5, float("nan"))]
BAD_CASES += [(cls, "weight_decay", value) for cls in (DNN, SASRec) for value in (-1e-4, float("inf"))]
BAD_CASES += [(DNN, "hidden", value) for value in ((128, 0), (64, -1), "128", 5, (3.5,))]
BAD_CASES += [(LLMZeroShotText, "max_history", value) for value in (-1, 1.5, False)]


@pytest.mark.parametrize(("cls", "name", "value"), BAD_CASES)
def test_a_bad_argument_names_the_model_the_argument_and_the_value(cls, name, value):
    shown = list(value) if isinstance(value, tuple) else value
    with pytest.raises(ValueError, match=re.escape(f"{cls.meta.name}: argument {name} must be")) as err:
        cls(**{name: value})
    assert str(err.value).endswith(f"got {shown!r}")


@pytest.mark.parametrize(("cls", "good"), [
    (DNN, {"dropout": 0.0, "weight_decay": 0.0, "hidden": (), "lr": 1}),
    (DNN, {"epochs": 1, "batch_size": 1, "hidden": [8, 4], "embed_dim": 1}),
    (SASRec, {"dropout": 0.0, "heads": 4, "hidden": 8, "blocks": 1, "window": 1}),
    (LLMZeroShotText, {"max_history": 0, "batch_size": 1}),
])
def test_boundary_values_are_accepted_and_stored_normalised(cls, good):
    model = cls(**good)
    for name, value in good.items():
        assert getattr(model, name) == (tuple(value) if isinstance(value, list) else value)


def test_sasrec_hidden_must_split_evenly_across_heads():
    with pytest.raises(ValueError, match=r"SASRec: argument hidden \(10\) must be a multiple of heads \(4\)"):
        SASRec(hidden=10, heads=4)


@pytest.mark.parametrize("cls", [Random, Oracle])
def test_baselines_take_no_arguments(cls):
    with pytest.raises(TypeError, match=r"takes no arguments \['epochs'\]"):
        cls(epochs=-3)


def test_most_popular_takes_top_k_only():
    assert MostPopular().top_k == 100 and MostPopular(top_k=1).top_k == 1
    with pytest.raises(TypeError, match="epochs"):
        MostPopular(epochs=-3)


def test_every_registered_model_builds_with_its_defaults():
    for key in ("random", "most-popular", "oracle", "dnn", "sasrec", "llm-zeroshot-text"):
        get_model(key)()


def test_helpers_return_plain_python_values():
    import numpy as np

    assert args.positive_int("M", "n", np.int64(3)) == 3 and type(args.positive_int("M", "n", np.int64(3))) is int
    assert args.positive_ints("M", "dims", np.array([4, 2])) == (4, 2)
    assert type(args.positive_number("M", "lr", np.float32(0.5))) is float
    with pytest.raises(ValueError, match="M: argument n must be a positive integer, got np.int64"):
        args.positive_int("M", "n", np.int64(0))
