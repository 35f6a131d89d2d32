"""OULAD -> samples for the ``next_step`` task: the result of each enrolment's next assessment.

One sample per (enrolment, assessment) for every assessment of a presentation *after its first*
(due-date order, ties by id). The sample is seen on the assessment's due day ``d`` and predicts
its result:

* ``pass``: submitted with a score of at least 40; ``fail``: submitted with a lower score;
  ``not_submitted``: no submission. Target ``at_risk`` (the default) is binary, "not passed"
  (fail or not submitted); ``three_class`` keeps the three.
* A submission without a score has no known result: the sample is left out (counted).
* An assessment that no learner of the whole table ever submitted (OULAD's unrecorded exams) has
  no results at all: it is not a target (counted); it still appears, unsubmitted, in the
  assessment history of later samples.

What a sample may see (everything dated *strictly before* ``d``; the schedule is published in
advance): ``profile`` = the final-outcome profile plus the target's own schedule (type, weight,
due day as a fraction of the module, its rank); ``clickstream`` = weekly clicks per activity type
with ``date < d`` (the week holding ``d - 1`` is partial); ``assessments`` = the other assessments
of the presentation due before ``d`` or submitted before ``d``, with the scores of submissions
made before ``d``. Never the target's own submission, date or score, never ``final_result``,
never ``date_unregistration`` (a learner who unregistered before ``d`` is not predicted for that
assessment, as final_outcome leaves out learners gone before its cut-off; counted).

Splits are by learner (``id_student``): all of a learner's samples, in every presentation, fall on
one side (:func:`dsrsd_core.data.splits.learner_split`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import DsrsdError
from .dataset import Modality, MultimodalData
from .oulad import (ACTIVITIES, CLICK_CHUNK_ROWS, FIRST_WEEK, KEYS, WEIGHT_SCALE, _click_modality, _encodings,
                    _presentations, _profile, _read_tables, assessment_features, assessment_modality)
from .schema import PROFILE_CATEGORICAL, VOCAB
from .tables import find_table, read_table

TASK = "next_step"
PASS_SCORE = 40
RESULTS = ["pass", "fail", "not_submitted"]
TARGETS = {"at_risk": ["not_at_risk", "at_risk"], "three_class": RESULTS}
TARGET_FEATURES = ["target_type_TMA", "target_type_CMA", "target_type_Exam", "target_weight_100",
                   "target_due_fraction", "target_rank_10"]
LOADER_VERSION = 1


def load_next_assessment(data_dir, target: str = "at_risk", presentations: list[str] | None = None,
                         progress: bool = False) -> MultimodalData:
    """Build the next-assessment samples of the OULAD files in ``data_dir`` (see the module docstring),
    for the named presentations ("AAA 2013J"; all when empty)."""
    if target not in TARGETS:
        raise DsrsdError(f"unknown target '{target}' for OULAD next_step; choose one of: {', '.join(TARGETS)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DsrsdError(f"{data_dir}: no such data folder")
    tables = _read_tables(data_dir)
    pres = _presentations(tables["courses"], 1.0, None)  # cut-off = module end: every week may be needed
    if presentations:
        unknown = sorted(set(presentations) - set(pres["key"]))
        if unknown:
            raise DsrsdError(f"presentation(s) {', '.join(unknown)} not in courses; available: {', '.join(pres['key'])}")
        pres = pres[pres["key"].isin(presentations)].reset_index(drop=True)
    enrol = _enrolments(tables, pres)
    plan = _plan(tables, pres)
    subs, sub_report = _submissions(tables, plan)
    samples, report = _samples(enrol, plan, subs)
    if not len(samples):
        raise DsrsdError(f"{data_dir}: no (enrolment, assessment) pair is left to predict")
    result = samples["result"].to_numpy()
    y = (result != "pass").astype(np.int64) if target == "at_risk" else \
        pd.Categorical(result, categories=RESULTS).codes.astype(np.int64)
    if len(np.unique(y)) < 2:
        raise DsrsdError(f"{data_dir}: every next-assessment sample has the same result; nothing to learn")

    profile = _target_profile(enrol, samples, pres)
    assessments = _history(samples, plan, subs, pres)
    clickstream, clicks_present, click_report = _clicks(data_dir, enrol, samples, pres, progress)
    present = np.column_stack([np.ones(len(y), bool), clicks_present, np.ones(len(y), bool)])
    meta = enrol.loc[samples["enrol"].to_numpy(), KEYS + PROFILE_CATEGORICAL].reset_index(drop=True)
    meta["presentation"] = meta["code_module"] + " " + meta["code_presentation"]
    meta["user_id"] = meta["id_student"].astype(str)
    meta["position"] = samples["rank"].to_numpy(np.int64)  # the assessment's rank in its presentation (1 = second)
    meta["id_assessment"] = samples["id_assessment"].to_numpy(np.int64)
    meta["assessment_type"] = samples["assessment_type"].astype(str).to_numpy()
    meta["due_day"] = samples["due"].to_numpy(np.int64)
    meta["result"] = result
    meta["clicks_present"] = clicks_present

    classes = TARGETS[target]
    report = {
        "source": str(data_dir), "task": TASK, "source_kind": "oulad", "target": target,
        "target_rule": ("at_risk = not passed (fail or not submitted); pass = submitted with score >= "
                        f"{PASS_SCORE}" if target == "at_risk" else
                        f"pass = submitted with score >= {PASS_SCORE}; fail = submitted, lower score; not_submitted"),
        "sample_rule": "one sample per (enrolment, assessment) for every assessment after the first of its "
                       "presentation (due-date order); seen on its due day: only data dated strictly before it",
        "presentations": list(pres["key"]),
        "presentations_selected": list(presentations or []),
        "n_samples": int(len(y)),
        "n_enrolments": int(samples["enrol"].nunique()),
        "class_counts": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "result_counts": {r: int((result == r).sum()) for r in RESULTS},
        **report, **sub_report, **click_report,
        "encodings": _encodings(data_dir),
    }
    return MultimodalData({"profile": profile, "clickstream": clickstream, "assessments": assessments},
                          present, y, list(classes), meta, report)


def _enrolments(tables, pres) -> pd.DataFrame:
    """studentInfo + registration for the selected presentations (``date_unregistration`` kept only
    to leave out learners gone before a due day; it never becomes a feature)."""
    enrol = tables["studentInfo"].merge(tables["studentRegistration"], on=KEYS, how="left")
    enrol = enrol.merge(pres[["code_module", "code_presentation"]].reset_index(names="pres"),
                        on=["code_module", "code_presentation"], how="inner")
    return enrol.sort_values(KEYS).reset_index(drop=True)


def _plan(tables, pres) -> pd.DataFrame:
    """The selected presentations' assessments with due day (undated exam: module end) and rank."""
    length = pres["module_presentation_length"].to_numpy(np.float64)
    plan = tables["assessments"].merge(pres[["code_module", "code_presentation"]].reset_index(names="pres"),
                                       on=["code_module", "code_presentation"])
    plan["due"] = plan["date"].fillna(pd.Series(length[plan["pres"]], index=plan.index)).astype(np.int64)
    plan = plan.sort_values(["pres", "due", "id_assessment"]).reset_index(drop=True)
    plan["rank"] = plan.groupby("pres").cumcount()
    plan["length"] = length[plan["pres"]]
    return plan.drop(columns=["code_module", "code_presentation", "date"])


