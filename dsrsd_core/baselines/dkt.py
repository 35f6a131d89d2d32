"""DKT (Piech et al. 2015): an LSTM over a learner's (skill, item, correct) responses.

Built from the next-step samples themselves (``meta``: user, position, ``n_visible``, ``correct``;
``content`` category code ``skill``): for each learner the scored responses in order are the
LSTM's inputs (embeddings of skill x correctness and item x correctness), and the response at position *p* is
predicted from the state after the last input the sample may see (position < its ``n_visible``:
bundle mates and the response itself are never read) together with the embeddings of its skill and item (as the learner-performance-prediction DKT).
A learner's first response (never a sample) is not an input; scaffolding responses that are not
scored are not inputs either. Windows: a learner's sequence is cut into windows of ``WINDOW``
responses starting every ``STRIDE``; each response is predicted (in training and at test time)
in exactly one window, the first one that gives it at least ``WINDOW - STRIDE`` responses of
context (or all earlier ones, near the start); windows are batched by length. Early stopping on the validation learners' AUC, like every other model.

The surface is :class:`~dsrsd_core.baselines.gbm.GBMModel`'s; DKT reads neither behaviour nor
the history features, so ``present`` does not change its output.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from ..errors import DsrsdError
from ..train.metrics import classification_metrics
from .gbm import GBMModel


class _Net(nn.Module):
    def __init__(self, n_skills: int, n_items: int, d: int, dropout: float):
        super().__init__()
        self.inp = nn.Embedding(2 * n_skills + 2, d)
        self.item_in = nn.Embedding(2 * n_items + 2, d)
        self.item = nn.Embedding(n_items + 1, d)
        self.lstm = nn.LSTM(d, d, batch_first=True)
        self.skill = nn.Embedding(n_skills + 1, d)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 1))

    def forward(self, tokens, item_tokens, state_idx, target_skill, target_item):
        h, _ = self.lstm(self.inp(tokens) + self.item_in(item_tokens))  # (B, T, d)
        h = torch.cat([torch.zeros_like(h[:, :1]), h], 1)  # index 0: nothing seen yet
        g = h.gather(1, (state_idx + 1).unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        return self.out(torch.cat([g, self.skill(target_skill), self.item(target_item)], -1)).squeeze(-1)


class DKT(GBMModel):
    name = "dkt"
    display_name = "DKT (LSTM over responses)"
    batch_users = 16
    WINDOW, STRIDE = 200, 100

    def fit(self, data, split: np.ndarray, cfg, progress: bool = False) -> "DKT":
        t0 = time.perf_counter()
        if "content" not in data.modalities or "n_visible" not in data.meta:
            raise DsrsdError("dkt needs next_step samples (content modality and response positions)")
        torch.manual_seed(cfg.seed)
        content = data.modalities["content"]
        skill = content.cat[:, content.cat_names.index("skill")].astype(np.int64)
        item = content.cat[:, content.cat_names.index("item")].astype(np.int64)
        meta = data.meta
        users = meta["user_id"].to_numpy()
        order = np.lexsort((meta["position"].to_numpy(), users))
        self.n = len(data.y)
        self.sequences = []  # per user: (sample rows in order, tokens, state index, target skill)
        uo = users[order]
        bounds = np.flatnonzero(np.r_[True, uo[1:] != uo[:-1], True])
        pos_all, vis_all = meta["position"].to_numpy(), meta["n_visible"].to_numpy()
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows = order[a:b]
            tokens = np.stack([skill[rows] * 2 + data.y[rows], item[rows] * 2 + data.y[rows], skill[rows], item[rows]], 1)
            state = np.searchsorted(pos_all[rows], vis_all[rows], side="left") - 1  # last input with position < n_visible
            self.sequences.append((rows, tokens, state, tokens[:, 2:], split[rows[0]]))
        self.units = [u for seq in self.sequences for u in self._windows(*seq)]
        self.net = self.make_net(int(skill.max()) + 1, int(item.max()) + 1, cfg)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        train_seq = [u for u in self.units if u[4] == "train"]
        gen = np.random.default_rng(cfg.seed)
        val = split == "val"
        best, stale, best_state = -np.inf, 0, None
        self.history = []
        for epoch in range(1, cfg.epochs + 1):
            self.net.train()
            for batch in self._batches(train_seq, gen):
                tokens, state, tskill, y, mask = self._pad(batch, data.y)
                logit = self.net(tokens[..., 0], tokens[..., 1], state, tskill[..., 0], tskill[..., 1])
                loss = nn.functional.binary_cross_entropy_with_logits(logit[mask], y[mask])
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
                opt.step()
            proba = self._predict(data.y)
            vm = classification_metrics(data.y[val], proba[val], data.classes)
            self.history.append({"epoch": epoch, "val_auc": vm["auc"], "val_macro_f1": vm["macro_f1"],
                                 "val_accuracy": vm["accuracy"]})
            score = vm["auc"] if np.isfinite(vm["auc"]) else vm["macro_f1"]
            if score > best + 1e-4:
                best, stale, best_state, self.best_iter = score, 0, copy.deepcopy(self.net.state_dict()), epoch
                self.proba = proba
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        self.net.load_state_dict(best_state)
        self.seconds = {"total": time.perf_counter() - t0, "epochs_run": len(self.history)}
        return self

    def make_net(self, n_skills: int, n_items: int, cfg) -> nn.Module:
        """The network over a window: ``net(skill tokens, item tokens, state index, target skill,
        target item)`` -> logits (B, T). Subclasses (SAKT) swap the LSTM for another reader."""
        return _Net(n_skills, n_items, cfg.d_model, cfg.dropout)

    def _windows(self, rows, tokens, state, tskill, part):
        """(rows, tokens, window-local state index, target skill, split, scored mask) per window."""
        L, S, n = self.WINDOW, self.STRIDE, len(rows)
        k = np.arange(n)
        home = np.where(k < L, 0, ((k - L) // S + 1) * S)  # the window each response is predicted in
        out = []
        for w in np.unique(home):
            sl = slice(w, min(w + L, n))
            local = state[sl] - w
            local = np.where(local < 0, -1, local)
            out.append((rows[sl], tokens[sl], local, tskill[sl], part, home[sl] == w))
        return out

    def _batches(self, seqs, gen):
        """Users sorted by length (little padding), cut into batches, batches shuffled."""
        seqs = sorted(seqs, key=lambda s: len(s[0]))
        batches = [seqs[i:i + self.batch_users] for i in range(0, len(seqs), self.batch_users)]
        if gen is not None:
            gen.shuffle(batches)
        return batches

    @staticmethod
    def _pad(batch, y_all):
        T = max(len(s[0]) for s in batch)
        B = len(batch)
        tokens = np.zeros((B, T, 2), np.int64)
        state = np.full((B, T), -1, np.int64)
        tskill = np.zeros((B, T, 2), np.int64)
        y = np.zeros((B, T), np.float32)
        mask = np.zeros((B, T), bool)
        for i, (rows, tok, st, sk, _, scored) in enumerate(batch):
            n = len(rows)
            tokens[i, :n], state[i, :n], tskill[i, :n], y[i, :n], mask[i, :n] = tok[:, :2], st, sk, y_all[rows], scored
        return (torch.as_tensor(tokens), torch.as_tensor(state), torch.as_tensor(tskill), torch.as_tensor(y),
                torch.as_tensor(mask))

    @torch.no_grad()
    def _predict(self, y_all) -> np.ndarray:
        self.net.eval()
        p = np.zeros(self.n)
        for batch in self._batches(self.units, None):
            tokens, state, tskill, _, mask = self._pad(batch, y_all)
            prob = torch.sigmoid(self.net(tokens[..., 0], tokens[..., 1], state, tskill[..., 0], tskill[..., 1])).numpy()
            for i, u in enumerate(batch):
                p[u[0][u[5]]] = prob[i, :len(u[0])][u[5]]
        return np.column_stack([1 - p, p])

    def predict_proba(self, present=None, rows=None) -> np.ndarray:
        return self.proba if rows is None else self.proba[rows]
