"""EdNet-KT1: per-user logs (``u<id>.csv``, or ``_u<id>.csv`` as merged copies name them) and/or one
concatenated log without a user column, plus ``questions.csv`` (EdNet-Contents).

* KT1 columns: ``timestamp`` (ms, the moment the question was shown), ``solving_id``,
  ``question_id``, ``user_answer``, ``elapsed_time`` (ms). Merged per-user copies carry more
  columns (user_id, correct, ...); only the KT1 columns are read, and correctness is always
  recomputed as ``user_answer == correct_answer`` from questions.csv. An empty answer is wrong.
* A user's id is the file name's (``u1272.csv`` -> ``u1272``). In a concatenated file a new user
  starts where ``solving_id`` decreases (it restarts at 1 per user); users are then named
  ``<file stem>#<segment number>``.
* Rows are ordered by timestamp (file order breaks ties; merged copies are not chronological).
  Responses with the same ``solving_id`` in a row (one bundle: the questions shown together) or
  the same timestamp form one group: they are not visible to each other.
* Skill: the question's tag set (``tags``, as written); part: ``part`` (1-7).
* A per-user file that cannot be read is skipped and reported (file and reason); rows whose
  question is not in questions.csv are skipped and counted (first file and row reported).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DsrsdError, located
from .io import numeric, read_csv_any, strip_ext

KT1_COLUMNS = ["timestamp", "solving_id", "question_id", "user_answer", "elapsed_time"]
QUESTION_COLUMNS = ["question_id", "correct_answer", "part", "tags"]
USER_FILE = re.compile(r"^_?(u\d+)$")
SUBFOLDERS = (".", "per_user", "KT1", "kt1")


def find_files(folder: Path) -> dict:
    """{"questions": path | None, "users": [paths], "concatenated": [paths]} (empty lists when none)."""
    out = {"questions": None, "users": [], "concatenated": []}
    for sub in SUBFOLDERS:
        d = folder / sub
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            stem = strip_ext(path.name) if path.is_file() else None
            if stem is None:
                continue
            if stem == "questions" and sub == ".":
                out["questions"] = path
            elif USER_FILE.match(stem):
                out["users"].append(path)
            elif sub == "." and _is_kt1(path):
                out["concatenated"].append(path)
    return out


def _is_kt1(path: Path) -> bool:
    import gzip

    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            line = f.readline(4096)
    except (OSError, EOFError):
        return False
    text = line.decode("latin-1").removeprefix("\xef\xbb\xbf").lower()
    cols = {c.strip().strip('"') for c in re.split(r"[,\t]", text.strip())}
    return set(KT1_COLUMNS) <= cols


def _questions(path: Path | None, folder: Path) -> pd.DataFrame:
    if path is None:
        raise DsrsdError(f"{folder}: EdNet-KT1 logs found but questions.csv is missing: correctness is "
                         "user_answer == correct_answer, and correct_answer is in EdNet-Contents' questions.csv")
    raw, _ = read_csv_any(path, QUESTION_COLUMNS, what="question table")
    if raw["question_id"].isna().any():
        i = int(np.argmax(raw["question_id"].isna().to_numpy()))
        raise DsrsdError(located("is empty", path, column="question_id", row=i + 1))
    raw["question_id"] = raw["question_id"].str.strip()
    dup = raw["question_id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise DsrsdError(located(f"question {raw['question_id'].iloc[i]} is listed twice", path, row=i + 1))
    raw["part"] = numeric(raw, "part", path, allow_missing=True, integer=True)
    raw["tags"] = raw["tags"].fillna("").str.strip()
    return raw.set_index("question_id")


def _read_log(path: Path) -> pd.DataFrame:
    raw, _ = read_csv_any(path, KT1_COLUMNS, what="KT1 log")
    frame = pd.DataFrame({
        "timestamp_ms": numeric(raw, "timestamp", path),
        "solving_id": numeric(raw, "solving_id", path),
        "question_id": raw["question_id"].fillna("").str.strip().to_numpy(),
        "user_answer": raw["user_answer"].fillna("").str.strip().str.lower().to_numpy(),
        "elapsed_ms": numeric(raw, "elapsed_time", path, allow_missing=True),
        "file_row": np.arange(1, len(raw) + 1),
    })
    frame["file"] = path.name
    return frame


def load_responses(folder: Path) -> tuple[pd.DataFrame, dict]:
    files = find_files(folder)
    if not files["users"] and not files["concatenated"]:
        raise DsrsdError(f"{folder}: no EdNet-KT1 log (u<id>.csv files, or a file with columns {', '.join(KT1_COLUMNS)})")
    questions = _questions(files["questions"], folder)
    logs, skipped = [], []
    for path in files["users"]:
        try:
            frame = _read_log(path)
        except DsrsdError as e:
            skipped.append(str(e))
            continue
        frame["user"] = USER_FILE.match(strip_ext(path.name)).group(1)
        logs.append(frame)
    for path in files["concatenated"]:
        frame = _read_log(path)  # one file holds many users: an unreadable one is an error, not a skip
        sid = frame["solving_id"].to_numpy()
        seg = np.concatenate([[1], 1 + np.cumsum(sid[1:] < sid[:-1])]) if len(sid) else np.array([], int)
        stem = path.name[:len(strip_ext(path.name))]
        frame["user"] = [f"{stem}#{s}" for s in seg]
        logs.append(frame)
    if not logs:
        raise DsrsdError(f"{folder}: no readable EdNet-KT1 log; " + "; ".join(skipped[:3]))
    resp = pd.concat(logs, ignore_index=True)
    known = resp["question_id"].isin(questions.index).to_numpy()
    unknown = {"rows": int((~known).sum())}
    if unknown["rows"]:
        i = int(np.argmax(~known))
        unknown["first"] = located(f"question id {resp['question_id'].iloc[i]!r} is not in questions.csv",
                                   resp["file"].iloc[i], row=int(resp["file_row"].iloc[i]))
        resp = resp[known].reset_index(drop=True)
    q = questions.loc[resp["question_id"]]
    resp["correct"] = (resp["user_answer"].to_numpy() == q["correct_answer"].fillna("").str.strip().str.lower().to_numpy()).astype(np.int8)
    resp["item"] = resp["question_id"]
    resp["skill"] = np.where(q["tags"].to_numpy() == "", "none", q["tags"].to_numpy())
    resp["n_skills"] = np.array([len([t for t in s.split(";") if t]) for s in q["tags"].to_numpy()], np.float32)
    resp["part"] = q["part"].fillna(0).to_numpy(np.int64)
    resp = resp.sort_values(["user", "timestamp_ms", "file_row"], kind="stable").reset_index(drop=True)
    resp["order"] = resp.groupby("user", sort=False).cumcount()
    same_user = resp["user"].eq(resp["user"].shift())
    same = same_user & (resp["solving_id"].eq(resp["solving_id"].shift()) | resp["timestamp_ms"].eq(resp["timestamp_ms"].shift()))
    resp["group"] = (~same).cumsum()
    resp["scored"] = True
    resp["split"] = ""
    resp["attempts"] = np.nan
    resp["hints"] = np.nan
    report = {
        "files": {"questions": files["questions"].name, "per_user": len(files["users"]),
                  "concatenated": [p.name for p in files["concatenated"]]},
        "skipped_files": skipped,
        "unknown_questions": unknown,
        "empty_answers_counted_wrong": int((resp["user_answer"] == "").sum()),
        "scored_rule": "every response after the learner's first bundle",
        "skill": "the question's tag set (questions.csv tags)",
        "groups": "one bundle (consecutive rows with the same solving_id) or one timestamp",
    }
    return resp.drop(columns=["question_id", "user_answer", "solving_id", "file", "file_row"]), report
