"""The "lpp" preprocessed format (ASSISTments 2009, Statics 2011 as published by
theophilee/learner-performance-prediction): tab-separated ``user_id item_id timestamp correct skill_id``.

* ``preprocessed_data_train`` + ``preprocessed_data_test``: a user-disjoint split that the
  loader keeps (``split`` column "train" / "test"); ``preprocessed_data``: one file, split later
  by learner.
* Rows are chronological within a user in file order. ``timestamp`` is all 0 in both published
  copies; when it is informative, rows are ordered by it (file order breaks ties) and responses
  sharing a timestamp are simultaneous (not visible to each other). When it is constant every
  response is its own group.
* ``skill_id`` is whatever the file says (a skill *combination* in the ASSISTments copy);
  ``q_mat.npz`` (item x base skill), when present, gives the number of base skills per item.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DsrsdError, located
from .io import binary, numeric, read_csv_any, strip_ext

COLUMNS = ["user_id", "item_id", "timestamp", "correct", "skill_id"]
NAMES = {"preprocessed_data": "", "preprocessed_data_train": "train", "preprocessed_data_test": "test"}


def find_files(folder: Path) -> dict[str, Path]:
    """{"": path} or {"train": path, "test": path}; the split files win over the single file."""
    found = {}
    for path in sorted(folder.iterdir()):
        stem = strip_ext(path.name)
        if path.is_file() and stem in NAMES:
            found.setdefault(NAMES[stem], path)
    if "train" in found and "test" in found:
        return {"train": found["train"], "test": found["test"]}
    if "" in found:
        return {"": found[""]}
    if found:
        have = ", ".join(p.name for p in found.values())
        raise DsrsdError(f"{folder}: found {have} but not its partner: give preprocessed_data_train and "
                         "preprocessed_data_test together, or one preprocessed_data file")
    return {}


def load_responses(folder: Path) -> tuple[pd.DataFrame, dict]:
    files = find_files(folder)
    frames, report = [], {"files": {}, "fixed_split": set(files) == {"train", "test"}}
    for split, path in files.items():
        raw, info = read_csv_any(path, COLUMNS, what="preprocessed response file")
        for c in ("user_id", "item_id", "skill_id"):
            if raw[c].isna().any():
                i = int(np.argmax(raw[c].isna().to_numpy()))
                raise DsrsdError(located("is empty", path, column=c, row=i + 1))
        ts = numeric(raw, "timestamp", path, allow_missing=True)
        frame = pd.DataFrame({
            "user": raw["user_id"].str.strip().to_numpy(), "item": raw["item_id"].str.strip().to_numpy(),
            "skill": raw["skill_id"].str.strip().to_numpy(), "correct": binary(raw, "correct", path),
            "timestamp_ms": ts, "file_row": np.arange(len(raw)), "split": split,
        })
        frames.append(frame)
        report["files"][path.name] = info
    resp = pd.concat(frames, ignore_index=True)
    if report["fixed_split"]:
        both = set(resp.loc[resp["split"] == "train", "user"]) & set(resp.loc[resp["split"] == "test", "user"])
        if both:
            raise DsrsdError(f"{folder}: {len(both)} user id(s) appear in both the train and the test file "
                             f"(e.g. {sorted(both)[0]}); the given split is not user-disjoint")
    ts = resp["timestamp_ms"].to_numpy()
    informative = bool(np.isfinite(ts).any() and np.nanmax(ts) != np.nanmin(ts))
    resp["file_no"] = resp["split"].map({"": 0, "train": 0, "test": 1})
    sort = ["user", "timestamp_ms", "file_no", "file_row"] if informative else ["user", "file_no", "file_row"]
    resp = resp.sort_values(sort, kind="stable").reset_index(drop=True)
    resp["order"] = resp.groupby("user", sort=False).cumcount()
    if informative:
        same = resp["timestamp_ms"].eq(resp["timestamp_ms"].shift()) & resp["user"].eq(resp["user"].shift())
        resp["group"] = (~same).cumsum()
        resp.loc[resp["timestamp_ms"].isna(), "group"] = -1 - resp.index[resp["timestamp_ms"].isna()]
    else:
        resp["group"] = resp["order"]
        resp["timestamp_ms"] = np.nan
    resp["n_skills"] = _n_skills(folder, resp["item"])
    resp["part"] = 0
    resp["scored"] = True
    for f in ("elapsed_ms", "attempts", "hints"):
        resp[f] = np.nan
    report["timestamps"] = "informative" if informative else "constant (ignored): file order is the order"
    report["scored_rule"] = "every response after the learner's first"
    report["skill"] = "skill_id as in the file (in the ASSISTments copy: a skill combination)"
    return resp.drop(columns=["file_row", "file_no"]), report


def _n_skills(folder: Path, items: pd.Series) -> np.ndarray:
    path = folder / "q_mat.npz"
    if not path.is_file():
        return np.ones(len(items), np.float32)
    try:
        import scipy.sparse as sp

        q = sp.load_npz(path).tocsr()
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path}: not a readable scipy sparse matrix ({e})") from None
    per_item = np.diff(q.indptr)
    ids = pd.to_numeric(items, errors="coerce").to_numpy()
    ok = np.isfinite(ids) & (ids >= 0) & (ids < len(per_item))
    out = np.ones(len(items), np.float32)
    out[ok] = per_item[ids[ok].astype(np.int64)]
    return out
