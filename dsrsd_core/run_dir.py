"""Writing and reading a run directory (the contract between core and app; see docs/run_format.md).

torch is imported only where weights are saved or loaded, so the dashboard, which only reads
tables, starts without paying for it.
"""
from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import __version__
from .data.dataset import MultimodalData
from .errors import DsrsdError
from .io import atomic_dir, atomic_path, write_json, write_parquet
from .train.config import Config

if TYPE_CHECKING:
    from .train.trainer import TrainResult

FORMAT_VERSION = 1


def code_version() -> dict:
    """Package version and, when run from a git checkout, the commit and whether it was dirty."""
    import torch

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
    if result.gate is not None:
        for j, name in enumerate(result.model.streams):
            frame[f"gate_{name}"] = result.gate[:, j]
    for j, name in enumerate(data.names):
        frame[f"present_{name}"] = data.present[:, j]
    return frame


def write_training_run(out: str | Path, data: MultimodalData, result: TrainResult, cfg: Config,
                       device: str, data_source: str, overwrite: bool = False) -> Path:
    """Write a complete run directory atomically: either all of it appears at ``out``, or nothing."""
    import torch

    with atomic_dir(out, overwrite=overwrite) as tmp:
        with atomic_path(tmp / "model.pt") as t:
            torch.save(result.model.state_dict(), t)
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "run.json", {
            "format_version": FORMAT_VERSION,
            "kind": "training_run",
            "model": getattr(result.model, "name", "dsrsd_net"),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "seed": cfg.seed,
            "device": device,
            "data": {"source": data_source, "fingerprint": data.report.get("fingerprint"),
                     "report": {k: v for k, v in data.report.items() if k != "fingerprint"}},
            "task": cfg.task, "target": cfg.target, "classes": data.classes,
            "modalities": data.specs(), "streams": getattr(result.model, "streams", []),
            "split_sizes": {s: int((result.split == s).sum()) for s in ("train", "val", "test")},
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
        })
        write_json(tmp / "metrics.json", result.metrics)
        write_parquet(tmp / "history.parquet", pd.DataFrame(result.history))
        write_parquet(tmp / "samples.parquet", samples_table(data, result))
    return Path(out)


# ---- reading ----------------------------------------------------------------------------
RUN_FILES = ("run.json", "config.json", "metrics.json", "history.parquet", "samples.parquet", "model.pt")
EXPLAIN_TABLES = ("predictions", "shapley", "stream_ig", "umap", "neighbours", "modality_drop",
                  "modality_drop_samples", "robustness")
EXPLAIN_DOCS = ("summary", "diagnostics")


