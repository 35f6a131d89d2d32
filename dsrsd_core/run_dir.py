"""Writing a training run directory (the contract between core and app; see docs/run_format.md)."""
from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .data.dataset import MultimodalData
from .io import atomic_dir, atomic_path, write_json, write_parquet
from .train.config import Config
from .train.trainer import TrainResult

FORMAT_VERSION = 1


def code_version() -> dict:
    """Package version and, when run from a git checkout, the commit and whether it was dirty."""
    here = Path(__file__).resolve().parent.parent
    info = {"package": __version__, "python": platform.python_version(), "torch": torch.__version__}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode == 0:
            info["git_commit"] = sha.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                   capture_output=True, text=True, timeout=5)
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def samples_table(data: MultimodalData, result: TrainResult) -> pd.DataFrame:
    """One row per sample: display metadata, split, label, prediction, probabilities, gate weights."""
    frame = data.meta.copy()
    frame.insert(0, "sample", np.arange(len(data)))
    frame["split"] = result.split
    frame["label"] = data.y
    frame["label_name"] = [data.classes[i] for i in data.y]
    frame["pred"] = result.proba.argmax(1)
    frame["pred_name"] = [data.classes[i] for i in frame["pred"]]
    for c, name in enumerate(data.classes):
        frame[f"proba_{name}"] = result.proba[:, c]
    for j, name in enumerate(result.model.streams):
        frame[f"gate_{name}"] = result.gate[:, j]
    for j, name in enumerate(data.names):
        frame[f"present_{name}"] = data.present[:, j]
    return frame


def write_training_run(out: str | Path, data: MultimodalData, result: TrainResult, cfg: Config,
                       device: str, data_source: str, overwrite: bool = False) -> Path:
    """Write a complete run directory atomically: either all of it appears at ``out``, or nothing."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        with atomic_path(tmp / "model.pt") as t:
            torch.save(result.model.state_dict(), t)
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "run.json", {
            "format_version": FORMAT_VERSION,
            "kind": "training_run",
            "model": "dsrsd_net",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "seed": cfg.seed,
            "device": device,
            "data": {"source": data_source, "fingerprint": data.report.get("fingerprint"),
                     "report": {k: v for k, v in data.report.items() if k != "fingerprint"}},
            "task": cfg.task, "target": cfg.target, "classes": data.classes,
            "modalities": data.specs(), "streams": result.model.streams,
            "split_sizes": {s: int((result.split == s).sum()) for s in ("train", "val", "test")},
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
        })
        write_json(tmp / "metrics.json", result.metrics)
        write_parquet(tmp / "history.parquet", pd.DataFrame(result.history))
        write_parquet(tmp / "samples.parquet", samples_table(data, result))
    return Path(out)
