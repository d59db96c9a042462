import numpy as np
import pandas as pd

from benchmark.data.dataset import Catalogue
from benchmark.text import encode_catalogue, encode_texts


def _catalogue(titles):
    items = pd.DataFrame({"title": titles, "category": "", "brand": "", "description": ""})
    return Catalogue(items=items, dataset_name="tiny")


def test_similar_texts_are_nearer_than_unrelated_ones():
    v = encode_texts(["trail running shoes", "running shoes for trails", "a cookbook of soups"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_catalogue_encoding_is_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path))
    first = encode_catalogue(_catalogue(["red kettle", "blue kettle"]))
    files = list((tmp_path / "text-emb").glob("*.npy"))
    assert len(files) == 1
    again = encode_catalogue(_catalogue(["red kettle", "blue kettle"]))
    np.testing.assert_array_equal(first, again)
    encode_catalogue(_catalogue(["red kettle", "green kettle"]))
    assert len(list((tmp_path / "text-emb").glob("*.npy"))) == 2


def test_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path))
    first = encode_catalogue(_catalogue(["a lamp"]))
    (path,) = (tmp_path / "text-emb").glob("*.npy")
    path.write_bytes(b"not an array")
    np.testing.assert_allclose(encode_catalogue(_catalogue(["a lamp"])), first, atol=1e-6)
