"""The synthetic OULAD-schema cohort: schema, integrity, determinism and the planted truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.data import synth
from dsrsd_core.data.oulad import ACTIVITIES, ASSESSMENT_FEATURES, load_final_outcome
from dsrsd_core.data.schema import CATEGORICAL_COLUMNS, TABLES, VOCAB
from dsrsd_core.data.synth import BROWSING_TYPES, MODALITIES, write_cohort
from dsrsd_core.errors import DsrsdError
from dsrsd_core.explain.planted import planted_truth_check, shared_signal_fraction

N = 400
KEY = ["code_module", "code_presentation", "id_student"]
FILES = [f"{t}.csv" for t in TABLES] + ["ground_truth.json"]
FACTORS = ["engagement", "mastery", "preparation", "availability", "browsing", "background"]
N_ROUTED = 1500  # the cohorts the recoverability tests read through the loader
# held-out R^2 of a factor from a few linear summaries: every observer at least, every non-observer at
# most. The floor is the decomposition's "held" threshold (0.5): a factor the data cannot show that
# well could not be asked of any model's stream
OBSERVED_R2, UNOBSERVED_R2 = 0.5, 0.03


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    summary = write_cohort(out, enrolments=N, seed=0)
    tables = {t: pd.read_csv(out / f"{t}.csv") for t in TABLES}
    truth = json.loads((out / "ground_truth.json").read_text())
    return out, summary, tables, truth


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    """routing -> (out, truth, per-modality summaries of the loader's samples, their factor values).
    The two cohorts have the same seed, so they differ only in the click days."""
    out = {}
    for routing in synth.ROUTINGS:
        path = tmp_path_factory.mktemp(f"routed_{routing}") / "cohort"
        write_cohort(path, enrolments=N_ROUTED, seed=0, routing=routing)
        truth = json.loads((path / "ground_truth.json").read_text())
        data = load_final_outcome(path)
        factors = data.meta[KEY].merge(pd.DataFrame(truth["learners"]), on=KEY, how="left")
        assert len(factors) == len(data.meta) and factors[FACTORS].notna().all().all()
        out[routing] = (path, truth, _summaries(data), factors)
    return out


def _summaries(data) -> dict[str, np.ndarray]:
    """A few plain per-learner numbers per modality, from the loader's arrays (what a model sees)."""
    p = data.modalities["profile"]
    cat = {c: p.cat[:, j].astype(float) for j, c in enumerate(p.cat_names)}  # code 0 = missing
    imd = cat["imd_band"]
    profile = np.column_stack([p.x, cat["highest_education"], np.where(imd > 0, imd, imd[imd > 0].mean()), imd == 0,
                               cat["age_band"], cat["gender"], cat["disability"]])

    c = data.modalities["clickstream"]
    steps = c.steps.astype(float)
    first = (np.arange(c.x.shape[1])[None, :] < steps.sum(1, keepdims=True) / 2) * steps  # first half of the weeks
    browse = np.isin(ACTIVITIES, BROWSING_TYPES)
    volume, timing = [], []
    for part in (~browse, browse):
        week = c.x[:, :, part].sum(2) * steps  # log-clicks per visible week
        volume.append(week.sum(1) / steps.sum(1))
        timing.append((week * first).sum(1) / first.sum(1) - (week * (steps - first)).sum(1) / (steps - first).sum(1))
    clickstream = np.column_stack(volume + timing)

    a = data.modalities["assessments"]
    f = {k: a.x[:, :, i] for i, k in enumerate(ASSESSMENT_FEATURES)}
    due = a.steps & (f["submitted"] + f["overdue_unsubmitted"] > 0)
    sub = due & (f["submitted"] > 0)
    early, later = sub & (f["due_fraction"] < 0.25), sub & (f["due_fraction"] >= 0.25)

    def mean(v, m):
        return (v * m).sum(1) / np.maximum(m.sum(1), 1)

    tma, cma = sub & (f["type_TMA"] > 0), sub & (f["type_CMA"] > 0)
    assessments = np.column_stack([
        mean(f["score_100"], sub), mean(f["score_100"], early), mean(f["score_100"], later),
        mean(f["score_100"], tma), mean(f["score_100"], cma), tma.any(1), cma.any(1),
        early.any(1), later.any(1), mean(f["submitted"], due), mean(f["days_early_30"], sub), mean(f["is_banked"], sub)])
    return {"profile": profile, "clickstream": clickstream, "assessments": assessments}


def _heldout_r2(x: np.ndarray, y: np.ndarray) -> float:
    """Ridge (alpha 1, standardised inputs) fitted on a fixed half of the learners, R^2 on the other half."""
    n = len(y)
    order = np.random.default_rng(0).permutation(n)
    fit, test = order[: n // 2], order[n // 2:]
    z = (x - x[fit].mean(0)) / (x[fit].std(0) + 1e-9)
    z = np.column_stack([z, np.ones(n)])
    penalty = np.eye(z.shape[1])
    penalty[-1, -1] = 0.0
    beta = np.linalg.solve(z[fit].T @ z[fit] + penalty, z[fit].T @ y[fit])
    resid = y[test] - z[test] @ beta
    return float(1.0 - resid @ resid / np.sum((y[test] - y[test].mean()) ** 2))


def _partial_r(y: np.ndarray, lat: pd.DataFrame, factor: str) -> float:
    """Correlation of ``y`` with ``factor`` after removing the other factors linearly from both."""
    others = np.column_stack([lat.drop(columns=factor).to_numpy(), np.ones(len(lat))])

    def resid(v):
        return v - others @ np.linalg.lstsq(others, v, rcond=None)[0]

    return float(np.corrcoef(resid(y.astype(float)), resid(lat[factor].to_numpy()))[0, 1])


def _validate_truth(truth: dict) -> None:
    """ground_truth.json is self-consistent: modalities, kinds, pairs, ranking and shared fraction."""
    assert truth["routing"] in synth.ROUTINGS
    f = truth["factors"]
    assert list(f) == FACTORS
    for name, spec in f.items():
        assert spec["modalities"] and set(spec["modalities"]) <= set(MODALITIES), name
        assert len(set(spec["modalities"])) == len(spec["modalities"]), name
        assert spec["kind"] == ("shared" if len(spec["modalities"]) >= 2 else "private"), name
        assert isinstance(spec["outcome_weight"], float) and spec["outcome_weight"] >= 0, name
    expected_pairs = {f"{a}+{b}": [n for n, s in f.items() if a in s["modalities"] and b in s["modalities"]]
                      for i, a in enumerate(MODALITIES) for b in MODALITIES[i + 1:]}
    assert truth["pairs"] == expected_pairs
    # every factor observed by a pair is listed under it, and only those
    for pair, shared in truth["pairs"].items():
        assert all(f[n]["kind"] == "shared" for n in shared), pair
    w2 = {n: s["outcome_weight"] ** 2 for n, s in f.items()}
    fraction = sum(w2[n] for n, s in f.items() if s["kind"] == "shared") / sum(w2.values())
    assert truth["shared_signal_fraction"] == pytest.approx(fraction, abs=1e-6)
    assert shared_signal_fraction(truth) == pytest.approx(fraction, abs=1e-12)
    signal = {m: sum(w2[n] for n, s in f.items() if m in s["modalities"]) for m in MODALITIES}
    assert truth["modality_ranking"] == sorted(MODALITIES, key=lambda m: -signal[m])
    assert truth["modality_signal"] == pytest.approx(signal)
    assert truth["dominance_trap"] == "clickstream" and truth["trap_factor"] == "browsing"
    assert f["browsing"]["outcome_weight"] == 0.0 and f["browsing"]["modalities"] == ["clickstream"]
    assert f["mastery"]["modalities"] == ["assessments"] and f["background"]["modalities"] == ["profile"]
    for name, spec in f.items():
        assert (f"{spec['outcome_weight']}*{name}" in truth["outcome"]["ability"]) == (spec["outcome_weight"] > 0)


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
    _, summary, t, truth = cohort
    assert truth["generator"] == "dsrsd synthetic v3" and truth["seed"] == 0 and truth["enrolments"] == N
    assert truth["routing"] == summary["routing"] == "full"
    _validate_truth(truth)
    assert truth["modality_ranking"] == ["assessments", "clickstream", "profile"]
    f = truth["factors"]
    assert f["engagement"]["modalities"] == ["clickstream", "assessments"]
    assert f["preparation"]["modalities"] == ["profile", "assessments"]
    assert f["availability"]["modalities"] == ["profile", "clickstream"]
    assert all(truth["pairs"].values())  # routing full: every pair of modalities shares a factor
    assert truth["shared_signal_fraction"] == pytest.approx((1.0 + 0.16 + 0.16) / (1.0 + 0.64 + 0.16 + 0.16 + 0.09),
                                                            abs=1e-6)
    learners = pd.DataFrame(truth["learners"])
    assert list(learners.columns) == KEY + FACTORS
    assert learners[KEY].equals(t["studentInfo"][KEY])
    for factor in FACTORS:
        v = learners[factor]
        assert abs(v.mean()) < 0.2 and 0.8 < v.std() < 1.2
        assert (v.round(4) == v).all()
    lat = learners[FACTORS].to_numpy()
    assert np.abs(np.corrcoef(lat.T) - np.eye(len(FACTORS))).max() < 0.2  # independent per enrolment


def test_sparse_routing_has_an_empty_pair(routed):
    full_path, full, _, _ = routed["full"]
    path, truth, _, _ = routed["sparse"]
    _validate_truth(truth)
    assert truth["routing"] == "sparse"
    assert truth["pairs"] == {"profile+clickstream": [], "profile+assessments": ["preparation"],
                              "clickstream+assessments": ["engagement"]}
    assert truth["factors"]["availability"]["modalities"] == ["profile"]
    assert truth["factors"]["availability"]["kind"] == "private"
    assert truth["modality_ranking"] == full["modality_ranking"]
    assert truth["shared_signal_fraction"] == pytest.approx(1.16 / 2.05, abs=1e-6)
    # same seed: only the click days differ
    for name in FILES:
        same = (path / name).read_bytes() == (full_path / name).read_bytes()
        assert same == (name not in ("studentVle.csv", "ground_truth.json")), name
    assert truth["learners"] == full["learners"]


@pytest.mark.parametrize("routing", ["full", "sparse"])
@pytest.mark.parametrize("factor", FACTORS)
def test_factor_recoverable_exactly_where_observed(routed, routing, factor):
    """Held-out R^2 of the factor from each modality's summaries: high where it is planted, ~0 elsewhere."""
    _, truth, summaries, factors = routed[routing]
    observers = truth["factors"][factor]["modalities"]
    y = factors[factor].to_numpy()
    r2 = {m: _heldout_r2(summaries[m], y) for m in MODALITIES}
    for m in MODALITIES:
        if m in observers:
            assert r2[m] >= OBSERVED_R2, (factor, m, r2)
        else:
            assert r2[m] <= UNOBSERVED_R2, (factor, m, r2)


def test_availability_is_in_the_timing_of_clicks_not_their_volume(routed):
    _, _, summaries, factors = routed["full"]
    volume, timing = summaries["clickstream"][:, :2], summaries["clickstream"][:, 2:]
    assert _heldout_r2(timing, factors["availability"].to_numpy()) >= OBSERVED_R2
    assert _heldout_r2(volume, factors["availability"].to_numpy()) <= UNOBSERVED_R2
    assert _heldout_r2(volume, factors["engagement"].to_numpy()) >= OBSERVED_R2


def test_label_follows_the_weights_and_not_the_trap(routed, monkeypatch):
    """Given the other factors, the label still moves with every weighted factor and not with
    browsing; the same check catches browsing feeding the label with weight 0.2."""
    path, truth, _, _ = routed["full"]
    assert truth["factors"]["browsing"]["outcome_weight"] == 0.0
    info = pd.read_csv(path / "studentInfo.csv")
    lat = pd.DataFrame(truth["learners"])[FACTORS]

    def partials(result, lat):
        done = result != "Withdrawn"
        y = result[done].map({"Fail": 0, "Pass": 1, "Distinction": 2}).to_numpy()
        return {f: _partial_r(y, lat[done].reset_index(drop=True), f) for f in FACTORS}

    r = partials(info["final_result"], lat)
    assert abs(r["browsing"]) < 0.08, r
    for f in FACTORS:
        if truth["factors"][f]["outcome_weight"] > 0:
            assert r[f] > 0.2, (f, r)
    # negative control: the people of a cohort whose trap leaks into the label
    monkeypatch.setitem(synth.OUTCOME_WEIGHTS, "browsing", 0.2)
    rng = np.random.default_rng(7)
    people = synth._people(synth._layout(N_ROUTED, rng), N_ROUTED, rng)
    leaky = partials(pd.Series(people["final_result"]), pd.DataFrame({f: people[f] for f in FACTORS}))
    assert abs(leaky["browsing"]) >= 0.08, leaky


def test_class_balance(routed):
    path, _, _, _ = routed["full"]
    share = pd.read_csv(path / "studentInfo.csv")["final_result"].value_counts(normalize=True)
    assert 0.24 < share["Withdrawn"] < 0.32 and 0.18 < share["Fail"] < 0.26, share.to_dict()
    assert 0.35 < share["Pass"] < 0.45 and 0.07 < share["Distinction"] < 0.13, share.to_dict()


def test_planted_truth_check_reads_the_factors(routed):
    _, truth, _, _ = routed["sparse"]
    pt = planted_truth_check({"assessments": 3.0, "clickstream": 2.0, "profile": 1.0},
                             {"clickstream.shared": 1.0, "clickstream.private": 1.0}, truth)
    assert pt["rank_correlation"] == 1.0 and not pt["trap_wins"] and pt["routing"] == "sparse"
    assert pt["planted_factors"]["availability"] == {"modalities": ["profile"], "kind": "private",
                                                     "outcome_weight": 0.4}
    assert pt["planted_pairs"]["profile+clickstream"] == []
    assert pt["planted_shared_signal_fraction"] == pytest.approx(truth["shared_signal_fraction"], abs=1e-6)


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


def test_profile_fields_express_their_factor(cohort):
    _, _, t, truth = cohort
    info = t["studentInfo"]
    lat = pd.DataFrame(truth["learners"])
    edu = info["highest_education"].map({v: i for i, v in enumerate(VOCAB["highest_education"])})
    imd = info["imd_band"].map({v: i for i, v in enumerate(VOCAB["imd_band"])})
    assert lat["preparation"].corr(edu, method="spearman") > 0.5
    assert lat["preparation"].corr(info["num_of_prev_attempts"], method="spearman") < -0.1
    assert lat["availability"].corr(info["studied_credits"], method="spearman") < -0.5
    assert lat["background"].corr(imd, method="spearman") > 0.6
    assert abs(lat["background"].corr(edu, method="spearman")) < 0.15


# --- bad input ----------------------------------------------------------------------------------------
def test_unknown_routing(tmp_path):
    with pytest.raises(DsrsdError, match="unknown routing"):
        write_cohort(tmp_path / "x", enrolments=60, routing="dense")


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
