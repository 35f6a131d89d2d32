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

    :meth:`prune_code` narrows a lifted code to the directions worth keeping: it re-expresses the
    code in a new basis (c' = c V, with the lift reading c' V^-1, so s is unchanged) and zeroes the
    spare coordinates for good (``code_mask``). Both are buffers that exist only once pruned, so an
    unpruned model's weights keep their old layout.
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
        self.code_mask: torch.Tensor | None
        self.code_basis: torch.Tensor | None
        self.register_buffer("code_mask", None)
        self.register_buffer("code_basis", None)

    def forward(self, h: torch.Tensor):
        """-> shared s, residual r, private p, shared code c (c is s without a lift)."""
        c = self.shared(h)
        if self.lift is None:
            s = c
        else:
            if self.code_mask is not None:
                c = c * self.code_mask
            # in training only: attribution (integrated gradients) must follow inputs -> code -> lift
            code = c if self.task_writes_code or not self.training else c.detach()
            s = self.lift(code if self.code_basis is None else code @ self.code_basis)
        r = h - self.back(s)
        p = self.private(r if self.residual else h)
        return s, r, p, c

    @torch.no_grad()
    def prune_code(self, basis: torch.Tensor, keep: torch.Tensor) -> None:
        """Express the code in ``basis`` (q x q, invertible; new coordinates c' = c basis) and keep
        only the coordinates where ``keep`` (q,) is true. The shared stream s is unchanged but for
        the dropped coordinates' part."""
        layer = self.shared
        layer.weight.copy_(basis.T @ layer.weight)
        layer.bias.copy_(layer.bias @ basis)
        self.code_basis = torch.linalg.inv(basis)
        self.code_mask = keep.to(basis.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a pruned model's buffers exist only once pruned: make room for them before loading
        for name in ("code_mask", "code_basis"):
            if prefix + name in state_dict and getattr(self, name) is None:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


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

    @torch.no_grad()
    def rotate(self, m: int, basis: torch.Tensor) -> None:
        """Predict modality ``m``'s code in the coordinates c' = c basis (:meth:`ResidualDualStream.prune_code`)."""
        last = self.nets[m][-1]
        last.weight.copy_(basis.T @ last.weight)
        last.bias.copy_(last.bias @ basis)

    def forward(self, h: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``h`` (B, M, d), ``present`` (B, M) -> predicted codes (B, M, q)."""
        flag = present.to(h.dtype).unsqueeze(-1)
        parts = torch.cat([h * flag, flag], -1)
        n = h.shape[1]
        out = [net(torch.cat([parts[:, i] for i in range(n) if i != m], -1)) for m, net in enumerate(self.nets)]
        return torch.stack(out, 1)
