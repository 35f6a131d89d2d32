"""The dashboard under streamlit.testing.v1.AppTest: every page renders on the shipped run without an
exception or an error element, shows its key elements, and interactions (pick a learner, drop a
modality, change a filter) show the values stored in the run directory. Bad inputs (missing,
partial, old-format and corrupt runs, empty cohorts) give friendly messages, never a traceback."""
from __future__ import annotations

import json
import re
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
         "compare": "pages_/compare.py", "quality": "pages_/quality.py",
         "cohorts": "pages_/cohorts.py"}

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402
from dsrsd_core import integrity  # noqa: E402
from dsrsd_core.run_dir import RUN_FILES  # noqa: E402


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


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the Learner explorer's tabs (only the open tab's content is built)."""
    assert label in [t.label for t in at.tabs], [t.label for t in at.tabs]
    at.session_state["learner_tab"] = label
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


class PickList:
    """A clickable list (app/pick_list.py) as the browser receives it: ``value`` its rows as shown (text),
    ``samples`` the learner of each row, ``open`` the learner it marks as open."""

    def __init__(self, data: dict):
        self.value = pd.DataFrame(data["rows"], columns=data["columns"])
        self.samples, self.open = data["samples"], data["open"]


def pick_lists(at: AppTest) -> list[PickList]:
    return [PickList(json.loads(e.proto.json)) for e in at.get("bidi_component")
            if e.proto.component_name == "dsrsd_pick_list"]


class MarkdownTable:
    """A small static table (app/ui.py ``markdown_table``) read back from its Markdown as the page shows it:
    ``value`` has the cells' text, with numbers (and percentages, as fractions) turned back into numbers."""

    def __init__(self, text: str):
        lines = text.strip().splitlines()
        head, rows = self.cells(lines[0]), [self.cells(line) for line in lines[2:]]
        self.value = pd.DataFrame([[self.number(c) for c in r] for r in rows], columns=head)

    @staticmethod
    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        out = []
        for p in parts:
            p = p.strip()
            wrapped = re.fullmatch(r":[a-z-]+\[(.*)\]", p)  # a coloured cell, :green-background[...]
            out.append(re.sub(r"\\(.)", r"\1", wrapped.group(1) if wrapped else p))
        return out

    @staticmethod
    def number(text: str):
        if text == "—":
            return float("nan")
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        try:
            return float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            return text


def markdown_tables(at: AppTest) -> list[MarkdownTable]:
    return [MarkdownTable(m.value) for m in at.markdown
            if m.value.startswith("| ") and m.value.split("\n")[1].startswith(("|:---", "|---:"))]


def tables(at: AppTest) -> list:
    """Every table on the page: interactive grids (st.dataframe), static tables (Markdown) and pick lists."""
    return [*at.dataframe, *markdown_tables(at), *pick_lists(at)]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def maps(at: AppTest) -> list[dict]:
    """The Embedding page's scatter maps (app/map_canvas.py): each one's data, its point columns decoded."""
    import base64

    import numpy as np

    types = {"f32": np.float32, "i32": np.int32, "u8": np.uint8, "u16": np.uint16}
    col = lambda c: c if c is None or isinstance(c, list) else np.frombuffer(  # noqa: E731
        base64.b64decode(c["b64"]), dtype=types[c["type"]])
    out = []
    for c in at.get("bidi_component"):
        if c.proto.component_name != "dsrsd_map":
            continue
        data = json.loads(c.proto.json)
        out.append({**data, "points": {k: col(v) for k, v in data["points"].items()}, "codes": col(data["codes"]),
                    "key": c.proto.id.rsplit("-", 1)[-1]})
    return out


