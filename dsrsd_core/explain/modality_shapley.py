"""Exact Shapley values over the M modalities, for any model, DSRSD-Net or baseline.

Players are the modalities. The value of a coalition S for a sample is the model's predicted
class probabilities when only the modalities in S are given, the others removed by the model's
own missing-modality path: the presence mask (``batch["present"]``) for the neural models, NaN
features for gradient-boosted trees. A modality the sample does not have is absent from every
coalition (a null player, value 0). With M = 3 modalities that is 2^3 = 8 predictions per sample.

Same semantics and weights as the stream-level explainer (:mod:`.shapley`); efficiency holds:
``sum_m phi_m = p(all) - p(empty)`` for every sample and class.
"""
from __future__ import annotations

import numpy as np
import torch

from ..shares import attribution_shares
from .shapley import coalition_masks, shapley_from_values


def modality_shapley(proba_fn, present: np.ndarray) -> dict[str, np.ndarray]:
    """``proba_fn(present (N, M) bool) -> (N, C)`` probabilities; returns ``phi`` (N, M, C),
    ``full`` (N, C) (all the sample's modalities) and ``empty`` (N, C) (none)."""
    present = np.asarray(present, dtype=bool)
    masks = coalition_masks(present.shape[1]).numpy()
    values = np.stack([np.asarray(proba_fn(present & mask[None, :]), dtype=np.float64) for mask in masks], 1)
    phi = shapley_from_values(torch.from_numpy(values)).double().numpy()
    return {"phi": phi, "full": values[:, -1], "empty": values[:, 0]}


def predicted_class_phi(result: dict) -> np.ndarray:
    """(N, M) Shapley values of each sample's predicted class (argmax of the full prediction)."""
    pred = result["full"].argmax(1)
    return np.take_along_axis(result["phi"], pred[:, None, None], 2)[:, :, 0]


def dominance(phi_pred: np.ndarray, modalities: list[str]) -> dict:
    """Shares of mean |phi| per modality, the top modality's share and the normalised entropy.

    ``top_share`` is 1/M when every modality counts equally and 1 when one modality holds all
    attribution; ``entropy`` = -sum share * log(share) / log(M) is 1 for equal shares, 0 for one.
    """
    s = attribution_shares(phi_pred, modalities)
    mean_abs = np.array(list(s["mean_abs"].values()))
    total = mean_abs.sum()
    shares = np.array(list(s["share"].values())) if total > 0 else np.full(len(modalities), np.nan)
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(len(modalities))) if total > 0 and len(modalities) > 1 else float("nan")
    top = int(np.nanargmax(shares)) if total > 0 else None
    return {"mean_abs": dict(zip(modalities, mean_abs.tolist())), "share": dict(zip(modalities, shares.tolist())),
            "top": modalities[top] if top is not None else None,
            "top_share": float(shares[top]) if top is not None else float("nan"), "entropy": entropy}