def _submissions(tables, plan) -> tuple[pd.DataFrame, dict]:
    subs = tables["studentAssessment"]
    subs = subs[subs["id_assessment"].isin(plan["id_assessment"])]
    subs = subs.sort_values("date_submitted").drop_duplicates(["id_assessment", "id_student"])
    recorded = set(subs["id_assessment"])
    unrecorded = plan[~plan["id_assessment"].isin(recorded)]
    return subs, {"assessments_without_any_submission": int(len(unrecorded)),
                  "assessments_without_any_submission_types": unrecorded["assessment_type"].value_counts().to_dict()}


def _samples(enrol, plan, subs) -> tuple[pd.DataFrame, dict]:
    """(enrolment, target assessment) pairs with the target's result, after the stated exclusions."""
    recorded = plan["id_assessment"].isin(set(subs["id_assessment"]))
    targets = plan[(plan["rank"] >= 1) & recorded]
    cand = enrol[["pres", "id_student", "date_unregistration"]].reset_index(names="enrol").merge(targets, on="pres")
    cand = cand.merge(subs[["id_assessment", "id_student", "score", "date_submitted"]],
                      on=["id_assessment", "id_student"], how="left")
    gone = (cand["date_unregistration"] < cand["due"]).to_numpy()
    submitted = cand["date_submitted"].notna().to_numpy()
    score = cand["score"].to_numpy(np.float64)
    no_score = submitted & np.isnan(score)
    keep = ~gone & ~no_score
    cand["result"] = np.where(~submitted, "not_submitted", np.where(score >= PASS_SCORE, "pass", "fail"))
    cand = cand[keep].drop(columns=["date_unregistration", "score", "date_submitted"])
    report = {"excluded": {"unregistered_before_due_day": int(gone.sum()),
                           "submitted_without_score": int((no_score & ~gone).sum())}}
    return cand.sort_values(["enrol", "rank"]).reset_index(drop=True), report


