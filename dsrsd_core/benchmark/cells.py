"""One benchmark cell: one model trained with one seed, then evaluated on its split.

A cell holds, for the model's best (early-stopped) state:

* ``metrics``: accuracy, macro-F1 and AUC on train / val / test;
* ``robustness``: the test metrics with each single modality removed at test time (the model's
  own missing-modality path: the presence mask; NaN features for gradient-boosted trees);
* ``dominance``: exact Shapley values over the modalities (:mod:`..explain.modality_shapley`) of
  each test sample's predicted-class probability; the share of mean |phi| held by each modality,
  the top share and the normalised entropy of the shares;
* ``planted`` (synthetic data with ``ground_truth.json``): :func:`planted_truth_check` on the
  modality importances: rank correlation with the planted order, and whether the high-variance,
  label-free modality (the dominance trap) gets the most attribution.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..baselines.gbm import GBMModel
from ..models import build_model, model_config
from ..train.config import Config

METRICS = ("auc", "macro_f1", "accuracy")
SPLITS = ("train", "val", "test")
REFERENCE = "dsrsd_net"  # the model every other one is compared with, first in the grid


def _metrics(y, proba, classes) -> dict:
    from ..train.metrics import classification_metrics

    m = classification_metrics(y, proba, classes)
    return {k: m[k] for k in ("n", *METRICS)}


def evaluate(proba_fn, full_proba: np.ndarray, data, split: np.ndarray, truth: dict | None) -> dict:
    """Metrics per split, test-time modality removal, modality Shapley dominance, planted check.

    ``proba_fn(present (n_test, M) bool) -> (n_test, C)`` predicts the test samples with the given
    presence; ``full_proba`` (N, C) is the model's prediction for every sample.
    """
    from ..explain.modality_shapley import dominance, modality_shapley, predicted_class_phi
    from ..explain.planted import planted_truth_check

    mods = data.names
    test = split == "test"
    y_test = data.y[test]
    present = data.present[test]
    out = {"metrics": {s: _metrics(data.y[split == s], full_proba[split == s], data.classes) for s in SPLITS}}
    robustness = {}
    for j, m in enumerate(mods):
        p = present.copy()
        p[:, j] = False
        robustness[m] = _metrics(y_test, proba_fn(p), data.classes)
    out["robustness"] = robustness
    sh = modality_shapley(proba_fn, present)
    efficiency = np.abs(sh["phi"].sum(1) - (sh["full"] - sh["empty"])).max() if len(y_test) else 0.0
    out["shapley_efficiency_max_error"] = float(efficiency)
    out["full_matches_prediction_max_error"] = float(np.abs(sh["full"] - full_proba[test]).max()) if len(y_test) else 0.0
    dom = dominance(predicted_class_phi(sh), mods)
    out["dominance"] = dom
    if truth is not None:
        pt = planted_truth_check(dom["mean_abs"], None, truth)
        out["planted"] = {k: pt[k] for k in ("expected_ranking", "measured_ranking", "rank_correlation",
                                             "dominance_trap", "trap_share", "trap_wins")}
    return out


def run_cell(name: str, data, split: np.ndarray, cfg: Config, device: str = "auto", truth: dict | None = None) -> dict:
    """Train model ``name`` on ``split`` with settings ``cfg`` (an ablation's changes applied here) and evaluate it."""
    from ..train.batching import select, to_tensors
    from ..train.trainer import predict, train_model

    t0 = time.perf_counter()
    cfg = model_config(name, cfg)  # idempotent: the ablation's settings drive training, not only the model
    torch.manual_seed(cfg.seed)
    model = build_model(data.specs(), len(data.classes), cfg, name)
    test_idx = np.flatnonzero(split == "test")
    if isinstance(model, GBMModel):
        model.fit(data, split, cfg)
        t_train = time.perf_counter() - t0
        full = model.predict_proba()
        proba_fn = lambda present: model.predict_proba(present, rows=test_idx)  # noqa: E731
        best_epoch, epochs_run, per_epoch = model.best_iter, len(model.history), None
        extra = {"best_iterations": model.best_iter}
    else:
        result = train_model(lambda: model, data, split, cfg, device, progress=False)
        t_train = time.perf_counter() - t0
        model = result.model.eval()
        full = result.proba
        sub = select(to_tensors(data), torch.as_tensor(test_idx))

        def proba_fn(present):
            return predict(model, {**sub, "present": torch.as_tensor(present, dtype=torch.bool)})["proba"]

        best_epoch, epochs_run, per_epoch = result.best_epoch, len(result.history), result.seconds["per_epoch_mean"]
        extra = {}
    t1 = time.perf_counter()
    cell = evaluate(proba_fn, full, data, split, truth)
    seconds = {"train": t_train, "evaluate": time.perf_counter() - t1, "total": time.perf_counter() - t0}
    if per_epoch is not None:
        seconds["per_epoch_mean"] = per_epoch
    return {"best_epoch": int(best_epoch), "epochs_run": int(epochs_run), **extra, **cell, "seconds": seconds}