class Run:
    """A run directory, read without the training data or code beyond this package.

    Small documents (``info``, ``config``, ``metrics``) load at once; tables load on first use.
    """

    def __init__(self, path: Path, info: dict, config: dict, metrics: dict):
        self.path, self.info, self.config, self.metrics = path, info, config, metrics
        self._cache: dict = {}

    def __repr__(self):
        return f"Run({str(self.path)!r}, model={self.info.get('model')!r}, explained={self.explained})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def modalities(self) -> list[str]:
        return [m["name"] for m in self.info["modalities"]]

    @property
    def streams(self) -> list[str]:
        return self.info["streams"]

    @property
    def explained(self) -> bool:
        return (self.path / "explain" / "summary.json").exists()

    def _parquet(self, rel: str) -> pd.DataFrame:
        if rel not in self._cache:
            file = self.path / rel
            if not file.exists():
                raise DsrsdError(f"{self.path}: {rel} is missing; run `dsrsd explain {self.path}`")
            try:
                self._cache[rel] = pd.read_parquet(file)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise DsrsdError(f"{file} is unreadable ({type(e).__name__}); rerun `dsrsd explain {self.path}`") from None
        return self._cache[rel]

    @property
    def history(self) -> pd.DataFrame:
        return self._parquet("history.parquet")

    @property
    def samples(self) -> pd.DataFrame:
        return self._parquet("samples.parquet")

    def table(self, name: str) -> pd.DataFrame:
        """An explain table by name: one of EXPLAIN_TABLES or ``input_<modality>[_steps|_features]``."""
        return self._parquet(f"explain/{name}.parquet")

    def doc(self, name: str) -> dict:
        key = f"explain/{name}.json"
        if key not in self._cache:
            try:
                self._cache[key] = json.loads((self.path / key).read_text())
            except FileNotFoundError:
                raise DsrsdError(f"{self.path}: {key} is missing; run `dsrsd explain {self.path}`") from None
            except (OSError, ValueError) as e:
                raise DsrsdError(f"{self.path / key} is unreadable ({e}); rerun `dsrsd explain {self.path}`") from None
        return self._cache[key]

    @property
    def summary(self) -> dict:
        return self.doc("summary")

    @property
    def diagnostics(self) -> dict:
        return self.doc("diagnostics")

    def embeddings(self) -> dict[str, np.ndarray]:
        """``shared``, ``private`` and ``aligned`` arrays, each (N, M, k) float32."""
        try:
            with np.load(self.path / "explain" / "embeddings.npz", allow_pickle=False) as z:
                return {k: z[k].astype(np.float32) for k in z.files}
        except (OSError, ValueError) as e:
            raise DsrsdError(f"{self.path}/explain/embeddings.npz is missing or unreadable ({e}); "
                             f"rerun `dsrsd explain {self.path}`") from None

    def model(self):
        """The trained model, rebuilt from the run's settings; weights loaded with ``weights_only=True``."""
        import torch

        from .models import build_model

        cfg = Config.from_dict(self.config, str(self.path / "config.json"))
        model = build_model(self.info["modalities"], len(self.classes), cfg, self.info.get("model", "dsrsd_net"))
        try:
            state = torch.load(self.path / "model.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # unpickling errors, truncated zip, shape mismatches
            raise DsrsdError(f"{self.path / 'model.pt'} cannot be loaded ({type(e).__name__}: {str(e)[:200]}); "
                             f"the file is corrupt or from other model code; retrain with `dsrsd train`") from None
        return model.eval()

    def ground_truth_path(self, data=None) -> Path | None:
        source = (data.report.get("source") if data is not None else None) or self.info["data"].get("report", {}).get("source")
        if source:
            path = Path(source) / "ground_truth.json"
            if path.exists():
                return path
        return None


def load_run(path: str | Path, require_explain: bool = True) -> Run:
    """Open a run directory, checking that it is complete and of this format version."""
    path = Path(path)
    if not path.is_dir():
        raise DsrsdError(f"no run directory at {path}; train one with `dsrsd train --data synthetic --out {path}`")
    missing = [f for f in RUN_FILES if not (path / f).exists()]
    if "run.json" in missing:
        raise DsrsdError(f"{path} is not a run directory (no run.json); train one with `dsrsd train`")
    try:
        info = json.loads((path / "run.json").read_text())
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path / 'run.json'} is unreadable ({e}); retrain with `dsrsd train`") from None
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise DsrsdError(f"{path} has run format version {version}, this dsrsd reads version {FORMAT_VERSION}; "
                         f"retrain with `dsrsd train` (see docs/run_format.md)")
    if missing:
        raise DsrsdError(f"{path} is incomplete (missing {', '.join(missing)}); retrain with `dsrsd train`")
    try:
        config = json.loads((path / "config.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path}: config.json or metrics.json is unreadable ({e}); retrain with `dsrsd train`") from None
    run = Run(path, info, config, metrics)
    if require_explain:
        absent = [f"explain/{t}.parquet" for t in EXPLAIN_TABLES if not (path / "explain" / f"{t}.parquet").exists()]
        absent += [f"explain/{d}.json" for d in EXPLAIN_DOCS if not (path / "explain" / f"{d}.json").exists()]
        if absent:
            raise DsrsdError(f"{path} has no complete explanation (missing {', '.join(absent[:3])}"
                             f"{'...' if len(absent) > 3 else ''}); run `dsrsd explain {path}`")
    return run