def values(v) -> list:
    """A plotly data array from a chart spec: plain list, or plotly's base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def svg_charts(at: AppTest) -> list[str]:
    """Charts drawn as inline SVG (app/svg.py), where a page avoids plotly.js for speed."""
    return [m.value for m in at.markdown if m.value.startswith("<svg")]


def svg_marks(at: AppTest, attribute: str) -> list[list[dict]]:
    """Per inline SVG chart, the data attributes of its marks that carry ``attribute`` (app/svg.py)."""
    import xml.etree.ElementTree as ET

    out = []
    for chart in svg_charts(at):
        marks = [{k[5:]: v for k, v in el.attrib.items() if k.startswith("data-")}
                 for el in ET.fromstring(chart).iter() if f"data-{attribute}" in el.attrib]
        if marks:
            out.append(marks)
    return out


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
    assert charts(at) or svg_charts(at) or maps(at), f"{page} shows no chart"
    assert any("CSV" in label for label in download_labels(at)), f"{page} has no CSV button"


def test_overview(app_env, stored):
    at = open_page("overview")
    summary = stored["summary"]["attribution"]["test"]["modality_share"]
    top = max(summary, key=summary.get)
    text = " ".join(m.value for m in at.markdown)
    assert f"The {top} modality" in text and f"{summary[top]:.0%}" in text
    for fact in ("Source", "Presentations", "Cut-off", "Leakage guards", "Split sizes"):
        assert f"**{fact}**" in text
    # the stream-share chart (SVG): one segment per stream, titled with the stored share
    shares = stored["summary"]["attribution"]["test"]["stream_share"]
    (chart,) = svg_charts(at)
    for stream, share in shares.items():
        modality, kind = stream.split(".")
        assert f"<title>{modality} · {kind}: {share:.3f}</title>" in chart
    metrics = next(d.value for d in tables(at) if "auc" in d.value.columns)
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

    test = samples["split"] == "test"  # the list opens on the learner most at risk the model never saw
    assert first == int(risk_score(samples[test], classes).idxmax())
    # pick a learner with a single enrolment, predicted not at risk
    once = samples[~samples["id_student"].duplicated(keep=False) & (samples["pred"] == 0)]
    target = int(once.index[len(once) // 2])
    at.text_input(key="learner_id").input(str(samples.loc[target, "id_student"])).run()
    assert_clean(at)
    assert int(at.session_state["learner_sample"]) == target
    for cls in classes:
        assert metric(at, f"Chance: {cls.replace('_', ' ')}") == f"{pred.loc[target, f'proba_{cls}']:.1%}"
    assert metric(at, "Prediction") == classes[int(pred.loc[target, "pred"])].replace("_", " ")
    assert any(m.value.startswith("**In plain words.**") for m in at.markdown)
    assert any(c.value.startswith("How the model weighs it: The model predicts") for c in at.caption)
    # the waterfall ends on the stored probability of the predicted class
    waterfall = next(c for c in svg_marks(at, "label") if c[-1]["label"] == "prediction")
    final = float(waterfall[-1]["value"])
    steps = float(waterfall[0]["value"]) + sum(float(m["value"]) for m in waterfall[1:-1])
    assert steps == pytest.approx(final, abs=1e-4)
    assert final == pytest.approx(float(pred.loc[target, f"proba_{classes[int(pred.loc[target, 'pred'])]}"]), abs=1e-5)
    # the nearest learners are the stored ones
    open_tab(at, "Nearest learners")
    assert_clean(at)
    nn = stored["run"].table("neighbours").set_index("sample").loc[target]
    table = next(d.value for d in tables(at) if "rank" in d.value.columns)
    assert list(table["student"]) == [samples.loc[int(nn[f"n{i}"]), "id_student"] for i in range(10)]
    # a neighbour's button opens that learner, and the new learner's buttons start with none picked
    third = int(nn["n2"])
    at.button_group(key=f"nn_open_{target}").set_value(third).run()
    assert_clean(at)
    assert int(at.session_state["learner_sample"]) == third
    assert at.button_group(key=f"nn_open_{third}").value is None
    cls = classes[-1]
    assert metric(at, f"Chance: {cls.replace('_', ' ')}") == f"{pred.loc[third, f'proba_{cls}']:.1%}"


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
    assert metric(at, f"Chance: {cls.replace('_', ' ')}") == f"{stored['pred'].loc[target, f'proba_{cls}']:.1%}"


def test_learner_record_charts_show_the_stored_timeline(app_env, stored):
    """The clicks and assessment charts (SVG) draw the learner's stored timeline tables, up to the cut-off."""
    at = open_page("learner")
    assert_clean(at)
    sample = int(at.session_state["learner_sample"])
    run = stored["run"]
    clicks = run.table("timeline_clickstream")
    mine = clicks[clicks["sample"] == sample].groupby("step_name", observed=True)["value"].sum()
    (weeks,) = svg_marks(at, "clicks")
    drawn = {w["week"]: sum(json.loads(w["clicks"]).values()) for w in weeks}
    assert {k: v for k, v in drawn.items() if v > 0} == pytest.approx({str(k): v for k, v in mine.items() if v > 0})
    points = next(c for c in svg_marks(at, "score"))
    assessments = run.table("timeline_assessments")
    assert len(points) == int((assessments["sample"] == sample).sum())
    assert {p["status"] for p in points} <= {"scored", "submitted, no score", "not submitted"}


def test_learner_modality_drop_values(app_env, stored):
    at = open_page("learner")
    sample = int(at.session_state["learner_sample"])
    drops = stored["run"].table("modality_drop_samples")
    pred_cls = stored["run"].classes[int(stored["pred"].loc[sample, "pred"])]
    open_tab(at, "Without each modality")
    for mode in ("mask", "mean"):
        at.radio(key="learner_drop_mode").set_value(mode).run()
        assert_clean(at)
        bars = next(c for c in svg_marks(at, "label") if c[0]["label"].startswith("without"))
        mine = drops[(drops["sample"] == sample) & (drops["mode"] == mode)]
        assert [float(b["value"]) for b in bars] == pytest.approx(list(mine[f"proba_{pred_cls}"]), abs=1e-5)
        assert [b["label"] for b in bars] == [f"without {r}" for r in mine["removed"]]
        assert [int(b["flipped"]) for b in bars] == [int(f) for f in mine["flipped"]]


