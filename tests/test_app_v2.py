"""Dashboard v2 (issue 11) under AppTest: the run and learner survive page switches and reloads (URL query
parameters), the data card describes the samples a run used, comparisons are like with like, the educator's
words name the learner's own values, the at-risk list defaults to unseen learners, the new views draw the
stored predictions, and incomplete runs say what is missing."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT / "app" / "main.py"

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import PAGES, assert_clean, charts, metric, open_tab, pick_lists, svg_charts, svg_marks, tables  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, default_run):
    """A runs folder holding one copy of the shipped run (same data: a like-for-like neighbour)."""
    folder = tmp_path_factory.mktemp("v2runs")
    shutil.copytree(default_run, folder / "copy_run")
    return folder


@pytest.fixture
def env(monkeypatch, default_run, two_runs):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(default_run))
    monkeypatch.setenv("DSRSD_RUNS", str(two_runs))
    return two_runs


def start(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(PAGES.get(page, page)).run()
    return at


def test_run_and_learner_survive_url_reload_and_page_switches(env):
    other = str(env / "copy_run")
    at = start({"run": other, "learner": "7"})
    assert_clean(at)
    assert at.session_state["run_choice"] == other
    assert int(at.session_state["learner_sample"]) == 7
    assert at.query_params.get("run") == other or at.query_params.get("run") == [other]
    for page in ("embedding", "learner", "drop", "overview", "learner"):
        at.switch_page(PAGES[page]).run()
        assert_clean(at)
        assert at.session_state["run_choice"] == other, page
    assert int(at.session_state["learner_sample"]) == 7
    assert any("Student" in s.value and "· " in s.value for s in at.subheader)


@pytest.fixture(scope="session")
def subset_run(tmp_path_factory):
    """A real run trained on 2 of the 4 presentations of a small synthetic cohort (no explanation): the data
    card must describe those two, and comparisons must keep it apart from the shipped run."""
    from dsrsd_core.cli import main

    root = tmp_path_factory.mktemp("subset")
    assert main(["synth", "--out", str(root / "data"), "--enrolments", "400"]) in (0, None)
    assert main(["train", "--data", str(root / "data"), "--out", str(root / "runs" / "subset"), "--epochs", "1",
                 "--presentations", "AAA 2013J,BBB 2014J", "--no-explain"]) in (0, None)
    return root / "runs" / "subset"


def test_data_card_describes_the_selected_presentations(monkeypatch, subset_run):
    from dsrsd_core.run_dir import load_run

    run = load_run(subset_run, require_explain=False)
    samples = run.samples
    names = samples["code_module"] + " " + samples["code_presentation"]
    assert set(names) == {"AAA 2013J", "BBB 2014J"}
    report = run.info["data"]["report"]
    assert len(report["presentations"]) == 4  # the folder has four; the run used two
    # exclusions of the selection, counted again from the raw tables
    info = pd.read_csv(Path(report["source"]) / "studentInfo.csv")
    reg = pd.read_csv(Path(report["source"]) / "studentRegistration.csv")
    enrol = info.merge(reg, on=["code_module", "code_presentation", "id_student"])
    enrol["key"] = enrol["code_module"] + " " + enrol["code_presentation"]
    cut = report["cutoff"]["per_presentation"]
    unreg = enrol[enrol["key"].isin(["AAA 2013J", "BBB 2014J"])]
    n_unreg = int((unreg["date_unregistration"] < unreg["key"].map(cut)).sum())
    counts = samples["label_name"].value_counts()

    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(subset_run))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    at = start()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "AAA 2013J, BBB 2014J (2 of the 4 in the data folder" in text
    assert f"not at risk {counts['not_at_risk']:,} · at risk {counts['at_risk']:,}" in text
    assert f"{n_unreg:,} enrolments of the selected presentations unregistered" in text
    assert "clicks cover 2 of the 2 selected presentations" in text
    assert report["class_counts"]["at_risk"] != counts["at_risk"]  # the folder's count would be wrong here
    table = next(d.value for d in tables(at) if "cutoff_day" in d.value.columns)
    assert sorted(table["presentation"]) == ["AAA 2013J", "BBB 2014J"]
    assert int(table["samples"].sum()) == len(samples)


def test_comparisons_are_like_with_like(monkeypatch, default_run, subset_run, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(subset_run, folder / "subset")
    shutil.copytree(default_run, folder / "same_data", ignore=shutil.ignore_patterns("explain"))
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(default_run))
    monkeypatch.setenv("DSRSD_RUNS", str(folder))
    at = start()
    assert_clean(at)
    base = next(d.value for d in tables(at) if "n_test" in d.value.columns)
    assert sorted(base["run"]) == ["same_data", "this run"]  # the subset run is other data: not a baseline
    assert any("1 run(s) trained on other data" in c.value for c in at.caption)
    at.switch_page(PAGES["compare"]).run()
    assert_clean(at)
    same = next(d.value for d in tables(at) if "problem" in d.value.columns)
    assert sorted(same["run"]) == ["default", "same_data"] or "subset" not in set(same["run"])
    groups = [s.value for s in at.subheader]
    assert groups[:2] == ["Same data as the selected run", "Other data (1)"]
    by_data = [d.value for d in tables(at) if "problem" in d.value.columns]
    assert [sorted(t["run"]) for t in by_data][1] == ["subset"]


def test_learner_in_plain_words_names_the_learners_own_values(env, stored_run):
    run, samples = stored_run
    ta = run.table("timeline_assessments")
    tc = run.table("timeline_clickstream")
    # a test-split learner who missed some but not all assessments, with clicks
    per = ta.assign(missed=ta["submitted"] <= 0.5).groupby("sample")["missed"].agg(["sum", "size"])
    some = per[(per["sum"] > 0) & (per["sum"] < per["size"])].index
    cand = samples[samples.index.isin(some) & (samples["split"] == "test") & samples["present_clickstream"]]
    target = int(cand.index[len(cand) // 3])
    at = start({"learner": str(target)}, "learner")
    assert_clean(at)
    assert int(at.session_state["learner_sample"]) == target
    words = next(m.value for m in at.markdown if m.value.startswith("**In plain words.**"))
    k, n = int(per.loc[target, "sum"]), int(per.loc[target, "size"])
    assert f"Missed {k} of {n} assessments so far" in words
    clicks = tc.loc[tc["sample"] == target, "value"].sum()
    assert f"{clicks:,.0f} clicks before the cut-off" in words
    cut_week = (int(samples.loc[target, "cutoff_day"]) - 1) // 7
    weeks = sorted({int(str(w).split()[1]) for w in tc.loc[tc["sample"] == target, "step_name"]})
    assert f"the last in week {weeks[-1]}" in words
    # the meaning names the chance of being at risk, and the modality points add up to it from the baseline
    meaning = next(m.value for m in at.markdown if m.value.startswith("**What it means"))
    assert f"at {samples.loc[target, 'proba_at_risk']:.0%}" in meaning
    # the click chart stops at the learner's cut-off week; the assessment chart has a legend
    import xml.etree.ElementTree as ET

    def texts(chart: str) -> list[str]:
        return [t.text for t in ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}text")]

    clicks_svg = next(c for c in svg_charts(at) if "Clicks per week, up to the cut-off" in texts(c))
    axis = [w for w in texts(clicks_svg) if w.startswith("week ")]  # the x axis: one label per week
    assert axis and max(int(w.split()[1]) for w in axis) <= cut_week
    (weeks,) = svg_marks(at, "clicks")
    assert max(int(w["week"].split()[1]) for w in weeks) <= cut_week
    assess = next(c for c in svg_charts(at) if "Assessment scores against due dates" in texts(c))
    legend = texts(assess)
    assert "cut-off" in legend and any(s in legend for s in ("scored", "not submitted", "submitted, no score"))


@pytest.fixture(scope="module")
def stored_run(default_run):
    from dsrsd_core.run_dir import load_run

    run = load_run(default_run)
    return run, run.samples.set_index("sample", drop=False)


def test_at_risk_list_defaults_to_unseen_learners_and_pages(env, stored_run):
    run, samples = stored_run
    at = start(page="learner")
    assert_clean(at)
    table = next(d.value for d in tables(at) if "seen in training" in d.value.columns)
    assert set(table["seen in training"]) == {"no"}
    assert len(table) == int((samples["split"] == "test").sum())
    at.segmented_control(key="risk_scope").set_value("all").run()
    assert_clean(at)
    table = next(d.value for d in tables(at) if "seen in training" in d.value.columns)
    assert len(table) == 500  # one page
    assert any(f"{len(samples):,} learners in the list" in c.value for c in at.caption)
    at.number_input(key="risk_page").set_value(5).run()
    table = next(d.value for d in tables(at) if "seen in training" in d.value.columns)
    assert len(table) == len(samples) - 4 * 500  # the last page holds the rest: every learner is reachable
    assert set(table["seen in training"]) == {"yes: trained on", "partly: chose the epoch", "no"}
    # a student with several enrolments: the search opens the one the list shows first (the most at risk),
    # not simply the first sample of that student (which it used to)
    many = samples[samples["id_student"].duplicated(keep=False)]
    firsts = many.groupby("id_student")["proba_at_risk"].agg(lambda p: p.index[0] != p.idxmax())
    student = firsts[firsts].index[0]
    at.text_input(key="learner_id").input(str(student)).run()
    assert_clean(at)
    mine = samples[samples["id_student"] == student]
    assert int(at.session_state["learner_sample"]) == int(mine["proba_at_risk"].idxmax())
    # the list marks the learner Python has open, whichever way it was opened: no row stays checked
    # from an earlier click (the grid's old stale-row bug)
    listed = next(t for t in pick_lists(at) if "seen in training" in t.value.columns)
    assert listed.open == int(mine["proba_at_risk"].idxmax())
    assert len(listed.samples) == len(listed.value)
    shown = samples.loc[listed.samples]
    assert list(listed.value["student"]) == [str(i) for i in shown["id_student"]]  # each row names its learner
    assert list(listed.value["chance at risk"]) == [f"{p:.0%}" for p in shown["proba_at_risk"]]
    # the educator export: flagged learners of the list, with reasons in words, as CSV
    at.toggle(key="export_open").set_value(True).run()
    assert_clean(at)
    export = next(d.value for d in tables(at) if "top reasons" in d.value.columns)
    risk = samples["proba_at_risk"]
    assert len(export) == int((risk >= 0.5).sum())
    assert export["top reasons"].str.contains("points").all()
    assert "Download educator at-risk list (CSV)" in [d.proto.label for d in at.get("download_button")]


def test_model_quality_page_draws_the_stored_predictions(env, stored_run):
    from sklearn.metrics import average_precision_score, roc_auc_score

    run, samples = stored_run
    at = start(page="quality")
    assert_clean(at)
    test = samples[samples["split"] == "test"]
    y = test["label_name"] == "at_risk"
    assert metric(at, "AUC") == f"{roc_auc_score(y, test['proba_at_risk']):.3f}"
    assert metric(at, "AUC") == f"{run.metrics['test']['auc']:.3f}"  # the metric training recorded
    assert metric(at, "Average precision") == f"{average_precision_score(y, test['proba_at_risk']):.3f}"
    cm = next(c for c in charts(at) if c["layout"].get("title", {}).get("text") == "Confusion matrix")
    cells = [t for t in cm["data"] if t.get("type") == "heatmap"][0]["text"]
    tp = int(((test["label"] == 1) & (test["pred"] == 1)).sum())
    assert cells[1][1].startswith(f"{tp:,}<br>")
    per = next(d.value for d in tables(at) if "AUC" in d.value.columns)
    assert int(per["n"].sum()) == len(test)
    at.selectbox(key="quality_split").set_value("val").run()
    assert_clean(at)
    assert metric(at, "Learners") == f"{int((samples['split'] == 'val').sum()):,}"


def test_dominance_and_learner_show_the_chosen_attribution_method(env, stored_run):
    run, samples = stored_run
    ig = run.table("stream_ig").set_index("sample")
    mean_abs = ig[[f"ig_{s}" for s in run.streams]].abs().mean()
    at = start(page="dominance")
    assert_clean(at)
    at.segmented_control(key="dom_method").set_value("ig").run()
    assert_clean(at)
    for m in run.modalities:
        share = sum(mean_abs[f"ig_{m}.{k}"] for k in ("shared", "private")) / mean_abs.sum()
        assert metric(at, f"{m} share") == f"{share:.1%}"
    at.switch_page(PAGES["learner"]).run()
    target = int(at.session_state["learner_sample"])
    at.segmented_control(key="learner_method").set_value("ig").run()
    assert_clean(at)
    table = next(d.value for d in tables(at) if "gate weight" in d.value.columns)
    assert list(table["contribution"]) == pytest.approx([ig.loc[target, f"ig_{s}"] for s in run.streams], abs=1e-4)


def test_compare_two_cohorts_side_by_side(env, stored_run):
    run, samples = stored_run
    at = start(page="cohorts")
    assert_clean(at)
    at.selectbox(key="coh_column").set_value("imd_band").run()
    values = sorted(samples["imd_band"].dropna().astype(str).unique())
    at.selectbox(key="coh_a").set_value(values[0])
    at.selectbox(key="coh_b").set_value(values[-1]).run()
    assert_clean(at)
    summary = next(d.value for d in tables(at) if "test AUC" in d.value.columns).set_index("cohort")
    from sklearn.metrics import roc_auc_score

    for name, v in ((f"A: {values[0]}", values[0]), (f"B: {values[-1]}", values[-1])):
        mine = samples[samples["imd_band"].astype(str) == v]
        assert summary.loc[name, "learners"] == len(mine)
        t = mine[mine["split"] == "test"]
        assert summary.loc[name, "test AUC"] == pytest.approx(roc_auc_score(t["label"], t["proba_at_risk"]))
        drops = run.table("modality_drop_samples")
        d = drops[drops["sample"].isin(mine.index) & (drops["removed"] == "assessments") & (drops["mode"] == "mask")]
        table = next(x.value for x in tables(at) if "removal" in x.value.columns).set_index("removal")
        assert table.loc["without assessments", f"{name} · flip rate"] == pytest.approx(d["flipped"].mean(), abs=1e-4)


def test_what_if_submits_a_missed_assessment(env, stored_run):
    """The what-if's new chance equals the model's prediction on the edited input built by hand (the loader's
    encoding of a submission on the due day), run through the training code's own predict()."""
    from dsrsd_core.train.batching import to_tensors
    from dsrsd_core.train.pipeline import load_training_data
    from dsrsd_core.train.trainer import predict

    run, samples = stored_run
    ta = run.table("timeline_assessments")
    miss = ta[(ta["submitted"] <= 0.5) & ta["sample"].isin(samples.index[samples["split"] == "test"])]
    target, step = int(miss["sample"].iloc[0]), int(miss["step"].iloc[0])
    at = start({"learner": str(target)}, "learner")
    open_tab(at, "What if…?")
    assert_clean(at)
    at.multiselect(key=f"wi_submit_{target}").set_value([step])
    at.slider(key=f"wi_score_{target}").set_value(80)
    at.button[[b.label for b in at.button].index("Show the new prediction")].click().run()
    assert_clean(at)
    data = load_training_data(run).take([target])
    x = data.modalities["assessments"]
    cols = {f: i for i, f in enumerate(x.feature_names)}
    for f, v in {"submitted": 1.0, "score_100": 0.8, "score_missing": 0.0, "days_early_30": 0.0, "is_banked": 0.0,
                 "overdue_unsubmitted": 0.0}.items():
        x.x[0, step, cols[f]] = v
    want = predict(run.model(), to_tensors(data))["proba"][0, run.classes.index("at_risk")]
    shown = [m for m in at.metric if m.label == "Chance of being at risk"]
    assert shown and shown[0].value == f"{want:.1%}"
    before = samples.loc[target, "proba_at_risk"]
    assert shown[0].delta == f"{(want - before) * 100:+.1f} points"


def test_what_if_says_when_the_data_is_missing_before_the_form(env, monkeypatch, tmp_path):
    """A run trained on data that is not on this machine: the what-if says so when its tab opens (a cheap check,
    no torch), instead of after the form is filled in."""
    from types import SimpleNamespace

    from dsrsd_core import whatif as W

    assert W.unavailable(SimpleNamespace(info={"data": {"source": "synthetic"}})) is None
    assert W.unavailable(SimpleNamespace(info={"data": {"source": str(tmp_path)}})) is None
    gone = str(tmp_path / "gone")
    assert gone in W.unavailable(SimpleNamespace(info={"data": {"source": gone}}))
    monkeypatch.setattr(W, "unavailable", lambda run: f"this run's training data ({gone}) is not on this machine")
    at = start(page="learner")
    open_tab(at, "What if…?")
    assert_clean(at)
    assert any(gone in w.value for w in at.warning)
    assert "Show the new prediction" not in [b.label for b in at.button]
