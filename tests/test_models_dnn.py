import numpy as np
import pytest
from helpers_models import auc, contract_problems, ctr_fixture, fitted, seq_fixture, torch_threads

from benchmark.api import CTRFitData, ModelError
from benchmark.requests import ScoreRequest
from models.baselines.popularity import MostPopular
from models.ctr.dnn import DNN


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    return ctr_fixture()


@pytest.fixture(scope="module")
def dnn(data):
    return fitted(DNN(), data.catalogue, data.fit)


def test_registered_and_keeps_its_contract():
    assert contract_problems("dnn", DNN) == []


def test_learns_personalised_clicks(dnn, data):
    popular = fitted(MostPopular(), data.catalogue, data.fit)
    valid_auc = auc(data.fit.valid_labels, dnn.score(data.fit.valid))
    test_auc = auc(data.test_labels, dnn.score(data.test))
    assert valid_auc > 0.9 and test_auc > 0.9
    assert test_auc > auc(data.test_labels, popular.score(data.test)) + 0.1
    stats = dnn.extra_stats()
    assert stats["valid_best"] == pytest.approx(valid_auc) and 1 <= stats["best_epoch"] <= stats["epochs_run"]


def test_outputs_are_probabilities(dnn, data):
    requests = data.test[:300] + [ScoreRequest(0, (), 5), ScoreRequest(1, tuple(range(30)), 7)]
    scores = dnn.score(requests)
    assert scores.shape == (len(requests),) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert dnn.score([]).shape == (0,)


def test_num_parameters(dnn, data):
    d, (h1, h2) = dnn.embed_dim, dnn.hidden
    mlp = (3 * d * h1 + h1) + (h1 * h2 + h2) + (h2 + 1)
    assert dnn.num_parameters() == (data.catalogue.n_items + 1) * d + mlp


def test_deterministic_for_a_seed(data):
    small = CTRFitData(data.fit.train[:2000], data.fit.train_labels[:2000], data.fit.valid, data.fit.valid_labels)

    def run(seed):
        return fitted(DNN(epochs=2, batch_size=512), data.catalogue, small, seed).score(data.test)

    first = run(3)
    assert np.array_equal(first, run(3))
    assert not np.array_equal(first, run(4))


def test_without_both_valid_classes_trains_every_epoch(data):
    one_class = CTRFitData(data.fit.train[:500], data.fit.train_labels[:500], data.fit.valid[:5], np.ones(5))
    model = fitted(DNN(epochs=3), data.catalogue, one_class)
    assert model.extra_stats()["epochs_run"] == 3 and model.extra_stats()["valid_best"] is None


def test_rejects_sequence_data(data):
    model = DNN()
    model.setup(data.catalogue, 0)
    with pytest.raises(ModelError, match="CTR"):
        model.fit(seq_fixture().fit)
    with pytest.raises(ModelError):
        model.rank([])
