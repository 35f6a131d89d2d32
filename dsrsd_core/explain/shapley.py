"""Exact Shapley values over the 2M streams by enumerating every coalition.

Players are the streams (shared and private of each modality). The value of a coalition S for
a sample is the model's predicted probability of each class when only the streams in S are
given to the gated fusion, i.e. the others are removed by the model's own missing-stream
mechanism: they get gate weight 0 and the softmax renormalises over the streams left. The empty
coalition predicts ``head(0)``, the same for every sample. A stream whose modality is missing for
a sample is absent from every coalition, so it is a null player with value 0.

With n = 2M players (6 for three modalities) there are 2^n coalitions; the encoders run once per
sample and only fusion and head run per coalition, batched over coalitions and samples.
"""
from __future__ import annotations

from math import factorial

import torch


def coalition_masks(n_players: int) -> torch.Tensor:
    """(2^n, n) bool: row c holds the players in coalition c (bit i of c is player i)."""
    c = torch.arange(2 ** n_players).unsqueeze(1)
    return (c >> torch.arange(n_players)) & 1 == 1


def shapley_weights(n_players: int) -> torch.Tensor:
    """(2^n, n) matrix W with phi_i = sum_c W[c, i] v(c), in float64.

        phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

    so W[c, i] = +w(|c| - 1) when i is in c and -w(|c|) when it is not, w(s) = s!(n-s-1)!/n!.
    """
    masks = coalition_masks(n_players)
    size = masks.sum(1, keepdim=True)
    w = lambda s: torch.tensor([factorial(k) * factorial(n_players - k - 1) / factorial(n_players)
                                if 0 <= k < n_players else 0.0 for k in s.flatten().tolist()],
                               dtype=torch.float64).view(s.shape)
    return torch.where(masks, w(size - 1).expand_as(masks), -w(size).expand_as(masks))


@torch.no_grad()
def coalition_values(predict_from_streams, streams: torch.Tensor, present: torch.Tensor,
                     chunk: int = 16384) -> torch.Tensor:
    """v(S) for every sample and coalition: (B, 2^n, C) class probabilities.

    ``predict_from_streams(streams (R, n, k), mask (R, n)) -> (logits, gate)`` is the model's
    fusion + head; ``present`` (B, n) marks streams the sample has at all. ``chunk`` rows per pass:
    at 65,536 (50 MB per buffer) every buffer was a fresh mapping from the OS, and its page faults cost
    more than the arithmetic (7.0 s against 3.3 s at 16,384 on 25,292 samples, one thread).
    """
    b, n, k = streams.shape
    masks = coalition_masks(n).to(streams.device)
    n_coal = len(masks)
    rows_per_chunk = max(1, chunk // n_coal)
    out = []
    for start in range(0, b, rows_per_chunk):
        s = streams[start:start + rows_per_chunk]
        m = present[start:start + rows_per_chunk].bool()
        r = len(s)
        big_s = s.unsqueeze(1).expand(r, n_coal, n, k).reshape(r * n_coal, n, k)
        big_m = (m.unsqueeze(1) & masks.unsqueeze(0)).reshape(r * n_coal, n)
        logits, _ = predict_from_streams(big_s, big_m)
        out.append(torch.softmax(logits.float(), -1).view(r, n_coal, -1))
    return torch.cat(out)


def shapley_from_values(values: torch.Tensor) -> torch.Tensor:
    """(B, 2^n, C) coalition values -> (B, n, C) exact Shapley values (float64 sums, float32 out)."""
    n = int(round(torch.log2(torch.tensor(float(values.shape[1]))).item()))
    w = shapley_weights(n).to(values.device)
    return torch.einsum("bcs,cn->bns", values.double(), w).float()


def exact_stream_shapley(predict_from_streams, streams: torch.Tensor, present: torch.Tensor,
                         chunk: int = 16384) -> dict[str, torch.Tensor]:
    """Shapley values for every class: ``phi`` (B, n, C), ``full`` v(all) (B, C), ``empty`` v({}) (B, C)."""
    values = coalition_values(predict_from_streams, streams, present, chunk)
    return {"phi": shapley_from_values(values), "full": values[:, -1], "empty": values[:, 0]}
