"""OULAD -> samples for the ``final_outcome`` task: one sample per enrolment, seen at a cut-off day.

Why the rules are what they are:

* A prediction made on day ``c`` may only use what was known before day ``c``: clicks with
  ``date < c``, submissions with ``date_submitted < c`` (and their scores). The assessment
  *schedule* (types, weights, due dates) is published in advance, so it may be used.
* ``date_unregistration`` is never a feature: it is the outcome "Withdrawn" in disguise. Learners
  who unregistered before the cut-off are not predicted at all (their outcome is already known);
  they are counted in ``report["excluded"]``.
* The click table may be partial (the real copy here covers 4 of 22 presentations). A learner in
  a presentation without click data has the clickstream modality *missing* (``present`` False),
  which is not the same as a learner who has not clicked yet (present, zeros). Its ``steps``
  still mark the calendar weeks before the cut-off; ``present`` alone says the data is missing.
* The click table has 10.6 M rows at full scale, so it is streamed in chunks and reduced to
  (sample, week, activity) sums before anything dense is built.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import DsrsdError, located
from .dataset import Modality, MultimodalData
from .schema import PROFILE_CATEGORICAL, VOCAB
from .tables import ENCODING_NAMES, detect_encoding, find_table, read_table, require_table

TASK = "final_outcome"
TARGETS = {
    "four_class": ["Pass", "Distinction", "Fail", "Withdrawn"],
    "at_risk": ["not_at_risk", "at_risk"],
}
AT_RISK_RESULTS = ("Fail", "Withdrawn")
KEYS = ["code_module", "code_presentation", "id_student"]
FIRST_DAY = -28  # clicks before this day fold into the first week (registration can start months early)
FIRST_WEEK = FIRST_DAY // 7
ACTIVITIES = VOCAB["activity_type"]
CLICK_CHUNK_ROWS = 1_000_000
MAX_MODULE_DAYS = 2000  # a longer presentation is a data error (and would size the click tensor absurdly)
DAY_OFFSET, DAY_SPAN = 1 << 20, 1 << 21  # days counted for the data card: -2**20 .. 2**20 - 1
KEY_SPAN = 1 << 32  # id_student must lie in [0, 2**32) (real ids stop below 3 million)
PROFILE_FEATURES = ["num_of_prev_attempts", "log1p_studied_credits", "date_registration_100", "date_registration_missing"]
# Assessment features are scaled to about unit size; dsrsd_core.data.decode divides them back out.
WEIGHT_SCALE, SCORE_SCALE, DAYS_SCALE = 100.0, 100.0, 30.0
ASSESSMENT_FEATURES = [
    "type_TMA", "type_CMA", "type_Exam", "weight_100", "due_fraction", "submitted", "score_100",
    "score_missing", "days_early_30", "is_banked", "overdue_unsubmitted",
]
META_COLUMNS = KEYS + PROFILE_CATEGORICAL + ["final_result"]


def load_final_outcome(data_dir, target: str = "at_risk", cutoff_fraction: float = 0.5,
                       cutoff_day: int | None = None, progress: bool = False) -> MultimodalData:
    """Build the ``final_outcome`` samples from the OULAD files in ``data_dir``.

    The cut-off of each presentation is ``round(cutoff_fraction * module_presentation_length)``
    (halves round up), or ``cutoff_day`` for every presentation when given.
    Modalities, in order: ``profile`` (tabular), ``clickstream`` (weeks x 20 activity types),
    ``assessments`` (one step per assessment due or submitted before the cut-off).
    """
    if target not in TARGETS:
        raise DsrsdError(f"unknown target '{target}' for task {TASK}; choose one of: {', '.join(TARGETS)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DsrsdError(f"{data_dir}: no such data folder")
    tables = _read_tables(data_dir)
    pres = _presentations(tables["courses"], cutoff_fraction, cutoff_day)
    enrol, excluded, excluded_by_presentation = _enrolments(tables, pres)
    y = _labels(enrol["final_result"], target, data_dir)

    profile = _profile(enrol)
    clickstream, clicks_present, clicks_report = _clickstream(data_dir, enrol, pres, progress)
    assessments, assess_report = _assessments(tables, enrol, pres)
    present = np.column_stack([np.ones(len(enrol), bool), clicks_present, np.ones(len(enrol), bool)])

    meta = enrol[META_COLUMNS].reset_index(drop=True).copy()
    meta["cutoff_day"] = enrol["cutoff"].to_numpy(np.int64)
    meta["clicks_present"] = clicks_present

    classes = TARGETS[target]
    report = {
        "source": str(data_dir),
        "task": TASK,
        "target": target,
        "cutoff": {
            "rule": "day" if cutoff_day is not None else "fraction",
            "fraction": None if cutoff_day is not None else float(cutoff_fraction),
            "day": None if cutoff_day is None else int(cutoff_day),
            "per_presentation": {k: int(c) for k, c in zip(pres["key"], pres["cutoff"])},
        },
        "rows": {name: int(len(t)) for name, t in tables.items()} | clicks_report.pop("table_rows"),
        "presentations": list(pres["key"]),
        **clicks_report,
        **assess_report,
        "n_samples": int(len(y)),
        "class_counts": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "excluded": excluded,
        "unregistered_by_presentation": excluded_by_presentation,
        "without_registration_row": int((~enrol["registration_row"]).sum()),
        # tables not in UTF-8 (e.g. Windows-1252 exports from spreadsheet tools): which encoding was used
        "encodings": _encodings(data_dir),
    }
    return MultimodalData(
        {"profile": profile, "clickstream": clickstream, "assessments": assessments},
        present, y, list(classes), meta, report,
    )


# ---- tables and enrolments ----------------------------------------------------------------

def _encodings(data_dir: Path) -> dict[str, str]:
    """Table -> encoding name, for the tables that are not UTF-8 (empty when all are)."""
    out = {}
    for name in ("courses", "assessments", "studentInfo", "studentRegistration", "studentAssessment", "vle",
                 "studentVle"):
        path = find_table(data_dir, name)
        if path is not None and (enc := detect_encoding(path)) != "utf-8-sig":
            out[name] = ENCODING_NAMES[enc]
    return out


def _read_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """The small tables, whole. studentVle is streamed later; vle is read with it."""
    names = ["courses", "assessments", "studentInfo", "studentRegistration", "studentAssessment"]
    paths = {n: require_table(data_dir, n) for n in names}  # all missing-table errors before any parsing
    out = {n: read_table(p, n) for n, p in paths.items()}
    for n in ("courses", "studentInfo", "studentRegistration"):
        keys = ["code_module", "code_presentation"] + (["id_student"] if n != "courses" else [])
        dup = out[n].duplicated(keys).to_numpy()
        if dup.any():
            i = int(np.argmax(dup))
            row = out[n].iloc[i]
            raise DsrsdError(located(f"{' '.join(str(row[k]) for k in keys)} is listed twice", paths[n], row=i + 1))
    return out


def _presentations(courses: pd.DataFrame, fraction: float, day: int | None) -> pd.DataFrame:
    """One row per presentation: key "AAA 2013J", length, cut-off day, number of click weeks."""
    pres = courses.sort_values(["code_module", "code_presentation"]).reset_index(drop=True)
    pres["key"] = pres["code_module"] + " " + pres["code_presentation"]
    length = pres["module_presentation_length"].to_numpy(np.int64)
    bad = (length < 1) | (length > MAX_MODULE_DAYS)
    if bad.any():
        i = int(np.argmax(bad))
        raise DsrsdError(f"courses: {pres['key'][i]} has module_presentation_length {int(length[i])}; a presentation "
                         f"lasts between 1 and {MAX_MODULE_DAYS} days (OULAD's last 234 to 269)")
    if day is not None:
        if int(day) != day or day <= FIRST_DAY or day > MAX_MODULE_DAYS:
            raise DsrsdError(f"cutoff_day must be a whole day after day {FIRST_DAY} and at most {MAX_MODULE_DAYS}, got {day}")
        cutoff = np.full(len(pres), int(day), np.int64)
    else:
        if not (0 < fraction <= 1):
            raise DsrsdError(f"cutoff_fraction must be in (0, 1], got {fraction}")
        cutoff = np.array([math.floor(fraction * n + 0.5) for n in length], np.int64)
    pres["cutoff"] = cutoff
    pres["n_weeks"] = (cutoff - 1) // 7 - FIRST_WEEK + 1  # weeks with at least one day in [-28, cutoff)
    return pres


def _enrolments(tables, pres) -> tuple[pd.DataFrame, dict]:
    """studentInfo + registration dates + the presentation's cut-off, minus excluded learners."""
    reg = tables["studentRegistration"]
    enrol = tables["studentInfo"].merge(reg, on=KEYS, how="left", indicator="_reg")
    enrol = enrol.merge(pres[["code_module", "code_presentation", "cutoff", "n_weeks"]].reset_index(names="pres"),
                        on=["code_module", "code_presentation"], how="left")
    unknown = enrol["pres"].isna().to_numpy()
    unreg = (enrol["date_unregistration"] < enrol["cutoff"]).to_numpy() & ~unknown
    excluded = {
        "unregistered_before_cutoff": int(unreg.sum()),
        "presentation_not_in_courses": int(unknown.sum()),
    }
    # per presentation too, so a run trained on a selection of presentations can state its own exclusions
    names = enrol["code_module"].astype(str) + " " + enrol["code_presentation"].astype(str)
    by_pres = names[unreg].value_counts()
    excluded_by_presentation = {str(k): int(by_pres.get(k, 0)) for k in pres["key"]}
    enrol = enrol[~unreg & ~unknown].drop(columns=["date_unregistration"])  # never a feature
    enrol["pres"] = enrol["pres"].astype(np.int64)
    enrol["registration_row"] = enrol.pop("_reg").eq("both")
    return enrol.sort_values(KEYS).reset_index(drop=True), excluded, excluded_by_presentation


