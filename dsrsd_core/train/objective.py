"""The total DSRSD-Net loss, term by term (every term is logged)."""
from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

from ..losses import (alignment_regression, decorrelation, info_nce, kernel_dependence, kernel_dependence_matrix,
                      linear_predictability, orthogonality, spread_floor, unexplained_variance)
from .config import Config
from .distributed import gather


def _mean(values: list[torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
    return torch.stack(values).mean() if values else zero


def _rows(x: torch.Tensor, rows: torch.Tensor, every: bool) -> torch.Tensor:
    """``x[rows]``, without the gather (and its scatter in the backward pass) when every row is kept.
    Speed only: the batch is small, so the number of autograd nodes, not their size, sets the time."""
    return x if every else x[rows]


def _kept(codes: torch.Tensor, dims: torch.Tensor | None) -> list[torch.Tensor]:
    """Each modality's code (B, M, q) without the coordinates its pruning dropped (all of it when
    unpruned), selected once per call: the loops below reuse each one M times."""
    return [codes[:, m] if dims is None else codes[:, m, dims[m].bool()] for m in range(codes.shape[1])]


def alignment_terms(out: dict, present: torch.Tensor, cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """(InfoNCE, regression), averaged over what is aligned.

    ``pairs``: z_i with z_j for every pair of modalities, on the samples where both are present.
    ``rest``: each modality's code c_m with its prediction from the other modalities' codes, on the
    samples where m and at least one other modality are present; the regression is the share of
    c_m's variance the others leave unexplained.
    """
    zero = out["logits"].new_zeros((), dtype=torch.float32)
    nce, reg = [], []
    n_mod = present.shape[1]
    every = n_mod >= 2 and len(present) >= 2 and bool(present.all())  # no masking needed (the common case)
    # a pruned code's dropped coordinates are 0 in c and c^ (no part in InfoNCE's cosines) and left out of the means
    dims = out.get("code_mask")
    per_dim = cfg.code_floor == "per_dim"
    if "z_hat" in out and every:
        # every modality on every row: the M modalities as one batched call (the mean of the M losses)
        z, z_hat = out["z"].transpose(0, 1), out["z_hat"].transpose(0, 1)
        return (info_nce(z, z_hat, cfg.temperature),
                unexplained_variance(z, z_hat, per_dim=per_dim, dims=dims))
    if "z_hat" in out:
        for m in range(n_mod):
            rows = None if every else present[:, m] & (present.sum(1) >= 2)
            if every or rows.sum() >= 2:
                z, z_hat = _rows(out["z"][:, m], rows, every), _rows(out["z_hat"][:, m], rows, every)
                nce.append(info_nce(z, z_hat, cfg.temperature))
                reg.append(unexplained_variance(z, z_hat, per_dim=per_dim, dims=None if dims is None else dims[m]))
        return _mean(nce, zero), _mean(reg, zero)
    for i, j in combinations(range(n_mod), 2):
        both = present[:, i] & present[:, j]
        if both.sum() >= 2:
            zi, zj = out["z"][both, i], out["z"][both, j]
            nce.append(info_nce(zi, zj, cfg.temperature))
            reg.append(alignment_regression(zi, zj))
    return _mean(nce, zero), _mean(reg, zero)


def _floored_decorrelation(x: torch.Tensor, floor: str, gamma: float, dims=None) -> torch.Tensor:
    """Decorrelation with its spread floor on every dimension (``"per_dim"``) or on the overall spread
    (``"total"``: dimensions with nothing to hold may fade instead of filling with whatever varies)."""
    if floor == "total":
        return decorrelation(x, 0.0, dims=dims) + spread_floor(x, gamma, dims=dims)
    return decorrelation(x, gamma, dims=dims)


def separation_terms(out: dict, present: torch.Tensor, cfg: Config) -> dict[str, torch.Tensor]:
    """Decorrelation of each shared code, and how far each private stream is from shared content.

    ``code_floor = "per_dim"`` keeps every code dimension's spread above the floor (VICReg);
    ``"total"`` only the code's overall spread, so dimensions with nothing shared may fade.
    The private decorrelation (VICReg's variance and covariance terms on p_m) keeps the private
    dimensions distinct and spread (each one: ``private_floor = "per_dim"``; overall: ``"total"``), so
    the private stream holds what the modality alone carries even where the label does not ask for it. Independence is ``linear``: how much of the shared code a ridge regression on the private
    stream recovers (R^2), or ``rbf``: kernel CKA between the two.

    Orthogonality and (kernel) independence compare private stream p_m with shared code c_m
    (``orthogonality_scope = "own"``) or with the shared codes of every modality present
    (``"all"``): a private stream must not hold what any shared stream holds.
    """
    zero = out["logits"].new_zeros((), dtype=torch.float32)
    dec, orth, ind, spread = [], [], [], []
    n_mod = present.shape[1]
    every = len(present) >= 2 and bool(present.all())  # no masking needed (the common case)
    codes = out["c"].detach() if cfg.alignment == "rest" else out["c"]
    # a pruned code (``code_mask``, (M, q)): its dropped coordinates are constant 0, and are left out
    dims = out.get("code_mask")
    kept = None if dims is None else dims.flatten().bool()
    if every and cfg.orthogonality_scope == "all":
        # the mean over all (j, m) pairs of orthogonality(c_j, p_m) in one call: columns are centred and
        # scaled one by one, so the cross-correlation of the concatenations holds every pair's block,
        # and dividing its squared sum by (M q)(M k) is the mean of the M^2 pair values (of codes
        # pruned to different widths: the mean over every (code coordinate, private coordinate) pair)
        all_codes = codes.flatten(1) if kept is None else codes.flatten(1)[:, kept]
        orth.append(orthogonality(all_codes, out["p"].flatten(1)))
        # and the per-modality terms as batched calls over the M modalities (each the mean of M losses)
        c_all, p_all = out["c"].transpose(0, 1), out["p"].transpose(0, 1)
        dec.append(_floored_decorrelation(c_all, cfg.code_floor, cfg.variance_floor, dims))
        if cfg.w_private_decorrelation > 0:
            spread.append(_floored_decorrelation(p_all, cfg.private_floor, cfg.variance_floor))
        if cfg.w_independence > 0 and cfg.independence == "linear":
            # each private stream regressed on every code at once: each code column has its own
            # least-squares fit, so the mean over the columns of the concatenation is the mean over
            # the M pairs (j, m) of linear_predictability(p_m, c_j) when all codes are equally wide
            # (of pruned codes, the mean over every kept code coordinate)
            ind.append(linear_predictability(p_all, all_codes))
        elif cfg.w_independence > 0:
            # every (p_m, c_j) pair at once; a pruned coordinate is constant 0 and adds no distance
            ind.append(kernel_dependence_matrix(p_all, codes.transpose(0, 1)).mean())
        return {"decorrelation": _mean(dec, zero), "orthogonality": _mean(orth, zero),
                "independence": _mean(ind, zero), "private_decorrelation": _mean(spread, zero)}
    own_codes, kept_codes = _kept(out["c"], dims), _kept(codes, dims)
    for m in range(n_mod):
        keep = present[:, m]
        if not every and keep.sum() < 2:
            continue
        dec.append(_floored_decorrelation(_rows(own_codes[m], keep, every), cfg.code_floor, cfg.variance_floor))
        if cfg.w_private_decorrelation > 0:
            spread.append(_floored_decorrelation(_rows(out["p"][:, m], keep, every), cfg.private_floor,
                                                 cfg.variance_floor))
        others = range(n_mod) if cfg.orthogonality_scope == "all" else [m]
        # with "rest" alignment the shared code is defined by what the other modalities predict;
        # separation then moves the private stream only (else it can empty the shared code instead)
        for j in others:
            both = keep & present[:, j]
            if every or both.sum() >= 2:
                code_j, p_m = _rows(kept_codes[j], both, every), _rows(out["p"][:, m], both, every)
                orth.append(orthogonality(code_j, p_m))
                if cfg.w_independence > 0:
                    dependence = kernel_dependence if cfg.independence == "rbf" else linear_predictability
                    ind.append(dependence(p_m, code_j))
    return {"decorrelation": _mean(dec, zero), "orthogonality": _mean(orth, zero),
            "independence": _mean(ind, zero), "private_decorrelation": _mean(spread, zero)}


def loss_terms(out: dict, y: torch.Tensor, present: torch.Tensor, cfg: Config) -> dict[str, torch.Tensor]:
    """Task, InfoNCE, regression, decorrelation, orthogonality, independence, back-projection and reconstruction
    terms, and their weighted total. For a model without shared streams (no ``"z"``), the task alone.

    Under ``torchrun`` the auxiliary terms see the global batch: streams and presence are gathered
    over the ranks with gradients (:mod:`dsrsd_core.train.distributed`), so InfoNCE negatives,
    variances, correlations and the in-batch regressions are those of ``batch_size x ranks`` samples,
    as on one process with that batch; the task loss stays per rank (DDP's average of the ranks'
    means is the global mean). The default batch size 64 is what was measured.
    """
    present = present.bool()
    task = F.cross_entropy(out["logits"].float(), y)
    if "z" not in out:  # a baseline without shared/private streams: the task loss alone
        return {"total": task, "task": task}
    # batch statistics (covariances, a linear solve, softmax over the batch) in float32: under CUDA's bf16
    # autocast their matrix products would run in bf16, and linalg.solve refuses mixed dtypes
    with torch.autocast(out["z"].device.type, enabled=False):
        out = {**out, **{k: gather(out[k]).float() for k in ("z", "z_hat", "c", "p") if k in out}}
        present = gather(present)
        nce, reg = alignment_terms(out, present, cfg)
        sep = separation_terms(out, present, cfg)
    back = out["backprojection"] if "backprojection" in out else task.new_zeros(())
    recon = out["reconstruction"] if "reconstruction" in out else task.new_zeros(())
    total = (task + cfg.w_align * (cfg.w_infonce * nce + cfg.w_regression * reg)
             + cfg.w_decorrelation * sep["decorrelation"]
             + cfg.w_orthogonality * sep["orthogonality"] + cfg.w_independence * sep["independence"]
             + cfg.w_private_decorrelation * sep["private_decorrelation"]
             + cfg.w_backprojection * back + cfg.w_reconstruction * recon)
    return {"total": total, "task": task, "infonce": nce, "regression": reg, **sep, "backprojection": back,
            "reconstruction": recon}
