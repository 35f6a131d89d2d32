"""End to end: ``streamlit run app/main.py`` headless on a free port, every page opened in Debian's
chromium (headless, driven over the DevTools protocol), no error element anywhere, a screenshot per
page; then the two selections a user makes with the mouse (a point in the embedding map, a row of
the at-risk list) open that learner with the stored probability. Skips where chromium is absent.

Screenshots go to $DSRSD_SCREENSHOTS when set (e.g. docs/screenshots), else to pytest's tmp folder.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import shutil
from urllib.parse import parse_qs, quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import (FIRST_MAP, LIST_ROWS, Chromium, StreamlitServer, drag, find_chromium,  # noqa: E402
                     list_row_centre, list_students)

PAGES = {"overview": "Overview", "dominance": "Modality dominance", "learner": "Learner explorer",
         "embedding": "Embedding space", "drop": "Modality-drop lab", "diagnostics": "Training diagnostics",
         "compare": "Compare runs", "quality": "Model quality", "cohorts": "Compare cohorts"}
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def served(default_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e_runs")  # a second run to pick: the page switches must keep it
    shutil.copytree(default_run, folder / "picked_run")
    server = StreamlitServer(env={"DSRSD_DEFAULT_RUN": str(default_run), "DSRSD_RUNS": str(folder)})
    server.picked = folder / "picked_run"
    browser = Chromium(CHROMIUM)
    yield server, browser
    browser.close()
    server.stop()


def url(server, page: str) -> str:
    return f"{server.url}/{'' if page == 'overview' else page}"


def shown_metric(browser, label: str) -> str | None:
    return browser.evaluate(f"""(() => {{
      for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {{
        const l = m.querySelector('[data-testid="stMetricLabel"]');
        if (l && l.innerText.trim() === {label!r}) return m.querySelector('[data-testid="stMetricValue"]').innerText.trim();
      }}
      return null; }})()""")


def learner_heading(browser) -> str:
    return browser.evaluate("""(() => { for (const h of document.querySelectorAll('h3'))
        if (h.innerText.startsWith('Student ')) return h.innerText; return ''; })()""") or ""


def wait_for(predicate, timeout: float = 30.0, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def click(browser, x: float, y: float) -> None:
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                     clickCount=0 if kind == "mouseMoved" else 1)
        time.sleep(0.08)


def test_every_page_renders_without_errors(served, tmp_path):
    server, browser = served
    out = Path(os.environ.get("DSRSD_SCREENSHOTS") or tmp_path)
    for page, title in PAGES.items():
        browser.open_page(server.url, page, title)
        assert browser.errors() == [], f"{page}: error elements"
        dom = browser.dom()
        assert 'data-testid="stException"' not in dom, page
        assert browser.evaluate("document.querySelector('h1').innerText") == title, page
        shot = browser.screenshot(out / f"{page}.png")
        assert shot.stat().st_size > 20_000, f"{page}: screenshot looks empty"
    assert "Traceback" not in server.output()


def test_clicking_a_map_point_opens_that_learner(served, default_run):
    import pandas as pd

    server, browser = served
    pred = pd.read_parquet(default_run / "explain" / "predictions.parquet").set_index("sample")
    samples = pd.read_parquet(default_run / "samples.parquet").set_index("sample")
    browser.navigate(url(server, "embedding") + "?run=" + quote(str(server.picked)))  # another run than the shipped
    browser.wait_rendered(timeout=90)
    # a point of the first map, and every sample drawn within 7 px of it (what a click may pick)
    target = browser.evaluate(f"""(() => {{
      const m = {FIRST_MAP}; const p = m.pointOnPage(Math.floor(m.n / 2)); const near = [];
      for (let i = 0; i < m.n; i++) {{ const q = m.pointOnPage(i);
        if (Math.hypot(q.x - p.x, q.y - p.y) <= 7) near.push(q.sample); }}
      return {{x: p.x, y: p.y, near: near}}; }})()""")
    click(browser, target["x"], target["y"])
    assert wait_for(lambda: browser.evaluate("location.pathname").endswith("/learner") and learner_heading(browser),
                    timeout=45), "selecting a point did not open the Learner explorer"
    browser.wait_rendered(timeout=60)
    heading = learner_heading(browser)
    opened = [s for s in target["near"] if heading.startswith(f"Student {samples.loc[s, 'id_student']} ")]
    assert opened, (heading, target["near"])
    for c in [c.removeprefix("proba_") for c in pred.columns if c.startswith("proba_")]:
        assert shown_metric(browser, f"Chance: {c.replace('_', ' ')}") == f"{pred.loc[opened[0], f'proba_{c}']:.1%}"
    # the run picked before the click is still the run shown (issue 11: it used to fall back to the shipped run)
    assert parse_qs(browser.evaluate("location.search").lstrip("?")).get("run") == [str(server.picked)]
    assert str(server.picked) in browser.evaluate("document.querySelector('[data-testid=\"stSidebar\"]').innerText")


def test_map_recolours_in_place_and_box_selects(served, default_run):
    """A recolour redraws the same map element (no remount) with each point in its group's colour; hiding a
    group leaves its points out; a box selection lists exactly the learners drawn inside the box."""
    import pandas as pd

    server, browser = served
    samples = pd.read_parquet(default_run / "samples.parquet").set_index("sample")
    browser.open_page(server.url, "embedding", "Embedding space")
    browser.evaluate(f"{FIRST_MAP}.root.dataset.mark = 'kept'")
    box = "document.querySelector('input[aria-label=\"Colour by\"]')"
    browser.evaluate(f"{box}.scrollIntoView({{block: 'center'}})")
    opener = browser.evaluate(f"(() => {{ const r = {box}.parentElement.querySelector('button')"
                              ".getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
    click(browser, opener["x"], opener["y"])
    option = wait_for(lambda: browser.evaluate(
        "(() => { const o = [...document.querySelectorAll('[role=\"option\"]')].find(o => o.innerText.trim() === "
        "'True class'); if (!o) return null; const r = o.getBoundingClientRect(); "
        "return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"), timeout=10)
    click(browser, option["x"], option["y"])
    canvas = "document.querySelector('.dsrsd-map canvas.dsrsd-map-points')"
    assert wait_for(lambda: browser.evaluate(f"{canvas}.dataset.colour") == "label_name", timeout=30)
    browser.wait_rendered(timeout=60)
    assert browser.evaluate(f"{FIRST_MAP}.root.dataset.mark") == "kept", "the map was mounted again"
    # an isolated point is drawn in its group's colour at its group's opacity, over the page's white
    check = browser.evaluate(f"""(() => {{
      const m = {FIRST_MAP}, r = m.plot.getBoundingClientRect(), g = m.canvas.getContext('2d');
      const xs = [], ys = []; for (let i = 0; i < m.n; i++) {{ xs.push(m.sx(i)); ys.push(m.sy(i)); }}
      for (let i = 0; i < m.n; i++) {{
        if (xs[i] < 10 || ys[i] < 10 || xs[i] > m.width - 10 || ys[i] > m.height - 10) continue;
        let alone = true;
        for (let j = 0; j < m.n && alone; j++) if (j !== i && Math.hypot(xs[j] - xs[i], ys[j] - ys[i]) < 8) alone = false;
        if (!alone) continue;
        const d = g.getImageData(Math.round(xs[i] * m.dpr), Math.round(ys[i] * m.dpr), 1, 1).data;
        const grp = m.groups[m.code[i]];
        return {{pixel: [d[0], d[1], d[2]], colour: grp.colour, opacity: grp.opacity, value: grp.value,
                 sample: m.sample[i]}};
      }}
      return null; }})()""")
    assert check is not None, "no isolated point to check"
    want = [255 + (int(check["colour"][k:k + 2], 16) - 255) * check["opacity"] for k in (1, 3, 5)]
    assert check["pixel"] == pytest.approx(want, abs=3), check
    classes = __import__("json").loads((default_run / "run.json").read_text())["classes"]
    assert check["value"] == classes[int(samples.loc[check["sample"], "label"])]
    # hiding the first group in the legend leaves out exactly its points
    before = int(browser.evaluate(f"{canvas}.dataset.drawn"))
    hidden = browser.evaluate(f"(() => {{ const m = {FIRST_MAP}; m.legend.querySelector('button').click(); "
                              "return m.groups[0].count; })()")
    assert int(browser.evaluate(f"{canvas}.dataset.drawn")) == before - hidden
    browser.evaluate(f"{FIRST_MAP}.legend.querySelector('button').click()")
    # box select around the middle of the map: the learners listed are those drawn inside the box
    browser.evaluate(f"{FIRST_MAP}.tools.querySelector('[data-mode=box]').click()")
    browser.evaluate(f"{FIRST_MAP}.plot.scrollIntoView({{block: 'center'}})")
    plot = browser.evaluate(f"(() => {{ const r = {FIRST_MAP}.plot.getBoundingClientRect(); "
                            "return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")
    centre = {"x": plot["x"] + plot["w"] / 2, "y": plot["y"] + plot["h"] / 2}
    for half in (15, 30, 60, 120):
        a, b = {"x": centre["x"] - half, "y": centre["y"] - half}, {"x": centre["x"] + half, "y": centre["y"] + half}
        inside = browser.evaluate(f"""(() => {{ const m = {FIRST_MAP}, out = new Set();
          for (let i = 0; i < m.n; i++) {{ const p = m.pointOnPage(i);
            if (p.x >= {a['x']} && p.x <= {b['x']} && p.y >= {a['y']} && p.y <= {b['y']}) out.add(p.sample); }}
          return [...out]; }})()""")
        if len(inside) >= 2:
            break
    assert len(inside) >= 2
    drag(browser, a, b)
    heading = f"{len(inside):,} learners selected"
    assert wait_for(lambda: heading in browser.evaluate("document.body.innerText"), timeout=30), heading
    browser.wait_rendered(timeout=60)
    assert browser.evaluate(f"{FIRST_MAP}.selected.reduce((s, v) => s + v, 0)") >= len(inside)
    listed = list_students(browser)
    want = samples.loc[inside].sort_values("proba_at_risk", ascending=False, kind="stable")["id_student"]
    assert listed == [str(i) for i in want[:500]]  # the selection's learners, most at risk first
    assert browser.errors() == []
    # a click on a row of that list opens its learner in the Learner explorer
    centre = list_row_centre(browser, 1)
    click(browser, centre["x"], centre["y"])
    assert wait_for(lambda: learner_heading(browser).startswith(f"Student {listed[0]} "), timeout=45), \
        learner_heading(browser)


def test_clicking_a_row_of_the_at_risk_list_opens_that_learner(served, default_run):
    import pandas as pd

    server, browser = served
    samples = pd.read_parquet(default_run / "samples.parquet").set_index("sample")
    browser.navigate(url(server, "learner"))
    browser.wait_rendered(timeout=90)
    first = learner_heading(browser)
    # the list is sorted by risk: its second row is the second learner most at risk
    centre = list_row_centre(browser, 2)
    assert centre is not None, "no at-risk list on the page"
    click(browser, centre["x"], centre["y"])
    import json

    from dsrsd_core.views import risk_score

    classes = json.loads((default_run / "run.json").read_text())["classes"]
    test = samples[samples["split"] == "test"]  # the list opens on the learners the model never saw
    ranked = test.assign(risk=risk_score(test, classes)).sort_values("risk", ascending=False, kind="stable")
    second = ranked.iloc[1]
    expected = f"Student {second['id_student']} · {second['code_module']} {second['code_presentation']}"
    assert wait_for(lambda: learner_heading(browser) == expected, timeout=30), (first, learner_heading(browser), expected)
    browser.wait_rendered(timeout=60)
    for c in classes:
        assert shown_metric(browser, f"Chance: {c.replace('_', ' ')}") == f"{second[f'proba_{c}']:.1%}"
    # the opened row is marked; the list is not rebuilt, and its next click opens the next learner
    marked = f"Array.from({LIST_ROWS}).filter(tr => tr.className === 'open').map(tr => tr.cells[0].innerText)"
    assert browser.evaluate(marked) == [str(second["id_student"])]
    third = ranked.iloc[2]
    centre = list_row_centre(browser, 3)
    click(browser, centre["x"], centre["y"])
    assert wait_for(lambda: browser.evaluate(marked) == [str(third["id_student"])], timeout=30)
    assert wait_for(lambda: learner_heading(browser).startswith(f"Student {third['id_student']} "), timeout=30)
    # a click on a column's header sorts by it (here: least at risk first)
    header = browser.evaluate(f"(() => {{ const th = Array.from({LIST_ROWS}[0].closest('table').tHead.rows[0].cells)"
                              ".find(c => c.innerText.startsWith('chance at risk')); const r = th.getBoundingClientRect(); "
                              "return {x: r.left + 10, y: r.top + r.height / 2}; })()")
    click(browser, header["x"], header["y"])
    assert wait_for(lambda: list_students(browser)[:1] == [str(ranked.iloc[-1]["id_student"])], timeout=10)
    assert browser.errors() == []


def test_static_report_opens_offline(default_run, tmp_path):
    from dsrsd_core.report import write_report

    out = write_report(default_run, tmp_path / "report.html")
    browser = Chromium(CHROMIUM)
    try:
        browser.navigate(out.resolve().as_uri())
        n_figures = out.read_text().count("Plotly.newPlot(")
        assert n_figures >= 10
        drawn = wait_for(lambda: browser.evaluate("typeof Plotly === 'object' && document.querySelectorAll("
                                                  "'.js-plotly-plot').length") == n_figures, timeout=60)
        assert drawn, browser.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        browser.screenshot(tmp_path / "report.png")
    finally:
        browser.close()


def test_what_if_round_trip_and_model_quality(served, default_run):
    """The what-if loads the model in the server and answers in the page; with no edit it must give back the
    stored prediction. The Model quality page shows the AUC training recorded for the test split."""
    import json

    import pandas as pd

    server, browser = served
    samples = pd.read_parquet(default_run / "samples.parquet").set_index("sample")
    target = int(samples.index[samples["split"] == "test"][3])
    browser.navigate(url(server, "learner") + f"?learner={target}")
    browser.wait_rendered(timeout=90)
    assert learner_heading(browser).startswith(f"Student {samples.loc[target, 'id_student']} ")
    where = """(() => { for (const e of document.querySelectorAll(%s)) if (e.innerText.includes(%s)) {
        e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
        return {x: r.left + Math.min(12, r.width / 2), y: r.top + r.height / 2}; } return null; })()"""
    tab = wait_for(lambda: browser.evaluate(where % ("'[role=\"tab\"]'", "'What if'")), timeout=30)
    time.sleep(0.5)
    click(browser, tab["x"], tab["y"])  # a real click, as a user opens the tab
    assert wait_for(lambda: browser.evaluate(where % ("'button'", "'Show the new prediction'")), timeout=180), \
        "the what-if form did not appear"
    want = f"{samples.loc[target, 'proba_at_risk']:.1%}"
    shown = None
    for _ in range(3):  # the form may still be moving when first clicked: click again if nothing came back
        browser.wait_rendered(timeout=90)
        button = browser.evaluate(where % ("'button'", "'Show the new prediction'"))
        click(browser, button["x"], button["y"])
        shown = wait_for(lambda: shown_metric(browser, "Chance of being at risk"), timeout=30)
        if shown:
            break
    warnings = browser.evaluate("Array.from(document.querySelectorAll('[data-testid=\"stAlertContentWarning\"]'))"
                                ".map(e => e.innerText)")
    assert shown == want, (shown, warnings)
    assert browser.errors() == []
    browser.open_page(server.url, "quality", "Model quality")
    auc = json.loads((default_run / "metrics.json").read_text())["test"]["auc"]
    assert shown_metric(browser, "AUC") == f"{auc:.3f}"