def _labels(final_result: pd.Series, target: str, data_dir) -> np.ndarray:
    classes = TARGETS[target]
    if target == "at_risk":
        y = final_result.isin(AT_RISK_RESULTS).to_numpy().astype(np.int64)
    else:
        y = pd.Categorical(final_result, categories=classes).codes.astype(np.int64)
    if len(y) == 0:
        raise DsrsdError(f"{data_dir}: no enrolment is left to predict after the cut-off exclusions")
    seen = np.unique(y)
    if len(seen) < 2:
        raise DsrsdError(
            f"{data_dir}: all {len(y)} samples have class '{classes[seen[0]]}' (target '{target}'): "
            "only one class, so a model cannot train; check final_result in studentInfo, or choose another target")
    return y


# ---- profile -------------------------------------------------------------------------------

def _profile(enrol: pd.DataFrame) -> Modality:
    cat = np.column_stack([
        pd.Categorical(enrol[c], categories=VOCAB[c]).codes.astype(np.int64) + 1 for c in PROFILE_CATEGORICAL
    ])
    reg = enrol["date_registration"].to_numpy(np.float64)
    x = np.column_stack([
        enrol["num_of_prev_attempts"].to_numpy(np.float64),
        np.log1p(enrol["studied_credits"].to_numpy(np.float64)),
        np.where(np.isnan(reg), 0.0, reg / 100.0),
        np.isnan(reg).astype(np.float64),
    ]).astype(np.float32)
    return Modality("profile", "tabular", x, list(PROFILE_FEATURES), cat=cat,
                    cat_names=list(PROFILE_CATEGORICAL), cat_cardinalities=[len(VOCAB[c]) + 1 for c in PROFILE_CATEGORICAL])


