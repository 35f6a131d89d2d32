"""Decorrelation of the shared space, with a variance floor so it cannot collapse."""
import torch


def decorrelation(s: torch.Tensor, variance_floor: float = 1.0, eps: float = 1e-4,
                  dims: torch.Tensor | None = None) -> torch.Tensor:
    """Off-diagonal correlation energy of the B x d batch ``s`` plus a hinge on each dimension's std.

        C = corr(s)  (d x d, over the batch)
        L = sum_{i != j} C_ij^2 / (d (d - 1))  +  mean_j max(0, gamma - sqrt(Var(s_j) + eps))

    The first term is 0 for decorrelated dimensions; the second keeps every dimension's spread at
    least ``gamma`` (VICReg's variance term), without which the first could be met by collapse.
    Leading dimensions (..., B, d) are independent batches (one per modality): the mean of their losses.
    ``dims`` (..., d), 0/1: the loss of the kept columns alone (d counting only them), so batches of
    different widths (codes pruned to different widths, :meth:`DSRSDNet.prune_codes`) share one call.
    """
    s = s.float()
    b, d = s.shape[-2:]
    if b < 2:
        return s.sum() * 0.0
    centred = s - s.mean(-2, keepdim=True)
    std = torch.sqrt(centred.pow(2).sum(-2) / (b - 1) + eps)
    scaled = centred / std.unsqueeze(-2)
    corr = scaled.mT @ scaled / (b - 1)
    off = corr.masked_fill(torch.eye(d, dtype=torch.bool, device=s.device), 0.0).pow(2)
    hinge = torch.relu(variance_floor - std)
    if dims is None:
        return (off.sum((-2, -1)) / max(d * (d - 1), 1) + hinge.mean(-1)).mean()
    w = dims.to(s.dtype).expand(std.shape)
    k = w.sum(-1)
    pairs = (off * w.unsqueeze(-1) * w.unsqueeze(-2)).sum((-2, -1)) / (k * (k - 1)).clamp_min(1)
    return (pairs + (hinge * w).sum(-1) / k.clamp_min(1)).mean()


def spread_floor(s: torch.Tensor, variance_floor: float = 1.0, eps: float = 1e-4,
                 dims: torch.Tensor | None = None) -> torch.Tensor:
    """Hinge on the code's overall spread, not on each dimension's:

        L = max(0, gamma - sqrt(mean_j Var(s_j) + eps))

    Keeps a shared code from collapsing while letting dimensions that hold nothing shared fade
    (a per-dimension floor would force them to vary, and they fill with private content).
    ``dims`` (..., d), 0/1: the mean over the kept columns only.
    """
    s = s.float()
    if s.shape[-2] < 2:
        return s.sum() * 0.0
    var = s.var(-2)
    if dims is None:
        spread = var.mean(-1)
    else:
        w = dims.to(s.dtype).expand(var.shape)
        spread = (var * w).sum(-1) / w.sum(-1).clamp_min(1)
    return torch.relu(variance_floor - torch.sqrt(spread + eps)).mean()
