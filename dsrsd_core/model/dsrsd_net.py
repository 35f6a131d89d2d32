"""DSRSD-Net: per-modality encoders, residual dual streams, alignment head, gated fusion, task head."""
from __future__ import annotations

import torch
from torch import nn

from ..train.distributed import gather  # under torchrun: the global batch (identity on one process)
from .dual_stream import AlignmentHead, ResidualDualStream, RestPredictor
from .encoders import fit_encoders, make_encoder
from .fusion import GatedFusion
from .reconstruction import category_blocks, input_summary, reconstruction_error, summary_size


def stream_names(modalities: list[str]) -> list[str]:
    """Stream j is modality j // 2; even j the shared stream, odd j the private one."""
    return [f"{m}.{kind}" for m in modalities for kind in ("shared", "private")]


class DSRSDNet(nn.Module):
    """Encoders, residual dual streams, alignment, gated fusion and a task head (README, "DSRSD-Net").

    ``forward(batch, stream_mask=None)`` takes a batch dict ``{modality: {"x", "steps", "cat"},
    "present": (B, M) bool}`` and returns a dict with ``logits`` and every intermediate the
    losses and the explainer need. ``stream_mask`` (B, 2M) removes streams on top of the
    presence mask: the model's own missing-stream mechanism, used by modality drop and Shapley.

    Two readings of "shared" (``alignment``): ``pairs`` aligns z_m = s_m + A(s_m) of every pair of
    modalities (the paper's form); ``rest`` gives every modality a low-rank shared code c_m
    (``code_dim``) lifted into common coordinates by one lift, and aligns c_m with its prediction
    from the other modalities' encodings, so a modality's shared stream may hold only what some
    other modality also carries. ``stream_dropout`` hides single streams in training, so that the head
    learns to do without any one of them (the removal that stream Shapley and stream drop use).
    """

    name = "dsrsd_net"
    display_name = "DSRSD-Net"

    def __init__(self, specs: list[dict], n_classes: int, d_model: int = 64, d_stream: int = 32,
                 dropout: float = 0.1, residual: bool = True, alignment: str = "pairs", code_dim: int = 8,
                 fusion: str = "sum", stream_dropout: float = 0.0, task_writes_code: bool = True,
                 reconstruction: bool = False, reconstruction_categories: str = "onehot"):
        super().__init__()
        if alignment not in ("pairs", "rest"):
            raise ValueError(f"unknown alignment {alignment!r}")
        self.modalities = [s["name"] for s in specs]
        self.streams = stream_names(self.modalities)
        self.alignment = alignment
        self.stream_dropout = stream_dropout
        self.encoders = nn.ModuleDict({s["name"]: make_encoder(s, d_model, dropout) for s in specs})
        if alignment == "rest":
            lift = nn.Linear(code_dim, d_stream)
            self.dual = nn.ModuleDict({m: ResidualDualStream(d_model, d_stream, residual, code_dim, lift,
                                                             task_writes_code)
                                       for m in self.modalities})
            self.rest = RestPredictor(len(self.modalities), d_model, code_dim)
        else:
            self.dual = nn.ModuleDict({m: ResidualDualStream(d_model, d_stream, residual) for m in self.modalities})
            self.align = AlignmentHead(d_stream)
        if reconstruction_categories not in ("onehot", "softmax"):
            raise ValueError(f"unknown reconstruction_categories {reconstruction_categories!r}")
        self.summary_ranks = reconstruction_categories == "softmax"
        self.category_blocks = {m: category_blocks(self.encoders[m]) if self.summary_ranks else []
                                for m in self.modalities}
        # a linear decoder per modality from [s_m, p_m] to its input summary (model/reconstruction.py)
        self.decoders = nn.ModuleDict(
            {s["name"]: nn.Linear(2 * d_stream, summary_size(self.encoders[s["name"]], s, self.summary_ranks))
             for s in specs}
        ) if reconstruction else None
        self.fusion = GatedFusion(len(self.streams), d_stream, fusion)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.fusion.out_dim, d_stream), nn.GELU(),
                                  nn.Linear(d_stream, n_classes))

    def fit_normalisation(self, batch: dict) -> None:
        """Fit each encoder's input standardisation on (training) data, present samples only."""
        fit_encoders(self.encoders, self.modalities, batch)

    def encode(self, batch: dict) -> dict:
        """Encodings and streams of every modality as (B, M, .) tensors: h, s, r, p, the shared
        code c, the aligned z, and (``rest``) z_hat, each code as predicted from the others."""
        h, s, r, p, c = [], [], [], [], []
        for m in self.modalities:
            hm, sm, rm, pm, cm = self.encode_modality(m, batch[m])
            h.append(hm), s.append(sm), r.append(rm), p.append(pm), c.append(cm)
        s, c = torch.stack(s, 1), torch.stack(c, 1)
        out = {"h": torch.stack(h, 1), "s": s, "r": torch.stack(r, 1), "p": torch.stack(p, 1), "c": c}
        if self.training:
            out["backprojection"] = self._backprojection_error(out, batch["present"].bool())
            if self.decoders is not None:
                out["reconstruction"] = self._reconstruction_error(out, batch)
        if self.alignment == "rest":
            out["z"] = c
            out["z_hat"] = self.rest(out["h"], batch["present"].bool())
            masks = self.code_masks()
            if masks is not None:  # a pruned coordinate is 0 in the code; so is its prediction
                out["z_hat"] = out["z_hat"] * masks
                out["code_mask"] = masks
        else:
            out["z"] = self.align(s)
        return out

    def encode_modality(self, m: str, b: dict) -> tuple[torch.Tensor, ...]:
        """h, s, r, p, c of modality ``m`` from its own inputs ``b`` alone: no other modality, and not
        the presence mask, enters a modality's streams (removal acts after them, in the fusion)."""
        if "emb" in b:
            hm = self.encoders[m](b["x"], b.get("steps"), b.get("cat"), emb=b["emb"])
        else:
            hm = self.encoders[m](b["x"], b.get("steps"), b.get("cat"))
        return (hm, *self.dual[m](hm))

    def code_masks(self) -> torch.Tensor | None:
        """(M, q): 1 where a modality's code coordinate is kept; None while no code was pruned."""
        if self.alignment != "rest" or all(self.dual[m].code_mask is None for m in self.modalities):
            return None
        return torch.stack([self.dual[m].code_mask if self.dual[m].code_mask is not None
                            else torch.ones_like(self.rest.nets[0][-1].bias) for m in self.modalities])

    def shared_widths(self) -> dict[str, int]:
        """How many directions each modality's shared stream may span: its (pruned) code's width with
        ``rest`` alignment, the stream's width with ``pairs``. A stream of width 1 has rank 1 by design."""
        if self.alignment != "rest":
            return {m: int(self.dual[m].back.in_features) for m in self.modalities}
        masks = self.code_masks()
        q = self.rest.nets[0][-1].out_features
        return {m: q if masks is None else int(masks[j].sum()) for j, m in enumerate(self.modalities)}

    @torch.no_grad()
    def prune_codes(self, batch: dict, min_r2: float) -> tuple[dict[str, list[float]], list[nn.Parameter]]:
        """Narrow each modality's shared code to the directions the other modalities predict.

        On ``batch`` (validation data), with c_m the code and c^_m its prediction from the others:
        the directions v of code space solving  E v = lambda C v,  C = Cov(c_m),
        E = mean (c_m - c^_m)(c_m - c^_m)^T,  have held-out R^2 = 1 - lambda along them (the
        canonical form of the code's regression on the others; C-orthonormal, so the new coordinates
        are decorrelated with unit variance, what the decorrelation term asks of them). A modality
        whose code has directions below ``min_r2`` (keeping the best one always) is re-expressed in
        these directions and loses the others: a spare direction must otherwise keep its variance floor,
        fills with private content, and the separation terms then take that content from the private
        stream. Modalities with every direction above ``min_r2`` are left as they are; a code is
        pruned once. Returns the R^2 per direction of every modality measured (best first), and the
        parameters that were re-expressed (an optimiser's running moments for them no longer apply).
        """
        from ..train.batching import batches, select

        if self.alignment != "rest":  # no low-rank code to narrow: the paper's form keeps its streams
            return {}, []
        was_training = self.training
        self.eval()
        parts = [self.encode(select(batch, b.to(batch["y"].device))) for b in batches(len(batch["y"]), 4096)]
        self.train(was_training)
        enc = {k: torch.cat([part[k] for part in parts]) for k in ("c", "z_hat")}
        present = batch["present"].bool()
        spectra, changed = {}, []
        for j, m in enumerate(self.modalities):
            rows = present[:, j] & (present.sum(1) >= 2)
            if self.dual[m].code_mask is not None or int(rows.sum()) <= 2 * enc["c"].shape[-1]:
                continue
            c, c_hat = enc["c"][rows, j].double(), enc["z_hat"][rows, j].double()
            centred = c - c.mean(0)
            cov = centred.T @ centred / (len(c) - 1) + 1e-6 * torch.eye(c.shape[1], dtype=c.dtype, device=c.device)
            err = (c - c_hat).T @ (c - c_hat) / len(c)
            e, u = torch.linalg.eigh(cov)
            whiten = u @ torch.diag(e.clamp_min(1e-9).rsqrt()) @ u.T
            lam, q = torch.linalg.eigh(whiten @ err @ whiten)  # ascending: best-predicted direction first
            r2 = 1 - lam
            spectra[m] = [round(float(v), 4) for v in r2]
            keep = r2 >= min_r2
            keep[0] = True
            if bool(keep.all()):
                continue
            basis = (whiten @ q).to(enc["c"].dtype)
            self.dual[m].prune_code(basis, keep)
            self.rest.rotate(j, basis)
            changed += [*self.dual[m].shared.parameters(), *self.rest.nets[j][-1].parameters()]
        return spectra, changed

    def _backprojection_error(self, enc: dict, present: torch.Tensor) -> torch.Tensor:
        """Share of h's variance that B(s) leaves unexplained, with gradient into B only.

        Minimising it makes B the least-squares map from s back to h, so r = h - B(s) is what the
        shared stream cannot explain (without it B only serves the task, and r may still hold s).
        """
        s = enc["s"].detach()
        fit = gather(torch.stack([self.dual[m].back(s[:, j]) for j, m in enumerate(self.modalities)], 1)).float()
        keep = gather(present).unsqueeze(-1)  # (B, M, 1)
        # per modality over its present rows, as weighted sums (no row indexing: this runs every batch);
        # where, not a 0 weight alone: an absent modality's encoding may be NaN, and 0 * NaN is NaN
        h = torch.where(keep, gather(enc["h"].detach()).float(), 0.0)
        fit, w = torch.where(keep, fit, 0.0), keep.float()
        n = w.sum(0)  # (M, 1)
        mean = (w * h).sum(0) / n.clamp_min(1)
        var = (w * (h - mean).pow(2)).sum(0).sum(-1) / (n.squeeze(-1) - 1).clamp_min(1)
        err = (w * (h - fit).pow(2)).sum(0).sum(-1) / n.squeeze(-1).clamp_min(1)
        ok = n.squeeze(-1) >= 2
        return (err / var.clamp_min(1e-6))[ok].mean() if bool(ok.any()) else enc["h"].new_zeros(())

    @torch.no_grad()
    def input_summaries(self, tensors: dict, chunk: int = 4096, max_bytes: int = 256 * 2**20) -> dict[str, torch.Tensor]:
        """Every sample's reconstruction target per modality, ``{modality: (N, D)}`` (empty without
        decoders). The trainer computes them once and hands them in as ``batch[m]["summary"]``: they
        depend only on the inputs and the fitted standardisation, both fixed while training, and
        building them batch by batch was a tenth of an epoch on the synthetic cohort. A modality whose
        table would pass ``max_bytes`` is left out and summarised batch by batch as before: the one-hot
        of a category with many values (a knowledge-tracing item id: ~17,000 on ASSISTments 2009) over
        every sample would take gigabytes."""
        if self.decoders is None:
            return {}
        out = {}
        for m in self.modalities:
            b = {k: v for k, v in tensors[m].items() if v is not None and k not in ("emb", "summary")}
            n = len(next(iter(b.values())))
            width = input_summary(self.encoders[m], {k: v[:1] for k, v in b.items()}, self.summary_ranks).shape[-1]
            if n * width * 4 > max_bytes:
                continue
            out[m] = torch.cat([input_summary(self.encoders[m], {k: v[i:i + chunk] for k, v in b.items()},
                                              self.summary_ranks)
                                for i in range(0, n, chunk)])
        return out

    def _reconstruction_error(self, enc: dict, batch: dict) -> torch.Tensor:
        """Mean over modalities of the input summary's unexplained share, decoded from [s_m, p_m].
        Under torchrun the variances are those of the global batch, as for the other batch statistics.
        The target is ``batch[m]["summary"]`` where the trainer has put it (:meth:`input_summaries`)."""
        present = gather(batch["present"].bool())
        errors = []
        for j, m in enumerate(self.modalities):
            keep = present[:, j]
            if keep.sum() >= 2:
                if "summary" in batch[m]:
                    target = gather(batch[m]["summary"])
                else:
                    b = {k: v for k, v in batch[m].items() if v is not None and k != "emb"}
                    target = gather(input_summary(self.encoders[m], b, self.summary_ranks))
                pred = gather(self.decoders[m](torch.cat([enc["s"][:, j], enc["p"][:, j]], -1)))
                errors.append(reconstruction_error(pred, target, rows=keep, blocks=self.category_blocks[m]))
        return torch.stack(errors).mean() if errors else enc["h"].new_zeros(())

    def stream_tensor(self, enc: dict) -> torch.Tensor:
        """(B, 2M, k) in the order of :func:`stream_names`."""
        return torch.stack([enc["s"], enc["p"]], 2).flatten(1, 2)

    def stream_mask(self, present: torch.Tensor, stream_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = present.bool().repeat_interleave(2, dim=1)
        return mask if stream_mask is None else mask & stream_mask.bool()

    def _drop_streams(self, mask: torch.Tensor) -> torch.Tensor:
        """Training only: hide each present stream with probability ``stream_dropout``, never all."""
        keep = torch.rand(mask.shape, device=mask.device) >= self.stream_dropout
        dropped = mask & keep
        return torch.where(dropped.any(1, keepdim=True), dropped, mask)

    def predict_from_streams(self, streams: torch.Tensor, mask: torch.Tensor):
        """Fusion and task head only: what the stream-level explainers perturb."""
        fused, weights = self.fusion(streams, mask)
        return self.head(fused), weights

    def forward(self, batch: dict, stream_mask: torch.Tensor | None = None) -> dict:
        enc = self.encode(batch)
        mask = self.stream_mask(batch["present"], stream_mask)
        if self.training and self.stream_dropout > 0:
            mask = self._drop_streams(mask)
        logits, weights = self.predict_from_streams(self.stream_tensor(enc), mask)
        return {**enc, "logits": logits, "gate": weights, "stream_mask": mask}