def test_embedding_maps_carry_the_stored_points_and_colours(app_env, stored):
    at = open_page("embedding")
    assert_clean(at)
    drawn = maps(at)
    assert [m["key"] for m in drawn] == ["map_shared_all", "map_private_all"]  # side by side
    umap = stored["run"].table("umap").set_index(["map", "sample", "modality"])
    for m, name in zip(drawn, ("shared_all", "private_all")):
        pts = m["points"]
        assert len(pts["x"]) == len(pts["sample"]) == len(m["codes"]) == sum(g["count"] for g in m["groups"])
        # each point sits where the run stored it, in its modality's colour
        names = [m["groups"][c]["value"] for c in m["codes"]]
        stored_xy = umap.loc[[(name, int(s), mod) for s, mod in zip(pts["sample"], names)], ["x", "y"]]
        assert pts["x"] == pytest.approx(stored_xy["x"].to_numpy(), abs=1e-5)
        assert pts["y"] == pytest.approx(stored_xy["y"].to_numpy(), abs=1e-5)
        assert {g["value"] for g in m["groups"]} == set(stored["run"].modalities)
        assert pts["student"] == pytest.approx(stored["samples"].loc[pts["sample"], "id_student"].to_numpy())
        assert pts["risk"] == pytest.approx(stored["pred"].loc[pts["sample"], "proba_at_risk"].to_numpy(), abs=1e-6)

    at.selectbox(key="emb_colour").set_value("label_name").run()
    assert_clean(at)
    recoloured = maps(at)[0]
    assert recoloured["colour"] == "label_name"
    assert {g["value"] for g in recoloured["groups"]} <= set(stored["run"].classes)
    labels = stored["samples"].loc[recoloured["points"]["sample"], "label"].to_numpy()
    classes = [recoloured["groups"][c]["value"] for c in recoloured["codes"]]
    assert classes == [stored["run"].classes[int(v)] for v in labels]
    # correct / wrong: the minority (wrong) is drawn first, under the rest, which is see-through
    at.selectbox(key="emb_colour").set_value("correctness").run()
    groups = maps(at)[0]["groups"]
    assert [g["value"] for g in groups] == sorted([g["value"] for g in groups], key=lambda v: {
        g["value"]: g["count"] for g in groups}[v])
    assert groups[0]["count"] <= groups[-1]["count"] and groups[-1]["opacity"] < groups[0]["opacity"]
    at.selectbox(key="emb_view").set_value(f"{stored['run'].modalities[0]}: shared vs private").run()
    assert_clean(at)
    assert [m["key"] for m in maps(at)] == [f"map_{stored['run'].modalities[0]}_shared_private"]


def test_selecting_on_a_map_lists_or_opens_learners(app_env, stored):
    at = open_page("embedding")
    shown = pd.Series(pd.unique(maps(at)[0]["points"]["sample"]))
    regions = stored["samples"].loc[shown, "region"].astype(str).to_numpy()
    region = pd.Series(regions).value_counts().index[0]
    several = [int(s) for s in shown[regions == region][:2]] + [int(shown[regions != region].iloc[0])]
    at.session_state["map_shared_all"] = {"selected": several}  # what the map sends after a box or lasso
    at.run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["3 learners selected"]
    listed = next(t for t in pick_lists(at) if "seen in training" in t.value.columns)
    risk = stored["pred"].loc[several, "proba_at_risk"]
    assert listed.samples == list(risk.sort_values(ascending=False, kind="stable").index)  # most at risk first
    assert list(listed.value["student"]) == [str(stored["samples"].loc[s, "id_student"]) for s in listed.samples]
    assert listed.open is None
    # a cohort filter set after the selection: only the selected learners still in the cohort are listed
    at.sidebar.multiselect(key="filter_region").set_value([region]).run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["2 learners selected"]
    assert sorted(pick_lists(at)[0].samples) == sorted(several[:2])
    # a filter that leaves one of them lists that one; it does not jump to the Learner explorer
    other = str(stored["samples"].loc[several[2], "region"])
    at.sidebar.multiselect(key="filter_region").set_value([other]).run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["1 learner selected"]
    assert pick_lists(at)[0].samples == [several[2]]
    at.sidebar.multiselect(key="filter_region").set_value([]).run()
    at.session_state["map_shared_all"] = {"selected": several[:1]}  # a click on one point
    at.run()
    assert_clean(at)
    assert int(at.session_state["learner_sample"]) == several[0]
    student = stored["samples"].loc[several[0], "id_student"]
    assert any(s.value.startswith(f"Student {student} ") for s in at.subheader)


def test_map_payload_round_trips_points_and_ids():
    import base64

    import numpy as np

    from app.map_canvas import payload, selected

    pts = pd.DataFrame({"sample": [4, 7, 9], "x": [0.5, -1.25, 3.0], "y": [2.0, 0.0, -0.75],
                        "id_student": ["u1", "u2", "u3"], "risk": [0.1, 0.5, 0.9],
                        "label_name": ["pass", "fail", "pass"]})
    d = payload(pts, "label_name", {"fail": "#D55E00", "pass": "#0072B2"}, "t")
    decode = lambda c, t: np.frombuffer(base64.b64decode(c["b64"]), dtype=t).tolist()  # noqa: E731
    assert decode(d["points"]["x"], np.float32) == [0.5, -1.25, 3.0]
    assert decode(d["points"]["sample"], np.int32) == [4, 7, 9]
    assert d["points"]["student"] == ["u1", "u2", "u3"]  # text ids stay text
    assert [g["value"] for g in d["groups"]] == ["fail", "pass"]  # the order of the colours given
    assert decode(d["codes"], np.uint8) == [1, 0, 1]
    numeric = payload(pts.assign(id_student=[101, 2**31 + 5, 7]), "label_name", None, "t")["points"]["student"]
    assert numeric == ["101", "2147483653", "7"]  # too large for 32 bits: sent as text, not wrapped
    assert selected(type("R", (), {"selected": [9, 4, 9]})()) == [9, 4]
    assert selected(type("R", (), {"selected": None})()) == []


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
    table = next(d.value for d in tables(at) if "delta_auc" in d.value.columns)
    stored_test = stored["run"].table("modality_drop").query("split == 'test'").set_index(["removed", "mode"])
    for _, row in table.iterrows():
        assert row["auc"] == pytest.approx(stored_test.loc[(row["removed"], row["mode"]), "auc"], abs=1e-4)


