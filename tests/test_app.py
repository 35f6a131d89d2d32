"""The dashboard under streamlit.testing.v1.AppTest: every page renders on the shipped run without an
exception or an error element, shows its key elements, and interactions (pick a learner, drop a
modality, change a filter) show the values stored in the run directory. Bad inputs (missing,
partial, old-format and corrupt runs, empty cohorts) give friendly messages, never a traceback."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT / "app" / "main.py"
PAGES = {"overview": "pages_/overview.py", "dominance": "pages_/dominance.py", "learner": "pages_/learner.py",
         "embedding": "pages_/embedding.py", "drop": "pages_/drop_lab.py", "diagnostics": "pages_/diagnostics.py",
         "compare": "pages_/compare.py"}

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture
def app_env(monkeypatch, default_run):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(default_run))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    return default_run


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    if page != "overview":
        at.switch_page(PAGES[page]).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(v) -> list:
    """A plotly data array from a chart spec: plain list, or plotly's base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def download_labels(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


@pytest.fixture(scope="module")
def stored(default_run):
    from dsrsd_core.run_dir import load_run

    run = load_run(default_run)
    return {"run": run, "samples": run.samples.set_index("sample", drop=False),
            "pred": run.table("predictions").set_index("sample"), "summary": run.summary}


# ---- every page on the shipped run -------------------------------------------------------------
@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders(app_env, page):
    at = open_page(page)
    assert_clean(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.title, "every page has a title"
    assert charts(at), f"{page} shows no chart"
    assert any("CSV" in label for label in download_labels(at)), f"{page} has no CSV button"


def test_overview(app_env, stored):
    at = open_page("overview")
    summary = stored["summary"]["attribution"]["test"]["modality_share"]
    top = max(summary, key=summary.get)
    text = " ".join(m.value for m in at.markdown)
    assert f"The {top} modality" in text and f"{summary[top]:.0%}" in text
    for fact in ("Source", "Presentations", "Cut-off", "Leakage guards", "Split sizes"):
        assert f"**{fact}**" in text
    metrics = at.dataframe[[i for i, d in enumerate(at.dataframe) if "auc" in d.value.columns][0]].value
    test_auc = float(metrics.set_index("split").loc["test", "auc"])
    assert test_auc == pytest.approx(stored["run"].metrics["test"]["auc"], abs=1e-4)


def test_dominance_follows_the_split_filter(app_env, stored):
    at = open_page("dominance")
    shares = stored["summary"]["attribution"]
    for m, v in shares["all"]["modality_share"].items():
        assert metric(at, f"{m} share") == f"{v:.1%}"
    at.sidebar.multiselect(key="filter_split").set_value(["test"]).run()
    assert_clean(at)
    for m, v in shares["test"]["modality_share"].items():
        assert metric(at, f"{m} share") == f"{v:.1%}"
    n_test = stored["run"].metrics["test"]["n"]
    assert any(f"{n_test:,} of" in c.value for c in at.sidebar.caption)


def test_learner_pick_by_id_shows_stored_values(app_env, stored):
    at = open_page("learner")
    assert_clean(at)
    pred, samples, classes = stored["pred"], stored["samples"], stored["run"].classes
    first = int(at.session_state["learner_sample"])
    from dsrsd_core.views import risk_score

    assert first == int(risk_score(samples, classes).idxmax())  # the list opens on the learner most at risk
    # pick a learner with a single enrolment, predicted not at risk
    once = samples[~samples["id_student"].duplicated(keep=False) & (samples["pred"] == 0)]
    target = int(once.index[len(once) // 2])
    at.text_input(key="learner_id").input(str(samples.loc[target, "id_student"])).run()
    assert_clean(at)
    assert int(at.session_state["learner_sample"]) == target
    for cls in classes:
        assert metric(at, f"p({cls.replace('_', ' ')})") == f"{pred.loc[target, f'proba_{cls}']:.3f}"
    assert metric(at, "Prediction") == classes[int(pred.loc[target, "pred"])].replace("_", " ")
    summary = [m.value for m in at.markdown if m.value.startswith("**In plain words.**")]
    assert summary and "The model predicts" in summary[0]
    # the waterfall ends on the stored probability of the predicted class
    waterfall = next(c for c in charts(at) if any(t.get("y") == ["prediction"] for t in c["data"]))
    final = next(t for t in waterfall["data"] if t.get("y") == ["prediction"])["x"][0]
    assert final == pytest.approx(float(pred.loc[target, f"proba_{classes[int(pred.loc[target, 'pred'])]}"]), abs=1e-5)
    # the nearest learners are the stored ones
    nn = stored["run"].table("neighbours").set_index("sample").loc[target]
    table = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert list(table["student"]) == [samples.loc[int(nn[f"n{i}"]), "id_student"] for i in range(10)]


def test_learner_unknown_id_and_state_from_other_pages(app_env, stored):
    at = open_page("learner")
    at.text_input(key="learner_id").input("no-such-learner").run()
    assert_clean(at)
    assert any("No learner with id no-such-learner" in w.value for w in at.warning)
    # what the Embedding space does on a point selection: put the sample in session state
    target = int(stored["samples"].index[7])
    at.session_state["learner_sample"] = target
    at.run()
    cls = stored["run"].classes[-1]
    assert metric(at, f"p({cls.replace('_', ' ')})") == f"{stored['pred'].loc[target, f'proba_{cls}']:.3f}"


def test_learner_modality_drop_values(app_env, stored):
    at = open_page("learner")
    sample = int(at.session_state["learner_sample"])
    drops = stored["run"].table("modality_drop_samples")
    pred_cls = stored["run"].classes[int(stored["pred"].loc[sample, "pred"])]
    for mode in ("mask", "mean"):
        at.radio(key="learner_drop_mode").set_value(mode).run()
        assert_clean(at)
        fig = next(c for c in charts(at) if any(str(y).startswith("without") for t in c["data"] for y in t.get("y", [])))
        mine = drops[(drops["sample"] == sample) & (drops["mode"] == mode)]
        assert values(fig["data"][0]["x"]) == pytest.approx(list(mine[f"proba_{pred_cls}"]), abs=1e-6)
        assert fig["data"][0]["y"] == [f"without {r}" for r in mine["removed"]]


def test_embedding_colours_and_selection_mapping(app_env, stored):
    at = open_page("embedding")
    assert_clean(at)
    specs = charts(at)
    assert len(specs) == 2  # shared and private side by side
    assert {t["name"] for t in specs[0]["data"]} == set(stored["run"].modalities)
    at.selectbox(key="emb_colour").set_value("label_name").run()
    assert_clean(at)
    assert {t["name"] for t in charts(at)[0]["data"]} <= set(stored["run"].classes)
    at.selectbox(key="emb_view").set_value(f"{stored['run'].modalities[0]}: shared vs private").run()
    assert_clean(at)
    assert len(charts(at)) == 1

    import plotly.graph_objects as go

    from app.ui import selected_samples

    fig = go.Figure([go.Scattergl(x=[0, 1], y=[0, 1], customdata=[5, 9])])
    assert selected_samples({"selection": {"points": [{"curve_number": 0, "point_index": 1}]}}, fig) == [9]
    assert selected_samples({"selection": {"points": [{"customdata": [5]}, {"customdata": 5}]}}, fig) == [5]
    assert selected_samples(None, fig) == []


def test_drop_lab_flips_match_the_stored_table(app_env, stored):
    at = open_page("drop")
    assert_clean(at)
    drops = stored["run"].table("modality_drop_samples")
    for removed in ("assessments", stored["run"].modalities[0]):
        for mode in ("mask", "mean"):
            at.selectbox(key="flip_removed").set_value(removed)
            at.radio(key="flip_mode").set_value(mode).run()
            assert_clean(at)
            part = drops[(drops["removed"] == removed) & (drops["mode"] == mode)]
            assert metric(at, "Learners whose prediction flips") == f"{int(part['flipped'].sum()):,}"
    table = next(d.value for d in at.dataframe if "delta_auc" in d.value.columns)
    stored_test = stored["run"].table("modality_drop").query("split == 'test'").set_index(["removed", "mode"])
    for _, row in table.iterrows():
        assert row["auc"] == pytest.approx(stored_test.loc[(row["removed"], row["mode"]), "auc"], abs=1e-4)


def test_diagnostics_values(app_env, stored):
    at = open_page("diagnostics")
    assert_clean(at)
    diag = stored["run"].diagnostics["per_modality"]
    ranks = next(d.value for d in at.dataframe if "mean_abs_cross_correlation" in d.value.columns)
    for _, row in ranks.iterrows():
        assert row["shared"] == pytest.approx(diag[row["modality"]]["shared_effective_rank"], abs=1e-4)
    at.selectbox(key="diag_modality").set_value(stored["run"].modalities[-1]).run()
    assert_clean(at)
    titles = [c["layout"].get("title", {}).get("text", "") for c in charts(at)]
    assert any(t.startswith(stored["run"].modalities[-1]) for t in titles)


# ---- runs folder: baselines, benchmark tables, broken runs ------------------------------------------
@pytest.fixture
def runs_folder(tmp_path, default_run, monkeypatch):
    folder = tmp_path / "runs"
    base = folder / "early_fusion_s0"
    shutil.copytree(default_run, base, ignore=shutil.ignore_patterns("explain"))  # a baseline: no explanation
    info = json.loads((default_run / "run.json").read_text())
    (base / "run.json").write_text(json.dumps({**info, "model": "early_fusion", "streams": []}))
    (base / "metrics.json").write_text(json.dumps({"test": {"n": 335, "accuracy": 0.7, "macro_f1": 0.65, "auc": 0.75}}))
    old = folder / "old_run"
    old.mkdir()
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    bad = folder / "corrupt_run"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    bench = folder / "bench"
    bench.mkdir()
    pd.DataFrame({"model": ["dsrsd_net"] * 3 + ["early_fusion"] * 3, "seed": [0, 1, 2] * 2, "split": "test",
                  "metric": "auc", "value": [0.88, 0.87, 0.89, 0.80, 0.78, 0.79]}).to_csv(bench / "results.csv",
                                                                                        index=False)
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(default_run))
    monkeypatch.setenv("DSRSD_RUNS", str(folder))
    return folder


def test_compare_runs(runs_folder):
    at = open_page("compare")
    assert_clean(at)
    runs = next(d.value for d in at.dataframe if "problem" in d.value.columns)
    by_run = runs.set_index("run")
    assert by_run.loc["early_fusion_s0", "model"] == "early_fusion"
    assert by_run.loc["early_fusion_s0", "test_auc"] == pytest.approx(0.75)
    assert "format version 0" in by_run.loc["old_run", "problem"]
    assert "unreadable" in by_run.loc["corrupt_run", "problem"]
    bench = next(d.value for d in at.dataframe if "auc" in d.value.columns and "model" in d.value.columns
                 and "run" not in d.value.columns)
    assert bench.set_index("model").loc["dsrsd_net", "auc"] == "0.880 ± 0.010"
    # the overview lists the baseline beside this run
    at = open_page("overview")
    assert_clean(at)
    base = next(d.value for d in at.dataframe if "n_test" in d.value.columns)
    assert set(base["model"]) == {"dsrsd_net", "early_fusion"}
    # picking a broken run from the sidebar gives a message, not a traceback
    at.sidebar.selectbox(key="run_choice").set_value(str(runs_folder / "old_run")).run()
    assert_clean(at)
    assert any("format version 0" in w.value for w in at.warning)
    # a baseline run: its metrics, and a word on why there are no attribution views
    at.sidebar.selectbox(key="run_choice").set_value(str(runs_folder / "early_fusion_s0")).run()
    assert_clean(at)
    assert any("early_fusion run" in i.value for i in at.info)
    for page in ("dominance", "learner", "diagnostics"):
        at.switch_page(PAGES[page]).run()
        assert_clean(at)
        if page != "diagnostics":
            assert any("DSRSD-Net runs only" in w.value for w in at.warning), page


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory, default_run):
    root = tmp_path_factory.mktemp("broken")
    partial = root / "partial"
    shutil.copytree(default_run, partial, ignore=shutil.ignore_patterns("explain"))
    old = root / "old"
    shutil.copytree(default_run, old, ignore=shutil.ignore_patterns("explain"))
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    corrupt = root / "corrupt"
    shutil.copytree(default_run, corrupt)
    (corrupt / "explain" / "shapley.parquet").write_bytes(b"this is not parquet")
    (corrupt / "explain" / "diagnostics.json").write_text("{broken")
    return {"missing": root / "nothing-here", "partial": partial, "old": old, "corrupt": corrupt}


@pytest.mark.parametrize("kind,page,expected", [
    ("missing", "overview", "no run directory"), ("missing", "learner", "no run directory"),
    ("missing", "compare", None),
    ("old", "overview", "format version 0"), ("old", "embedding", "format version 0"),
    ("partial", "overview", "dsrsd explain"), ("partial", "dominance", "no complete explanation"),
    ("partial", "drop", "no complete explanation"), ("partial", "diagnostics", "dsrsd explain"),
    ("corrupt", "dominance", "unreadable"), ("corrupt", "learner", "unreadable"),
    ("corrupt", "diagnostics", "unreadable"),
])
def test_bad_runs_give_friendly_messages(monkeypatch, broken_runs, kind, page, expected):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(broken_runs[kind]))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    at = open_page(page)
    assert_clean(at)
    if expected:
        messages = [w.value for w in at.warning] + [i.value for i in at.info]
        assert any(expected in m for m in messages), messages


