"""Gated fusion over the streams that are present."""
from __future__ import annotations

import torch
from torch import nn


class GatedFusion(nn.Module):
    """Weights w = softmax over present streams of a linear gate on all streams.

    ``mode="sum"``: fused = sum_j w_j v_j (k wide). ``mode="concat"``: fused = [n w_1 v_1, ..., n w_S v_S]
    (S k wide, n = number of present streams, so equal weights leave streams unscaled): each stream
    keeps its own slot, so the head can tell which stream spoke instead of reading one sum of
    unrelated coordinate systems.

    Absent streams are zeroed before the gate sees them and get weight exactly 0. With no stream
    present the fused vector is 0 and every weight is 0 (the "empty coalition" of the explainer).
    """

    def __init__(self, n_streams: int, k: int, mode: str = "sum"):
        super().__init__()
        if mode not in ("sum", "concat"):
            raise ValueError(f"unknown fusion {mode!r}")
        self.mode = mode
        self.gate = nn.Linear(n_streams * k, n_streams)
        self.out_dim = k if mode == "sum" else n_streams * k

    def forward(self, streams: torch.Tensor, mask: torch.Tensor):
        """``streams`` (B, S, k), ``mask`` (B, S) bool -> fused (B, out_dim), weights (B, S)."""
        mask = mask.bool()
        # where, not multiply: an absent modality's NaN input must not leak through 0 * NaN
        streams = torch.where(mask.unsqueeze(-1), streams, torch.zeros((), dtype=streams.dtype, device=streams.device))
        logits = self.gate(streams.flatten(1)).float().masked_fill(~mask, float("-inf"))
        any_present = mask.any(1, keepdim=True)
        weights = torch.softmax(logits.masked_fill(~any_present, 0.0), dim=1) * any_present
        scaled = weights.unsqueeze(-1).to(streams.dtype) * streams
        if self.mode == "sum":
            return scaled.sum(1), weights
        n_present = mask.sum(1, keepdim=True).clamp_min(1).unsqueeze(-1).to(streams.dtype)
        return (scaled * n_present).flatten(1), weights