def _target_profile(enrol, samples, pres) -> Modality:
    base = _profile(enrol).take(samples["enrol"].to_numpy())
    kind = pd.Categorical(samples["assessment_type"], categories=VOCAB["assessment_type"]).codes
    extra = np.column_stack([
        kind == 0, kind == 1, kind == 2,
        np.nan_to_num(samples["weight"].to_numpy(np.float64) / WEIGHT_SCALE),
        samples["due"].to_numpy(np.float64) / samples["length"].to_numpy(np.float64),
        samples["rank"].to_numpy(np.float64) / 10.0,
    ]).astype(np.float32)
    return Modality("profile", "tabular", np.column_stack([base.x, extra]).astype(np.float32),
                    list(base.feature_names) + TARGET_FEATURES, cat=base.cat, cat_names=base.cat_names,
                    cat_cardinalities=base.cat_cardinalities)


def _history(samples, plan, subs, pres) -> Modality:
    """Per sample, the presentation's other assessments due or submitted before the due day ``d``,
    in due order, with what was known on day ``d`` (the final-outcome features at cut-off ``d``)."""
    s = samples[["enrol", "pres", "id_student", "id_assessment", "due"]].reset_index(names="sample")
    s = s.rename(columns={"id_assessment": "target", "due": "cut"})
    cand = s.merge(plan, on="pres")
    cand = cand[cand["id_assessment"] != cand["target"]]  # never the target's own submission
    cand = cand.merge(subs[["id_assessment", "id_student", "date_submitted", "score", "is_banked"]],
                      on=["id_assessment", "id_student"], how="left")
    cut = cand["cut"].to_numpy(np.float64)
    sub = (cand["date_submitted"].to_numpy(np.float64) < cut)  # NaN compares False: not submitted
    due = cand["due"].to_numpy(np.float64)
    keep = (due < cut) | sub
    cand, sub, due, cut = cand[keep], sub[keep], due[keep], cut[keep]
    order = np.lexsort((cand["id_assessment"].to_numpy(), due, cand["sample"].to_numpy()))
    cand, sub, cut = cand.iloc[order], sub[order], cut[order]
    pos = cand.groupby("sample").cumcount().to_numpy()
    feats = assessment_features(cand, sub, cand["length"].to_numpy(np.float64), cut)
    return assessment_modality(feats, cand["sample"].to_numpy(), pos, len(samples))


