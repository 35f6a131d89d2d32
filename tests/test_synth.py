"""The synthetic OULAD-schema cohort: schema, integrity, determinism and the planted truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.data.schema import CATEGORICAL_COLUMNS, TABLES, VOCAB
from dsrsd_core.data.synth import BROWSING_TYPES, write_cohort
from dsrsd_core.errors import DsrsdError

N = 400
KEY = ["code_module", "code_presentation", "id_student"]
FILES = [f"{t}.csv" for t in TABLES] + ["ground_truth.json"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    summary = write_cohort(out, enrolments=N, seed=0)
    tables = {t: pd.read_csv(out / f"{t}.csv") for t in TABLES}
    truth = json.loads((out / "ground_truth.json").read_text())
    return out, summary, tables, truth


def _learner_frame(tables) -> pd.DataFrame:
    """One row per enrolment: outcome, learning/browsing click totals, mean score."""
    info, vle, sv = tables["studentInfo"], tables["vle"], tables["studentVle"]
    sa, asm = tables["studentAssessment"], tables["assessments"]
    clicks = sv.merge(vle[["id_site", "activity_type"]], on="id_site")
    clicks["browse"] = clicks["activity_type"].isin(BROWSING_TYPES)
    tot = clicks.pivot_table(index=KEY, columns="browse", values="sum_click", aggfunc="sum", fill_value=0)
    tot = tot.rename(columns={True: "browse", False: "learn"}).reset_index()
    score = (sa.merge(asm[["id_assessment", "code_module", "code_presentation"]], on="id_assessment")
             .groupby(KEY)["score"].mean().rename("score").reset_index())
    x = info[KEY + ["final_result"]].merge(tot, on=KEY, how="left").merge(score, on=KEY, how="left")
    return x.fillna({"learn": 0, "browse": 0})


# --- format and schema ------------------------------------------------------------------------
def test_files_and_summary(cohort):
    out, summary, tables, _ = cohort
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert summary["rows"] == {t: len(tables[t]) for t in TABLES}
    assert len(tables["studentInfo"]) == N
    assert summary["seconds"] >= 0


@pytest.mark.parametrize("table", list(TABLES))
def test_columns_and_plain_csv(cohort, table):
    out, _, tables, _ = cohort
    raw = (out / f"{table}.csv").read_bytes()
    assert b'"' not in raw and b"\r" not in raw and raw.endswith(b"\n")
    assert raw.split(b"\n", 1)[0].decode().split(",") == list(TABLES[table])
    assert list(tables[table].columns) == list(TABLES[table])
    assert len(tables[table]) > 0
    for col, kind in TABLES[table].items():
        if kind == "int":
            assert tables[table][col].notna().all(), col
            assert pd.api.types.is_integer_dtype(tables[table][col]), col


def test_categories_within_vocab(cohort):
    _, _, tables, _ = cohort
    for table, cols in CATEGORICAL_COLUMNS.items():
        for col in cols:
            values = set(tables[table][col].dropna())
            assert values <= set(VOCAB[col]), (table, col, values - set(VOCAB[col]))
    info = tables["studentInfo"]
    assert set(info["final_result"]) == set(VOCAB["final_result"])
    assert info["imd_band"].isna().any() and info["imd_band"].isna().mean() < 0.1
    assert "10-20" in set(info["imd_band"].dropna())


def test_oulad_conventions(cohort):
    _, _, tables, _ = cohort
    courses, asm = tables["courses"], tables["assessments"]
    assert courses["module_presentation_length"].between(234, 269).all()
    assert courses["code_presentation"].str.fullmatch(r"20\d\d[BJ]").all()
    assert not courses.duplicated(["code_module", "code_presentation"]).any()
    exams = asm[asm["assessment_type"] == "Exam"]
    assert exams["date"].isna().all() and (exams["weight"] == 100).all()
    assert asm.loc[asm["assessment_type"] != "Exam", "date"].notna().all()
    nonexam = asm[asm["assessment_type"] != "Exam"].groupby(["code_module", "code_presentation"])["weight"].sum()
    assert (nonexam == 100).all()
    assert asm["id_assessment"].is_unique and tables["vle"]["id_site"].is_unique
    sa = tables["studentAssessment"]
    assert sa["score"].dropna().between(0, 100).all()
    assert sa["is_banked"].isin([0, 1]).all() and sa["is_banked"].mean() < 0.1
    sv = tables["studentVle"]
    assert (sv["sum_click"] >= 1).all()
    assert (sv["date"] < 0).any()  # clicks in the registration period
    assert not sv.duplicated(["id_student", "code_module", "code_presentation", "id_site", "date"]).any()
    # some students are enrolled in more than one presentation
    per_student = tables["studentInfo"].groupby("id_student").size()
    assert 0.03 < (per_student > 1).mean() < 0.2


# --- referential integrity -----------------------------------------------------------------------
def test_referential_integrity(cohort):
    _, _, t, _ = cohort
    info, reg = t["studentInfo"], t["studentRegistration"]
    assert not info.duplicated(KEY).any()
    assert info[KEY].equals(reg[KEY])  # every enrolment has exactly its registration row
    pres = set(map(tuple, t["courses"][["code_module", "code_presentation"]].values))
    for name in ("assessments", "vle", "studentInfo", "studentVle"):
        assert set(map(tuple, t[name][["code_module", "code_presentation"]].drop_duplicates().values)) <= pres
    # every submission is for a known assessment, by a learner enrolled in that presentation
    sa = t["studentAssessment"].merge(t["assessments"], on="id_assessment", how="left")
    assert sa["assessment_type"].notna().all()
    enrolled = set(map(tuple, info[KEY].values))
    assert set(map(tuple, sa[KEY].values)) <= enrolled
    # every click is on a site of the same module-presentation, by an enrolled learner
    sv = t["studentVle"].merge(t["vle"], on="id_site", how="left", suffixes=("", "_site"))
    assert sv["activity_type"].notna().all()
    assert (sv["code_module"] == sv["code_module_site"]).all()
    assert (sv["code_presentation"] == sv["code_presentation_site"]).all()
    assert set(map(tuple, t["studentVle"][KEY].drop_duplicates().values)) <= enrolled


def test_withdrawn_learners_stop_at_unregistration(cohort):
    _, _, t, _ = cohort
    m = t["studentInfo"].merge(t["studentRegistration"], on=KEY)
    withdrawn = m["final_result"] == "Withdrawn"
    assert m.loc[withdrawn, "date_unregistration"].notna().all()
    assert m.loc[~withdrawn, "date_unregistration"].isna().all()
    assert 0.15 < withdrawn.mean() < 0.4
    assert (m.loc[withdrawn, "date_unregistration"] < 0).any()  # some leave before the start
    ok = m["date_registration"].isna() | (m["date_unregistration"].isna()) | (m["date_unregistration"] > m["date_registration"])
    assert ok.all()
    unreg = m.loc[withdrawn, KEY + ["date_unregistration"]]
    clicks = t["studentVle"].merge(unreg, on=KEY)
    assert len(clicks) > 0 and (clicks["date"] <= clicks["date_unregistration"]).all()
    sub = (t["studentAssessment"].merge(t["assessments"][["id_assessment", "code_module", "code_presentation"]])
           .merge(unreg, on=KEY))
    assert len(sub) > 0 and (sub["date_submitted"] <= sub["date_unregistration"]).all()


# --- determinism ------------------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_differs(cohort, tmp_path):
    out, _, _, _ = cohort
    again = tmp_path / "again"
    write_cohort(again, enrolments=N, seed=0)
    for name in FILES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    other = tmp_path / "other"
    write_cohort(other, enrolments=N, seed=1)
    assert (out / "studentVle.csv").read_bytes() != (other / "studentVle.csv").read_bytes()
    assert (out / "studentInfo.csv").read_bytes() != (other / "studentInfo.csv").read_bytes()


# --- the planted truth, measured from the files ----------------------------------------------
def test_ground_truth_file(cohort):
    _, _, t, truth = cohort
    assert truth["generator"] == "dsrsd synthetic v1" and truth["seed"] == 0 and truth["enrolments"] == N
    assert truth["modality_ranking"] == ["assessments", "clickstream", "profile"]
    assert truth["dominance_trap"] == "clickstream"
    f = truth["factors"]
    assert f["engagement"]["kind"] == "shared"
    assert sorted(f["engagement"]["modalities"]) == ["assessments", "clickstream"]
    assert f["browsing"]["outcome_weight"] == 0.0 and f["browsing"]["modalities"] == ["clickstream"]
    assert f["mastery"]["modalities"] == ["assessments"] and f["background"]["modalities"] == ["profile"]
    assert truth["shared_signal_fraction"] == pytest.approx(1.0 / (1.0 + 0.64 + 0.09), abs=1e-6)
    learners = pd.DataFrame(truth["learners"])
    assert list(learners.columns) == KEY + ["engagement", "mastery", "browsing", "background"]
    assert learners[KEY].equals(t["studentInfo"][KEY])
    for factor in ("engagement", "mastery", "browsing", "background"):
        v = learners[factor]
        assert abs(v.mean()) < 0.2 and 0.8 < v.std() < 1.2
        assert (v.round(4) == v).all()


def test_shared_factor_links_clicks_and_scores(cohort):
    _, _, t, _ = cohort
    x = _learner_frame(t).dropna(subset=["score"])
    r = np.corrcoef(np.log1p(x["learn"]), x["score"])[0, 1]
    assert r > 0.3, r
    assert x["learn"].corr(x["score"], method="spearman") > 0.3


def test_outcome_follows_scores_not_browsing(cohort):
    _, _, t, _ = cohort
    x = _learner_frame(t)
    done = x[x["final_result"] != "Withdrawn"].dropna(subset=["score"])
    y = done["final_result"].map({"Fail": 0, "Pass": 1, "Distinction": 2})
    by_score = abs(y.corr(done["score"], method="spearman"))
    by_browse = abs(y.corr(done["browse"], method="spearman"))
    assert by_score > 0.5 and by_browse < 0.2 and by_score > by_browse + 0.3, (by_score, by_browse)
    # over all learners too (withdrawal truncates every click stream, so browsing gets some)
    y_all = x["final_result"].map({"Withdrawn": 0, "Fail": 1, "Pass": 2, "Distinction": 3})
    assert abs(y_all.corr(x["score"].fillna(0), method="spearman")) > abs(y_all.corr(x["browse"], method="spearman"))
    # withdrawal follows engagement: withdrawn learners click less on learning activities
    assert x.loc[x["final_result"] == "Withdrawn", "learn"].median() < x.loc[x["final_result"] != "Withdrawn", "learn"].median()


def test_browsing_clicks_have_the_largest_variance(cohort):
    _, _, t, _ = cohort
    clicks = t["studentVle"].merge(t["vle"][["id_site", "activity_type"]], on="id_site")
    per_type = clicks.pivot_table(index=KEY, columns="activity_type", values="sum_click", aggfunc="sum", fill_value=0)
    per_type = per_type.reindex(pd.MultiIndex.from_frame(t["studentInfo"][KEY]), fill_value=0)
    assert per_type.var().idxmax() in BROWSING_TYPES
    x = _learner_frame(t)
    assert x["browse"].var() > x["learn"].var() > 100 * x["score"].var()
    # withdrawal truncates every click stream alike; among the others browsing dominates in logs too
    done = x[x["final_result"] != "Withdrawn"].dropna(subset=["score"])
    assert np.log1p(done["browse"]).var() > 2 * np.log1p(done["learn"]).var()
    # browsing is not a learning signal: among learners who finished, it is unrelated to scores
    assert abs(done["browse"].corr(done["score"], method="spearman")) < 0.2


def test_background_is_expressed_in_the_profile(cohort):
    _, _, t, truth = cohort
    info = t["studentInfo"]
    g = pd.Series(truth["learners"]["background"])
    edu = info["highest_education"].map({v: i for i, v in enumerate(VOCAB["highest_education"])})
    assert g.corr(edu, method="spearman") > 0.3
    assert g.corr(info["num_of_prev_attempts"], method="spearman") < 0


# --- bad input ----------------------------------------------------------------------------------------
def test_too_few_enrolments(tmp_path):
    with pytest.raises(DsrsdError, match="at least 50"):
        write_cohort(tmp_path / "x", enrolments=49)


def test_unwritable_directory(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(DsrsdError, match="cannot write"):
        write_cohort(blocker / "cohort", enrolments=60)


def test_smallest_cohort(tmp_path):
    summary = write_cohort(tmp_path / "small", enrolments=50, seed=3)
    assert summary["rows"]["studentInfo"] == 50 and summary["presentations"] >= 2
