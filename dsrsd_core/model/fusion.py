"""Gated fusion over the streams that are present."""
from __future__ import annotations

import torch
from torch import nn


class GatedFusion(nn.Module):
    """Weights w = softmax over present streams of a linear gate on all streams; fused = sum_j w_j v_j.

    Absent streams are zeroed before the gate sees them and get weight exactly 0. With no stream
    present the fused vector is 0 and every weight is 0 (the "empty coalition" of the explainer).
    """

    def __init__(self, n_streams: int, k: int):
        super().__init__()
        self.gate = nn.Linear(n_streams * k, n_streams)

    def forward(self, streams: torch.Tensor, mask: torch.Tensor):
        """``streams`` (B, S, k), ``mask`` (B, S) bool -> fused (B, k), weights (B, S)."""
        mask = mask.bool()
        # where, not multiply: an absent modality's NaN input must not leak through 0 * NaN
        streams = torch.where(mask.unsqueeze(-1), streams, torch.zeros((), dtype=streams.dtype, device=streams.device))
        logits = self.gate(streams.flatten(1)).float().masked_fill(~mask, float("-inf"))
        any_present = mask.any(1, keepdim=True)
        weights = torch.softmax(logits.masked_fill(~any_present, 0.0), dim=1) * any_present
        fused = (weights.unsqueeze(-1).to(streams.dtype) * streams).sum(1)
        return fused, weights
