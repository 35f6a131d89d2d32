"""From a data argument and a Config to the samples and split every model is trained on.

``dsrsd train`` and ``dsrsd benchmark`` both go through :func:`prepare`, so DSRSD-Net and
every baseline see the same samples and the same learner split for a given seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.dataset import MultimodalData
from ..errors import DsrsdError
from .config import Config


def resolve_data(arg: str, progress: bool = False) -> Path:
    """'synthetic' -> the default synthetic cohort (generated once into the cache); else a folder."""
    if arg == "synthetic":
        from ..cli import synthetic_dir

        return synthetic_dir(progress=progress)
    path = Path(arg)
    if not path.is_dir():
        raise DsrsdError(f"data directory {path} does not exist (give a folder with the OULAD tables, or 'synthetic')")
    return path


def select_presentations(data: MultimodalData, presentations: list[str]) -> MultimodalData:
    """Keep samples of the named presentations ("AAA 2013J"); all when the list is empty."""
    if not presentations:
        return data
    names = (data.meta["code_module"].astype(str) + " " + data.meta["code_presentation"].astype(str)).to_numpy()
    unknown = sorted(set(presentations) - set(names))
    if unknown:
        raise DsrsdError(f"presentation(s) {', '.join(unknown)} not in the data; available: "
                         f"{', '.join(sorted(set(names)))}")
    subset = data.take(np.flatnonzero(np.isin(names, presentations)))
    subset.report = {**data.report, "presentations_selected": list(presentations), "n_samples": len(subset)}
    return subset


def prepare(data_arg: str, cfg: Config, progress: bool = False) -> tuple[MultimodalData, np.ndarray, Path]:
    """Load (cached) samples for ``cfg``'s task, restrict to its presentations, split by learner."""
    from ..data.cache import load_cached
    from ..data.splits import learner_split

    if cfg.task != "final_outcome":
        raise DsrsdError(f"task {cfg.task!r} is not available yet; use --task final_outcome")
    data_dir = resolve_data(data_arg, progress)
    data = load_cached(data_dir, target=cfg.target, cutoff_fraction=cfg.cutoff_fraction, progress=progress)
    data = select_presentations(data, cfg.presentations)
    if len(np.unique(data.y)) < 2:
        raise DsrsdError("the selected samples hold only one class; cannot train")
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    return data, split, data_dir