# ---- clickstream ---------------------------------------------------------------------------

def _clickstream(data_dir: Path, enrol: pd.DataFrame, pres: pd.DataFrame, progress: bool):
    """Weekly clicks per activity type; returns (modality, present, report entries)."""
    n = len(enrol)
    n_weeks = pres["n_weeks"].to_numpy()
    T = int(n_weeks[np.unique(enrol["pres"])].max())
    A = len(ACTIVITIES)
    step_names = [f"week {w}" for w in range(FIRST_WEEK, FIRST_WEEK + T)]
    steps = np.arange(T)[None, :] < n_weeks[enrol["pres"].to_numpy()][:, None]
    coverage = {k: {"rows": 0, "first_date": None, "last_date": None, "click_days": 0, "covered": False}
                for k in pres["key"]}
    out = {"table_rows": {"vle": None, "studentVle": None}, "click_coverage": coverage, "clickstream_note": ""}

    vle_path, clicks_path = find_table(data_dir, "vle"), find_table(data_dir, "studentVle")
    if vle_path is None or clicks_path is None:
        missing = " and ".join(t for t, p in (("vle", vle_path), ("studentVle", clicks_path)) if p is None)
        out["clickstream_note"] = f"no {missing} table: the clickstream modality is missing for every sample"
        x = np.zeros((n, T, A), np.float32)
        return _click_modality(x, steps, step_names), np.zeros(n, bool), out

    acc, rows, last, stats, days = _aggregate_clicks(vle_path, clicks_path, enrol, pres, T, progress)
    # A click table proves it covers the days before the cut-off only by going on past them: one
    # that ends the day before (e.g. a file cut at a spreadsheet's row limit) may be missing the rest
    # of that day and more, so it counts as missing clicks. At a cut-off at the module's end, a
    # table reaching its last day is enough.
    cutoff = pres["cutoff"].to_numpy()
    needed = np.minimum(cutoff, pres["module_presentation_length"].to_numpy(np.int64) - 1)
    covered = (rows > 0) & (last >= needed)
    pres_of_day, day = days // DAY_SPAN, days % DAY_SPAN - DAY_OFFSET
    for i, k in enumerate(pres["key"]):
        mine = day[pres_of_day == i]
        coverage[k] = {"rows": int(rows[i]), "first_date": int(mine.min()) if len(mine) else None,
                       "last_date": int(last[i]) if rows[i] else None, "click_days": int(len(mine)),
                       "covered": bool(covered[i])}
    present = covered[enrol["pres"].to_numpy()]
    x = np.log1p(acc, out=acc).astype(np.float32).reshape(n, T, A)
    del acc
    x[~present] = 0.0
    truncated = [f"{k} (clicks end on day {int(last[i])}, cut-off day {int(cutoff[i])})"
                 for i, k in enumerate(pres["key"]) if rows[i] and not covered[i]]
    out["clickstream_note"] = (
        f"clicks cover {int(covered.sum())} of {len(pres)} presentations up to their cut-off"
        + (f"; truncated before the cut-off (treated as missing): {', '.join(truncated)}" if truncated else ""))
    out["table_rows"] = {"vle": stats.pop("vle_rows"), "studentVle": stats.pop("rows")}
    out["click_rows"] = stats
    return _click_modality(x, steps, step_names), present, out


