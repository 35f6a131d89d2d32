"""Writing and reading a run directory (the contract between core and app; see docs/run_format.md).

torch is imported only where weights are saved or loaded, so the dashboard, which only reads
tables, starts without paying for it.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from . import __version__
from .data.dataset import MultimodalData
from . import integrity
from .errors import DsrsdError
from .io import _json_default, atomic_dir, atomic_path, write_json, write_parquet
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
        write_json(tmp / "metrics.json", result.metrics)
        write_parquet(tmp / "history.parquet", pd.DataFrame(result.history))
        write_parquet(tmp / "samples.parquet", samples_table(data, result))
        write_json(tmp / "run.json", {
            "format_version": FORMAT_VERSION,
            "kind": "training_run",
            "model": getattr(result.model, "name", "dsrsd_net"),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "seed": cfg.seed,
            "device": device,
            "cpu_threads": torch.get_num_threads(),  # CPU float sums, hence bit-identity, depend on it
            "data": {"source": data_source, "fingerprint": data.report.get("fingerprint"),
                     "report": {k: v for k, v in data.report.items() if k != "fingerprint"}},
            "task": cfg.task, "target": cfg.target, "classes": data.classes,
            "modalities": data.specs(), "streams": getattr(result.model, "streams", []),
            "split_sizes": {s: int((result.split == s).sum()) for s in ("train", "val", "test")},
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
            # sha256 of every other file, so a run received from elsewhere can be checked
            "files": integrity.hashes(tmp, [f for f in RUN_FILES if f != "run.json"]),
        })
    return Path(out)


# ---- the explain/ folder ------------------------------------------------------------------
EXPLAIN_DIR = "explain"
EXPLAIN_TABLES = ("predictions", "shapley", "stream_ig", "umap", "neighbours", "modality_drop",
                  "modality_drop_samples", "robustness")
EXPLAIN_DOCS = ("summary", "diagnostics")
# a next-step run's explanation (dsrsd_core/explain/next_step.py): predictions for every sample, the
# rest for a bounded subsample of responses, in tables named next_* that hold only those samples
NEXT_STEP_TABLES = ("predictions", "next_responses", "next_position", "next_shapley", "next_stream_ig", "next_umap",
                    "next_modality_drop", "next_modality_drop_samples", "next_robustness")
NEXT_PREFIX = "next_"
EMBEDDINGS = "embeddings.npz"
# explain tables with several rows per sample: they keep their own index when read by sample
LONG_TABLES = ("umap", "modality_drop_samples", "input_cohort", "decomposition_probes")
# written by explain since the decomposition measures; a run explained before them has none
DECOMPOSITION = "decomposition"


def input_table(modality: str, part: str | None = None) -> str:
    """Name of a modality's input-attribution table: ``input_<m>`` (tabular) or ``input_<m>_<part>``
    (sequence: ``steps`` or ``features``)."""
    return f"input_{modality}" + (f"_{part}" if part else "")


def timeline_table(modality: str) -> str:
    """Name of a sequence modality's table of the learner's own inputs."""
    return f"timeline_{modality}"


def one_row_per_sample(name: str) -> bool:
    """Whether the table ``name`` (``samples`` or an explain table) holds one row per sample."""
    return name not in LONG_TABLES and not name.startswith(("timeline_", NEXT_PREFIX))


def write_explanation(run_dir: str | Path, tables: dict[str, pd.DataFrame], docs: dict[str, dict],
                      embeddings: dict[str, np.ndarray]) -> None:
    """Replace ``run_dir/explain`` in one rename (an interrupted explain keeps the previous one);
    a synthetic run's planted-truth check is copied into ``metrics.json``.

    ``tables``: name -> frame; ``docs``: ``summary``, ``diagnostics`` and ``decomposition``; ``embeddings``: ``shared``,
    ``private``, ``aligned`` arrays (N, M, k), stored as float16.
    """
    run_dir = Path(run_dir)
    planted = docs["summary"].get("planted_truth")
    metrics_text = None
    if planted is not None:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        metrics_text = json.dumps({**metrics, "planted_truth": planted}, indent=2, default=_json_default) + "\n"
    with atomic_dir(run_dir / EXPLAIN_DIR, overwrite=True) as tmp:
        for name, frame in tables.items():
            write_parquet(tmp / f"{name}.parquet", frame)
        np.savez_compressed(tmp / EMBEDDINGS, **{k: v.astype(np.float16) for k, v in embeddings.items()})
        for name, doc in docs.items():
            write_json(tmp / f"{name}.json", doc)
        manifest = integrity.hashes(tmp, sorted(f.name for f in tmp.iterdir() if f.is_file()))
        if metrics_text is not None:  # metrics.json gains planted_truth below: its new hash, recorded first
            import hashlib

            manifest["../metrics.json"] = hashlib.sha256(metrics_text.encode()).hexdigest()
        write_json(tmp / integrity.MANIFEST, manifest)
    if metrics_text is not None:
        with atomic_path(run_dir / "metrics.json") as t:
            t.write_bytes(metrics_text.encode())


# ---- reading ----------------------------------------------------------------------------
RUN_FILES = ("run.json", "config.json", "metrics.json", "history.parquet", "samples.parquet", "model.pt")


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
        return self.has_doc("summary")

    def has_table(self, name: str) -> bool:
        return (self.path / EXPLAIN_DIR / f"{name}.parquet").exists()

    def has_doc(self, name: str) -> bool:
        return (self.path / EXPLAIN_DIR / f"{name}.json").exists()

    # ---- integrity: recorded hashes, and explain/ replaced while being read -------------------
    def _fix(self, rel: str) -> str:
        if rel.startswith(EXPLAIN_DIR + "/"):
            return f"rerun `dsrsd explain {self.path}`"
        return "obtain the run again from its author or retrain with `dsrsd train`"

    def _explain_id(self):
        try:
            st_ = os.stat(self.path / EXPLAIN_DIR)
            return (st_.st_ino, st_.st_ctime_ns)
        except OSError:
            return None

    @property
    def manifest(self) -> dict:
        """sha256 of every file of ``explain/`` as recorded by ``dsrsd explain`` ({} for older runs)."""
        if "manifest" not in self._cache:
            self._cache["explain_id"] = self._explain_id()
            file = self.path / EXPLAIN_DIR / integrity.MANIFEST
            try:
                doc = json.loads(file.read_text()) if file.exists() else {}
            except (OSError, ValueError) as e:
                raise DsrsdError(f"{file} is unreadable ({e}); rerun `dsrsd explain {self.path}`") from None
            self._cache["manifest"] = doc if isinstance(doc, dict) else {}
        return self._cache["manifest"]

    def _same_explanation(self) -> None:
        """Raise when ``explain/`` was replaced since this Run first read from it, so a reader never
        combines files of two explanations."""
        self.manifest
        if self._explain_id() != self._cache["explain_id"]:
            raise DsrsdError(f"{self.path}/{EXPLAIN_DIR} was replaced by a new `dsrsd explain` while it was being "
                             f"read; reload to see the new explanation")

    def expected_hash(self, rel: str):
        if rel.startswith(EXPLAIN_DIR + "/"):
            return self.manifest.get(rel[len(EXPLAIN_DIR) + 1:])
        files = self.info.get("files") or {}
        if rel == "metrics.json" and files.get(rel):
            return {files[rel], self.manifest.get("../metrics.json")} - {None}
        return files.get(rel)

    def verify(self, rel: str) -> None:
        """Raise when ``rel`` differs from the sha256 recorded when it was written."""
        explain_file = rel.startswith(EXPLAIN_DIR + "/")
        if explain_file:
            self._same_explanation()
        try:
            integrity.check_hash(self.path / rel, self.expected_hash(rel), self._fix(rel))
        except DsrsdError:
            if explain_file:
                self._same_explanation()
            if rel == "metrics.json" and self._metrics_as_trained():
                return
            raise

    def _metrics_as_trained(self) -> bool:
        """Whether metrics.json is the one training wrote plus the planted-truth check explain adds
        (explain/ may since have been removed, taking its record of the new hash with it)."""
        import hashlib

        try:
            doc = json.loads((self.path / "metrics.json").read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(doc, dict) or "planted_truth" not in doc:
            return False
        doc.pop("planted_truth")
        text = json.dumps(doc, indent=2, default=_json_default) + "\n"
        return hashlib.sha256(text.encode()).hexdigest() == (self.info.get("files") or {}).get("metrics.json")

    def _parquet(self, rel: str) -> pd.DataFrame:
        if rel not in self._cache:
            file = self.path / rel
            if rel.startswith(EXPLAIN_DIR + "/"):
                self._same_explanation()
            if not file.exists():
                raise DsrsdError(f"{self.path}: {rel} is missing; run `dsrsd explain {self.path}`")
            try:
                # the same frame as pd.read_parquet, which also imports pyarrow.dataset: 0.10 -> 0.02 s for
                # the first table a fresh process reads (the dashboard's cold first render)
                frame = pq.ParquetFile(file).read().to_pandas()
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise DsrsdError(f"{file} is unreadable ({type(e).__name__}): it was damaged or modified after it "
                                 f"was written; {self._fix(rel)}") from None
            self.verify(rel)
            name = Path(rel).stem
            n = None if name in ("samples", "history") else len(self.samples)
            integrity.check_table(name, frame, file, self.classes, n, one_row_per_sample(name), self._fix(rel))
            if name == "samples" and isinstance(self.info.get("split_sizes"), dict) and self.info["split_sizes"]:
                expected = sum(self.info["split_sizes"].values())
                if expected != len(frame):
                    raise DsrsdError(f"{file} has {len(frame)} rows, but run.json's split_sizes add up to {expected}: "
                                     f"the files disagree; {self._fix(rel)}")
            self._cache[rel] = frame
        return self._cache[rel]

    @property
    def history(self) -> pd.DataFrame:
        return self._parquet("history.parquet")

    @property
    def samples(self) -> pd.DataFrame:
        return self._parquet("samples.parquet")

    def table(self, name: str) -> pd.DataFrame:
        """An explain table by name: one of EXPLAIN_TABLES, :func:`input_table` or :func:`timeline_table`."""
        return self._parquet(f"{EXPLAIN_DIR}/{name}.parquet")

    def by_sample(self, name: str) -> pd.DataFrame:
        """``samples`` or an explain table, indexed by ``sample`` where it holds one row per sample."""
        frame = self.samples if name == "samples" else self.table(name)
        if "sample" in frame.columns and one_row_per_sample(name):
            frame = frame.set_index("sample", drop=False).rename_axis(None)
        return frame

    def doc(self, name: str) -> dict:
        key = f"{EXPLAIN_DIR}/{name}.json"
        if key not in self._cache:
            if not (self.path / key).exists():
                self._same_explanation()
                raise DsrsdError(f"{self.path}: {key} is missing; run `dsrsd explain {self.path}`")
            try:
                doc = integrity.read_json_doc(self.path / key, self._fix(key))
            except FileNotFoundError:
                raise DsrsdError(f"{self.path}: {key} is missing; run `dsrsd explain {self.path}`") from None
            self.verify(key)
            self._cache[key] = doc
        return self._cache[key]

    @property
    def summary(self) -> dict:
        return self.doc("summary")

    @property
    def diagnostics(self) -> dict:
        return self.doc("diagnostics")

    @property
    def decomposition(self) -> dict | None:
        """The decomposition measures and verdict (docs/run_format.md), or None for a run explained before them."""
        return self.doc(DECOMPOSITION) if self.has_doc(DECOMPOSITION) else None

    def embeddings(self) -> dict[str, np.ndarray]:
        """``shared``, ``private`` and ``aligned`` arrays, each (N, M, k) float32."""
        if (self.path / EXPLAIN_DIR / EMBEDDINGS).exists():
            self.verify(f"{EXPLAIN_DIR}/{EMBEDDINGS}")
        try:
            with np.load(self.path / EXPLAIN_DIR / EMBEDDINGS, allow_pickle=False) as z:
                return {k: z[k].astype(np.float32) for k in z.files}
        except (OSError, ValueError) as e:
            raise DsrsdError(f"{self.path}/{EXPLAIN_DIR}/{EMBEDDINGS} is missing or unreadable ({e}); "
                             f"rerun `dsrsd explain {self.path}`") from None

    def model(self):
        """The trained model, rebuilt from the run's settings; weights loaded with ``weights_only=True``."""
        import torch

        from .models import build_model

        cfg = Config.from_record(self.config, str(self.path / "config.json"))
        model = build_model(self.info["modalities"], len(self.classes), cfg, self.info.get("model", "dsrsd_net"))
        import pickle

        file = self.path / "model.pt"
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # weights_only refused an object that is not a tensor: never retry unsafely
            raise DsrsdError(integrity.pickle_refused(file)) from None
        except Exception as e:
            if "weights_only" in str(e):
                raise DsrsdError(integrity.pickle_refused(file)) from None
            state = None
        self.verify("model.pt")  # a file that loads but is not the one written
        try:
            if state is None:
                raise ValueError("not a torch file")
            model.load_state_dict(state)
        except Exception as e:  # truncated zip, shape mismatches
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
    if "run.json" in missing and (path / ".training").is_dir():
        raise DsrsdError(f"the training of {path} was interrupted or is still running; continue it with "
                         f"`dsrsd train --resume {path}`")
    if "run.json" in missing:
        raise DsrsdError(f"{path} is not a run directory (no run.json); train one with `dsrsd train`")
    try:
        info = json.loads((path / "run.json").read_text())
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path / 'run.json'} is unreadable ({e}); retrain with `dsrsd train`") from None
    if not isinstance(info, dict):
        raise DsrsdError(f"{path / 'run.json'} is not a JSON object; retrain with `dsrsd train`")
    version = info.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise DsrsdError(f"{path} was written by a newer dsrsd (run format version {version}; this one reads "
                         f"version {FORMAT_VERSION}); upgrade dsrsd (pip install -U dsrsd) to open it")
    if version != FORMAT_VERSION:
        raise DsrsdError(f"{path} has run format version {version}, this dsrsd reads version {FORMAT_VERSION}; "
                         f"retrain with `dsrsd train` (see docs/run_format.md)")
    if missing:
        raise DsrsdError(f"{path} is incomplete (missing {', '.join(missing)}); retrain with `dsrsd train`")
    fix = "obtain the run again from its author or retrain with `dsrsd train`"
    integrity.check_run_info(info, path / "run.json", fix)
    run = Run(path, info, {}, {})
    for name in ("config.json", "metrics.json"):
        run.verify(name)
    try:
        config = json.loads((path / "config.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path}: config.json or metrics.json is unreadable ({e}); retrain with `dsrsd train`") from None
    if not isinstance(config, dict):
        raise DsrsdError(f"{path / 'config.json'} is not a JSON object; {fix}")
    integrity.check_metrics(metrics, path / "metrics.json", fix)
    run.config, run.metrics = config, metrics
    if require_explain:
        required = NEXT_STEP_TABLES if config.get("task") == "next_step" else EXPLAIN_TABLES
        absent = [f"{EXPLAIN_DIR}/{t}.parquet" for t in required if not run.has_table(t)]
        absent += [f"{EXPLAIN_DIR}/{d}.json" for d in EXPLAIN_DOCS if not run.has_doc(d)]
        if absent:
            raise DsrsdError(f"{path} has no complete explanation (missing {', '.join(absent[:3])}"
                             f"{'...' if len(absent) > 3 else ''}); run `dsrsd explain {path}`")
    return run



def file_signature(path: str | Path) -> tuple:
    """(name, mtime_ns, size) of every file of a run (its folder and ``explain/``): changes whenever
    the run is rewritten or re-explained, so readers can cache by it."""
    path = Path(path)
    out = []
    for folder in (path, path / EXPLAIN_DIR):
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if e.is_file():
                        s = e.stat()
                        out.append((f"{folder.name}/{e.name}", s.st_mtime_ns, s.st_size))
        except OSError:
            continue
    return tuple(sorted(out))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def describe_run(path: str | Path) -> dict:
    """What a run directory says about itself, read leniently (runs of other models may hold little
    more than run.json and metrics.json): ``info``, ``config``, ``metrics`` (None when unreadable),
    ``modality_share`` (test split, {} unless explained) and ``problems`` (what is wrong, in words)."""
    path = Path(path)
    info = _read_json(path / "run.json")
    metrics = _read_json(path / "metrics.json")
    summary = _read_json(path / EXPLAIN_DIR / "summary.json") or {}
    problems = []
    if info is None:
        problems.append("run.json missing or unreadable")
    elif info.get("format_version") != FORMAT_VERSION:
        problems.append(f"run format version {info.get('format_version')} (this dsrsd reads {FORMAT_VERSION})")
    if info is not None and metrics is None:
        problems.append("metrics.json missing or unreadable")
    shares = ((summary.get("attribution") or {}).get("test") or {}).get("modality_share") or {}
    return {"info": info, "config": _read_json(path / "config.json") or {}, "metrics": metrics,
            "modality_share": {k: float(v) for k, v in shares.items() if isinstance(v, (int, float))},
            "problems": problems}
