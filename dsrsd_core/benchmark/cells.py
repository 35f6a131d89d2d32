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


VERDICT_SCORE = {"trusted": 2, "partly": 1, "not": 0}


def has_streams(model) -> bool:
    """Whether ``model`` splits each modality into a shared and a private stream (its encoding has
    ``s`` and ``p`` and the stream-level Shapley hooks exist)."""
    return all(hasattr(model, a) for a in ("encode", "stream_tensor", "stream_mask", "predict_from_streams"))


def decomposition(model, data, split: np.ndarray, truth: dict | None, seed: int = 0) -> dict | None:
    """The decomposition measures of a trained model with shared/private streams (module docstring);
    ``None`` when the model has no such streams."""
    from ..explain.decomposition import SHARED_DIRECTION_MIN, measure
    from ..views import shared_direction_count
    from ..explain.planted import planted_factors, planted_latents, shared_signal_fraction
    from ..explain.recorder import encode_all
    from ..explain.shapley import exact_stream_shapley
    from ..model.dsrsd_net import stream_names
    from ..train.batching import to_tensors

    if not has_streams(model):
        return None
    model = model.eval()
    enc = encode_all(model, to_tensors(data))
    if "s" not in enc or "p" not in enc:
        return None
    mods = data.names
    s_np, p_np = enc["s"].numpy(), enc["p"].numpy()
    test = split == "test"
    streams = stream_names(mods)
    t_idx = torch.as_tensor(np.flatnonzero(test))
    stream_abs = {s: float("nan") for s in streams}
    shared_fraction = float("nan")
    if len(t_idx):
        sh = exact_stream_shapley(model.predict_from_streams, enc["streams"][t_idx], enc["mask"][t_idx])
        mean_abs = sh["phi"][:, :, -1].abs().mean(0).double().numpy()
        stream_abs = dict(zip(streams, mean_abs.tolist()))
        total = float(mean_abs.sum())
        shared_fraction = float(mean_abs[0::2].sum() / total) if total > 0 else float("nan")
    latents = planted_latents(data.meta, truth) if truth else None
    factors = planted_factors(truth) if truth else None
    # the probes `dsrsd explain` uses (linear and MLP), so a cell's verdict is the run's verdict
    doc, rows = measure(s_np, p_np, data.present, split, mods, latents=latents, factors=factors, seed=seed,
                        widths=model.shared_widths() if hasattr(model, "shared_widths") else None)
    r2: dict[str, dict[str, float]] = {}
    for r in rows:  # the best probe per factor and stream, as the placement check reads them
        best = r2.setdefault(r["factor"], {})
        best[r["stream"]] = max(best.get(r["stream"], -np.inf), r["r2"])
    dep = doc["shared_private_dependence"]
    return {
        "verdict": doc["verdict"]["level"], "verdict_score": VERDICT_SCORE[doc["verdict"]["level"]],
        "verdict_basis": doc["verdict"]["basis"], "verdict_reason": doc["verdict"]["reason"],
        "class": data.classes[-1],
        "shared_attribution": shared_fraction,
        "stream_mean_abs": stream_abs,
        "planted_shared_fraction": shared_signal_fraction(truth) if truth else None,
        "probe": "linear",
        "r2": r2,
        "placed": {f: bool(v["as_planted"]) for f, v in (doc["placement"] or {}).items()},
        "factor_kind": {f: v["kind"] for f, v in (factors or {}).items()},
        "factor_modalities": {f: v["modalities"] for f, v in (factors or {}).items()},
        "cross_shared": doc["cross_modal_r2"]["shared"],
        "cross_private": doc["cross_modal_r2"]["private"],
        "cka": {m: v["rbf_cka"] for m, v in dep.items()},
        "linear_cka": {m: v["linear_cka"] for m, v in dep.items()},
        "collapsed": doc["collapsed"],
        # how many directions of each shared stream the other modalities predict (the code's used width)
        "shared_directions": {m: shared_direction_count(values, SHARED_DIRECTION_MIN)
                              for m, values in doc["cross_modal_spectrum"]["shared"].items() if values},
    }


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
    t2 = time.perf_counter()
    cell["decomposition"] = None if isinstance(model, GBMModel) else decomposition(model, data, split, truth, cfg.seed)
    seconds = {"train": t_train, "evaluate": t2 - t1, "decomposition": time.perf_counter() - t2,
               "total": time.perf_counter() - t0}
    if per_epoch is not None:
        seconds["per_epoch_mean"] = per_epoch
    return {"best_epoch": int(best_epoch), "epochs_run": int(epochs_run), **extra, **cell, "seconds": seconds}
