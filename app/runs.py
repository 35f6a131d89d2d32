"""Cached, read-only access to run directories, and the cohort filter that applies across pages.

Nothing here trains, explains or projects: the app only reads what ``dsrsd train`` / ``dsrsd explain``
wrote (docs/run_format.md). Caches are keyed by the run path and the mtimes/sizes of its files, so a
re-explained run is picked up without restarting the app.
"""
from __future__ import annotations

import gc
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from dsrsd_core import educator as E
from dsrsd_core import whatif as W
from dsrsd_core.errors import DsrsdError
from dsrsd_core.run_dir import Run, describe_run, file_signature, load_run
from dsrsd_core.views import COHORT_COLUMNS, data_identity
from dsrsd_core.views import learners as learner_table
from dsrsd_core.views import map_points as map_points_of

REPO = Path(__file__).resolve().parents[1]
SHIPPED_RUN = REPO / "checkpoints" / "default"
MAX_DEPTH = 3  # how deep below the runs folder to look for run directories


class EmptyCohort(Exception):
    """The cohort filters leave no learner."""


def shipped_run() -> Path:
    """The run the app opens by default: ``checkpoints/default`` (``DSRSD_DEFAULT_RUN`` overrides)."""
    return Path(os.environ.get("DSRSD_DEFAULT_RUN") or SHIPPED_RUN)


@st.cache_resource(show_spinner=False, max_entries=16)
def _open(path: str, sig: str) -> Run:
    return load_run(path, require_explain=False)


@st.cache_data(show_spinner=False, max_entries=64)
def _explain_problem(path: str, sig: str) -> str | None:
    try:
        load_run(path, require_explain=True)
    except DsrsdError as e:
        return str(e)
    return None


SIGNATURE_TTL = 1.0  # s: a run rewritten on disk is noticed within this long
_signatures: dict[str, tuple[float, str]] = {}


def signature(path: str | Path) -> str:
    """The run's file signature (paths, mtimes, sizes) as one short string: the cache key part that says
    "these files, as they are now". A digest, because Streamlit hashes every cached call's arguments on every
    rerun, and a tuple of every file's stat costs ~10 ms a call to hash, a short string next to nothing.
    Reused for ``SIGNATURE_TTL`` seconds: a page asks for it some twenty times per rerun, and each fresh one
    stats every file of the run."""
    key, now = str(path), time.monotonic()
    hit = _signatures.get(key)
    if hit is not None and now - hit[0] < SIGNATURE_TTL:
        return hit[1]
    sig = hashlib.sha1(repr(file_signature(path)).encode()).hexdigest()
    _signatures[key] = (now, sig)
    return sig


_frozen_at = 0  # len(sys.modules) at the last freeze


def freeze_loaded() -> None:
    """After a script run that imported new modules (the first run of the server, a page's first visit, the
    what-if's torch), move every object alive into the garbage collector's permanent generation
    (``gc.freeze``), so later collections stop walking the hundreds of thousands of long-lived objects of
    pandas, Streamlit, the cached tables and torch: a full collection during a rerun cost a learner switch
    ~0.07 s on the shipped run, ~0.15 s once torch was loaded (docs/benchmarks.md, "Dashboard speed").
    Reference counting still frees frozen objects. No collection first: it would cost the first render ~0.06 s,
    and what it would free (cycles already unreachable at one of these few moments) is small and bounded."""
    global _frozen_at
    if len(sys.modules) != _frozen_at:
        gc.freeze()
        _frozen_at = len(sys.modules)


def open_run(path: str | Path) -> Run:
    """The run at ``path`` (cached); raises DsrsdError for a missing, partial, old or corrupt one."""
    path = str(Path(path))
    return _open(path, signature(path))


def explain_problem(path: str | Path) -> str | None:
    """None when the run has a complete explanation, else the message saying what to run."""
    path = str(Path(path))
    return _explain_problem(path, signature(path))


def frame(run: Run, name: str) -> pd.DataFrame:
    """``samples`` or an explain table, indexed by ``sample`` where it holds one row per sample
    (read once per run, then cached).

    The tables are held with ``st.cache_resource``: one object shared by every session and handed out without
    a copy (``st.cache_data`` would unpickle a fresh copy on every call, per session: slower and, with several
    sessions on a large run, memory that grows with them). Callers never change a frame in place (pandas'
    copy-on-write keeps derived frames apart)."""
    return _frame(str(run.path), signature(run.path), name)