def test_diagnostics_values(app_env, stored):
    at = open_page("diagnostics")
    assert_clean(at)
    diag = stored["run"].diagnostics["per_modality"]
    ranks = next(d.value for d in tables(at) if "mean_abs_cross_correlation" in d.value.columns)
    for _, row in ranks.iterrows():
        assert row["shared"] == pytest.approx(diag[row["modality"]]["shared_effective_rank"], abs=1e-4)
    # the code widths pruning kept, with the R^2 of every direction, as the history recorded them
    hist = stored["run"].history.dropna(subset=["code_width_profile"]).iloc[0]
    note = next(m.value for m in at.markdown if "shared code was narrowed" in m.value)
    assert f"profile kept {int(hist['code_width_profile'])} of 3 (R² {hist['code_r2_profile_1']:.2f}" in note
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
    (base / "metrics.json").write_text(json.dumps({"test": {"n": 335, "accuracy": 0.7, "macro_f1": 0.65, "auc": 0.75}}))
    files = integrity.hashes(base, [f for f in RUN_FILES if f != "run.json"])  # as if written this way
    (base / "run.json").write_text(json.dumps({**info, "model": "early_fusion", "streams": [], "files": files}))
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
    runs = pd.concat([d.value for d in tables(at) if "problem" in d.value.columns])  # one table per kind of data
    by_run = runs.set_index("run")
    assert by_run.loc["early_fusion_s0", "model"] == "early_fusion"
    assert by_run.loc["early_fusion_s0", "test_auc"] == pytest.approx(0.75)
    assert "format version 0" in by_run.loc["old_run", "problem"]
    assert "unreadable" in by_run.loc["corrupt_run", "problem"]
    bench = next(d.value for d in tables(at) if "auc" in d.value.columns and "model" in d.value.columns
                 and "run" not in d.value.columns)
    assert bench.set_index("model").loc["dsrsd_net", "auc"] == "0.880 ± 0.010"
    # the overview lists the baseline beside this run
    at = open_page("overview")
    assert_clean(at)
    base = next(d.value for d in tables(at) if "n_test" in d.value.columns)
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


# ---- what the shared and private streams hold (decomposition.json, stream-level drop) -------------------
def factor_view(at: AppTest) -> pd.DataFrame | None:
    """The factor table as shown (streams as rows, one column per factor headed by its ✓ / ✗) turned back
    into factor rows: ``as planted`` and one column per stream; None when the page shows none."""
    shown = [d.value for d in tables(at) if "stream" in d.value.columns
             and any(str(c).endswith((" ✓", " ✗")) for c in d.value.columns)]
    if not shown:
        return None
    view = shown[0].assign(stream=shown[0]["stream"].str.replace(" · ", ".")).set_index("stream")
    out = view.T.rename_axis("factor")
    out.columns.name = None
    out.insert(0, "as planted", [c.rsplit(" ", 1)[1] for c in out.index])
    out.index = [c.rsplit(" ", 1)[0] for c in out.index]
    return out


def test_overview_verdict_badge_and_factor_table(app_env, stored):
    at = open_page("overview")
    assert_clean(at)
    dec = stored["run"].decomposition
    level = dec["verdict"]["level"]
    colour, label = {"trusted": ("green", "trusted"), "partly": ("orange", "partly trusted"),
                     "not": ("red", "not trusted")}[level]
    text = [m.value for m in at.markdown]
    assert any(t.startswith(f":{colour}-badge[") and f"Split {label}]" in t for t in text), text[:5]
    assert any(dec["verdict"]["reason"].replace("R^2", "R²") in t for t in text)
    probes = stored["run"].table("decomposition_probes")
    for probe in ("best", "linear", "mlp"):
        if probe != "best":
            at.selectbox(key="overview_probe").set_value(probe).run()
            assert_clean(at)
        table = factor_view(at)
        assert list(table.index) == list(dec["placement"])
        p = probes if probe == "best" else probes[probes["probe"] == probe]
        best = p.groupby(["factor", "stream"])["r2"].max()
        for factor, spec in dec["placement"].items():
            checked = {c["stream"]: c for c in spec["checks"]}
            for stream in stored["run"].streams:
                value, mark = table.loc[factor, stream].split()
                assert float(value) == pytest.approx(best[(factor, stream)], abs=0.006)
                if stream not in checked:
                    assert mark == "—"
                elif probe == "best":  # the stored checks use the better probe
                    assert mark == ("✓" if checked[stream]["ok"] else "✗"), (factor, stream)
                    assert float(value) == pytest.approx(checked[stream]["r2"], abs=0.006)
            if probe == "best":
                assert table.loc[factor, "as planted"] == ("✓" if spec["as_planted"] else "✗")
    assert any("private factor" in c.value and "≤ 0.15" in c.value for c in at.caption)


def test_embedding_page_shows_the_verdict(app_env, stored):
    at = open_page("embedding")
    assert_clean(at)
    assert any("-badge[" in m.value for m in at.markdown)
    assert factor_view(at) is not None


