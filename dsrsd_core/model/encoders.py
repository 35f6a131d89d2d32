"""Per-modality encoders: x_m -> h_m (B x d).

Inputs are standardised inside the model with statistics fitted on the training split and kept
as buffers, so a saved ``state_dict`` is all that is needed to predict on new data.
"""
from __future__ import annotations

import torch
from torch import nn


class Standardise(nn.Module):
    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Fit on ``x`` (rows x features), using only rows where ``mask`` is true."""
        x = x.reshape(-1, x.shape[-1]).float()
        if mask is not None:
            x = x[mask.reshape(-1)]
        if len(x) > 1:
            self.mean.copy_(x.mean(0))
            self.std.copy_(x.std(0).clamp_min(1e-3))

    def forward(self, x):
        return (x - self.mean) / self.std


def _mlp(n_in: int, d: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))


class TabularEncoder(nn.Module):
    """Categorical embeddings concatenated with standardised numbers, then a two-layer MLP."""

    def __init__(self, spec: dict, d: int, dropout: float = 0.1):
        super().__init__()
        self.norm = Standardise(spec["n_features"])
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, min(8, card)) for card in spec["cat_cardinalities"]
        )
        n_in = spec["n_features"] + sum(e.embedding_dim for e in self.embeddings)
        self.mlp = _mlp(n_in, d, dropout)
        # the category columns whose codes are ranks (read by the reconstruction target only)
        self.ordered = [i for i, o in enumerate(spec.get("cat_ordered", [])) if o]

    def fit(self, x, steps=None, cat=None):
        self.norm.fit(x)

    def embed(self, cat):
        """Category codes (B, C) -> concatenated embeddings (B, sum of embedding sizes)."""
        return torch.cat([emb(cat[:, i]) for i, emb in enumerate(self.embeddings)], -1)

    def forward(self, x, steps=None, cat=None, emb=None):
        """``emb`` replaces ``embed(cat)``: input-level attribution integrates along embeddings."""
        parts = [self.norm(x.float())]
        if len(self.embeddings):
            parts.append(self.embed(cat) if emb is None else emb)
        return self.mlp(torch.cat(parts, -1))


class SequenceEncoder(nn.Module):
    """A GRU over the real steps; summary = [last real state, masked mean of states].

    Sequences are right-padded, so the state at the last real step has seen no padding. A sample
    with no real step (no assessment due yet) gets a learned "empty" encoding.
    """

    def __init__(self, spec: dict, d: int, dropout: float = 0.1):
        super().__init__()
        self.norm = Standardise(spec["n_features"])
        self.inp = nn.Linear(spec["n_features"], d)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.empty = nn.Parameter(torch.zeros(d))

    def fit(self, x, steps=None, cat=None):
        self.norm.fit(x, steps)

    def forward(self, x, steps, cat=None):
        steps = steps.bool()
        states, _ = self.gru(self.inp(self.norm(x.float())))
        n_steps = steps.sum(1)
        last = states.gather(1, (n_steps - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, states.shape[-1])).squeeze(1)
        w = steps.unsqueeze(-1).to(states.dtype)
        mean = (states * w).sum(1) / n_steps.clamp_min(1).unsqueeze(-1)
        h = self.out(torch.cat([last, mean], -1))
        return torch.where((n_steps > 0).unsqueeze(-1), h, self.empty.to(h.dtype).expand_as(h))


def make_encoder(spec: dict, d: int, dropout: float) -> nn.Module:
    if spec["kind"] == "tabular":
        return TabularEncoder(spec, d, dropout)
    if spec["kind"] == "sequence":
        return SequenceEncoder(spec, d, dropout)
    raise ValueError(f"unknown modality kind {spec['kind']!r}")


def fit_encoders(encoders: nn.ModuleDict, modalities: list[str], batch: dict) -> None:
    """Fit each modality's input standardisation on (training) data, present samples only."""
    present = batch["present"].bool()
    for j, m in enumerate(modalities):
        keep = present[:, j]
        b = batch[m]
        encoders[m].fit(b["x"][keep], None if b.get("steps") is None else b["steps"][keep])
