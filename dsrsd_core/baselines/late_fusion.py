"""Late fusion: one classifier per modality; average their class probabilities over present modalities."""
from __future__ import annotations

import torch
from torch import nn

from .common import EncodedBaseline, head


class LateFusion(EncodedBaseline):
    """p(y) = mean over present modalities m of softmax(head_m(h_m)); logits = log p(y).

    Trained end to end on the cross-entropy of the averaged probabilities. With no modality
    present the prediction is uniform.
    """

    name = "late_fusion"
    display_name = "Late fusion"

    def __init__(self, specs: list[dict], n_classes: int, d_model: int = 64, dropout: float = 0.1):
        super().__init__(specs, d_model, dropout)
        self.heads = nn.ModuleDict({m: head(d_model, d_model, n_classes, dropout) for m in self.modalities})
        self.n_classes = n_classes

    def modality_proba(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality class probabilities (B, M, C) and the presence mask (B, M)."""
        h, present = self.encode(batch)
        proba = torch.stack([torch.softmax(self.heads[m](h[:, j]).float(), -1)
                             for j, m in enumerate(self.modalities)], 1)
        return proba, present

    def forward(self, batch: dict) -> dict:
        proba, present = self.modality_proba(batch)
        w = present.to(proba.dtype).unsqueeze(-1)
        n = w.sum(1)
        mean = (proba * w).sum(1) / n.clamp_min(1)
        mean = torch.where(n > 0, mean, torch.full_like(mean, 1.0 / self.n_classes))
        return {"logits": torch.log(mean.clamp_min(1e-12)), "modality_proba": proba}
