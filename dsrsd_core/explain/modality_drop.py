"""What happens to every prediction when modalities (or single streams) are removed, or made noisy.

Two ways to remove a modality:
* ``mask``: the model's own missing-modality path (the presence mask; its streams leave the gate);
* ``mean``: keep it present but replace its inputs by the training mean of every feature (and
  the training mode of every category), i.e. an "uninformative" learner for that modality.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import torch

from ..train.batching import select
from ..train.metrics import classification_metrics
from ..train.trainer import predict


def removal_subsets(modalities: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty proper subset of modalities, smallest first."""
    return [c for r in range(1, len(modalities)) for c in combinations(modalities, r)]


def training_reference(model, tensors: dict, train_idx: np.ndarray) -> dict:
    """Per modality: mean raw features (from the model's standardiser) and modal category codes."""
    ref = {}
    for j, m in enumerate(model.modalities):
        cat = tensors[m].get("cat")
        mode = None
        if cat is not None:
            rows = cat[torch.as_tensor(train_idx)]
            mode = torch.mode(rows, dim=0).values
        ref[m] = {"mean": model.encoders[m].norm.mean.detach(), "cat_mode": mode}
    return ref


def replaced(tensors: dict, removed, mode: str, reference: dict, modalities: list[str]) -> dict:
    """A copy of the batch dict with ``removed`` modalities masked or replaced by the training mean."""
    out = dict(tensors)
    if mode == "mask":
        present = tensors["present"].clone()
        for m in removed:
            present[:, modalities.index(m)] = False
        out["present"] = present
        return out
    for m in removed:
        block = dict(tensors[m])
        block["x"] = reference[m]["mean"].to(block["x"].device).expand_as(block["x"]).clone()
        if block.get("cat") is not None:
            block["cat"] = reference[m]["cat_mode"].to(block["cat"].device).expand_as(block["cat"]).clone()
        out[m] = block
    return out


def modality_drop(model, tensors: dict, y: np.ndarray, split: np.ndarray, classes: list[str],
                  train_idx: np.ndarray, full_proba: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics per (removed subset, mode, split) and each sample's new probabilities.

    Removed are every proper subset of modalities (modes ``mask`` and ``mean``) and, with mode
    ``stream``, each single stream (``<modality>.shared`` or ``<modality>.private``) through the
    model's missing-stream path: is a modality's contribution something the others also carry?
    The metrics table includes the no-removal reference row (removed = "none").
    """
    mods = model.modalities
    reference = training_reference(model, tensors, train_idx)
    metric_rows, sample_frames = [], []
    for s in ("train", "val", "test"):
        metric_rows.append({"removed": "none", "mode": "none", "split": s,
                            **classification_metrics(y[split == s], full_proba[split == s], classes)})

    def record(name: str, mode: str, proba: np.ndarray) -> None:
        for s in ("train", "val", "test"):
            metric_rows.append({"removed": name, "mode": mode, "split": s,
                                **classification_metrics(y[split == s], proba[split == s], classes)})
        frame = pd.DataFrame({"sample": np.arange(len(y)), "removed": name, "mode": mode,
                              "pred": proba.argmax(1), "flipped": proba.argmax(1) != full_proba.argmax(1)})
        for c, cname in enumerate(classes):
            frame[f"proba_{cname}"] = proba[:, c].astype(np.float32)
            frame[f"delta_{cname}"] = (proba[:, c] - full_proba[:, c]).astype(np.float32)
        sample_frames.append(frame)

    for subset in removal_subsets(mods):
        for mode in ("mask", "mean"):
            record("+".join(subset), mode, predict(model, replaced(tensors, subset, mode, reference, mods))["proba"])
    for j, stream in enumerate(model.streams):
        keep = torch.ones(len(y), len(model.streams), dtype=torch.bool)
        keep[:, j] = False
        record(stream, "stream", predict(model, tensors, stream_mask=keep)["proba"])
    metrics = pd.DataFrame(metric_rows)
    metrics = metrics.drop(columns=[c for c in metrics.columns if c == "auc_per_class"])
    return metrics, pd.concat(sample_frames, ignore_index=True)


def robustness_curves(model, tensors: dict, y: np.ndarray, idx: np.ndarray, classes: list[str],
                      levels=(0.0, 0.25, 0.5, 1.0, 2.0), seed: int = 0) -> pd.DataFrame:
    """Metric on ``idx`` as Gaussian noise of ``level`` training standard deviations is added to
    one modality's continuous inputs (real steps only), for each modality and level."""
    rows = []
    sub = select(tensors, torch.as_tensor(idx, device=tensors["y"].device))
    for m in model.modalities:
        std = model.encoders[m].norm.std.detach()
        for level in levels:
            g = torch.Generator().manual_seed(seed)
            block = dict(sub[m])
            noise = torch.randn(block["x"].shape, generator=g).to(block["x"].device) * std * level
            if block.get("steps") is not None:
                noise = noise * block["steps"].unsqueeze(-1)
            block["x"] = block["x"] + noise
            proba = predict(model, {**sub, m: block})["proba"]
            rows.append({"modality": m, "noise": level, **classification_metrics(y[idx], proba, classes)})
    frame = pd.DataFrame(rows)
    return frame.drop(columns=[c for c in frame.columns if c == "auc_per_class"])
