"""Cross-modal alignment of shared streams: symmetric InfoNCE plus a regression pull."""
import torch
import torch.nn.functional as F


def info_nce(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between two views of the same B samples (row i of each is a positive pair).

        L = 1/2 [ CE(S, I) + CE(S^T, I) ],   S_ij = cos(z_a_i, z_b_j) / tau

    Other rows of the batch are the negatives. Returns 0 for fewer than two samples (no negatives).
    Leading dimensions (..., B, q) are independent batches: the mean of their losses.
    """
    n = z_a.shape[-2]
    if n < 2:
        return z_a.sum() * 0.0
    a = F.normalize(z_a.float(), dim=-1)
    b = F.normalize(z_b.float(), dim=-1)
    logits = a @ b.mT / temperature
    target = torch.arange(n, device=a.device).expand(logits.shape[:-1]).flatten()
    return 0.5 * (F.cross_entropy(logits.flatten(0, -2), target) + F.cross_entropy(logits.mT.flatten(0, -2), target))


def alignment_regression(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between L2-normalised paired embeddings.

        L = mean_i || z_a_i/|z_a_i| - z_b_i/|z_b_i| ||^2  = mean_i 2 (1 - cos(z_a_i, z_b_i))
    """
    if len(z_a) == 0:
        return z_a.sum() * 0.0
    a = F.normalize(z_a.float(), dim=-1)
    b = F.normalize(z_b.float(), dim=-1)
    return (a - b).pow(2).sum(-1).mean()