def _clicks(data_dir, enrol, samples, pres, progress):
    """Weekly clicks per activity type before each sample's due day (its last week partial)."""
    n, A = len(samples), len(ACTIVITIES)
    cut = samples["due"].to_numpy(np.int64)
    last_step = np.maximum((cut - 1) // 7 - FIRST_WEEK, 0)  # the step holding day d - 1
    T = int(last_step.max()) + 1
    step_names = [f"week {w}" for w in range(FIRST_WEEK, FIRST_WEEK + T)]
    steps = np.arange(T)[None, :] <= last_step[:, None]
    vle_path, clicks_path = find_table(data_dir, "vle"), find_table(data_dir, "studentVle")
    if vle_path is None or clicks_path is None:
        note = "no vle / studentVle table: the clickstream modality is missing for every sample"
        return (_click_modality(np.zeros((n, T, A), np.float32), steps, step_names), np.zeros(n, bool),
                {"clickstream_note": note})
    cells, last = _daily_clicks(vle_path, clicks_path, enrol, pres, progress)
    e_of = samples["enrol"].to_numpy()
    # full weeks: every click day in a step before the sample's last step
    week = np.maximum(cells["day"] // 7 - FIRST_WEEK, 0)
    dense = np.zeros((len(enrol), T, A), np.float64)
    ok = week < T
    np.add.at(dense, (cells["enrol"][ok], week[ok], cells["act"][ok]), cells["clicks"][ok])
    x = dense[e_of]
    x[np.arange(T)[None, :] >= last_step[:, None]] = 0.0
    # the last, partial week: click days in that step and before d
    part = pd.DataFrame({"enrol": cells["enrol"], "week": week, "day": cells["day"], "act": cells["act"],
                         "clicks": cells["clicks"]})
    want = pd.DataFrame({"sample": np.arange(n), "enrol": e_of, "week": last_step, "cut": cut})
    m = part.merge(want, on=["enrol", "week"])
    m = m[m["day"].to_numpy() < m["cut"].to_numpy()]
    np.add.at(x, (m["sample"].to_numpy(), m["week"].to_numpy(), m["act"].to_numpy()), m["clicks"].to_numpy())
    # a click table proves it covers the days before d only by reaching d (or the module's last day)
    length = pres["module_presentation_length"].to_numpy(np.int64)
    p_of = samples["pres"].to_numpy()
    present = last[p_of] >= np.minimum(cut, length[p_of] - 1)
    x = np.log1p(x).astype(np.float32)
    x[~present] = 0.0
    report = {"clickstream_note": f"clicks reach the due day for {int(present.sum()):,} of {n:,} samples "
                                  f"({', '.join(k for i, k in enumerate(pres['key']) if last[i] > -10**9) or 'none'} "
                                  "have click rows)"}
    return _click_modality(x, steps, step_names), present, report


def _daily_clicks(vle_path, clicks_path, enrol, pres, progress):
    """Stream studentVle: (enrolment, day, activity) sums for the selected enrolments, and each
    presentation's last click day (very negative when it has none)."""
    vle = read_table(vle_path, "vle", usecols=["id_site", "activity_type"]).drop_duplicates("id_site")
    sites = pd.Index(vle["id_site"].to_numpy())
    site_act = pd.Categorical(vle["activity_type"], categories=ACTIVITIES).codes.astype(np.int64)
    key = pd.Index(enrol["code_module"] + "|" + enrol["code_presentation"] + "|" + enrol["id_student"].astype(str))
    pres_key = pd.Index(pres["code_module"] + "|" + pres["code_presentation"])
    last = np.full(len(pres), -10**9, np.int64)
    parts = []
    columns = ["code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"]
    bar = tqdm(desc="studentVle", unit=" rows", unit_scale=True, disable=not progress)
    for chunk in read_table(clicks_path, "studentVle", usecols=columns, chunksize=CLICK_CHUNK_ROWS):
        bar.update(len(chunk))
        pk = chunk["code_module"].astype(str) + "|" + chunk["code_presentation"].astype(str)
        p = pres_key.get_indexer(pk)
        mine = p >= 0
        if not mine.any():
            continue
        chunk, p, pk = chunk[mine], p[mine], pk[mine]
        date = chunk["date"].to_numpy(np.int64)
        s = pd.Series(date).groupby(p).max()
        last[s.index.to_numpy()] = np.maximum(last[s.index.to_numpy()], s.to_numpy())
        e = key.get_indexer(pk + "|" + chunk["id_student"].astype(str))
        site = sites.get_indexer(chunk["id_site"].to_numpy())
        act = np.where(site >= 0, site_act[np.maximum(site, 0)], -1)
        use = (e >= 0) & (act >= 0)
        parts.append(pd.DataFrame({"enrol": e[use], "day": date[use], "act": act[use],
                                   "clicks": chunk["sum_click"].to_numpy(np.float64)[use]})
                     .groupby(["enrol", "day", "act"], as_index=False)["clicks"].sum())
    bar.close()
    cells = (pd.concat(parts).groupby(["enrol", "day", "act"], as_index=False)["clicks"].sum() if parts else
             pd.DataFrame({"enrol": [], "day": [], "act": [], "clicks": []}))
    return {c: cells[c].to_numpy(np.float64 if c == "clicks" else np.int64) for c in cells}, last


def load_next_assessment_cached(data_dir, target: str = "at_risk", presentations: list[str] | None = None,
                                progress: bool = False, root=None) -> MultimodalData:
    """:func:`load_next_assessment`, from the cache when the OULAD files are unchanged."""
    from .cache import cached_samples, fingerprint

    data_dir = Path(data_dir)
    fp = fingerprint(data_dir)
    fields = {"fingerprint": fp, "task": TASK, "target": target, "presentations": sorted(presentations or []),
              "loader_version": LOADER_VERSION}
    return cached_samples("next", fields, fp, data_dir,
                          lambda: load_next_assessment(data_dir, target, presentations, progress), LOADER_VERSION, root)
