"""Giving a modality's input back from its two streams: what keeps label-poor private content.

The task asks the streams only for what predicts the label, so a factor with a small outcome
weight (or none, like the clickstream trap) may be dropped by the encoder altogether, and then no
private stream can hold it. Decoding a fixed summary of the input from [s_m, p_m] keeps it. The
shared code does not serve this (its gradient is stopped at the lift when the task may not write
into it), so what the summary needs beyond the shared content has to sit in the private stream.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import SequenceEncoder, TabularEncoder


def summary_size(encoder: nn.Module, spec: dict) -> int:
    if isinstance(encoder, TabularEncoder):
        return spec["n_features"] + sum(e.num_embeddings for e in encoder.embeddings)
    return 3 * spec["n_features"]


@torch.no_grad()
def input_summary(encoder: nn.Module, b: dict) -> torch.Tensor:
    """A modality's standardised input as one vector per sample.

    tabular: the numbers and a one-hot of every category column;
    sequence: the mean over the real steps, and over the first and the second half of them (so
    *when* something happened is kept, not only how much).
    """
    if isinstance(encoder, TabularEncoder):
        parts = [encoder.norm(b["x"].float())]
        for i, emb in enumerate(encoder.embeddings):
            parts.append(nn.functional.one_hot(b["cat"][:, i].long(), emb.num_embeddings).float())
        return torch.cat(parts, -1)
    assert isinstance(encoder, SequenceEncoder)
    x, steps = encoder.norm(b["x"].float()), b["steps"].bool()
    n = steps.sum(1, keepdim=True)
    pos = torch.arange(steps.shape[1], device=x.device).unsqueeze(0)
    first = steps & (pos < (n + 1) // 2)

    def mean(mask):
        w = mask.unsqueeze(-1).float()
        return (x * w).sum(1) / w.sum(1).clamp_min(1)

    return torch.cat([mean(steps), mean(first), mean(steps & ~first)], -1)


def reconstruction_error(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-4,
                         rows: torch.Tensor | None = None) -> torch.Tensor:
    """Share of the summary's variance the decoder leaves unexplained, averaged over its columns:

        L = (1/D) sum_d mean_i (t_id - t^_id)^2 / (Var_i(t_id) + eps)

    Columns constant over the batch (a category no sample in it has) are left out of the mean.
    ``rows`` (B,) bool: the samples i to use (all by default), as weights rather than an index.
    """
    pred, target = pred.float(), target.float()
    w = torch.ones(len(target), 1, device=target.device) if rows is None else rows.float().unsqueeze(-1)
    if rows is not None:  # an absent sample's summary may be NaN, and a 0 weight times NaN is NaN
        pred, target = torch.where(w > 0, pred, 0.0), torch.where(w > 0, target, 0.0)
    n = w.sum()
    if n < 2:
        return pred.sum() * 0.0
    mean = (w * target).sum(0) / n
    var = (w * (target - mean).pow(2)).sum(0) / (n - 1)
    keep = var > eps
    if not keep.any():
        return pred.sum() * 0.0
    return ((w * (pred - target).pow(2)).sum(0)[keep] / n / var[keep]).mean()
