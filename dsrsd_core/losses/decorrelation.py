"""Decorrelation of the shared space, with a variance floor so it cannot collapse."""
import torch


def decorrelation(s: torch.Tensor, variance_floor: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Off-diagonal correlation energy of the B x d batch ``s`` plus a hinge on each dimension's std.

        C = corr(s)  (d x d, over the batch)
        L = sum_{i != j} C_ij^2 / (d (d - 1))  +  mean_j max(0, gamma - sqrt(Var(s_j) + eps))

    The first term is 0 for decorrelated dimensions; the second keeps every dimension's spread at
    least ``gamma`` (VICReg's variance term), without which the first could be met by collapse.
    """
    s = s.float()
    b, d = s.shape
    if b < 2 or d < 2:
        return s.sum() * 0.0
    centred = s - s.mean(0)
    std = torch.sqrt(centred.pow(2).sum(0) / (b - 1) + eps)
    corr = (centred / std).T @ (centred / std) / (b - 1)
    off = corr - torch.diag(torch.diagonal(corr))
    return off.pow(2).sum() / (d * (d - 1)) + torch.relu(variance_floor - std).mean()