def test_empty_cohort_is_a_message(app_env, stored):
    samples = stored["samples"]
    empty = None
    for a, b in (("region", "age_band"), ("region", "code_presentation"), ("imd_band", "age_band")):
        seen = set(map(tuple, samples[[a, b]].astype(str).drop_duplicates().to_numpy()))
        for va in sorted(samples[a].astype(str).unique()):
            for vb in sorted(samples[b].astype(str).unique()):
                if (va, vb) not in seen:
                    empty = {a: [va], b: [vb]}
                    break
            if empty:
                break
        if empty:
            break
    if empty is None:
        pytest.skip("every pair of filter values has learners in this run")
    for page in ("overview", "dominance", "embedding", "drop", "learner"):
        at = open_page(page)
        for col, values in empty.items():
            at.sidebar.multiselect(key=f"filter_{col}").set_value(values)
        at.run()
        assert_clean(at)
        if page in ("dominance", "embedding", "drop"):
            assert any("No learner matches the cohort filters" in w.value for w in at.warning), page
        assert any("0 of" in c.value for c in at.sidebar.caption)


def test_app_modules_do_not_import_torch():
    """The dashboard starts without torch: what app/ and its pages import stays clear of it (and of explain/)."""
    import subprocess

    code = ("import sys; import app.ui, app.runs, app.text, dsrsd_core.views, dsrsd_core.figures, dsrsd_core.run_dir; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'captum') or 'explain' in m))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
