"""The RecBole side of scripts/parity_recbole.py; runs in RecBole's own virtualenv (.venv-recbole),
never imports RecBoard.

    python parity_recbole_worker.py JOB.json

JOB.json (written by parity_recbole.py) names the benchmark files (`<dataset>.{train,valid,test}.inter`
under data_path/dataset), the RecBole model and its config, the number of items in RecBoard's
catalogue and, for the valid and test rows in file order, each row's target and seen items (in
RecBoard ids). The worker trains with RecBole's own Trainer, with one change: the validation
score that drives early stopping is NDCG@10 over the whole catalogue with the seen items masked,
as RecBoard validates (RecBole's full sort masks nothing for sequential models). It writes

- scores_test.npy: (n_test, n_items) float32 test scores in RecBoard's item order, by the best
  epoch's weights (the same checkpoint RecBole's own evaluate loads);
- result.json: per-epoch train and validation seconds, epochs run, best epoch, and RecBole's own
  test result (its evaluator, no masking) as a cross-check.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# RecBole 1.2.1 saves checkpoints with pickled extras; torch >= 2.6 loads weights only by default.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402


def ndcg_at_10(scores: np.ndarray, targets: np.ndarray, seen: list[list[int]]) -> float:
    """Mean NDCG@10 of one target per row, seen items masked; the rank counts strictly higher
    scores (as models/layers/ranking.py does)."""
    scores = scores.copy()
    for row, items in enumerate(seen):
        keep = np.asarray([i for i in items if i != targets[row]], dtype=np.int64)
        scores[row, keep] = -np.inf
    target = scores[np.arange(len(targets)), targets][:, None]
    rank = (scores > target).sum(1)
    return float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(job["threads"])
    config = Config(model=job["model"], dataset=job["dataset"], config_dict=job["config"])
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])

    n_items = job["n_items"]
    token_id = dataset.field2token_id[dataset.iid_field]
    # RecBoard item i is RecBole token str(i); an item that no file names has no RecBole id.
    to_recbole = np.asarray([token_id.get(str(i), -1) for i in range(n_items)], dtype=np.int64)
    missing = int((to_recbole < 0).sum())

    def scores_of(loader) -> np.ndarray:
        """Scores of the loader's rows (file order) over RecBoard's catalogue; items RecBole does not know get -inf."""
        model.eval()
        out = []
        with torch.no_grad():
            for interaction, *_ in loader:
                s = model.full_sort_predict(interaction.to(config["device"])).float().cpu().numpy()
                out.append(s)
        s = np.concatenate(out)
        ranked = s[:, np.maximum(to_recbole, 0)]
        ranked[:, to_recbole < 0] = -np.inf
        return ranked

    def check_order(loader, users: list[int], split: str) -> None:
        uid = loader._dataset.inter_feat[dataset.uid_field].numpy()
        tokens = dataset.field2id_token[dataset.uid_field][uid].astype(int)
        if len(tokens) != len(users) or (tokens != np.asarray(users)).any():
            raise SystemExit(f"RecBole's {split} rows are not in file order")

    check_order(valid_data, job["valid"]["user"], "valid")
    check_order(test_data, job["test"]["user"], "test")
    valid_targets = np.asarray(job["valid"]["target"], dtype=np.int64)
    trainer_cls = get_trainer(config["MODEL_TYPE"], config["model"])
    clock: dict[str, list[float]] = {"train": [], "valid": []}
    valid_history: list[float] = []

    class TimedTrainer(trainer_cls):
        def _train_epoch(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super()._train_epoch(*args, **kwargs)
            finally:
                clock["train"].append(time.perf_counter() - start)

        def _valid_epoch(self, valid_data, show_progress=False):
            start = time.perf_counter()
            score = ndcg_at_10(scores_of(valid_data), valid_targets, job["valid"]["seen"])
            clock["valid"].append(time.perf_counter() - start)
            valid_history.append(score)
            return score, {"ndcg@10 (seen masked)": score}

    trainer = TimedTrainer(config, model)
    start, cpu = time.perf_counter(), time.process_time()
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    recbole_test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)  # loads the best epoch
    out = Path(job["out"])
    np.save(out / "scores_test.npy", scores_of(test_data).astype(np.float32))
    epochs = len(clock["train"])
    best_epoch = epochs - trainer.cur_step  # cur_step: epochs since the last improvement
    result = {
        "epochs_run": epochs,
        "best_epoch": best_epoch,
        "best_valid_ndcg@10": best_valid,
        "valid_history": valid_history,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "train_seconds": clock["train"],
        "valid_seconds": clock["valid"],
        "train_batches_per_epoch": len(train_data),
        "train_rows": len(train_data._dataset),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "items_unknown_to_recbole": missing,
        "recbole_own_test_unmasked": {k: float(v) for k, v in recbole_test.items()},
        "versions": {"recbole": __import__("recbole").__version__, "torch": torch.__version__,
                     "numpy": np.__version__},
    }
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
