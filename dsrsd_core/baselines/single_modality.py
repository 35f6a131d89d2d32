"""One modality alone: its encoder and a classification head; nothing else is read."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import DsrsdError
from ..model.encoders import make_encoder
from .common import encoder_inputs, head


class SingleModality(nn.Module):
    """Predict from modality ``modality`` only.

    A sample without that modality gets the learned prior (a bias-only logit vector), so its
    prediction is the same for every such sample and nothing else about it is read.
    """

    def __init__(self, specs: list[dict], n_classes: int, modality: str, d_model: int = 64, dropout: float = 0.1):
        super().__init__()
        names = [s["name"] for s in specs]
        if modality not in names:
            raise DsrsdError(f"single-modality model: no modality {modality!r} in the data (have {', '.join(names)})")
        self.modalities = names
        self.modality = modality
        self.index = names.index(modality)
        self.name = f"single_{modality}"
        self.display_name = f"{modality} only"
        spec = specs[self.index]
        self.encoders = nn.ModuleDict({modality: make_encoder(spec, d_model, dropout)})
        self.head = head(d_model, d_model, n_classes, dropout)
        self.prior = nn.Parameter(torch.zeros(n_classes))

    def fit_normalisation(self, batch: dict) -> None:
        keep = batch["present"].bool()[:, self.index]
        b = batch[self.modality]
        self.encoders[self.modality].fit(b["x"][keep], None if b.get("steps") is None else b["steps"][keep])

    def forward(self, batch: dict) -> dict:
        present = batch["present"].bool()[:, self.index]
        x, steps, cat = encoder_inputs(batch, self.modality, present)
        logits = self.head(self.encoders[self.modality](x, steps, cat))
        logits = torch.where(present.unsqueeze(1), logits, self.prior.to(logits.dtype).expand_as(logits))
        return {"logits": logits}
