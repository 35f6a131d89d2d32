"""ASSISTments skill-builder, the raw export users download (``skill_builder_data*.csv``).

Columns read: ``order_id, user_id, problem_id, skill_id, correct, attempt_count,
ms_first_response, hint_count, original`` (+ ``skill_name`` when present). The file is Latin-1;
it is read as UTF-8 when it decodes as such, as Latin-1 otherwise (reported).

* One *response* is one ``order_id`` (one problem attempt). A problem with several skills has
  one row per skill; those rows are collapsed into one response whose skill is the sorted skill
  combination (``n_skills`` = how many), so they can never be visible to each other. Rows of one
  order that are not adjacent in the file are still collapsed and counted
  (``report["orders_split_over_rows"]``); an order whose rows disagree on user, problem or
  correctness is skipped and reported with its file rows.
* Order: ``order_id`` ascending within a user (the export's chronological key).
* Scored: first attempts at main problems only (``original = 1``); scaffolding responses
  (``original = 0``) are history, not targets.
* ``attempt_count``, ``hint_count`` and ``ms_first_response`` describe the response they are on
  and enter features only for earlier responses (see samples.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DsrsdError, located
from .io import binary, numeric, read_csv_any, strip_ext

COLUMNS = ["order_id", "user_id", "problem_id", "skill_id", "correct", "attempt_count", "ms_first_response",
           "hint_count", "original"]


def find_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir())
            if p.is_file() and (strip_ext(p.name) or "").startswith("skill_builder_data")]


def load_responses(folder: Path) -> tuple[pd.DataFrame, dict]:
    files = find_files(folder)
    if len(files) != 1:
        raise DsrsdError(f"{folder}: expected one skill_builder_data file, found {len(files)}: "
                         f"{', '.join(p.name for p in files)}")
    path = files[0]
    raw, info = read_csv_any(path, COLUMNS, optional=["skill_name"], what="skill-builder export")
    for c in ("user_id", "problem_id"):
        if raw[c].isna().any():
            i = int(np.argmax(raw[c].isna().to_numpy()))
            raise DsrsdError(located("is empty", path, column=c, row=i + 1))
    rows = pd.DataFrame({
        "order_id": numeric(raw, "order_id", path, integer=True),
        "user": raw["user_id"].str.strip().to_numpy(),
        "item": raw["problem_id"].str.strip().to_numpy(),
        "skill_one": raw["skill_id"].fillna("").str.strip().to_numpy(),
        "correct": binary(raw, "correct", path),
        "attempts": numeric(raw, "attempt_count", path, allow_missing=True),
        "elapsed_ms": numeric(raw, "ms_first_response", path, allow_missing=True),
        "hints": numeric(raw, "hint_count", path, allow_missing=True),
        "original": numeric(raw, "original", path, allow_missing=True),
        "file_row": np.arange(1, len(raw) + 1),
    })
    # collapse the rows of one order
    by = rows.groupby("order_id", sort=False)
    n_rows = by["file_row"].transform("size").to_numpy()
    span = (by["file_row"].transform("max") - by["file_row"].transform("min") + 1).to_numpy()
    split_over = int(rows.loc[span != n_rows, "order_id"].nunique())
    conflicting = (by["user"].transform("nunique") > 1) | (by["item"].transform("nunique") > 1) | (by["correct"].transform("nunique") > 1)
    skipped = {"orders": 0}
    if conflicting.any():
        bad = rows[conflicting.to_numpy()]
        first = bad[bad["order_id"] == bad["order_id"].iloc[0]]
        skipped = {"orders": int(bad["order_id"].nunique()),
                   "first": located(f"order_id {int(first['order_id'].iloc[0])} has rows that disagree on user, problem or "
                                    f"correctness (rows {', '.join(str(r) for r in first['file_row'][:5])}); skipped", path)}
        rows = rows[~conflicting.to_numpy()]
    by = rows.groupby("order_id", sort=False)
    resp = by.agg(user=("user", "first"), item=("item", "first"), correct=("correct", "first"),
                  attempts=("attempts", "first"), elapsed_ms=("elapsed_ms", "first"), hints=("hints", "first"),
                  original=("original", "first"), file_row=("file_row", "min")).reset_index()
    skills = by["skill_one"].agg(lambda s: "_".join(sorted({v for v in s if v}, key=lambda v: (len(v), v))))
    resp["skill"] = skills.reindex(resp["order_id"]).to_numpy()
    resp["n_skills"] = np.array([len(s.split("_")) if s else 0 for s in resp["skill"]], np.float32)
    resp.loc[resp["skill"] == "", "skill"] = "none"
    resp = resp.sort_values(["user", "order_id"], kind="stable").reset_index(drop=True)
    resp["order"] = resp.groupby("user", sort=False).cumcount()
    resp["group"] = resp["order"]
    resp["scored"] = resp["original"].fillna(1).to_numpy() == 1
    resp["part"] = 0
    resp["split"] = ""
    resp["timestamp_ms"] = np.nan
    report = {
        "files": {path.name: info},
        "encoding_note": None if info["encoding"] == "utf-8" else f"{path.name} is not UTF-8; read as Latin-1",
        "rows_per_order": {"multi_skill_orders": int((by.size() > 1).sum()), "orders_split_over_rows": split_over},
        "skipped_orders": skipped,
        "scored_rule": "first attempts at main problems (original = 1) after the learner's first response; "
                       "scaffolding (original = 0) is history only",
        "skill": "the sorted combination of the order's skill_id values",
    }
    return resp.drop(columns=["order_id", "original", "file_row"]), report
