"""CTR metrics on binary labels and predicted click probabilities: AUC, GAUC and LogLoss."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmark.metrics._validation import binary_labels, finite_scores


def auc(y_true, y_score) -> float:
    """Area under the ROC curve; identical to ``sklearn.metrics.roc_auc_score``.

    Ties between a positive and a negative score count one half.

    Raises:
        ValueError: if ``y_true`` holds a single class (AUC is undefined), if labels are not
            0/1, or if any score is NaN or infinite.
    """
    y = binary_labels(y_true)
    s = finite_scores(y_score, y.shape[0])
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        only = "positives (1)" if n_pos else "negatives (0)"
        raise ValueError(f"AUC is undefined: y_true contains only {only}; both classes are needed")
    return float(roc_auc_score(y, s))


def grouped_auc(y_true, y_score, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC of every group from one (group, score) ordering, without a Python loop over groups.

    Rows are ordered by group, then score (two stable argsorts). Inside a group each positive
    scores one point per negative with a strictly lower score and half a point per negative
    with an equal score: the Mann-Whitney form of ``roc_auc_score``. All arithmetic is on
    integers and halves, so it is exact in float64.

    Returns:
        ``(group_ids, auc_per_group, impressions_per_group)`` with ``group_ids`` sorted as by
        ``np.unique``; the AUC of a group whose labels are all one class is NaN.
    """
    y = binary_labels(y_true)
    s = finite_scores(y_score, y.shape[0])
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"users/groups has shape {g.shape}, y_true has shape {y.shape}")
    by_score = np.argsort(s, kind="stable")
    order = by_score[np.argsort(g[by_score], kind="stable")]
    g_sorted, s_sorted, y_sorted = g[order], s[order], y[order]
    n = y.shape[0]

    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = g_sorted[1:] != g_sorted[:-1]
    group_ids = g_sorted[new_group]
    u = np.cumsum(new_group) - 1
    n_groups = group_ids.shape[0]

    tie_start = new_group.copy()
    tie_start[1:] |= s_sorted[1:] != s_sorted[:-1]
    starts = np.flatnonzero(tie_start)
    tie_pos = np.add.reduceat(y_sorted, starts)
    tie_neg = np.diff(np.append(starts, n)) - tie_pos
    tie_group = u[starts]

    impressions = np.bincount(u, minlength=n_groups).astype(np.float64)
    pos = np.bincount(u, weights=y_sorted, minlength=n_groups)
    neg = impressions - pos

    neg_before_tie = np.cumsum(tie_neg) - tie_neg
    neg_before_group = np.cumsum(neg) - neg
    neg_below = neg_before_tie - neg_before_group[tie_group]
    wins = np.bincount(tie_group, weights=tie_pos * (neg_below + 0.5 * tie_neg), minlength=n_groups)

    pairs = pos * neg
    with np.errstate(invalid="ignore", divide="ignore"):
        per_group = np.where(pairs > 0, wins / pairs, np.nan)
    return group_ids, per_group, impressions.astype(np.int64)


def gauc(y_true, y_score, users) -> dict[str, float | int]:
    """Group AUC: per-user AUC aggregated over users.

    Users whose labels are all one class have no defined AUC and are excluded from both
    averages (they are not counted as 0.5).

    Returns:
        ``gauc_user_mean``: unweighted mean of the per-user AUCs;
        ``gauc_impression_weighted``: per-user AUC weighted by that user's number of rows
        (impressions), i.e. ``sum_u n_u * AUC_u / sum_u n_u`` over the users kept;
        ``gauc_users``: number of users kept.

    Raises:
        ValueError: if no user has both a positive and a negative label.
    """
    _, per_user, impressions = grouped_auc(y_true, y_score, users)
    kept = ~np.isnan(per_user)
    n_kept = int(kept.sum())
    if n_kept == 0:
        raise ValueError("GAUC is undefined: no user has both a positive and a negative label")
    aucs = per_user[kept]
    weights = impressions[kept].astype(np.float64)
    return {
        "gauc_user_mean": float(aucs.mean()),
        "gauc_impression_weighted": float(np.dot(aucs, weights) / weights.sum()),
        "gauc_users": n_kept,
    }


def logloss(y_true, y_score, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy (natural log) with probabilities clipped to ``[eps, 1 - eps]``.

    Equals ``sklearn.metrics.log_loss(y_true, np.clip(y_score, eps, 1 - eps), labels=[0, 1])``;
    unlike sklearn it is defined when ``y_true`` holds one class only.

    Raises:
        ValueError: if a probability lies outside [0, 1] or is NaN, or if ``eps`` is not in (0, 0.5).
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
    y = binary_labels(y_true)
    p = finite_scores(y_score, y.shape[0])
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("y_score must hold probabilities in [0, 1]")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))
