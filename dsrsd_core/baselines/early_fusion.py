"""Early fusion: concatenate every modality's encoding (zeros when absent) and presence flags."""
from __future__ import annotations

import torch

from .common import EncodedBaseline, head


class EarlyFusion(EncodedBaseline):
    """logits = head([h_1, ..., h_M, present_1, ..., present_M]); an absent modality's h is 0."""

    name = "early_fusion"
    display_name = "Early fusion"

    def __init__(self, specs: list[dict], n_classes: int, d_model: int = 64, dropout: float = 0.1):
        super().__init__(specs, d_model, dropout)
        m = len(self.modalities)
        self.head = head(m * d_model + m, d_model, n_classes, dropout)

    def forward(self, batch: dict) -> dict:
        h, present = self.encode(batch)
        z = h.flatten(1)
        return {"logits": self.head(torch.cat([z, present.to(z.dtype)], 1))}
