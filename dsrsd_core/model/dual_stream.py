"""The residual dual stream: h -> shared s, residual r = h - B(s), private p = P(r)."""
from __future__ import annotations

import torch
from torch import nn


class ResidualDualStream(nn.Module):
    """Split an encoding into a stream shared with other modalities and a private one.

    s = S(h);  r = h - B(s);  p = P(r).   The identity h = B(s) + r holds exactly by construction,
    so the private stream sees only what the shared stream's back-projection does not explain.
    With ``residual=False`` (an ablation) p = P(h): two independent projections.

    With a ``lift`` (one module shared by every modality) the shared stream is low-rank:
    c = S(h) is a small code and s = lift(c), so every modality's shared stream lives in the same
    coordinates and can hold no more than ``code_dim`` directions. Without one, s = LayerNorm(S(h))
    (the paper's form) and c = s.

    ``task_writes_code=False`` lifts a detached code, s = lift(sg(c)): what downstream losses (the
    task) want cannot be written into the code, which then holds only what the losses on c itself
    (alignment with the other modalities, decorrelation) put there; the task still trains the lift
    and reads the code. Evaluation keeps the path whole, so gradients with respect to the inputs
    (input-level integrated gradients) see the code's part.
    """

    def __init__(self, d: int, k: int, residual: bool = True, code_dim: int = 0, lift: nn.Module | None = None,
                 task_writes_code: bool = True):
        super().__init__()
        self.residual = residual
        self.lift = lift
        self.task_writes_code = task_writes_code
        self.shared = nn.Linear(d, code_dim) if lift is not None else nn.Sequential(nn.Linear(d, k), nn.LayerNorm(k))
        self.back = nn.Linear(k, d)
        self.private = nn.Sequential(nn.Linear(d, k), nn.LayerNorm(k))

    def forward(self, h: torch.Tensor):
        """-> shared s, residual r, private p, shared code c (c is s without a lift)."""
        c = self.shared(h)
        if self.lift is None:
            s = c
        else:
            # in training only: attribution (integrated gradients) must follow inputs -> code -> lift
            s = self.lift(c if self.task_writes_code or not self.training else c.detach())
        r = h - self.back(s)
        p = self.private(r if self.residual else h)
        return s, r, p, c


class AlignmentHead(nn.Module):
    """z = s + A(s): a residual map of every modality's shared stream into one common space."""

    def __init__(self, k: int):
        super().__init__()
        self.map = nn.Sequential(nn.Linear(k, k), nn.GELU(), nn.Linear(k, k))

    def forward(self, s):
        return s + self.map(s)


class RestPredictor(nn.Module):
    """Predict each modality's shared code from the other modalities' encodings: c^_m = T_m(h_{-m}).

    Absent modalities enter as zeros with a presence flag of 0, so one predictor serves every
    pattern of missing modalities. What T_m can predict is, by construction, what the other
    modalities also carry: aligning c_m with c^_m is the "shared with the others" constraint when
    different pairs of modalities share different things. T_m reads the others' whole encodings,
    not their codes, so a factor two modalities share can be found by either code alone (reading
    codes, each would wait for the other to hold it first).
    """

    def __init__(self, n_modalities: int, d_in: int, code_dim: int, hidden: int = 64):
        super().__init__()
        n_in = (n_modalities - 1) * (d_in + 1)
        self.nets = nn.ModuleList(
            nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, code_dim))
            for _ in range(n_modalities))

    def forward(self, h: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``h`` (B, M, d), ``present`` (B, M) -> predicted codes (B, M, q)."""
        flag = present.to(h.dtype).unsqueeze(-1)
        parts = torch.cat([h * flag, flag], -1)
        n = h.shape[1]
        out = [net(torch.cat([parts[:, i] for i in range(n) if i != m], -1)) for m, net in enumerate(self.nets)]
        return torch.stack(out, 1)