def rehash_explain(run: Path) -> None:
    """Record ``run/explain``'s files as they are now, as if its `dsrsd explain` had written them so."""
    folder = run / "explain"
    kept = {k: v for k, v in json.loads((folder / integrity.MANIFEST).read_text()).items() if k.startswith("../")}
    names = sorted(f.name for f in folder.iterdir() if f.is_file() and f.name != integrity.MANIFEST)
    (folder / integrity.MANIFEST).write_text(json.dumps({**integrity.hashes(folder, names), **kept}))


@pytest.fixture(scope="module")
def variant_runs(tmp_path_factory, default_run):
    """Copies of the shipped run: explained before decomposition.json existed (no decomposition, no stream
    drop rows), and a real-data-like one (no planted factors: the cross-modal measures decide)."""
    root = tmp_path_factory.mktemp("variants")
    old = root / "before_decomposition"
    shutil.copytree(default_run, old)
    (old / "explain" / "decomposition.json").unlink()
    (old / "explain" / "decomposition_probes.parquet").unlink()
    for name in ("modality_drop", "modality_drop_samples"):
        path = old / "explain" / f"{name}.parquet"
        frame = pd.read_parquet(path)
        frame[frame["mode"] != "stream"].to_parquet(path)
    real = root / "real_data"
    shutil.copytree(default_run, real)
    dec = json.loads((real / "explain" / "decomposition.json").read_text())
    dec["verdict"] = {**dec["proxy_verdict"], "skipped": ["cross-modal R² (fewer than 50 test samples)"]}
    dec["placement"] = {}
    dec.pop("proxy_verdict")
    dec["collapsed"] = ["profile"]
    (real / "explain" / "decomposition.json").write_text(json.dumps(dec))
    (real / "explain" / "decomposition_probes.parquet").unlink()
    rehash_explain(old), rehash_explain(real)
    return {"old": old, "real": real}


def test_run_without_decomposition_says_not_measured(monkeypatch, variant_runs):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(variant_runs["old"]))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    for page in ("overview", "embedding"):
        at = open_page(page)
        assert_clean(at)
        assert not any("-badge[" in m.value for m in at.markdown), page
        notes = [c.value for c in at.caption if "not measured for this run" in c.value]
        assert notes and f"dsrsd explain {variant_runs['old']}" in notes[0], page
        assert factor_view(at) is None


def test_real_data_run_shows_cross_modal_measures(monkeypatch, variant_runs):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(variant_runs["real"]))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    at = open_page("overview")
    assert_clean(at)
    dec = json.loads((variant_runs["real"] / "explain" / "decomposition.json").read_text())
    assert factor_view(at) is None
    table = next(d.value for d in tables(at) if "RBF CKA" in d.value.columns).set_index("modality")
    for m, r2 in dec["cross_modal_r2"]["shared"].items():
        assert table.loc[m, "shared R² from others"] == pytest.approx(r2, abs=1e-3)
        assert table.loc[m, "RBF CKA"] == pytest.approx(dec["shared_private_dependence"][m]["rbf_cka"], abs=1e-3)
    assert table.loc["profile", "collapsed"] == "yes"
    assert any("fewer than 50 test samples" in c.value for c in at.caption)
    # the diagnostics page names the collapsed shared stream
    at.switch_page(PAGES["diagnostics"]).run()
    assert_clean(at)
    assert any("The profile shared stream has collapsed" in m.value for m in at.markdown)


def test_decomposition_views_on_hand_made_documents():
    from dsrsd_core import views as V

    assert V.verdict_view(None)["measured"] is False
    assert "dsrsd explain" in V.verdict_view({})["meaning"]
    v = V.verdict_view({"verdict": {"level": "not", "reason": "r", "skipped": ["x"]}})
    assert (v["label"], v["colour"]) == ("not trusted", "red") and "should not be read" in v["meaning"]
    assert "x" in v["skipped"]
    assert V.verdict_view({"verdict": {"level": "trusted", "reason": "r"}})["meaning"].startswith("“Driven")
    dec = {"placement": {
        "f_shared": {"kind": "shared", "modalities": ["a", "b"], "as_planted": False,
                     "checks": [{"stream": "a.shared", "r2": 0.7, "want": ">= 0.5", "ok": True},
                                {"stream": "b.shared", "r2": 0.4, "want": ">= 0.5", "ok": False}]},
        "f_private": {"kind": "private", "modalities": ["a"], "as_planted": True,
                      "checks": [{"stream": "a.shared", "r2": 0.1, "want": "<= 0.15", "ok": True},
                                 {"stream": "a.private", "r2": 0.6, "want": ">= 0.5", "ok": True}]}}}
    streams = ["a.shared", "a.private", "b.shared", "b.private"]
    t = V.factor_table(dec, None, streams).set_index("factor")
    assert t.loc["f_shared", "a.shared"] == "0.70 ✓" and t.loc["f_shared", "b.shared"] == "0.40 ✗"
    assert t.loc["f_shared", "a.private"] == "n/a" and t.loc["f_shared", "as planted"] == "✗"
    assert t.loc["f_private", "a.shared"] == "0.10 ✓" and t.loc["f_private", "as planted"] == "✓"
    probes = pd.DataFrame([("f_private", s, p, r) for s, (lin, mlp) in
                           {"a.shared": (0.1, 0.2), "a.private": (0.6, 0.4), "b.shared": (0.0, 0.0),
                            "b.private": (0.05, -0.1)}.items() for p, r in (("linear", lin), ("mlp", mlp))],
                          columns=["factor", "stream", "probe", "r2"])
    probes = pd.concat([probes, probes.assign(factor="f_shared")])
    best = V.factor_table(dec, probes, streams).set_index("factor")
    assert best.loc["f_private", "a.shared"] == "0.20 ✗"  # the better probe leaks: not as planted
    assert best.loc["f_private", "b.private"] == "0.05 —" and best.loc["f_private", "as planted"] == "✗"
    linear = V.factor_table(dec, probes, streams, "linear").set_index("factor")
    assert linear.loc["f_private", "a.shared"] == "0.10 ✓" and linear.loc["f_private", "as planted"] == "✓"
    assert V.factor_table({"placement": {}}, None, streams).empty


