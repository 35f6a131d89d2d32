"""Checks for run directories received from elsewhere: recorded sha256 of every file, and the
shape and values of what the reader hands on (types, probabilities, row counts, sample indices).

Nothing here executes anything from the run; ``model.pt`` is loaded by :meth:`Run.model` with
``weights_only=True``, and a file holding more than tensors is refused with :data:`PICKLE_REFUSED`.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DsrsdError

MANIFEST = "manifest.json"  # in explain/: sha256 of every explain file (and of metrics.json after explain)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hashes(folder: Path, names) -> dict[str, str]:
    return {n: sha256_file(folder / n) for n in names}


def pickle_refused(file: Path) -> str:
    return (f"{file} cannot be loaded: it holds more than tensors (pickled Python objects, which could run code "
            f"on this computer when opened), so it was refused for safety. Do not open it any other way; retrain "
            f"with `dsrsd train`, or obtain the run from its author")


def modified(file: Path, fix: str) -> DsrsdError:
    return DsrsdError(f"{file} was modified after it was written (its sha256 differs from the one recorded when "
                      f"the run was written); {fix}")


def check_hash(file: Path, expected, fix: str) -> None:
    """``expected``: a sha256, a collection of acceptable ones, or None (an older run: nothing recorded)."""
    if not expected:
        return
    ok = {expected} if isinstance(expected, str) else set(expected)
    if sha256_file(file) not in ok:
        raise modified(file, fix)


# ---- documents --------------------------------------------------------------------------
def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def check_run_info(info, file: Path, fix: str) -> None:
    """The parts of run.json the reader relies on have the types the format says."""
    if not isinstance(info, dict):
        raise DsrsdError(f"{file} is not a JSON object; {fix}")
    problems = []
    if not _is_str_list(info.get("classes")) or len(info.get("classes") or []) < 2:
        problems.append("'classes' must be a list of at least two names")
    if not isinstance(info.get("modalities"), list) or not all(isinstance(m, dict) and isinstance(m.get("name"), str)
                                                              for m in info["modalities"]):
        problems.append("'modalities' must be a list of objects with a 'name'")
    if "streams" in info and not _is_str_list(info["streams"]):
        problems.append("'streams' must be a list of names")
    sizes = info.get("split_sizes")
    if sizes is not None and not (isinstance(sizes, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in sizes.values())):
        problems.append("'split_sizes' must map splits to non-negative whole numbers")
    files = info.get("files")
    if files is not None and not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        problems.append("'files' must map file names to sha256 strings")
    if problems:
        raise DsrsdError(f"{file}: {'; '.join(problems)}; {fix}")


def check_metrics(metrics, file: Path, fix: str) -> None:
    """Each split present (train, val, test) is an object whose accuracy, macro-F1 and AUC are numbers in [0, 1]."""
    if not isinstance(metrics, dict):
        raise DsrsdError(f"{file} is not a JSON object; {fix}")
    for split in ("train", "val", "test"):
        if split not in metrics:
            continue
        if not isinstance(metrics[split], dict):
            raise DsrsdError(f"{file}: '{split}' must be an object of metrics; {fix}")
        for k in ("accuracy", "macro_f1", "auc"):
            v = metrics[split].get(k)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)
                                  or (math.isfinite(v) and not 0 <= v <= 1)):
                raise DsrsdError(f"{file}: {split} {k} is {v!r}, not a number in [0, 1]; {fix}")


# ---- tables -----------------------------------------------------------------------------
def _numeric(frame: pd.DataFrame, cols, file: Path, fix: str) -> None:
    for c in cols:
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            raise DsrsdError(f"{file}: column '{c}' holds {frame[c].dtype} values, not numbers; {fix}")


def _indices(values: pd.Series, n: int, what: str, file: Path, fix: str) -> None:
    if not pd.api.types.is_integer_dtype(values):
        raise DsrsdError(f"{file}: column '{what}' holds {values.dtype} values, not sample indices; {fix}")
    bad = values[(values < 0) | (values >= n)]
    if len(bad):
        raise DsrsdError(f"{file}: column '{what}' has sample index {int(bad.iloc[0])} out of range "
                         f"(the run has {n} samples, 0..{n - 1}); {fix}")


def _probabilities(frame: pd.DataFrame, cols: list[str], file: Path, fix: str) -> None:
    _numeric(frame, cols, file, fix)
    p = frame[cols].to_numpy(dtype=float)
    bad = ~np.isfinite(p) | (p < -1e-6) | (p > 1 + 1e-6)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DsrsdError(f"{file}: column '{cols[c]}', row {r + 1} holds {p[r, c]}, not a probability; {fix}")
    if len(cols) > 1:
        total = p.sum(1)
        off = np.flatnonzero(np.abs(total - 1) > 1e-3)
        if len(off):
            raise DsrsdError(f"{file}: the class probabilities of row {off[0] + 1} sum to {total[off[0]]:.4f}, not 1; {fix}")


def check_table(name: str, frame: pd.DataFrame, file: Path, classes: list[str], n_samples: int | None,
                one_row_per_sample: bool, fix: str) -> None:
    """``name``: ``samples``, ``history`` or an explain table's name."""
    if name == "history":
        _numeric(frame, [c for c in frame.columns if c != "epoch"], file, fix)
        return
    probas = [f"proba_{c}" for c in classes if f"proba_{c}" in frame.columns]
    if name in ("samples", "predictions"):
        missing = [c for c in ("sample", "label", "pred") if c not in frame.columns]
        missing += [f"proba_{c}" for c in classes if f"proba_{c}" not in frame.columns]
        if missing:
            raise DsrsdError(f"{file} lacks column(s) {', '.join(missing)}; {fix}")
        if name == "samples" and not np.array_equal(frame["sample"].to_numpy(), np.arange(len(frame))):
            _indices(frame["sample"], len(frame), "sample", file, fix)
            raise DsrsdError(f"{file}: column 'sample' must number the rows 0..{len(frame) - 1} in order; {fix}")
        for c in ("label", "pred"):
            if not pd.api.types.is_integer_dtype(frame[c]) or ((frame[c] < 0) | (frame[c] >= len(classes))).any():
                raise DsrsdError(f"{file}: column '{c}' must hold class numbers 0..{len(classes) - 1}; {fix}")
    if probas:
        _probabilities(frame, probas, file, fix)
    if n_samples is not None and name != "samples":
        if one_row_per_sample and "sample" in frame.columns and len(frame) != n_samples:
            raise DsrsdError(f"{file} has {len(frame)} rows, but samples.parquet has {n_samples}: the tables "
                             f"disagree; {fix}")
        for col in [c for c in frame.columns if c == "sample" or (name == "neighbours" and c[:1] == "n"
                                                                  and c[1:].isdigit())]:
            _indices(frame[col], n_samples, col, file, fix)


def read_json_doc(file: Path, fix: str) -> dict:
    try:
        doc = json.loads(file.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{file} is unreadable ({e}); {fix}") from None
    if not isinstance(doc, dict):
        raise DsrsdError(f"{file} is not a JSON object; {fix}")
    return doc
