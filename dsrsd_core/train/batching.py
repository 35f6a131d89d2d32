"""Turn prepared numpy data into torch batches in the model's input format."""
from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import MultimodalData


def to_tensors(data: MultimodalData, device: str | torch.device = "cpu") -> dict:
    """All samples as tensors on ``device``: ``{modality: {"x", "steps", "cat"}, "present", "y"}``."""
    out = {"present": torch.as_tensor(data.present, dtype=torch.bool, device=device),
           "y": torch.as_tensor(data.y, dtype=torch.long, device=device)}
    for name, m in data.modalities.items():
        block = {"x": torch.as_tensor(np.ascontiguousarray(m.x), dtype=torch.float32, device=device)}
        if m.steps is not None:
            block["steps"] = torch.as_tensor(m.steps, dtype=torch.bool, device=device)
        if m.cat is not None:
            block["cat"] = torch.as_tensor(m.cat, dtype=torch.long, device=device)
        out[name] = block
    return out


def select(tensors: dict, idx) -> dict:
    """Rows ``idx`` of every tensor in a batch dict (nested one level)."""
    return {k: ({kk: vv[idx] for kk, vv in v.items()} if isinstance(v, dict) else v[idx])
            for k, v in tensors.items()}


def batches(n_or_idx, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
    """Index tensors of at most ``batch_size`` over ``range(n)`` or over the given indices."""
    idx = torch.arange(n_or_idx) if isinstance(n_or_idx, int) else torch.as_tensor(n_or_idx)
    if shuffle:
        idx = idx[torch.randperm(len(idx), generator=generator)]
    for start in range(0, len(idx), batch_size):
        yield idx[start:start + batch_size]
