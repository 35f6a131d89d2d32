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

from ..train.batching import batches, select
from ..train.metrics import classification_metrics


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


@torch.no_grad()
def _streams_of(model, tensors: dict, m: str, batch_size: int = 4096) -> torch.Tensor:
    """(N, 2, k): shared and private stream of modality ``m`` for every sample, from its inputs alone."""
    model.eval()
    out = []
    for b in batches(len(tensors["y"]), batch_size):
        block = {k: (v[b.to(v.device)] if torch.is_tensor(v) else v) for k, v in tensors[m].items()}
        _, s, _, p, _ = model.encode_modality(m, block)
        out.append(torch.stack([s, p], 1).float())
    return torch.cat(out)


@torch.no_grad()
def head_outputs(model, streams: torch.Tensor, mask: torch.Tensor, batch_size: int = 8192):
    """(class probabilities, gate weights) from stream vectors (N, 2M, k) and a stream mask (N, 2M):
    fusion and head only, what a forward pass gives once the streams are known."""
    model.eval()
    proba, gate = [], []
    for i in range(0, len(streams), batch_size):
        logits, weights = model.predict_from_streams(streams[i:i + batch_size], mask[i:i + batch_size])
        proba.append(torch.softmax(logits.float(), -1))
        gate.append(weights.float())
    return torch.cat(proba).numpy(), torch.cat(gate).numpy()


def head_proba(model, streams: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    return head_outputs(model, streams, mask)[0]


def modality_drop(model, tensors: dict, y: np.ndarray, split: np.ndarray, classes: list[str],
                  train_idx: np.ndarray, full_proba: np.ndarray, streams: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics per (removed subset, mode, split) and each sample's new probabilities.

    Removed are every proper subset of modalities (modes ``mask`` and ``mean``) and, with mode
    ``stream``, each single stream (``<modality>.shared`` or ``<modality>.private``) through the
    model's missing-stream path: is a modality's contribution something the others also carry?
    The metrics table includes the no-removal reference row (removed = "none").

    A modality's streams depend on its own inputs only, so nothing is encoded twice: ``streams``
    and ``mask`` (N, 2M, k) and (N, 2M) of every sample (``encode_all``; computed when not given)
    serve every removal, ``mask`` and ``stream`` modes change only the stream mask, and ``mean``
    re-encodes just the replaced modality, once. The result is that of a forward pass on the
    modified inputs (``tests/test_explain_parts.py`` checks it against one).
    """
    mods = model.modalities
    if streams is None or mask is None:
        parts = [_streams_of(model, tensors, m) for m in mods]
        streams = torch.cat(parts, 1)
        mask = model.stream_mask(tensors["present"].cpu())
    reference = training_reference(model, tensors, train_idx)
    mean_streams = {}
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
        cols = [2 * mods.index(m) + k for m in subset for k in (0, 1)]
        masked = mask.clone()
        masked[:, cols] = False
        record("+".join(subset), "mask", head_proba(model, streams, masked))
        swapped = streams.clone()
        for m in subset:
            if m not in mean_streams:
                mean_streams[m] = _streams_of(model, replaced(tensors, [m], "mean", reference, mods), m)
            j = mods.index(m)
            swapped[:, 2 * j:2 * j + 2] = mean_streams[m]
        record("+".join(subset), "mean", head_proba(model, swapped, mask))
    for j, stream in enumerate(model.streams):
        masked = mask.clone()
        masked[:, j] = False
        record(stream, "stream", head_proba(model, streams, masked))
    metrics = pd.DataFrame(metric_rows)
    metrics = metrics.drop(columns=[c for c in metrics.columns if c == "auc_per_class"])
    return metrics, pd.concat(sample_frames, ignore_index=True)


def robustness_curves(model, tensors: dict, y: np.ndarray, idx: np.ndarray, classes: list[str],
                      levels=(0.0, 0.25, 0.5, 1.0, 2.0), seed: int = 0, streams: torch.Tensor | None = None,
                      mask: torch.Tensor | None = None) -> pd.DataFrame:
    """Metric on ``idx`` as Gaussian noise of ``level`` training standard deviations is added to
    one modality's continuous inputs (real steps only), for each modality and level. Only the noisy
    modality is re-encoded; the others' streams come from ``streams`` (all samples) when given."""
    rows = []
    idx_t = torch.as_tensor(idx)
    sub = select(tensors, idx_t.to(tensors["y"].device))
    if streams is None or mask is None:
        base = torch.cat([_streams_of(model, sub, m) for m in model.modalities], 1)
        base_mask = model.stream_mask(sub["present"].cpu())
    else:
        base, base_mask = streams[idx_t], mask[idx_t]
    for j, m in enumerate(model.modalities):
        std = model.encoders[m].norm.std.detach()
        for level in levels:
            g = torch.Generator().manual_seed(seed)
            block = dict(sub[m])
            noise = torch.randn(block["x"].shape, generator=g).to(block["x"].device) * std * level
            if block.get("steps") is not None:
                noise = noise * block["steps"].unsqueeze(-1)
            block["x"] = block["x"] + noise
            noisy = base.clone()
            noisy[:, 2 * j:2 * j + 2] = _streams_of(model, {**sub, m: block}, m)
            proba = head_proba(model, noisy, base_mask)
            rows.append({"modality": m, "noise": level, **classification_metrics(y[idx], proba, classes)})
    frame = pd.DataFrame(rows)
    return frame.drop(columns=[c for c in frame.columns if c == "auc_per_class"])