def test_diagnostic_flags_on_hand_made_documents():
    from dsrsd_core.views import diagnostic_flags

    def diag(rank, dims=32, top1=0.05, chance=0.003):
        return {"per_modality": {"a": {"shared_effective_rank": rank, "dims": dims},
                                 "b": {"shared_effective_rank": 20.0, "dims": dims}},
                "alignment": {"a~b": {"top1_retrieval": top1, "chance_top1": chance, "n": 300}}}

    def kinds(flags):
        return sorted((f["kind"], f["subject"]) for f in flags)

    assert diagnostic_flags(diag(20.0)) == []
    assert kinds(diagnostic_flags(diag(1.1))) == [("collapsed", "a")]
    assert kinds(diagnostic_flags(diag(20.0), {"collapsed": ["b"]})) == [("collapsed", "b")]
    assert "has collapsed" in diagnostic_flags(diag(1.1))[0]["text"]
    assert kinds(diagnostic_flags(diag(20.0, top1=0.006, chance=0.003))) == [("retrieval_at_chance", "a~b")]
    assert diagnostic_flags(diag(20.0, top1=0.0061, chance=0.003)) == []
    assert "a ~ b (top-1 0.4% vs chance 0.3%)" in diagnostic_flags(diag(20.0, top1=0.004))[0]["text"]
    old_rest = diagnostic_flags(diag(3.0, top1=0.004), config={"alignment": "rest", "code_dim": 3})
    assert "explained before retrieval was ranked" in old_rest[0]["text"]
    # with the mean rank recorded, it decides: within 3 chance standard deviations of 0.5 is at chance
    ranked = diag(20.0, top1=0.0)  # top-1 0: a low-dimensional code singles no one out
    ranked["alignment"] = {"a~others": {**ranked["alignment"]["a~b"], "mean_rank": 0.2, "chance_rank_sd": 0.017},
                           "b~others": {**ranked["alignment"]["a~b"], "mean_rank": 0.45, "chance_rank_sd": 0.017}}
    flags = diagnostic_flags(ranked)
    assert kinds(flags) == [("retrieval_at_chance", "b~others")]
    assert "b ~ the others (own partner ranked at 45% on average, chance 50%)" in flags[0]["text"]
    ranked["alignment"]["b~others"]["mean_rank"] = 0.448
    assert diagnostic_flags(ranked) == []
    # low rank: under a quarter of the width is a warning, unless the low-rank code makes it the design
    low = diagnostic_flags(diag(3.0), config={"alignment": "pairs", "code_dim": 3})
    assert kinds(low) == [("low_rank", "a")] and low[0]["severity"] == "warning"
    assert diagnostic_flags(diag(9.0)) == []
    rest = diagnostic_flags(diag(3.0), config={"alignment": "rest", "code_dim": 3})
    assert kinds(rest) == [("by_design", "a")] and rest[0]["severity"] == "info"
    assert "by design" in rest[0]["text"] and "a 3.0 of 32" in rest[0]["text"]
    assert kinds(diagnostic_flags(diag(5.0), config={"alignment": "rest", "code_dim": 3})) == [("low_rank", "a")]
    # a code pruned to one direction has rank 1 by design, not a collapse; wider, rank 1 still is one
    pruned = diagnostic_flags(diag(1.0), {"shared_widths": {"a": 1, "b": 3}}, {"alignment": "rest", "code_dim": 3})
    assert kinds(pruned) == [("by_design", "a")] and "a 1 of 3" in pruned[0]["text"]
    assert kinds(diagnostic_flags(diag(1.1), {"shared_widths": {"a": 2, "b": 3}},
                                  {"alignment": "rest", "code_dim": 3})) == [("collapsed", "a")]
    # spare directions: a shared stream spanning directions the other modalities do not predict (an info)
    dec = {"cross_modal_spectrum": {"shared": {"a": [0.49, 0.16, 0.005], "b": [0.8, 0.45]}},
           "thresholds": {"shared_direction_min": 0.3}}
    spare = diagnostic_flags(diag(20.0), dec)
    assert kinds(spare) == [("spare_directions", "a")] and spare[0]["severity"] == "info"
    assert "a (1 of 3; the rest R² 0.16 and 0.01)" in spare[0]["text"]
    dec["thresholds"]["shared_direction_min"] = 0.5  # the run's own threshold decides; one flag for all
    both = diagnostic_flags(diag(20.0), dec)
    assert kinds(both) == [("spare_directions", "a, b")] and "b (1 of 2; the rest R² 0.45)" in both[0]["text"]
    assert "a (0 of 3; the rest R² 0.49, 0.16 and 0.01)" in both[0]["text"]
    assert diagnostic_flags(diag(20.0), {"cross_modal_spectrum": {"shared": {"a": [0.9], "b": []}}}) == []


