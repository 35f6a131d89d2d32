"""Co-attention: modality token sequences attend within themselves, then across modalities.

Tokens: a sequence modality gives one token per real step (standardised inputs projected to d,
plus a learned step embedding), a tabular modality one token (its :func:`make_encoder` encoding);
every token also gets a learned modality embedding. Layer 1 lets tokens attend to tokens of their
own modality, layer 2 to tokens of the *other* modalities (co-attention). Each modality's tokens
are then averaged into one vector, and a head predicts from the M vectors and the presence flags.

Absent modalities' tokens, and padding steps, are masked out as keys (``key_padding_mask``) and
their pooled vector is zero, so they cannot influence the output. A learned "null" token that is
never masked is always available as a key: a query with no other key to attend to (a modality
alone in the sample) attends to it instead of producing NaN.
"""
from __future__ import annotations

import torch
from torch import nn

from ..model.encoders import Standardise, make_encoder
from .common import encoder_inputs, head


class CoAttention(nn.Module):
    name = "co_attention"
    display_name = "Co-attention"

    def __init__(self, specs: list[dict], n_classes: int, d_model: int = 64, dropout: float = 0.1, n_heads: int = 4):
        super().__init__()
        self.modalities = [s["name"] for s in specs]
        self.kinds = {s["name"]: s["kind"] for s in specs}
        d = d_model
        self.norms = nn.ModuleDict()
        self.project = nn.ModuleDict()
        self.step_emb = nn.ModuleDict()
        self.encoders = nn.ModuleDict()
        for s in specs:
            m = s["name"]
            if s["kind"] == "sequence":
                self.norms[m] = Standardise(s["n_features"])
                self.project[m] = nn.Linear(s["n_features"], d)
                self.step_emb[m] = nn.Embedding(max(1, s["n_steps"]), d)
            else:
                self.encoders[m] = make_encoder(s, d, dropout)
        self.mod_emb = nn.Parameter(torch.randn(len(specs), d) * 0.02)
        self.null = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.empty = nn.Parameter(torch.zeros(len(specs), d))
        heads = n_heads if d % n_heads == 0 else 1
        layer = lambda: nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=dropout,
                                                   batch_first=True, norm_first=True)
        self.within = layer()
        self.across = layer()
        self.final_norm = nn.LayerNorm(d)
        m = len(specs)
        self.head = head(m * d + m, d, n_classes, dropout)

    def fit_normalisation(self, batch: dict) -> None:
        present = batch["present"].bool()
        for j, m in enumerate(self.modalities):
            keep = present[:, j]
            b = batch[m]
            if self.kinds[m] == "sequence":
                self.norms[m].fit(b["x"][keep], b["steps"][keep])
            else:
                self.encoders[m].fit(b["x"][keep])

    def tokens(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, 1 + L, d) with the null token first, their validity (B, 1 + L) and modality ids (1 + L,)."""
        present = batch["present"].bool()
        toks, valid, ids = [], [], []
        for j, m in enumerate(self.modalities):
            x, steps, cat = encoder_inputs(batch, m, present[:, j])
            if self.kinds[m] == "sequence":
                pos = torch.arange(x.shape[1], device=x.device).clamp_max(self.step_emb[m].num_embeddings - 1)
                t = self.project[m](self.norms[m](x)) + self.step_emb[m](pos)
                v = steps
            else:
                t = self.encoders[m](x, None, cat).unsqueeze(1)
                v = present[:, j:j + 1]
            toks.append(t + self.mod_emb[j])
            valid.append(v)
            ids.append(torch.full((t.shape[1],), j, device=x.device))
        b = present.shape[0]
        toks = torch.cat([self.null.expand(b, 1, -1).to(toks[0].dtype)] + toks, 1)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=present.device)] + valid, 1)
        ids = torch.cat([torch.full((1,), -1, device=present.device)] + ids)
        return toks, valid, ids

    @staticmethod
    def _attn_masks(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean masks (True = may NOT attend) for within- and across-modality attention."""
        same = ids.unsqueeze(1) == ids.unsqueeze(0)
        to_null = (ids == -1).unsqueeze(0).expand_as(same)
        within = ~(same | to_null)
        across = ~((~same) | to_null)
        across[0] = True  # the null query attends to the null key only
        across[0, 0] = False
        return within, across

    def forward(self, batch: dict) -> dict:
        present = batch["present"].bool()
        toks, valid, ids = self.tokens(batch)
        within, across = self._attn_masks(ids)
        pad = ~valid
        x = self.within(toks, src_mask=within, src_key_padding_mask=pad)
        x = self.across(x, src_mask=across, src_key_padding_mask=pad)
        x = self.final_norm(x)
        pooled = []
        for j in range(len(self.modalities)):
            sel = (ids == j)
            w = valid[:, sel].to(x.dtype).unsqueeze(-1)
            n = w.sum(1)
            v = (x[:, sel] * w).sum(1) / n.clamp_min(1)
            v = torch.where(n > 0, v, self.empty[j].to(v.dtype).expand_as(v))
            pooled.append(torch.where(present[:, j:j + 1], v, torch.zeros((), dtype=v.dtype, device=v.device)))
        z = torch.cat(pooled + [present.to(x.dtype)], 1)
        return {"logits": self.head(z)}