def _click_modality(x, steps, step_names) -> Modality:
    return Modality("clickstream", "sequence", x, list(ACTIVITIES), steps=steps, step_names=step_names)


def _aggregate_clicks(vle_path, clicks_path, enrol, pres, T, progress):
    """Stream studentVle once: (sample, week, activity) click sums plus per-presentation coverage."""
    vle_all = read_table(vle_path, "vle", usecols=["id_site", "activity_type"])
    vle = vle_all.drop_duplicates("id_site")
    sites = pd.Index(vle["id_site"].to_numpy())
    site_act = pd.Categorical(vle["activity_type"], categories=ACTIVITIES).codes.astype(np.int64)

    modules = sorted(pres["code_module"].unique())
    terms = sorted(pres["code_presentation"].unique())
    pres_of = np.full((len(modules) + 1, len(terms) + 1), -1, np.int64)  # last row/col: unknown code
    pres_of[pres["code_module"].map(modules.index), pres["code_presentation"].map(terms.index)] = np.arange(len(pres))
    ids = enrol["id_student"].to_numpy()
    if ids.min() < 0 or ids.max() >= KEY_SPAN:
        raise DsrsdError(f"studentInfo: id_student must lie between 0 and {KEY_SPAN - 1}; found {ids.min()} .. {ids.max()}")
    sample_index = pd.Index(_sample_key(enrol["pres"].to_numpy(), ids))
    cutoff = pres["cutoff"].to_numpy()
    A = len(ACTIVITIES)

    acc = np.zeros(len(enrol) * T * A, np.float64)
    rows = np.zeros(len(pres), np.int64)
    last = np.full(len(pres), np.iinfo(np.int64).min)
    days = np.zeros(0, np.int64)  # distinct (presentation, day) pairs with clicks, as p * DAY_SPAN + day
    stats = {"vle_rows": len(vle_all), "rows": 0, "unknown_presentation": 0, "unknown_site": 0, "used": 0}
    columns = ["code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"]
    bar = tqdm(desc="studentVle", unit=" rows", unit_scale=True, disable=not progress)
    offset = 0
    for chunk in read_table(clicks_path, "studentVle", usecols=columns, chunksize=CLICK_CHUNK_ROWS):
        bar.update(len(chunk))
        clicks = chunk["sum_click"].to_numpy()
        if (clicks < 0).any():
            raise DsrsdError(located("negative click count", clicks_path, "sum_click", offset + int(np.argmax(clicks < 0)) + 1))
        m = pd.Index(modules).get_indexer(chunk["code_module"])  # -1: a code courses does not list
        t = pd.Index(terms).get_indexer(chunk["code_presentation"])
        p = pres_of[m, t]  # code -1 indexes the "unknown" row/column
        date = chunk["date"].to_numpy()
        student = chunk["id_student"].to_numpy()
        known = p >= 0
        rows += np.bincount(p[known], minlength=len(rows))
        _max_into(last, p[known], date[known])
        in_span = known & (date >= -DAY_OFFSET) & (date < DAY_SPAN - DAY_OFFSET)
        days = np.union1d(days, p[in_span] * DAY_SPAN + date[in_span] + DAY_OFFSET)

        site = sites.get_indexer(chunk["id_site"].to_numpy())
        act = np.where(site >= 0, site_act[site], -1)
        keyable = known & (student >= 0) & (student < KEY_SPAN)  # a wild id must not alias another sample
        sample = np.where(keyable, sample_index.get_indexer(_sample_key(np.maximum(p, 0), student)), -1)
        use = (sample >= 0) & (act >= 0) & (date < cutoff[np.maximum(p, 0)])
        step = np.maximum(date[use] // 7 - FIRST_WEEK, 0)
        flat = (sample[use] * T + step) * A + act[use]
        cells, inverse = np.unique(flat, return_inverse=True)
        acc[cells] += np.bincount(inverse, weights=clicks[use], minlength=len(cells))

        stats["rows"] += len(chunk)
        stats["unknown_presentation"] += int((~known).sum())
        stats["unknown_site"] += int((known & (act < 0)).sum())
        stats["used"] += int(use.sum())
        offset += len(chunk)
    bar.close()
    return acc, rows, last, stats, days


def _sample_key(pres_idx: np.ndarray, id_student: np.ndarray) -> np.ndarray:
    """One int64 per (presentation, student), so chunk rows find their sample by hashing, not joining."""
    return pres_idx.astype(np.int64) * KEY_SPAN + id_student.astype(np.int64)


def _max_into(best: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
    if len(idx):
        s = pd.Series(values).groupby(idx).max()
        best[s.index.to_numpy()] = np.maximum(best[s.index.to_numpy()], s.to_numpy())


# ---- assessments ---------------------------------------------------------------------------

def _assessments(tables, enrol: pd.DataFrame, pres: pd.DataFrame):
    """One step per assessment due, or submitted, before the cut-off, in due-date order.

    Steps are packed to the left (the step mask is a prefix), so "assessment k" is the learner's
    k-th visible assessment; its due date is a feature, so the model still knows which one it is.
    """
    length = pres["module_presentation_length"].to_numpy(np.float64)
    cutoff = pres["cutoff"].to_numpy()
    plan = tables["assessments"].merge(
        pres[["code_module", "code_presentation"]].reset_index(names="pres"), on=["code_module", "code_presentation"])
    plan["due"] = plan["date"].fillna(pd.Series(length[plan["pres"]], index=plan.index))  # undated exam: module end
    plan = plan.drop(columns=["code_module", "code_presentation", "date"])

    subs = tables["studentAssessment"].merge(plan[["id_assessment", "pres"]], on="id_assessment", how="left")
    unknown_assessment = int(subs["pres"].isna().sum())
    subs = subs.dropna(subset=["pres"])
    subs = subs[subs["date_submitted"].to_numpy() < cutoff[subs["pres"].to_numpy(np.int64)]]  # known at the cut-off
    subs = subs.sort_values("date_submitted").drop_duplicates(["id_assessment", "id_student"]).drop(columns="pres")

    cand = enrol[["pres", "id_student"]].reset_index(names="sample").merge(plan, on="pres")
    cand = cand.merge(subs, on=["id_assessment", "id_student"], how="left")
    submitted = cand["date_submitted"].notna().to_numpy()
    due = cand["due"].to_numpy(np.float64)
    before = due < cutoff[cand["pres"].to_numpy()]
    cand = cand[before | submitted]
    cand = cand.sort_values(["sample", "due", "id_assessment"])
    pos = cand.groupby("sample").cumcount().to_numpy()

    sub = cand["date_submitted"].notna().to_numpy()
    feats = assessment_features(cand, sub, length[cand["pres"].to_numpy()], cutoff[cand["pres"].to_numpy()])
    modality = assessment_modality(feats, cand["sample"].to_numpy(), pos, len(enrol))
    return modality, {"submissions_unknown_assessment": unknown_assessment}


def assessment_features(cand: pd.DataFrame, sub: np.ndarray, length: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """:data:`ASSESSMENT_FEATURES` of assessment rows (``assessment_type``, ``weight``, ``due``,
    ``date_submitted``, ``score``, ``is_banked``) seen at day ``cut``; ``sub``: submitted before it."""
    score = cand["score"].to_numpy(np.float64)
    due = cand["due"].to_numpy(np.float64)
    kind = pd.Categorical(cand["assessment_type"], categories=VOCAB["assessment_type"]).codes
    return np.column_stack([
        kind == 0, kind == 1, kind == 2,
        np.nan_to_num(cand["weight"].to_numpy(np.float64) / WEIGHT_SCALE),
        due / length,
        sub,
        np.where(sub & ~np.isnan(score), score / SCORE_SCALE, 0.0),
        sub & np.isnan(score),
        np.where(sub, (due - cand["date_submitted"].to_numpy(np.float64)) / DAYS_SCALE, 0.0),
        np.where(sub, cand["is_banked"].fillna(0).to_numpy(np.float64), 0.0),
        (due < cut) & ~sub,
    ]).astype(np.float32)


def assessment_modality(feats: np.ndarray, sample: np.ndarray, pos: np.ndarray, n: int) -> Modality:
    """The ``assessments`` sequence modality: row ``i`` of ``feats`` is step ``pos[i]`` of ``sample[i]``."""
    T = max(1, int(pos.max()) + 1 if len(pos) else 1)
    x = np.zeros((n, T, len(ASSESSMENT_FEATURES)), np.float32)
    steps = np.zeros((n, T), bool)
    x[sample, pos] = feats
    steps[sample, pos] = True
    return Modality("assessments", "sequence", x, list(ASSESSMENT_FEATURES), steps=steps,
                    step_names=[f"assessment {k + 1}" for k in range(T)])