def test_code_pruning_note_names_each_modalitys_kept_width_and_nothing_without_pruning():
    import pandas as pd

    from dsrsd_core.views import code_pruning_note

    hist = pd.DataFrame({"epoch": [7, 8, 9], "code_width_a": [None, 1, None], "code_r2_a_1": [None, 0.41, None],
                         "code_r2_a_2": [None, -0.01, None], "code_width_b": [None, 2, None],
                         "code_r2_b_1": [None, 0.7, None], "code_r2_b_2": [None, 0.35, None]})
    note = code_pruning_note(hist, {"code_prune_r2": 0.3, "code_dim": 2})
    assert "At epoch 8" in note and "R² ≥ 0.3" in note
    assert "a kept 1 of 2 (R² 0.41 · -0.01) and b kept 2 of 2 (R² 0.70 · 0.35)" in note
    assert code_pruning_note(hist[["epoch"]], {"code_prune_r2": 0.0}) is None


def test_cross_modal_table_counts_shared_directions_when_the_run_has_them():
    from dsrsd_core.views import cross_modal_table

    dec = {"cross_modal_r2": {"shared": {"a": 0.5, "b": 0.6}, "private": {"a": 0.1, "b": 0.1}},
           "cross_modal_spectrum": {"shared": {"a": [0.49, 0.16, 0.005], "b": []}},
           "thresholds": {"shared_direction_min": 0.3}}
    t = cross_modal_table(dec, ["a", "b"]).set_index("modality")
    assert t.loc["a", "shared directions the others predict"] == "1 of 3 (R² 0.49 · 0.16 · 0.01)"
    assert t.loc["b", "shared directions the others predict"] == "n/a"
    del dec["cross_modal_spectrum"]  # a run explained before the spectrum existed: no such column
    assert "shared directions the others predict" not in cross_modal_table(dec, ["a", "b"]).columns


def test_diagnostics_page_flags(app_env, stored):
    at = open_page("diagnostics")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "What to watch in the shared space" in text
    al = stored["run"].diagnostics["alignment"]
    if stored["run"].config.get("alignment") == "rest":  # each code against its prediction from the others
        assert set(al) == {f"{m}~others" for m in stored["run"].modalities}
    at_chance = [k for k, a in al.items() if a["mean_rank"] >= 0.5 - 3 * a["chance_rank_sd"]]
    assert ("Cross-modal retrieval at chance" in text) == bool(at_chance)
    for pair, a in al.items():
        label = f"{pair.split('~')[0]} ~ the others" if pair.endswith("~others") else pair.replace("~", " ~ ")
        assert (f"{label} (own partner ranked at {a['mean_rank']:.0%}" in text) == (pair in at_chance), pair
    if stored["run"].config.get("alignment") == "rest":
        assert "by design" in text and "under a quarter" not in text


def test_stream_drop_views_on_hand_made_rows():
    from dsrsd_core import views as V

    rows = pd.DataFrame({"removed": ["none", "a", "a.shared", "a.private", "b", "b.shared", "b.private", "c",
                                     "c.shared", "c.private", "d", "d.shared", "d.private"],
                         "mode": ["none", "mask", "stream", "stream", "mask", "stream", "stream", "mask", "stream",
                                  "stream", "mask", "stream", "stream"],
                         "delta": [0, -0.1, -0.002, -0.08, -0.1, -0.09, -0.01, -0.05, 0.001, -0.003, -0.1,
                                   -0.05, -0.04]})
    assert V.has_stream_drop(rows) and not V.has_stream_drop(rows[rows["mode"] != "stream"])
    frame = V.stream_drop_frame(rows, ["a", "b", "c", "d", "e"], "delta").set_index("modality")
    assert frame.loc["a"].tolist() == [-0.1, -0.002, -0.08]
    assert frame.loc["e"].isna().all()
    said = dict(zip(frame.index, V.stream_drop_sentences(frame.reset_index(), "AUC", 0.01)))
    assert "its contribution is its own" in said["a"]
    assert "shares with the others" in said["b"]
    assert "stand in for each other" in said["c"]
    assert "both its streams matter" in said["d"]
    assert "no stream-level removal" in said["e"]
    assert "changes little" in V.stream_drop_sentence("x", 0.001, 0.002, -0.003, "AUC", 0.01)
    # the 2x rule: three times as large decides, 1.5 times does not
    assert "is its own" in V.stream_drop_sentence("x", -0.1, -0.02, -0.06, "AUC", 0.01)
    assert "shares with the others" in V.stream_drop_sentence("x", -0.1, -0.06, -0.02, "AUC", 0.01)
    assert "both its streams" in V.stream_drop_sentence("x", -0.1, -0.04, -0.06, "AUC", 0.01)
    assert "-0.000" not in V.stream_drop_sentence("x", 0.0, -0.0001, 0.0, "AUC", 0.01)


