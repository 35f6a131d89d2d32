"""DSRSD-Net: per-modality encoders, residual dual streams, alignment head, gated fusion, task head."""
from __future__ import annotations

import torch
from torch import nn

from .dual_stream import AlignmentHead, ResidualDualStream
from .encoders import fit_encoders, make_encoder
from .fusion import GatedFusion


def stream_names(modalities: list[str]) -> list[str]:
    """Stream j is modality j // 2; even j the shared stream, odd j the private one."""
    return [f"{m}.{kind}" for m in modalities for kind in ("shared", "private")]


class DSRSDNet(nn.Module):
    """The model of DESIGN section 3.

    ``forward(batch, stream_mask=None)`` takes a batch dict ``{modality: {"x", "steps", "cat"},
    "present": (B, M) bool}`` and returns a dict with ``logits`` and every intermediate the
    losses and the explainer need. ``stream_mask`` (B, 2M) removes streams on top of the
    presence mask: the model's own missing-stream mechanism, used by modality drop and Shapley.
    """

    name = "dsrsd_net"
    display_name = "DSRSD-Net"

    def __init__(self, specs: list[dict], n_classes: int, d_model: int = 64, d_stream: int = 32,
                 dropout: float = 0.1, residual: bool = True):
        super().__init__()
        self.modalities = [s["name"] for s in specs]
        self.streams = stream_names(self.modalities)
        self.encoders = nn.ModuleDict({s["name"]: make_encoder(s, d_model, dropout) for s in specs})
        self.dual = nn.ModuleDict({m: ResidualDualStream(d_model, d_stream, residual) for m in self.modalities})
        self.align = AlignmentHead(d_stream)
        self.fusion = GatedFusion(len(self.streams), d_stream)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_stream, d_stream), nn.GELU(),
                                  nn.Linear(d_stream, n_classes))

    def fit_normalisation(self, batch: dict) -> None:
        """Fit each encoder's input standardisation on (training) data, present samples only."""
        fit_encoders(self.encoders, self.modalities, batch)

    def encode(self, batch: dict) -> dict:
        """Encodings and streams of every modality: h, s, r, p, z as (B, M, .) tensors."""
        h, s, r, p = [], [], [], []
        for m in self.modalities:
            b = batch[m]
            if "emb" in b:
                hm = self.encoders[m](b["x"], b.get("steps"), b.get("cat"), emb=b["emb"])
            else:
                hm = self.encoders[m](b["x"], b.get("steps"), b.get("cat"))
            sm, rm, pm = self.dual[m](hm)
            h.append(hm), s.append(sm), r.append(rm), p.append(pm)
        s = torch.stack(s, 1)
        return {"h": torch.stack(h, 1), "s": s, "r": torch.stack(r, 1), "p": torch.stack(p, 1), "z": self.align(s)}

    def stream_tensor(self, enc: dict) -> torch.Tensor:
        """(B, 2M, k) in the order of :func:`stream_names`."""
        return torch.stack([enc["s"], enc["p"]], 2).flatten(1, 2)

    def stream_mask(self, present: torch.Tensor, stream_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = present.bool().repeat_interleave(2, dim=1)
        return mask if stream_mask is None else mask & stream_mask.bool()

    def predict_from_streams(self, streams: torch.Tensor, mask: torch.Tensor):
        """Fusion and task head only: what the stream-level explainers perturb."""
        fused, weights = self.fusion(streams, mask)
        return self.head(fused), weights

    def forward(self, batch: dict, stream_mask: torch.Tensor | None = None) -> dict:
        enc = self.encode(batch)
        mask = self.stream_mask(batch["present"], stream_mask)
        logits, weights = self.predict_from_streams(self.stream_tensor(enc), mask)
        return {**enc, "logits": logits, "gate": weights, "stream_mask": mask}
