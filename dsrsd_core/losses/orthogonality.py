"""Keeping a modality's shared and private streams apart."""
import torch


def orthogonality(s: torch.Tensor, p: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Squared Frobenius norm of the cross-correlation between shared ``s`` (B x d) and private ``p`` (B x k).

        S~, P~ = columns centred over the batch and scaled to unit norm
        L = || S~^T P~ ||_F^2 / (d k)

    0 exactly when every shared dimension is uncorrelated with every private one; at most 1.
    """
    s, p = s.float(), p.float()
    if len(s) < 2:
        return s.sum() * 0.0
    s = s - s.mean(0)
    p = p - p.mean(0)
    s = s / (s.norm(dim=0) + eps)
    p = p / (p.norm(dim=0) + eps)
    return (s.T @ p).pow(2).sum() / (s.shape[1] * p.shape[1])
