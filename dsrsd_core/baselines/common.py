"""What every neural baseline shares: per-modality encoders, their input standardisation, and
the rule that an absent modality must not influence the output."""
from __future__ import annotations

import torch
from torch import nn

from ..model.encoders import fit_encoders, make_encoder


def encoder_inputs(batch: dict, modality: str, present: torch.Tensor) -> tuple:
    """``(x, steps, cat)`` of one modality with the rows of absent samples replaced by zeros.

    Whatever an absent modality's tensors hold (zeros, stale values, NaN), the encoder sees the
    same thing, so the only way the modality reaches the output is through ``present``.
    """
    b = batch[modality]
    keep = present.bool()
    x = b["x"].float()
    x = torch.where(keep.view(-1, *([1] * (x.dim() - 1))), x, torch.zeros((), dtype=x.dtype, device=x.device))
    steps = b.get("steps")
    if steps is not None:
        steps = steps.bool() & keep.unsqueeze(1)
    cat = b.get("cat")
    if cat is not None:
        cat = torch.where(keep.unsqueeze(1), cat, torch.zeros((), dtype=cat.dtype, device=cat.device))
    return x, steps, cat


class EncodedBaseline(nn.Module):
    """Base of the baselines that encode each modality with :func:`make_encoder` (as DSRSD-Net does)."""

    name = "baseline"
    display_name = "baseline"

    def __init__(self, specs: list[dict], d_model: int, dropout: float):
        super().__init__()
        self.modalities = [s["name"] for s in specs]
        self.encoders = nn.ModuleDict({s["name"]: make_encoder(s, d_model, dropout) for s in specs})

    def fit_normalisation(self, batch: dict) -> None:
        """Fit each encoder's input standardisation on (training) data, present samples only."""
        fit_encoders(self.encoders, self.modalities, batch)

    def encode(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodings (B, M, d), zero for absent modalities, and the presence mask (B, M) bool."""
        present = batch["present"].bool()
        hs = []
        for j, m in enumerate(self.modalities):
            x, steps, cat = encoder_inputs(batch, m, present[:, j])
            h = self.encoders[m](x, steps, cat)
            hs.append(torch.where(present[:, j:j + 1], h, torch.zeros((), dtype=h.dtype, device=h.device)))
        return torch.stack(hs, 1), present


def head(n_in: int, d: int, n_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, n_classes))
