"""Building final_outcome samples: file forms, leakage, exclusions, shapes, cache, errors, real data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.data.cache import cache_root, fingerprint, load_cached, synthetic_dir
from dsrsd_core.data.oulad import ASSESSMENT_FEATURES, load_final_outcome
from dsrsd_core.data.schema import VOCAB
from dsrsd_core.data.validate import validate_data
from dsrsd_core.errors import DsrsdError
from oulad_fixture import VARIANTS, tiny_cohort, write_cohort, write_table

AAA_CUTOFF, BBB_CUTOFF = 100, 90


def build(tmp_path, frames=None, variant="plain_lf", name="cohort", **kwargs):
    directory = write_cohort(frames if frames is not None else tiny_cohort(), tmp_path / name, variant)
    return load_final_outcome(directory, **kwargs)


def arrays(data) -> dict[str, np.ndarray]:
    out = {"present": data.present, "y": data.y}
    for m in data.modalities.values():
        for part in ("x", "steps", "cat"):
            if getattr(m, part) is not None:
                out[f"{m.name}.{part}"] = getattr(m, part)
    return out


def same_tensors(a, b) -> bool:
    aa, bb = arrays(a), arrays(b)
    return aa.keys() == bb.keys() and all(
        aa[k].shape == bb[k].shape and np.array_equal(aa[k], bb[k]) for k in aa)


def row(data, module, student) -> int:
    hit = np.flatnonzero((data.meta["code_module"] == module).to_numpy() & (data.meta["id_student"] == student).to_numpy())
    assert len(hit) == 1, f"{module} {student} not exactly once in the samples"
    return int(hit[0])


@pytest.fixture
def base(tmp_path):
    return build(tmp_path, name="base")


# ---- file forms ------------------------------------------------------------------------------

def test_every_real_file_form_loads_to_identical_tensors(tmp_path, base):
    for variant in VARIANTS:
        data = build(tmp_path, variant=variant, name=variant)
        assert same_tensors(data, base), variant
        pd.testing.assert_frame_equal(data.meta, base.meta)
    assert (tmp_path / "tab_gz_crlf" / "partial" / "studentVle.txt.gz").is_file()


# ---- shapes, masks, values -------------------------------------------------------------------

def test_modalities_shapes_and_step_masks(base):
    n = 19  # 21 enrolments minus 2 unregistered before the cut-off
    assert base.names == ["profile", "clickstream", "assessments"]
    assert len(base) == n and base.present.shape == (n, 3) and base.y.dtype == np.int64
    prof = base.modalities["profile"]
    assert prof.kind == "tabular" and prof.x.shape == (n, 4) and prof.cat.shape == (n, 6)
    assert prof.cat_cardinalities == [3, 14, 6, 11, 4, 3]
    clicks = base.modalities["clickstream"]
    weeks_aaa = (AAA_CUTOFF - 1) // 7 + 4 + 1  # week -4 .. week 14
    weeks_bbb = (BBB_CUTOFF - 1) // 7 + 4 + 1  # week -4 .. week 12
    assert clicks.x.shape == (n, weeks_aaa, 20) and clicks.steps.shape == (n, weeks_aaa)
    assert clicks.step_names[0] == "week -4" and clicks.step_names[-1] == "week 14"
    assert clicks.feature_names == VOCAB["activity_type"]
    is_aaa = (base.meta["code_module"] == "AAA").to_numpy()
    assert (clicks.steps.sum(1) == np.where(is_aaa, weeks_aaa, weeks_bbb)).all()
    assess = base.modalities["assessments"]
    assert assess.x.shape == (n, 3, len(ASSESSMENT_FEATURES))
    assert assess.step_names == ["assessment 1", "assessment 2", "assessment 3"]
    for m in (clicks, assess):  # masks are prefixes (right padding)
        assert (np.diff(m.steps.astype(int), axis=1) <= 0).all()
        assert not m.x[~m.steps].any()
    assert list(base.meta.columns) == [
        "code_module", "code_presentation", "id_student", "gender", "region", "highest_education", "imd_band",
        "age_band", "disability", "final_result", "cutoff_day", "clicks_present"]
    json.dumps(base.report)


def test_click_values_fold_early_days_and_stop_before_the_cutoff(base):
    x = base.modalities["clickstream"].x[row(base, "AAA", 1)]
    act = {a: i for i, a in enumerate(VOCAB["activity_type"])}
    expected = {(0, "resource"): 2 + 3, (3, "forumng"): 4, (4, "quiz"): 1 + 2, (5, "oucontent"): 5, (18, "oucontent"): 7}
    want = np.zeros_like(x)
    for (week, a), clicks in expected.items():
        want[week, act[a]] = np.log1p(clicks)
    np.testing.assert_allclose(x, want, rtol=1e-6)  # day 100 (= cut-off) and day 150 are not there


def test_assessment_steps_and_features(base):
    a = base.modalities["assessments"]
    f = {name: i for i, name in enumerate(ASSESSMENT_FEATURES)}
    s1 = row(base, "AAA", 1)  # 101 (day 28, score 80), 102 (day 61, late); 103 handed in after the cut-off
    assert a.steps[s1].sum() == 2
    np.testing.assert_allclose(a.x[s1, 0], [1, 0, 0, 0.2, 0.15, 1, 0.8, 0, 2 / 30, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(a.x[s1, 1, [f["type_CMA"], f["score_100"], f["days_early_30"]]], [1, 0.7, -1 / 30], rtol=1e-6)
    s2 = row(base, "AAA", 2)  # no score; 102 missed; 103 handed in early (before the cut-off) -> visible
    assert a.steps[s2].sum() == 3
    assert a.x[s2, 0, f["score_missing"]] == 1 and a.x[s2, 0, f["score_100"]] == 0
    assert a.x[s2, 1, f["overdue_unsubmitted"]] == 1 and a.x[s2, 1, f["submitted"]] == 0
    assert a.x[s2, 2, f["due_fraction"]] == pytest.approx(0.6) and a.x[s2, 2, f["submitted"]] == 1
    assert a.x[row(base, "AAA", 7), 0, f["is_banked"]] == 1
    s13 = row(base, "BBB", 13)  # 202 handed in on day 100, after BBB's cut-off (90)
    assert a.steps[s13].sum() == 1


def test_profile_codes_and_registration(base):
    p = base.modalities["profile"]
    s9 = row(base, "AAA", 9)  # no registration date
    assert p.x[s9, 2] == 0 and p.x[s9, 3] == 1
    s1 = row(base, "AAA", 1)
    np.testing.assert_allclose(p.x[s1], [0, np.log1p(30), -0.1, 0], rtol=1e-6)
    imd = p.cat[:, p.cat_names.index("imd_band")]
    assert (imd[base.meta["imd_band"].isna().to_numpy()] == 0).all() and (imd[base.meta["imd_band"].notna().to_numpy()] > 0).all()
    assert p.cat[s1, 0] == 1 + VOCAB["gender"].index(base.meta["gender"][s1])


def test_targets(tmp_path, base):
    four = build(tmp_path, name="four", target="four_class")
    assert four.classes == ["Pass", "Distinction", "Fail", "Withdrawn"]
    assert [four.classes[i] for i in four.y] == list(four.meta["final_result"])
    assert base.classes == ["not_at_risk", "at_risk"]
    assert (base.y == base.meta["final_result"].isin(["Fail", "Withdrawn"]).to_numpy()).all()
    assert base.report["class_counts"] == {"not_at_risk": 11, "at_risk": 8}
    with pytest.raises(DsrsdError, match="unknown target 'grade'"):
        load_final_outcome(tmp_path / "four", target="grade")


def test_cutoff_day_overrides_the_fraction(tmp_path):
    data = build(tmp_path, cutoff_day=35)
    assert data.report["cutoff"]["per_presentation"] == {"AAA 2013J": 35, "BBB 2014B": 35}
    assert data.modalities["clickstream"].x.shape[1] == 34 // 7 + 5
    assert data.report["excluded"]["unregistered_before_cutoff"] == 1  # only learner 14 (day 20)
    with pytest.raises(DsrsdError, match="cutoff_fraction"):
        build(tmp_path, name="bad", cutoff_fraction=0)


# ---- exclusions and missing modalities ------------------------------------------------------

def test_learners_unregistered_before_the_cutoff_are_excluded_and_counted(base):
    keys = set(zip(base.meta["code_module"], base.meta["id_student"]))
    assert ("AAA", 3) not in keys and ("BBB", 14) not in keys
    assert ("AAA", 4) in keys and ("AAA", 6) in keys  # after / exactly at the cut-off: kept
    assert base.report["excluded"]["unregistered_before_cutoff"] == 2
    assert "date_unregistration" not in base.meta.columns


def test_presentation_without_clicks_is_masked_not_dropped(base):
    is_bbb = (base.meta["code_module"] == "BBB").to_numpy()
    assert is_bbb.sum() == 8
    assert not base.present[is_bbb, 1].any() and base.present[~is_bbb, 1].all()
    assert not base.modalities["clickstream"].x[is_bbb].any()
    assert (base.meta["clicks_present"].to_numpy() == ~is_bbb).all()
    assert base.present[:, [0, 2]].all()
    s8 = row(base, "AAA", 8)  # covered presentation, never clicked: present with zeros
    assert base.present[s8, 1] and not base.modalities["clickstream"].x[s8].any()
    cov = base.report["click_coverage"]
    clicks = tiny_cohort()["studentVle"]
    aaa = clicks[(clicks["code_module"] == "AAA") & (clicks["code_presentation"] == "2013J")]["date"]
    assert cov["AAA 2013J"] == {"rows": 18, "first_date": int(aaa.min()), "last_date": 190,
                                "click_days": aaa.nunique(), "covered": True}
    assert cov["BBB 2014B"]["covered"] is False


def test_click_table_ending_the_day_before_the_cutoff_is_not_covered(tmp_path):
    """Clicks up to the last day before the cut-off do not prove that day complete (a file cut at a
    row limit looks the same); only clicks on or after the cut-off day do."""
    frames = tiny_cohort()
    v = frames["studentVle"]
    is_aaa = (v["code_module"] == "AAA") & (v["code_presentation"] == "2013J")
    frames["studentVle"] = v[~is_aaa | (v["date"] < AAA_CUTOFF)]
    frames["studentVle"].loc[frames["studentVle"].index[is_aaa[frames["studentVle"].index]][-1], "date"] = AAA_CUTOFF - 1
    data = build(tmp_path, frames)
    cov = data.report["click_coverage"]["AAA 2013J"]
    assert cov["last_date"] == AAA_CUTOFF - 1 and not cov["covered"]
    assert not data.present[:, 1].any()
    text, ok = validate_data(write_cohort(frames, tmp_path / "again"))
    assert ok and f"{cov['click_days']} days of clicks" in text and "ends before the cut-off" in text


def test_click_table_ending_before_the_cutoff_is_not_covered(tmp_path):
    frames = tiny_cohort()
    frames["studentVle"] = frames["studentVle"][frames["studentVle"]["date"] < AAA_CUTOFF - 2]
    data = build(tmp_path, frames)
    assert not data.present[:, 1].any()
    assert "truncated" in data.report["clickstream_note"]


@pytest.mark.parametrize("drop", ["studentVle", "vle"])
def test_no_click_table_means_clickstream_missing_for_all(tmp_path, drop):
    frames = tiny_cohort()
    del frames[drop]
    data = build(tmp_path, frames)
    assert not data.present[:, 1].any() and not data.modalities["clickstream"].x.any()
    assert drop in data.report["clickstream_note"] and len(data) == 19


# ---- leakage ---------------------------------------------------------------------------------

def _click(frames, student, date):
    v = frames["studentVle"]
    return v.index[(v["id_student"] == student) & (v["date"] == date)][0]


def _sub(frames, assessment, student):
    s = frames["studentAssessment"]
    return s.index[(s["id_assessment"] == assessment) & (s["id_student"] == student)][0]


def _after_cutoff_changes():
    def click_on_cutoff(f):
        f["studentVle"].loc[_click(f, 1, 100), "sum_click"] = 99
    def click_moved_later(f):
        f["studentVle"].loc[_click(f, 1, 150), ["date", "sum_click"]] = [170, 1]
    def new_late_clicks(f):
        f["studentVle"] = pd.concat([f["studentVle"], pd.DataFrame(
            [("AAA", "2013J", 8, 1001, d, 4) for d in (100, 101, 180)], columns=f["studentVle"].columns)], ignore_index=True)
    def submission_on_cutoff(f):
        f["studentAssessment"] = pd.concat([f["studentAssessment"], pd.DataFrame(
            [(103, 8, 100, 0, 90.0)], columns=f["studentAssessment"].columns)], ignore_index=True)
    def late_submission_earlier_still_late(f):
        f["studentAssessment"].loc[_sub(f, 202, 13), "date_submitted"] = 95
    def score_after_cutoff(f):
        f["studentAssessment"].loc[_sub(f, 103, 1), "score"] = 1
    def unregistration_after_cutoff(f):
        r = f["studentRegistration"]
        r.loc[(r["id_student"] == 4) & (r["code_module"] == "AAA"), "date_unregistration"] = 120
    def unregistration_removed(f):
        r = f["studentRegistration"]
        r.loc[(r["id_student"] == 4) & (r["code_module"] == "AAA"), "date_unregistration"] = np.nan
    return [click_on_cutoff, click_moved_later, new_late_clicks, submission_on_cutoff,
            late_submission_earlier_still_late, score_after_cutoff, unregistration_after_cutoff, unregistration_removed]


def _before_cutoff_changes():
    def click_count(f):
        f["studentVle"].loc[_click(f, 1, 99), "sum_click"] = 8
    def click_moved_before(f):
        f["studentVle"].loc[_click(f, 1, 100), "date"] = 99
    def score(f):
        f["studentAssessment"].loc[_sub(f, 101, 1), "score"] = 81
    def submission_date(f):
        f["studentAssessment"].loc[_sub(f, 202, 13), "date_submitted"] = 89
    def registration(f):
        r = f["studentRegistration"]
        r.loc[r["id_student"] == 1, "date_registration"] = -11
    return [click_count, click_moved_before, score, submission_date, registration]


@pytest.mark.parametrize("change", _after_cutoff_changes(), ids=lambda c: c.__name__)
def test_data_on_or_after_the_cutoff_changes_no_tensor(tmp_path, base, change):
    frames = tiny_cohort()
    change(frames)
    assert same_tensors(build(tmp_path, frames, name="changed"), base)


@pytest.mark.parametrize("change", _before_cutoff_changes(), ids=lambda c: c.__name__)
def test_data_before_the_cutoff_changes_a_tensor(tmp_path, base, change):
    frames = tiny_cohort()
    change(frames)
    assert not same_tensors(build(tmp_path, frames, name="changed"), base)


# ---- cache -----------------------------------------------------------------------------------

def test_cache_hit_miss_and_invalidation(tmp_path):
    data_dir = write_cohort(tiny_cohort(), tmp_path / "data")
    cache = tmp_path / "cache"
    first = load_cached(data_dir, root=cache)
    assert first.report["cache"]["hit"] is False
    assert first.report["fingerprint"] == fingerprint(data_dir)
    assert set(first.report["fingerprint"]) == {"courses", "assessments", "vle", "studentInfo",
                                                "studentRegistration", "studentAssessment", "studentVle"}
    again = load_cached(data_dir, root=cache, target="at_risk", progress=True)  # same key: defaults filled in
    assert again.report["cache"]["hit"] is True and same_tensors(again, first)
    pd.testing.assert_frame_equal(again.meta, first.meta)
    assert [p.name for p in cache.iterdir()] == [first.report["cache"]["dir"].split("/")[-1]]  # no leftovers

    other = load_cached(data_dir, root=cache, target="four_class")
    assert other.report["cache"]["hit"] is False and other.classes[0] == "Pass"

    frames = tiny_cohort()
    frames["studentAssessment"].loc[0, "score"] = 10
    write_table(frames["studentAssessment"], data_dir / "studentAssessment.csv")
    changed = load_cached(data_dir, root=cache)
    assert changed.report["cache"]["hit"] is False
    assert changed.report["cache"]["key"] != first.report["cache"]["key"]
    assert not same_tensors(changed, first)
    assert load_cached(data_dir, root=cache).report["cache"]["hit"] is True


def test_cache_root_from_environment_and_copied_folder_hits(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_CACHE", str(tmp_path / "env_cache"))
    data_dir = write_cohort(tiny_cohort(), tmp_path / "data")
    load_cached(data_dir)
    assert (tmp_path / "env_cache").is_dir()
    copy = shutil.copytree(data_dir, tmp_path / "copy")
    hit = load_cached(copy)
    assert hit.report["cache"]["hit"] is True and hit.report["source"] == str(copy)
    with pytest.raises(DsrsdError, match="unknown argument"):
        load_cached(data_dir, cutof_day=3)


def test_empty_cache_variable_means_the_home_cache_for_samples_and_the_synthetic_cohort(monkeypatch):
    monkeypatch.setenv("DSRSD_CACHE", "")
    home = Path.home() / ".cache" / "dsrsd"
    assert cache_root() == home
    monkeypatch.setattr(Path, "exists", lambda self: True)  # pretend the cohort is there: no generation
    assert synthetic_dir().parent == home


# ---- bad input -------------------------------------------------------------------------------

def _edit(name, column, index, value):
    def apply(frames):
        frames[name] = frames[name].astype({column: object})
        frames[name].loc[index, column] = value
    return apply


def _rename(name, old, new):
    def apply(frames):
        frames[name] = frames[name].rename(columns={old: new})
    return apply


def _all_pass(frames):
    frames["studentInfo"]["final_result"] = "Pass"


BAD_INPUTS = {
    "missing_table": (lambda f: f.pop("courses"), ["table 'courses' is missing"]),
    "misspelled_column": (_rename("studentAssessment", "score", "scroe"),
                          ["studentAssessment.csv", "column 'score'", "did you mean 'scroe'"]),
    "non_numeric_score": (_edit("studentAssessment", "score", 5, "abc"),
                          ["studentAssessment.csv", "column 'score'", "row 6", "'abc'"]),
    "unknown_category": (_edit("studentInfo", "highest_education", 2, "PhD"),
                         ["studentInfo.csv", "column 'highest_education'", "row 3", "'PhD'", "HE Qualification"]),
    "missing_id": (_edit("studentRegistration", "id_student", 4, np.nan),
                   ["studentRegistration.csv", "column 'id_student'", "row 5", "missing value"]),
    "empty_file": (lambda f: f.__setitem__("studentInfo", f["studentInfo"].iloc[:0]),
                   ["studentInfo.csv", "no data rows"]),
    "one_class": (_all_pass, ["only one class", "cannot train"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_located_error_and_validate_reports_it(tmp_path, case):
    change, expected = BAD_INPUTS[case]
    frames = tiny_cohort()
    change(frames)
    directory = write_cohort(frames, tmp_path / "data")
    with pytest.raises(DsrsdError) as e:
        load_final_outcome(directory)
    for part in expected:
        assert part in str(e.value), (part, str(e.value))
    report, ok = validate_data(directory)
    assert not ok and str(e.value) in report and "Result: NOT OK" in report


def test_zero_byte_file(tmp_path):
    directory = write_cohort(tiny_cohort(), tmp_path / "data")
    (directory / "studentRegistration.csv").write_bytes(b"")
    with pytest.raises(DsrsdError, match=r"studentRegistration\.csv: the file is empty"):
        load_final_outcome(directory)
    assert validate_data(directory)[1] is False


def test_validate_good_folder_reports_coverage_and_exclusions(tmp_path):
    directory = write_cohort(tiny_cohort(), tmp_path / "data", "tab_gz_crlf")
    report, ok = validate_data(directory)
    assert ok and "Result: OK" in report
    assert "2 unregistered before the cut-off" in report
    assert "AAA 2013J" in report and "covered" in report and "clickstream missing" in report
    assert validate_data(tmp_path / "nowhere")[1] is False


# ---- the real OULAD files --------------------------------------------------------------------

@pytest.mark.real_data
def test_real_oulad_at_risk(real_oulad_dir):
    data = load_final_outcome(real_oulad_dir, target="at_risk")
    r = data.report
    assert len(r["presentations"]) == 22 and r["rows"]["studentInfo"] == 32593
    covered = {k for k, c in r["click_coverage"].items() if c["covered"]}
    # BBB 2013J's clicks end on day 133 (the partial file stops there), its cut-off is day 134: the
    # file cannot show that day 133 is complete, so it counts as missing clicks, not as covered
    assert covered == {"AAA 2013J", "AAA 2014J", "BBB 2013B"}
    bbb = r["click_coverage"]["BBB 2013J"]
    assert bbb["last_date"] == 133 and r["cutoff"]["per_presentation"]["BBB 2013J"] == 134 and not bbb["covered"]
    assert "BBB 2013J (clicks end on day 133, cut-off day 134)" in r["clickstream_note"]
    assert all(c["click_days"] <= c["last_date"] - c["first_date"] + 1 for c in r["click_coverage"].values() if c["rows"])
    assert r["excluded"]["unregistered_before_cutoff"] + r["n_samples"] == 32593
    counts = r["class_counts"]
    assert sum(counts.values()) == len(data) and 0.2 < counts["at_risk"] / len(data) < 0.5
    assert data.present[:, 1].sum() == data.meta["code_presentation"].pipe(
        lambda s: (data.meta["code_module"] + " " + s).isin(covered)).sum()


def test_file_hash_memo_is_used_only_for_unchanged_settled_files(tmp_path, monkeypatch):
    """A cached reload does not re-read unchanged inputs to hash them, but any write is seen."""
    import hashlib
    import json
    import time

    from dsrsd_core.data import cache

    monkeypatch.setenv("DSRSD_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "studentVle.csv"
    f.write_text("a,b\n1,2\n")
    assert cache.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    assert not (tmp_path / "cache" / cache.HASH_MEMO).exists()  # just written: not settled, not remembered
    time.sleep(cache.SETTLED_SECONDS + 0.2)
    assert cache.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    memo_file = tmp_path / "cache" / cache.HASH_MEMO
    memo = json.loads(memo_file.read_text())
    assert len(memo) == 1
    memo_file.write_text(json.dumps({k: "f" * 64 for k in memo}))  # the remembered value is what is returned
    assert cache.file_sha256(f) == "f" * 64
    f.write_text("a,b\n3,4\n")  # same size, new content: its change time moved, so it is read again
    assert cache.file_sha256(f) == hashlib.sha256(b"a,b\n3,4\n").hexdigest()
