"""Logistic regression on count features: the simple knowledge-tracing model that is hard to beat.

Features per next-response sample (scikit-learn ``LogisticRegression`` on standardised columns):

* every ``history`` column: prior successes and failures overall, on the target's skill and on the
  target item (log1p counts over the whole visible history), smoothed rates, the last responses;
* item and skill difficulty (:func:`dsrsd_core.data.kt.difficulty.difficulty`): the logit of the
  smoothed rate of correct responses to the item (skill) among the training samples of *other*
  learners; items no other training learner answered get the prior.

The model surface is :class:`~dsrsd_core.baselines.gbm.GBMModel`'s (``fit`` with the shared
split, ``predict_proba(present, rows)``), so the benchmark cells treat it like the trees: a
modality marked absent in ``present`` has its columns set to their training mean.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..errors import DsrsdError
from ..train.metrics import classification_metrics
from ..data.kt.difficulty import difficulty
from .gbm import GBMModel, blank_absent

class KTLogReg(GBMModel):
    name = "kt_logreg"
    display_name = "Logistic regression on counts"

    def fit(self, data, split: np.ndarray, cfg, progress: bool = False) -> "KTLogReg":
        t0 = time.perf_counter()
        if "history" not in data.modalities or "content" not in data.modalities:
            raise DsrsdError("kt_logreg needs the knowledge-tracing modalities (content, history); use --task next_step")
        train, val = split == "train", split == "val"
        y = data.y.astype(np.float64)
        content = data.modalities["content"]
        hist = data.modalities["history"]
        cols = [hist.x.astype(np.float64)]
        names = [f"history.{f}" for f in hist.feature_names]
        owner = [self.modalities.index("history")] * len(hist.feature_names)
        for c in ("item", "skill"):
            cols.append(difficulty(content.cat[:, content.cat_names.index(c)], data.meta["user_id"].to_numpy(), y,
                                   train)[:, None])
            names.append(f"content.{c}_difficulty")
            owner.append(self.modalities.index("content"))
        X = np.concatenate(cols, 1)
        self.mean, self.std = X[train].mean(0), X[train].std(0) + 1e-6
        self.X = (X - self.mean) / self.std
        self.feature_names, self.owner = names, np.asarray(owner)
        self.clf = LogisticRegression(C=1.0, max_iter=1000).fit(self.X[train], data.y[train])
        vm = classification_metrics(data.y[val], self._proba(self.clf, self.X[val]), data.classes)
        self.history = [{"epoch": 1, "val_auc": vm["auc"], "val_macro_f1": vm["macro_f1"], "val_accuracy": vm["accuracy"]}]
        self.best_iter = 1
        self.seconds = {"total": time.perf_counter() - t0, "epochs_run": 1}
        return self

    def _features(self, present, rows=None) -> np.ndarray:
        # 0 is the training mean of a standardised feature
        return blank_absent(self.X if rows is None else self.X[rows], present, self.owner, 0.0)
