"""Attribution shares: each player's share of the mean absolute attribution.

One definition for the recorder's summary (streams), the benchmark's dominance (modalities) and
the views' per-group tables, so every number called a "share" means the same thing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def attribution_shares(values: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """``values`` (N, K) attributions of K players -> ``mean_abs`` (mean |value| per player) and
    ``share`` (mean_abs / its total; 0 when nothing is attributed), both ``{name: float}``."""
    values = np.asarray(values)
    mean_abs = np.abs(values).mean(0) if len(values) else np.zeros(len(names))
    total = mean_abs.sum()
    share = mean_abs / total if total > 0 else np.zeros(len(names))
    return {"mean_abs": dict(zip(names, mean_abs.tolist())), "share": dict(zip(names, share.tolist()))}
