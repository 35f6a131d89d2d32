"""Giving a modality's input back from its two streams: what keeps label-poor private content.

The task asks the streams only for what predicts the label, so a factor with a small outcome
weight (or none, like the clickstream trap) may be dropped by the encoder altogether, and then no
private stream can hold it. Decoding a fixed summary of the input from [s_m, p_m] keeps it. The
shared code does not serve this (its gradient is stopped at the lift when the task may not write
into it), so what the summary needs beyond the shared content has to sit in the private stream.

A category column is given back either as its one-hot columns under squared error (``"onehot"``,
the first form) or as one softmax over its values under cross-entropy, and an ordered category
also as its rank under squared error (``"softmax"``). A linear decoder needs K - 1 directions to give
back a K-valued one-hot under squared error, and nothing asks it to keep a category's order: the
profile's private stream held the IMD band (90 % decoded) but not as the ordered quantity the
planted background is (a linear probe's R^2 0.37 against 0.66 from the raw bands).
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import SequenceEncoder, TabularEncoder


def summary_size(encoder: nn.Module, spec: dict, ranks: bool = False) -> int:
    if isinstance(encoder, TabularEncoder):
        extra = len(encoder.ordered) if ranks else 0
        return spec["n_features"] + sum(e.num_embeddings for e in encoder.embeddings) + extra
    return 3 * spec["n_features"]


def category_blocks(encoder: nn.Module) -> list[tuple[int, int]]:
    """The summary's column range ``(start, end)`` of each category column's one-hot (tabular only)."""
    if not isinstance(encoder, TabularEncoder):
        return []
    blocks, start = [], encoder.norm.mean.numel()
    for emb in encoder.embeddings:
        blocks.append((start, start + emb.num_embeddings))
        start += emb.num_embeddings
    return blocks


@torch.no_grad()
def input_summary(encoder: nn.Module, b: dict, ranks: bool = False) -> torch.Tensor:
    """A modality's standardised input as one vector per sample.

    tabular: the numbers and a one-hot of every category column, then (``ranks``) the code of each
    ordered category column as a number (missing: the middle rank);
    sequence: the mean over the real steps, and over the first and the second half of them (so
    *when* something happened is kept, not only how much).
    """
    if isinstance(encoder, TabularEncoder):
        parts = [encoder.norm(b["x"].float())]
        for i, emb in enumerate(encoder.embeddings):
            parts.append(nn.functional.one_hot(b["cat"][:, i].long(), emb.num_embeddings).float())
        if ranks and encoder.ordered:
            code = b["cat"][:, encoder.ordered].float()
            middle = torch.tensor([encoder.embeddings[i].num_embeddings / 2 for i in encoder.ordered],
                                  device=code.device)
            parts.append(torch.where(code > 0, code, middle))
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
                         rows: torch.Tensor | None = None,
                         blocks: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """Share of the summary's content the decoder leaves unexplained, averaged over its terms.

    Each column outside ``blocks`` is one term, its squared error over its variance:

        L_d = mean_i (t_id - t^_id)^2 / (Var_i(t_id) + eps)

    Each block (a category's one-hot columns, decoded as logits) is one term, its cross-entropy over
    the entropy of the category's share in the batch (1 for the marginal, 0 for a perfect decoder):

        L_b = mean_i -log softmax(t^_ib)[k_i] / H(mean_i t_ib)

    Columns constant over the batch (a category no sample in it has; a category with one value in
    it) are left out of the mean. ``rows`` (B,) bool: the samples i to use (all by default), as
    weights rather than an index.
    """
    pred, target = pred.float(), target.float()
    w = torch.ones(len(target), 1, device=target.device) if rows is None else rows.float().unsqueeze(-1)
    if rows is not None:  # an absent sample's summary may be NaN, and a 0 weight times NaN is NaN
        pred, target = torch.where(w > 0, pred, 0.0), torch.where(w > 0, target, 0.0)
    n = w.sum()
    if n < 2:
        return pred.sum() * 0.0
    terms = []
    plain = torch.ones(target.shape[-1], dtype=torch.bool, device=target.device)
    for a, b in blocks or []:
        plain[a:b] = False
        share = (w * target[:, a:b]).sum(0) / n
        entropy = -(share * share.clamp_min(1e-12).log()).sum()
        if entropy > eps:
            nll = -(target[:, a:b] * torch.log_softmax(pred[:, a:b], -1)).sum(-1, keepdim=True)
            terms.append((w * nll).sum() / n / entropy)
    mean = (w * target).sum(0) / n
    var = (w * (target - mean).pow(2)).sum(0) / (n - 1)
    keep = plain & (var > eps)
    if keep.any():
        terms.append(((w * (pred - target).pow(2)).sum(0)[keep] / n / var[keep]))
    if not terms:
        return pred.sum() * 0.0
    return torch.cat([t.reshape(-1) for t in terms]).mean()