def test_stream_drop_on_learner_and_drop_lab(app_env, stored):
    drops = stored["run"].table("modality_drop_samples")
    at = open_page("learner")
    assert_clean(at)
    sample = int(at.session_state["learner_sample"])
    pred_cls = stored["run"].classes[int(stored["pred"].loc[sample, "pred"])]
    mine = drops[drops["sample"] == sample].set_index("removed")
    open_tab(at, "Without each modality")
    assert_clean(at)
    (bars,) = [c for c in svg_marks(at, "kind") if {b["kind"] for b in c} == {"whole", "shared", "private"}]
    assert {b["modality"] for b in bars} == set(stored["run"].modalities)
    for b in bars:
        removed, mode = (b["modality"], "mask") if b["kind"] == "whole" else (f"{b['modality']}.{b['kind']}", "stream")
        want = mine[mine["mode"] == mode].loc[removed, f"delta_{pred_cls}"]
        assert float(b["value"]) == pytest.approx(want, abs=1e-5)
    assert any("its contribution" in m.value or "changes little" in m.value or "both its streams" in m.value
               for m in at.markdown)
    at = open_page("drop")
    assert_clean(at)
    table = next(d.value for d in tables(at) if "without its shared stream" in d.value.columns).set_index("modality")
    test = stored["run"].table("modality_drop").query("split == 'test'").set_index("removed")
    full = test.loc["none", "auc"]
    for m in stored["run"].modalities:
        assert table.loc[m, "without its shared stream"] == pytest.approx(test.loc[f"{m}.shared", "auc"] - full, abs=1e-4)
        assert table.loc[m, "without its private stream"] == pytest.approx(test.loc[f"{m}.private", "auc"] - full,
                                                                           abs=1e-4)
    # stream rows stay out of the whole-modality table, and the flip list offers the stream mode for a stream
    whole = next(d.value for d in tables(at) if "delta_auc" in d.value.columns)
    assert "stream" not in set(whole["mode"])
    at.selectbox(key="flip_removed").set_value("assessments.shared").run()
    assert_clean(at)
    assert at.radio(key="flip_mode").value == "stream"
    part = drops[(drops["removed"] == "assessments.shared") & (drops["mode"] == "stream")]
    assert metric(at, "Learners whose prediction flips") == f"{int(part['flipped'].sum()):,}"


def test_run_without_stream_drop_hides_it(monkeypatch, variant_runs):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(variant_runs["old"]))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    for page in ("learner", "drop"):
        at = open_page(page)
        if page == "learner":
            open_tab(at, "Without each modality")
        assert_clean(at)
        assert any("whole-modality removal only" in c.value for c in at.caption), page
        assert not any(any(t.get("name") == "shared stream only" for t in c["data"]) for c in charts(at)), page
        assert not svg_marks(at, "kind"), page


def test_share_columns_are_recognised_by_whole_word():
    """Tables show share and rate columns as percentages; an R² column whose name starts with "shared" is not one."""
    from app.ui import is_share_column

    assert all(is_share_column(c) for c in ("share", "modality_share", "stream share", "flip rate", "share_positive"))
    assert not any(is_share_column(c) for c in ("shared R² from others", "shared_effective_rank", "integrated", "accuracy"))


def test_markdown_table_shows_cells_literally():
    """Static tables are Markdown: a cell's signs (a pipe, emphasis, a colour directive, LaTeX, HTML) are escaped,
    so a presentation or stream name from a data file shows as written; numbers are right-aligned and formatted."""
    from app.ui import markdown_table

    frame = pd.DataFrame({"name": ["a|b", "*x* _y_", ":red[z] $1$", "<b>&amp;</b>", "[l](u) ~s~"],
                          "share": [0.5, 0.25, float("nan"), 0.0, 1.0], "n": [1, 2, 3, 4, 5]})
    md = markdown_table(frame, {"share": "{:.1%}"})
    lines = md.splitlines()
    assert lines[1] == "|:---|---:|---:|"
    assert lines[2] == r"| a\|b | 50.0% | 1 |"
    assert r"\:red\[z\] \$1\$" in lines[4] and r"\<b\>\&amp;\</b\>" in lines[5]
    for line in lines[2:]:  # exactly three cells per row: no unescaped pipe is left
        assert len(re.split(r"(?<!\\)\|", line.strip()[1:-1])) == 3
    back = MarkdownTable(md).value
    assert list(back["name"]) == list(frame["name"])
    assert back["share"].tolist()[:2] == [0.5, 0.25] and pd.isna(back["share"][2])


def test_freeze_loaded_freezes_only_after_new_imports():
    """The app moves long-lived objects out of the garbage collector's walks once per batch of new imports
    (app/runs.py freeze_loaded), not on every rerun: a collection walks everything that is not frozen."""
    import gc
    import types

    from app import runs

    try:
        runs._frozen_at = -1
        runs.freeze_loaded()
        frozen = gc.get_freeze_count()
        assert frozen > 0 and runs._frozen_at == len(sys.modules)
        runs.freeze_loaded()  # nothing new imported: nothing more frozen
        assert gc.get_freeze_count() == frozen
        sys.modules["_dsrsd_test_new_module"] = types.ModuleType("_dsrsd_test_new_module")
        keep = [[] for _ in range(1000)]  # objects alive at the next freeze
        runs.freeze_loaded()
        assert gc.get_freeze_count() >= frozen + len(keep)
    finally:
        sys.modules.pop("_dsrsd_test_new_module", None)
        gc.unfreeze()
