"""Gradient attributions from captum: a second opinion on streams, and a drill-down to raw inputs.

Both use Integrated Gradients towards a reference input:
* streams: the reference is the zero stream vector (the fused vector of the empty coalition),
  with the presence mask held fixed; a stream's attribution is the sum over its dimensions;
* raw inputs: the reference is the training mean of every feature (zero after the model's own
  standardisation), and for a categorical profile field the training mean of its embedding.
  Padding steps stay padding; only real steps carry attribution.
"""
from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients


def stream_integrated_gradients(model, streams: torch.Tensor, present: torch.Tensor, target: torch.Tensor,
                                n_steps: int = 16, batch_size: int = 256) -> torch.Tensor:
    """(B, n) attribution of each stream to the probability of class ``target``."""
    def forward(s, mask):
        logits, _ = model.predict_from_streams(s, mask)
        return torch.softmax(logits.float(), -1)

    ig = IntegratedGradients(forward)
    out = []
    for start in range(0, len(streams), batch_size):
        sl = slice(start, start + batch_size)
        attr = ig.attribute(streams[sl], baselines=torch.zeros_like(streams[sl]), target=target[sl],
                            additional_forward_args=(present[sl],), n_steps=n_steps)
        out.append(attr.sum(-1).detach())
    return torch.cat(out)


def rank_agreement(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-row Spearman correlation between ``a`` and ``b`` over the ``valid`` columns (NaN if < 3)."""
    out = np.full(len(a), np.nan)
    for cols in {tuple(r) for r in valid}:
        rows = (valid == np.array(cols)).all(1)
        idx = np.flatnonzero(cols)
        if len(idx) < 3:
            continue
        ra = np.argsort(np.argsort(a[rows][:, idx], 1), 1).astype(float)
        rb = np.argsort(np.argsort(b[rows][:, idx], 1), 1).astype(float)
        ra -= ra.mean(1, keepdims=True)
        rb -= rb.mean(1, keepdims=True)
        denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
        out[rows] = np.where(denom > 0, (ra * rb).sum(1) / np.where(denom > 0, denom, 1), np.nan)
    return out


def input_integrated_gradients(model, batch: dict, target: torch.Tensor, emb_reference: dict,
                               n_steps: int = 16) -> dict:
    """Raw-input attributions per modality for one batch.

    ``emb_reference[m]`` (1, E) is the reference embedding of tabular modality m's categories.

    Returns ``{modality: {"x": (B, ..., F) attribution, "cat": (B, C) per categorical field}}``.
    """
    names = model.modalities
    inputs, baselines, layout = [], [], []
    for m in names:
        enc = model.encoders[m]
        x = batch[m]["x"].float()
        inputs.append(x)
        baselines.append(enc.norm.mean.expand_as(x).clone())
        layout.append((m, "x"))
        if batch[m].get("cat") is not None and len(getattr(enc, "embeddings", [])):
            emb = enc.embed(batch[m]["cat"]).detach()
            inputs.append(emb)
            baselines.append(emb_reference[m].expand_as(emb).clone())
            layout.append((m, "emb"))

    # captum repeats additional_forward_args along the batch for every integration step,
    # so everything that is not integrated (step masks, codes, presence) travels that way.
    extra_layout = [("present", None)] + [(m, k) for m in names for k in ("steps", "cat")
                                          if batch[m].get(k) is not None]
    extras = tuple(batch["present"] if m == "present" else batch[m][k] for m, k in extra_layout)

    def forward(*tensors):
        b = {m: {} for m in names}
        for (m, k), t in zip(extra_layout, tensors[len(inputs):]):
            if m == "present":
                b["present"] = t
            else:
                b[m][k] = t
        for (m, kind), t in zip(layout, tensors[:len(inputs)]):
            b[m][kind] = t
        return torch.softmax(model(b)["logits"].float(), -1)

    attrs = IntegratedGradients(forward).attribute(tuple(inputs), baselines=tuple(baselines), target=target,
                                                   additional_forward_args=extras, n_steps=n_steps)
    out = {}
    for (m, kind), a in zip(layout, attrs):
        a = a.detach()
        if kind == "x":
            steps = batch[m].get("steps")
            if steps is not None:
                a = a * steps.unsqueeze(-1)
            out.setdefault(m, {})["x"] = a
        else:
            sizes = [e.embedding_dim for e in model.encoders[m].embeddings]
            out.setdefault(m, {})["cat"] = torch.stack([c.sum(-1) for c in a.split(sizes, -1)], -1)
    return out
