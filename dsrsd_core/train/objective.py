"""The total DSRSD-Net loss, term by term (every term is logged)."""
from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

from ..losses import alignment_regression, decorrelation, info_nce, orthogonality
from .config import Config


def loss_terms(out: dict, y: torch.Tensor, present: torch.Tensor, cfg: Config) -> dict[str, torch.Tensor]:
    """Task, InfoNCE, regression, decorrelation and orthogonality terms, and their weighted total.

    For a model whose output has no shared streams (``"z"``), the task loss alone.

    Alignment uses each pair of modalities on the samples where both are present; decorrelation
    and orthogonality use each modality on the samples where it is present.
    """
    present = present.bool()
    task = F.cross_entropy(out["logits"].float(), y)
    if "z" not in out:  # a baseline without shared/private streams: the task loss alone
        return {"total": task, "task": task}
    zero = task.new_zeros(())
    nce, reg, dec, orth = zero, zero, zero, zero
    n_pairs = 0
    n_mod = present.shape[1]
    for i, j in combinations(range(n_mod), 2):
        both = present[:, i] & present[:, j]
        if both.sum() >= 2:
            zi, zj = out["z"][both, i], out["z"][both, j]
            nce = nce + info_nce(zi, zj, cfg.temperature)
            reg = reg + alignment_regression(zi, zj)
            n_pairs += 1
    if n_pairs:
        nce, reg = nce / n_pairs, reg / n_pairs
    n_used = 0
    for m in range(n_mod):
        keep = present[:, m]
        if keep.sum() >= 2:
            dec = dec + decorrelation(out["s"][keep, m], cfg.variance_floor)
            orth = orth + orthogonality(out["s"][keep, m], out["p"][keep, m])
            n_used += 1
    if n_used:
        dec, orth = dec / n_used, orth / n_used
    total = (task + cfg.w_align * (nce + cfg.w_regression * reg)
             + cfg.w_decorrelation * dec + cfg.w_orthogonality * orth)
    return {"total": total, "task": task, "infonce": nce, "regression": reg,
            "decorrelation": dec, "orthogonality": orth}
