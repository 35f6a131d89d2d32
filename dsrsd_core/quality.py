"""Model quality from a run's stored predictions: confusion matrix, ROC and precision-recall curves,
calibration (reliability) and metrics per cohort.

Plain numpy on ``samples.parquet`` columns (the label and the stored probabilities), so the dashboard only
reads and draws: a 25k-learner run takes milliseconds. Checked against scikit-learn in tests/test_quality.py.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _ranked(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold (scores descending)."""
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    return tps, fps, s[last]


def roc_curve(y: Sequence, score: Sequence) -> pd.DataFrame:
    """``fpr``, ``tpr``, ``threshold`` from (0, 0); ties in ``score`` share one point."""
    y, score = np.asarray(y, bool), np.asarray(score, float)
    tps, fps, thr = _ranked(y, score)
    pos, neg = max(tps[-1], 1e-12), max(fps[-1], 1e-12)
    return pd.DataFrame({"fpr": np.r_[0.0, fps / neg], "tpr": np.r_[0.0, tps / pos], "threshold": np.r_[np.inf, thr]})


def roc_auc(y: Sequence, score: Sequence) -> float:
    """Area under the ROC curve (trapezoids: ties count one half); NaN with one class only."""
    y = np.asarray(y, bool)
    if y.all() or not y.any():
        return float("nan")
    c = roc_curve(y, score)
    return float(np.trapezoid(c["tpr"], c["fpr"]))


def pr_curve(y: Sequence, score: Sequence) -> pd.DataFrame:
    """``recall``, ``precision``, ``threshold`` (thresholds descending), starting at recall 0, precision 1."""
    y, score = np.asarray(y, bool), np.asarray(score, float)
    tps, fps, thr = _ranked(y, score)
    precision = tps / np.maximum(tps + fps, 1e-12)
    recall = tps / max(tps[-1], 1e-12)
    return pd.DataFrame({"recall": np.r_[0.0, recall], "precision": np.r_[1.0, precision],
                         "threshold": np.r_[np.inf, thr]})


def average_precision(y: Sequence, score: Sequence) -> float:
    """Sum over thresholds of (change in recall) x precision, as scikit-learn's ``average_precision_score``."""
    y = np.asarray(y, bool)
    if not y.any():
        return float("nan")
    c = pr_curve(y, score)
    return float(np.sum(np.diff(c["recall"].to_numpy()) * c["precision"].to_numpy()[1:]))


def confusion(labels: Sequence[int], preds: Sequence[int], classes: Sequence[str]) -> pd.DataFrame:
    """Counts: rows the true class, columns the predicted class."""
    k = len(classes)
    m = np.zeros((k, k), int)
    np.add.at(m, (np.asarray(labels, int), np.asarray(preds, int)), 1)
    return pd.DataFrame(m, index=list(classes), columns=list(classes))


def calibration(y: Sequence, score: Sequence, bins: int = 10) -> tuple[pd.DataFrame, float]:
    """Reliability table over equal-width bins of ``score``: ``bin``, ``n``, ``mean_predicted``, ``observed``
    (share of positives); and the expected calibration error (bin-size weighted |observed - predicted|)."""
    y, score = np.asarray(y, float), np.clip(np.asarray(score, float), 0, 1)
    idx = np.minimum((score * bins).astype(int), bins - 1)
    n = np.bincount(idx, minlength=bins)
    pred = np.bincount(idx, weights=score, minlength=bins)
    obs = np.bincount(idx, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({"bin": [f"{i / bins:.1f}–{(i + 1) / bins:.1f}" for i in range(bins)], "n": n,
                              "mean_predicted": pred / n, "observed": obs / n})
    ece = float(np.nansum(np.abs(table["observed"] - table["mean_predicted"]) * n) / max(n.sum(), 1))
    return table[table["n"] > 0].reset_index(drop=True), ece


def group_metrics(frame: pd.DataFrame, groups: pd.Series, positive: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Per group: ``n``, ``at risk (true)`` (share), ``mean chance`` (mean predicted), ``accuracy``, ``AUC``,
    ``recall`` (of the truly at-risk, how many are flagged at 0.5) and ``precision`` (of the flagged, how many
    are at risk). ``frame``: rows with ``label`` and ``pred``; ``positive``/``score``: aligned arrays."""
    keys = groups.reindex(frame.index).astype("string").fillna("(missing)").to_numpy()
    correct = (frame["label"].to_numpy() == frame["pred"].to_numpy())
    flagged = score >= 0.5
    rows = []
    for g in sorted(pd.unique(keys)):
        m = keys == g
        tp = int((flagged[m] & positive[m]).sum())
        rows.append({"group": g, "n": int(m.sum()), "at risk (true)": float(positive[m].mean()),
                     "mean chance": float(score[m].mean()), "accuracy": float(correct[m].mean()),
                     "AUC": roc_auc(positive[m], score[m]),
                     "recall": tp / positive[m].sum() if positive[m].any() else float("nan"),
                     "precision": tp / flagged[m].sum() if flagged[m].any() else float("nan")})
    return pd.DataFrame(rows)
