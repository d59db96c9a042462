import numpy as np
import pandas as pd
import pytest

from benchmark.data.dataset import Catalogue
from benchmark.grounding import TitleResolver, _nearest, normalise_title

TITLES = ["Red Trail Running Shoes", "Blue Road Running Shoes", "Cast Iron Skillet", "Chef Knife 20cm",
          "Soup Cookbook", "Wool Hiking Socks"]


@pytest.fixture(scope="module")
def resolver(tmp_path_factory):
    import os

    os.environ.setdefault("RECBOARD_CACHE", str(tmp_path_factory.mktemp("cache")))
    items = pd.DataFrame({"title": TITLES, "category": "", "brand": "", "description": ""})
    return TitleResolver(Catalogue(items=items, dataset_name="tiny"), depth=4)


def test_exact_titles_ground_first_in_generation_order(resolver):
    topk, (g,) = resolver.ground_many([["  soup   COOKBOOK", "Cast Iron Skillet"]], [()])
    assert list(topk.items[0][:2]) == [4, 2]
    assert g.exact == 2 and g.grounded == 2
    assert len(topk.items[0]) == 4  # filled to depth
    assert np.all(np.diff(topk.scores[0]) <= 0)


def test_inexact_title_goes_to_nearest_item_and_history_is_never_returned(resolver):
    topk, (g,) = resolver.ground_many([["running shoes in red for trails"]], [(3,)])
    assert topk.items[0][0] == 0 and g.exact == 0
    assert 3 not in topk.items[0]
    topk, _ = resolver.ground_many([["Red Trail Running Shoes"]], [(0,)])
    assert topk.items[0][0] == 1  # the exact match is the history item: the nearest other one


def test_duplicate_groundings_count_once(resolver):
    topk, (g,) = resolver.ground_many([["Soup Cookbook", "soup cookbook", "Wool Hiking Socks"]], [()])
    assert list(topk.items[0][:2]) == [4, 5] and g.grounded == 2
    assert len(set(topk.items[0].tolist())) == len(topk.items[0])


def test_nearest_orders_by_similarity_then_id():
    assert _nearest(np.array([0.1, 0.9, 0.9, 0.5]), 3) == [1, 2, 3]
    assert _nearest(np.array([0.3, 0.2]), 5) == [0, 1]
    assert normalise_title(" A\tB ") == "a b"