@st.cache_resource(show_spinner=False, max_entries=128)
def _frame(path: str, sig: str, name: str) -> pd.DataFrame:
    return _open(path, sig).by_sample(name)


@st.cache_resource(show_spinner=False, max_entries=16)
def _learners(path: str, sig: str) -> pd.DataFrame:
    run = _open(path, sig)
    return learner_table(_frame(path, sig, "samples"), run.classes)


@st.cache_resource(show_spinner=False, max_entries=16)
def _filter_options(path: str, sig: str) -> dict[str, list[str]]:
    frame = _learners(path, sig)
    return {col: sorted(frame[col].dropna().astype(str).unique().tolist()) for col in COHORT_COLUMNS if col in frame}


def filter_options(run: Run) -> dict[str, list[str]]:
    """The values each cohort filter offers (the sorted distinct values of its column), once per run: the
    sidebar draws them on every rerun of every page."""
    return _filter_options(str(run.path), signature(run.path))


def learners(run: Run) -> pd.DataFrame:
    """samples.parquet indexed by sample, plus ``risk``, ``correct`` and ``presentation``."""
    return _learners(str(run.path), signature(run.path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _map_points(path: str, sig: str, name: str) -> pd.DataFrame:
    run = _open(path, sig)
    return map_points_of(_frame(path, sig, "umap"), name, _learners(path, sig), run.modalities)


def map_points(run: Run, name: str, cohort: pd.DataFrame) -> pd.DataFrame:
    """The points of the stored UMAP map ``name`` (:func:`dsrsd_core.views.map_points`) of the learners in
    ``cohort``: joined once per run and map, then only filtered (a recolour of a 25k-learner run's two maps
    joined 150,000 points again)."""
    pts = _map_points(str(run.path), signature(run.path), name)
    everyone = learners(run)
    return pts if len(cohort) == len(everyone) else pts[pts["sample"].isin(cohort.index)]


@st.cache_resource(show_spinner=False, max_entries=8)
def _record(path: str, sig: str) -> dict:
    run = _open(path, sig)
    table = lambda name: _frame(path, sig, name) if run.has_table(name) else None  # noqa: E731
    return E.record_tables(_learners(path, sig), run.classes, _frame(path, sig, "shapley"), run.modalities,
                           run.streams, table("timeline_assessments"), table("timeline_clickstream"))


def record(run: Run) -> dict:
    """Per learner of an explained run, computed once for every session: ``assessments`` and ``clicks`` facts
    (:mod:`dsrsd_core.educator`), presentation ``medians``, and the risk ``base`` and per-modality ``contrib``."""
    return _record(str(run.path), signature(run.path))


# the spinner shows only while a run's model is loaded, not on every rerun that finds it cached
@st.cache_resource(show_spinner="Loading the model and this run's data (once per run)…", max_entries=2)
def _whatif_model(path: str, sig: str):
    return W.load(_open(path, sig))


def whatif_model(run: Run):
    """(model, data) of a run for the what-if, loaded once per run and shared by every session (torch, the
    model from model.pt with weights_only=True, the run's data, fingerprint-checked)."""
    return _whatif_model(str(run.path), signature(run.path))


# ---- finding runs -------------------------------------------------------------------------------
def _walk(folder: Path, depth: int):
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        if e.name.startswith(".") or not e.is_dir() or e.name == "explain":
            continue
        yield Path(e.path)
        if depth > 1 and not (Path(e.path) / "run.json").exists():
            yield from _walk(Path(e.path), depth - 1)


def _folders_with(folder: str | Path | None, marker: str) -> list[Path]:
    """``folder`` and the folders below it (to MAX_DEPTH) that hold a file named ``marker``."""
    if not folder or not Path(folder).expanduser().is_dir():
        return []
    folder = Path(folder).expanduser()
    candidates = [folder, *_walk(folder, MAX_DEPTH)]
    return [p for p in candidates if (p / marker).is_file()]


def find_runs(folder: str | Path | None) -> list[Path]:
    """Run directories (folders with a run.json) at or below ``folder``."""
    return _folders_with(folder, "run.json")


def find_results(folder: str | Path | None) -> list[Path]:
    """Benchmark outputs (``results.csv``) at or below ``folder``."""
    return [p / "results.csv" for p in _folders_with(folder, "results.csv")]


@st.cache_data(show_spinner=False, max_entries=32)
def _read_results(path: str, mtime: int) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except Exception as e:  # pandas raises several types for a damaged file
        raise DsrsdError(f"{path} is unreadable ({type(e).__name__}: {str(e)[:120]})") from None


def read_results(path: Path) -> pd.DataFrame:
    return _read_results(str(path), path.stat().st_mtime_ns)


# ---- cohort -------------------------------------------------------------------------------------
@dataclass
class Cohort:
    """Filters on samples.parquet columns: ``{column: [allowed values]}``; an empty list means all."""

    filters: dict[str, list] = field(default_factory=dict)

    @property
    def active(self) -> dict[str, list]:
        return {c: v for c, v in self.filters.items() if v}

    def mask(self, samples: pd.DataFrame) -> pd.Series:
        keep = pd.Series(True, index=samples.index)
        for col, values in self.active.items():
            if col in samples:
                keep &= samples[col].astype(str).isin([str(v) for v in values])
        return keep

    def apply(self, samples: pd.DataFrame, allow_empty: bool = False) -> pd.DataFrame:
        out = samples[self.mask(samples)]
        if out.empty and not allow_empty:
            raise EmptyCohort(f"No learner matches the cohort filters ({self.describe()}). "
                              "Remove a filter in the sidebar (or press “Clear filters”).")
        return out

    def describe(self) -> str:
        if not self.active:
            return "all learners"
        return "; ".join(f"{COHORT_COLUMNS.get(c, c)}: {', '.join(map(str, v))}" for c, v in self.active.items())


@dataclass
class Context:
    """What the sidebar chose, handed to the pages."""

    run_path: Path
    run: Run | None = None
    error: str | None = None
    cohort: Cohort = field(default_factory=Cohort)
    runs_folder: str = ""
    runs: list[Path] = field(default_factory=list)

    def require_run(self) -> Run:
        if self.run is None:
            raise DsrsdError(self.error or f"no run selected ({self.run_path})")
        return self.run

    def require_explained(self) -> Run:
        run = self.require_run()
        if run.config.get("task") == "next_step":  # the final-outcome pages; next-step runs have their own
            from app.next_step import NOT_FOR_NEXT_STEP
            raise DsrsdError(NOT_FOR_NEXT_STEP)
        problem = explain_problem(run.path)
        if problem and run.info.get("model", "dsrsd_net") != "dsrsd_net":
            raise DsrsdError(f"{run.path} is a {run.info.get('model')} run: attribution, embedding and modality-drop "
                             "views exist for DSRSD-Net runs only. Its metrics are on Overview and Compare runs.")
        if problem:
            raise DsrsdError(problem)
        return run

    def cohort_learners(self, allow_empty: bool = False) -> pd.DataFrame:
        return self.cohort.apply(learners(self.require_run()), allow_empty=allow_empty)


# ---- comparing runs -----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=256)
def _run_row(path: str, sig: str) -> dict:
    d = describe_run(path)
    info, metrics = d["info"], d["metrics"]
    key, data = data_identity(info)
    row: dict = {"path": path, "model": None, "target": None, "created": None, "explained": False,
                 "problem": "; ".join(d["problems"]), "data_key": key, "data": data}
    if info is None:
        return row
    row.update(model=info.get("model"), target=info.get("target"), created=str(info.get("created", ""))[:16])
    row["loss_weights"] = ", ".join(f"{k.removeprefix('w_')} {v:g}" for k, v in d["config"].items()
                                    if k.startswith("w_") and isinstance(v, (int, float)))
    if metrics is not None:
        for split in ("test", "val"):
            for k in ("auc", "macro_f1", "accuracy", "n"):
                v = (metrics.get(split) or {}).get(k)
                row[f"{split}_{k}"] = v if isinstance(v, (int, float)) else None
    row["explained"], row["shares"] = bool(d["modality_share"]), d["modality_share"]
    return row


def run_row(path: str | Path) -> dict:
    """What Compare runs shows for one run: metrics, model and (when explained) modality shares.
    Lenient: runs of other models may lack most files; a problem is reported in ``problem``."""
    return dict(_run_row(str(path), signature(path)))
