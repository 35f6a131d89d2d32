"""Gradient-boosted trees on flattened features: what a practitioner would pick instead.

scikit-learn's ``HistGradientBoostingClassifier`` on one row of features per sample:

* tabular modality: its numbers, and its category codes as categorical features;
* sequence modality: every (step, feature) cell of the padded grid (clickstream: weeks x activity
  types; assessments: assessment x per-assessment features), NaN on padding steps, plus per
  feature the total and mean over the real steps and the number of real steps.

A missing modality is NaN in all its columns; HGB routes NaN natively, so removing a modality at
test time (modality drop, Shapley) is "its columns become NaN". Early stopping uses the same
validation split as the neural models: trees are added ``step`` at a time (``warm_start``) and
the model with the best validation AUC is kept (``patience`` steps without improvement stop it).
Columns without any value in the training rows are left out.
"""
from __future__ import annotations

import copy
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ..data.dataset import MultimodalData
from ..errors import DsrsdError
from ..train.metrics import classification_metrics

MAX_CATEGORIES = 255  # HGB's limit for a categorical feature (max_bins)


def flatten_features(data: MultimodalData) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(N, F) float matrix, column names, the modality index of every column, and which are categorical."""
    cols, names, owner, categorical = [], [], [], []
    for j, (m, mod) in enumerate(data.modalities.items()):
        if mod.kind == "tabular":
            block = [mod.x.astype(np.float64)]
            block_names = [f"{m}.{f}" for f in mod.feature_names]
            is_cat = [False] * len(mod.feature_names)
            if mod.cat is not None:
                block.append(mod.cat.astype(np.float64))
                block_names += [f"{m}.{c}" for c in mod.cat_names]
                is_cat += [card <= MAX_CATEGORIES for card in mod.cat_cardinalities]
            block = np.concatenate(block, 1)
        else:
            steps = mod.steps.astype(bool)
            x = np.where(steps[:, :, None], mod.x.astype(np.float64), np.nan)
            n, t, f = x.shape
            step_names = mod.step_names or [f"step {i}" for i in range(t)]
            grid = x.reshape(n, t * f)
            grid_names = [f"{m}.{s}.{feat}" for s in step_names for feat in mod.feature_names]
            n_real = steps.sum(1, keepdims=True).astype(np.float64)
            total = np.nansum(x, 1)
            mean = np.where(n_real > 0, total / np.maximum(n_real, 1), np.nan)
            block = np.concatenate([grid, total, mean, n_real], 1)
            block_names = (grid_names + [f"{m}.total.{feat}" for feat in mod.feature_names]
                           + [f"{m}.mean.{feat}" for feat in mod.feature_names] + [f"{m}.n_steps"])
            is_cat = [False] * len(block_names)
        block = block.copy()
        block[~data.present[:, j]] = np.nan
        cols.append(block)
        names += block_names
        owner += [j] * block.shape[1]
        categorical += is_cat
    return np.concatenate(cols, 1).astype(np.float32), names, np.asarray(owner), np.asarray(categorical)


def blank_absent(x: np.ndarray, present, owner: np.ndarray, fill: float) -> np.ndarray:
    """Flattened feature rows ``x`` with each modality absent in ``present`` (rows x modalities, or
    None: nothing to blank) set to ``fill``; ``owner[k]`` is the modality of feature column k."""
    if present is None:
        return x
    absent = ~np.asarray(present, dtype=bool)
    if not absent.any():
        return x
    x = x.copy()
    for j in range(absent.shape[1]):
        r = absent[:, j]
        if r.any():
            x[np.ix_(r, owner == j)] = fill
    return x


class GBMModel:
    """A fitted HGB classifier with the benchmark's model surface.

    ``fit(data, split, cfg)`` trains with early stopping on the validation split;
    ``predict_proba(present=None)`` gives class probabilities for the data it was fitted on, with
    the modalities marked absent in ``present`` (N, M) turned to NaN.
    """

    name = "gbm"
    display_name = "Gradient-boosted trees"
    step = 10
    max_iter = 500

    def __init__(self, specs: list[dict], n_classes: int, cfg=None):
        self.modalities = [s["name"] for s in specs]
        self.n_classes = n_classes
        self.cfg = cfg
        self.clf: HistGradientBoostingClassifier | None = None
        self.history: list[dict] = []
        self.best_iter = 0

    def _features(self, present: np.ndarray | None, rows=None) -> np.ndarray:
        """Feature rows ``rows`` (all by default) with the modalities absent in ``present`` as NaN.

        ``present`` has one row per selected sample (or is None: the data's own presence).
        """
        return blank_absent(self.X if rows is None else self.X[rows], present, self.owner, np.nan)

    def fit(self, data: MultimodalData, split: np.ndarray, cfg, progress: bool = False) -> "GBMModel":
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        self.X, self.feature_names, self.owner, self.categorical = flatten_features(data)
        self.X = self._features(data.present)
        train, val = split == "train", split == "val"
        if len(np.unique(data.y[train])) < 2:
            raise DsrsdError("the training split holds only one class; the cohort is too small or too unbalanced to train")
        # a column with no value in the training rows (e.g. a week after every training learner's
        # cut-off) cannot be split on, and scikit-learn's binning fails on it: leave it out
        used = ~np.isnan(self.X[train]).all(0)
        self.X, self.owner, self.categorical = self.X[:, used], self.owner[used], self.categorical[used]
        self.feature_names = [f for f, u in zip(self.feature_names, used) if u]
        clf = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=self.step, early_stopping=False, warm_start=True,
            categorical_features=self.categorical if self.categorical.any() else None,
            random_state=cfg.seed)
        best, best_clf, stale = -np.inf, None, 0
        rounds = range(1, self.max_iter // self.step + 1)
        for r in tqdm(rounds, desc=f"training {self.display_name}", unit="round", disable=not progress, leave=False):
            clf.set_params(max_iter=r * self.step)
            clf.fit(self.X[train], data.y[train])
            vm = classification_metrics(data.y[val], self._proba(clf, self.X[val]), data.classes)
            score = vm["auc"] if np.isfinite(vm["auc"]) else vm["macro_f1"]
            self.history.append({"epoch": r, "iterations": r * self.step, "val_auc": vm["auc"],
                                 "val_macro_f1": vm["macro_f1"], "val_accuracy": vm["accuracy"]})
            if score > best + 1e-4:
                best, best_clf, stale, self.best_iter = score, copy.deepcopy(clf), 0, r * self.step
            else:
                stale += 1
            if stale >= cfg.patience:
                break
        self.clf = best_clf
        self.seconds = {"total": time.perf_counter() - t0, "epochs_run": len(self.history)}
        return self

    def _proba(self, clf, x: np.ndarray) -> np.ndarray:
        """Probabilities over all ``n_classes`` (a class absent from training gets 0)."""
        p = clf.predict_proba(x)
        out = np.zeros((len(x), self.n_classes))
        out[:, clf.classes_.astype(int)] = p
        return out

    def predict_proba(self, present: np.ndarray | None = None, rows=None) -> np.ndarray:
        """(n, C) probabilities for ``rows`` (all samples by default) given the presence ``present`` of those rows."""
        return self._proba(self.clf, self._features(present, rows))
