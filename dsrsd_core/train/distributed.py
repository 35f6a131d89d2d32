"""The whole batch of every torchrun process, for the losses that are batch statistics.

InfoNCE negatives, correlations, variances and the in-batch regressions must see the global batch,
not one rank's share, or training on N processes optimises a different objective than on one.
:func:`gather` concatenates a tensor over the ranks (rank order, so the result is the global batch)
and keeps gradients: its backward sums, over the ranks, the gradient each rank computed for the
gathered tensor, and hands every rank the rows it contributed (solo-learn's ``GatherLayer``). Every
rank computes the same gathered loss, so that sum is N times the loss's gradient for the local rows,
and DistributedDataParallel's average over ranks turns it back into exactly the gradient of the
global-batch loss. On one process :func:`gather` returns its input unchanged.

Ranks must hold batches of equal size (the trainer gives every rank the same number of samples).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads):
        total = torch.stack(grads)
        dist.all_reduce(total)  # sum over ranks: every rank's gradient for every slot
        return total[dist.get_rank()]


def gather(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, ...) of every rank concatenated along the batch, (N B, ...); ``x`` itself on one process."""
    if world_size() == 1:
        return x
    if x.requires_grad:
        return torch.cat(_GatherWithGrad.apply(x), 0)
    send = x.to(torch.uint8) if x.dtype == torch.bool else x.contiguous()  # gloo has no bool all_gather
    parts = [torch.empty_like(send) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, send)
    out = torch.cat(parts, 0)
    return out.bool() if x.dtype == torch.bool else out
