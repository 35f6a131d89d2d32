"""SAKT (Pandey & Karypis 2019): self-attention over a learner's past responses.

The harness is :class:`~dsrsd_core.baselines.dkt.DKT`'s (same inputs, windows of 200 responses
with stride 100, each response predicted once, batching, early stopping on validation AUC); only
the reader differs. The keys and values are the past interactions (skill x correctness
embeddings, plus a learned position in the window); the query is the target's skill and item.
Item x correctness embeddings in the keys (``item_keys=True``, as DKT's inputs) were measured
worse on ASSISTments 2009 (test AUC 0.710 against 0.730, one seed; 17,000 mostly rare items), so
they are off by default, as in the paper's and pyKT's SAKT.

A response at window index *t* attends to a learned "start" key and to the inputs it may see:
window positions up to its state index (the last input with position < its ``n_visible``), so
bundle mates, the response itself and later ones are masked out exactly as DKT's state gather
excludes them. One attention block (multi-head attention, residual, layer
norm, feed-forward), as in the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from .dkt import DKT


class _SAKTNet(nn.Module):
    def __init__(self, n_skills: int, n_items: int, d: int, dropout: float, window: int, heads: int = 4,
                 item_keys: bool = False):
        super().__init__()
        self.item_keys = item_keys
        self.heads = heads if d % heads == 0 else 1
        self.inp = nn.Embedding(2 * n_skills + 2, d)
        self.item_in = nn.Embedding(2 * n_items + 2, d) if item_keys else None
        self.pos = nn.Embedding(window + 1, d)  # 0: the start key
        self.start = nn.Parameter(torch.zeros(1, 1, d))
        self.skill = nn.Embedding(n_skills + 1, d)
        self.item = nn.Embedding(n_items + 1, d)
        self.attn = nn.MultiheadAttention(d, self.heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, d))
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, 1))

    def forward(self, tokens, item_tokens, state_idx, target_skill, target_item):
        B, T = tokens.shape
        keys = self.inp(tokens)  # (B, T, d)
        if self.item_keys:
            keys = keys + self.item_in(item_tokens)
        keys = torch.cat([self.start.expand(B, 1, -1), keys], 1)
        keys = keys + self.pos(torch.arange(T + 1, device=tokens.device).clamp(max=self.pos.num_embeddings - 1))
        query = self.skill(target_skill) + self.item(target_item)  # (B, T, d)
        # key k (0 = start, k >= 1 = input k - 1) is visible to query t iff k - 1 <= state[t]
        k = torch.arange(T + 1, device=tokens.device)
        blocked = (k[None, None, :] - 1) > state_idx[:, :, None]  # (B, T, T + 1); the start key never blocked
        mask = blocked.repeat_interleave(self.heads, 0)
        a, _ = self.attn(query, keys, keys, attn_mask=mask, need_weights=False)
        h = self.norm1(query + a)
        h = self.norm2(h + self.ffn(h))
        return self.out(torch.cat([h, query], -1)).squeeze(-1)


class SAKT(DKT):
    name = "sakt"
    display_name = "SAKT (self-attention over responses)"

    def make_net(self, n_skills: int, n_items: int, cfg) -> nn.Module:
        return _SAKTNet(n_skills, n_items, cfg.d_model, cfg.dropout, self.WINDOW)
