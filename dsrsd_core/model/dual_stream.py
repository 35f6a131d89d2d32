"""The residual dual stream: h -> shared s, residual r = h - B(s), private p = P(r)."""
from __future__ import annotations

import torch
from torch import nn


class ResidualDualStream(nn.Module):
    """Split an encoding into a stream shared with other modalities and a private one.

    s = S(h);  r = h - B(s);  p = P(r).   The identity h = B(s) + r holds exactly by construction,
    so the private stream sees only what the shared stream's back-projection does not explain.
    With ``residual=False`` (an ablation) p = P(h): two independent projections.
    """

    def __init__(self, d: int, k: int, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.shared = nn.Sequential(nn.Linear(d, k), nn.LayerNorm(k))
        self.back = nn.Linear(k, d)
        self.private = nn.Sequential(nn.Linear(d, k), nn.LayerNorm(k))

    def forward(self, h: torch.Tensor):
        s = self.shared(h)
        r = h - self.back(s)
        p = self.private(r if self.residual else h)
        return s, r, p


class AlignmentHead(nn.Module):
    """z = s + A(s): a residual map of every modality's shared stream into one common space."""

    def __init__(self, k: int):
        super().__init__()
        self.map = nn.Sequential(nn.Linear(k, k), nn.GELU(), nn.Linear(k, k))

    def forward(self, s):
        return s + self.map(s)
