"""Item tokenizers (benchmark/itemtok): codes and their inverse for every kind, the report's
figures on hand-worked cases and the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_models import make_catalogue

from benchmark.itemtok import (
    KINDS,
    ItemCodes,
    TokenizerConfig,
    collisions,
    disambiguate,
    item_codes,
    utilisation,
)
from benchmark.itemtok import build as build_module

SMALL = {"levels": 2, "codebook_size": 8}
SMALL_VAE = {**SMALL, "epochs": 5, "batch_size": 16, "hidden": [32], "latent_dim": 8}


def clustered(n: int, dim: int = 16, clusters: int = 5, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few random centres, as text embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path / "cache"))


def config_of(kind: str) -> dict:
    return {"kind": kind, **({"sid-rqvae": SMALL_VAE, "sid-rqkmeans": SMALL}.get(kind, {}))}


# --- tokenizers --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_item_round_trips_through_its_codes(kind):
    catalogue = make_catalogue(120)
    codes = item_codes(catalogue, config_of(kind), embeddings=clustered(120))
    assert codes.kind == kind and codes.n_items == 120
    for item in range(120):
        code = codes.codes[item, : codes.lengths[item]]
        assert codes.item_of(code) == item
        assert len(codes.token_strings(item)) == codes.lengths[item]
    rows = {tuple(r[:n]) for r, n in zip(codes.codes.tolist(), codes.lengths.tolist())}
    assert len(rows) == 120  # unique after disambiguation
    with pytest.raises(ValueError, match="no item has the code"):
        codes.item_of([999])


def test_token_strings_per_kind():
    catalogue = make_catalogue(120)
    unique = item_codes(catalogue, "unique-id")
    assert unique.token_strings(7) == ["<item_7>"] and unique.new_tokens()[:2] == ["<item_0>", "<item_1>"]
    assert len(unique.new_tokens()) == 120 and unique.level_sizes == (120,)
    number = item_codes(catalogue, "number-id")
    assert number.token_strings(7) == ["7"] and number.token_strings(105) == ["1", "0", "5"]
    assert number.item_text(105) == "105" and number.new_tokens() == [] and number.lengths[[7, 42, 105]].tolist() == [1, 2, 3]
    assert number.codes[7].tolist() == [7, -1, -1]
    sid = item_codes(catalogue, config_of("sid-rqkmeans"), embeddings=clustered(120))
    a, b, c = sid.token_strings(3)
    assert a.startswith("<a_") and b.startswith("<b_") and c == f"<c_{sid.codes[3, 2]}>"
    assert len(sid.new_tokens()) == sid.vocab_size == sum(sid.level_sizes) == 8 + 8 + sid.level_sizes[2]
    assert sid.new_tokens()[8] == "<b_0>"
    np.testing.assert_array_equal(sid.token_ids()[:, 1], sid.codes[:, 1] + 8)
    with pytest.raises(ValueError, match="item 120 is outside the catalogue 0..119"):
        sid.token_strings(120)


def test_hand_worked_report_figures():
    codes = np.array([[0, 1], [0, 2], [1, 1], [0, 1]])
    assert utilisation(codes, [4, 3]) == [0.5, 2 / 3]
    assert utilisation(np.array([[0, -1], [2, 1]]), [4, 2]) == [0.5, 0.5]  # padding ignored
    assert collisions(codes) == {"collision_rate": 0.5, "distinct_codes": 3, "max_collision_group": 2}
    extended, size = disambiguate(codes)
    assert extended.tolist() == [[0, 1, 0], [0, 2, 0], [1, 1, 0], [0, 1, 1]] and size == 2
    assert disambiguate(np.array([[3], [4]]))[1] == 1


def test_duplicate_items_are_told_apart_by_the_extra_level():
    x = clustered(60)
    x[10] = x[11] = x[12] = x[5]  # four identical texts
    codes = item_codes(make_catalogue(60), config_of("sid-rqkmeans"), embeddings=x)
    report = codes.report
    assert report["max_collision_group"] >= 4 and report["collision_rate"] >= 4 / 60
    assert codes.level_sizes[-1] == report["max_collision_group"]
    assert sorted(codes.codes[[5, 10, 11, 12], -1].tolist()) == [0, 1, 2, 3]
    assert len({tuple(r) for r in codes.codes.tolist()}) == 60


@pytest.mark.parametrize("kind", ["sid-rqkmeans", "sid-rqvae"])
def test_semantic_report_is_sane(kind):
    codes = item_codes(make_catalogue(120), config_of(kind), embeddings=clustered(120))
    r = codes.report
    assert r["n_items"] == 120 and r["code_length"] == 3 and r["level_sizes"] == list(codes.level_sizes)
    assert r["codebook_size"] == r["codebook_size_requested"] == 8
    assert len(r["utilisation"]) == 3 and all(0 < u <= 1 for u in r["utilisation"])
    assert 0 <= r["collision_rate"] <= 1 and 1 <= r["max_collision_group"] <= 120
    assert r["input_variance"] > 0 and r["reconstruction_mse"] >= 0
    assert r["reconstruction_rel"] == pytest.approx(r["reconstruction_mse"] / r["input_variance"])
    assert r["reconstruction_rel"] < 1
    assert codes.to_dict()["report"] == r and codes.to_dict()["config"]["kind"] == kind


def test_rqkmeans_reconstruction_improves_with_every_level():
    x = clustered(200, clusters=8)
    errors = [item_codes(make_catalogue(200), {"kind": "sid-rqkmeans", "levels": levels, "codebook_size": 8},
                         embeddings=x).report["reconstruction_mse"] for levels in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]


def test_codebooks_shrink_to_a_small_catalogue():
    codes = item_codes(make_catalogue(10), "sid-rqkmeans", embeddings=clustered(10))
    assert codes.report["codebook_size_requested"] == 256 and codes.report["codebook_size"] == 10
    assert codes.level_sizes[:4] == (10,) * 4 and codes.report["collision_rate"] == 0
    assert codes.report["reconstruction_rel"] < 1e-9  # ten codes for ten items: exact


def test_a_cache_hit_returns_identical_codes(monkeypatch, tmp_path):
    catalogue, x = make_catalogue(80), clustered(80)
    first = item_codes(catalogue, config_of("sid-rqvae"), embeddings=x)
    assert len(list((tmp_path / "cache" / "itemtok").glob("*.npz"))) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt despite a cache entry")

    monkeypatch.setattr(build_module, "_semantic_ids", no_rebuild)
    again = item_codes(catalogue, config_of("sid-rqvae"), embeddings=x)
    np.testing.assert_array_equal(again.codes, first.codes)
    assert again.report == first.report and again.config == first.config and again.level_sizes == first.level_sizes
    with pytest.raises(AssertionError, match="rebuilt"):  # another seed is another entry
        item_codes(catalogue, {**config_of("sid-rqvae"), "seed": 1}, embeddings=x)


def test_deterministic_given_a_seed():
    catalogue, x = make_catalogue(80), clustered(80)
    runs = [item_codes(catalogue, {**config_of(kind), "seed": seed}, embeddings=x, use_cache=False).codes
            for kind in ("sid-rqvae", "sid-rqkmeans") for seed in (0, 0, 1)]
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    assert np.array_equal(runs[3], runs[4])


def test_default_path_encodes_the_catalogue_text():
    codes = item_codes(make_catalogue(40), {"kind": "sid-rqkmeans", "levels": 3, "codebook_size": 6})
    assert codes.codes.shape == (40, 4) and codes.report["reconstruction_rel"] < 1


@pytest.mark.parametrize(("config", "message"), [
    ("sid-magic", r"kind must be one of \['unique-id', 'number-id', 'sid-rqvae', 'sid-rqkmeans'\]"),
    ({"kind": "sid-rqkmeans", "levels": 0}, "levels must be an integer in 1..25, got 0"),
    ({"kind": "sid-rqkmeans", "codebook_size": 1}, "codebook_size must be an integer >= 2, got 1"),
    ({"kind": "sid-rqvae", "lr": -1.0}, "lr must be a finite number > 0, got -1.0"),
    ({"kind": "sid-rqvae", "hidden": [64, 0]}, r"hidden must be a list of positive integers, got \(64, 0\)"),
    ({"kind": "sid-rqvae", "levls": 3}, r"unknown settings \['levls'\]"),
    ({"levels": 3}, "has no 'kind'"),
    (3, "a kind name, a dict or a TokenizerConfig, got int"),
])
def test_bad_config_is_a_clear_value_error(config, message):
    with pytest.raises(ValueError, match=message):
        TokenizerConfig.parse(config)


def test_bad_inputs_are_clear_value_errors():
    with pytest.raises(ValueError, match=r"embeddings must be a finite \(10, d\) array.*got shape \(9, 4\)"):
        item_codes(make_catalogue(10), "sid-rqkmeans", embeddings=np.ones((9, 4)))
    with pytest.raises(ValueError, match="has no items"):
        item_codes(make_catalogue(0), "unique-id")
    with pytest.raises(ValueError, match="codes must lie in 0..level_size-1"):
        ItemCodes("unique-id", np.array([[0], [2]]), np.array([1, 1]), (2,))


def test_config_records_only_what_its_kind_uses():
    assert TokenizerConfig("unique-id").to_dict() == {"kind": "unique-id"}
    assert TokenizerConfig("sid-rqkmeans").to_dict() == {"kind": "sid-rqkmeans", "levels": 4, "codebook_size": 256,
                                                         "seed": 0}
    assert TokenizerConfig("sid-rqvae").to_dict()["hidden"] == [512, 256, 128]
