"""The inline SVG charts (app/svg.py): well-formed, exact values on their marks, ids that cannot collide."""
from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import svg  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"


def marks(markup: str, attribute: str) -> list[dict]:
    return [{k[5:]: v for k, v in el.attrib.items() if k.startswith("data-")}
            for el in ET.fromstring(markup).iter() if f"data-{attribute}" in el.attrib]


@pytest.mark.parametrize("lo,hi", [(0, 1), (0, 0.013), (-0.02, 0.005), (3, 117), (-7.5, -0.1), (0, 1e-9), (2, 2)])
def test_nice_ticks_cover_the_range_at_a_round_step(lo, hi):
    ticks = svg.nice_ticks(lo, hi)
    assert ticks[0] <= lo + 1e-12 and ticks[-1] >= hi - 1e-12
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0]) and steps[0] > 0
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5, 10))
    assert 2 <= len(ticks) <= 12


def contributions():
    return pd.DataFrame({"stream": ["a.shared", "a.private", "b.shared", "b.private"],
                         "modality": ["a", "a", "b", "b"], "phi": [0.2, -0.05, 0.1, 0.03]})


def test_waterfall_runs_from_baseline_to_prediction():
    out = svg.waterfall(0.4, contributions(), "at_risk")
    bars = marks(out, "label")
    assert [b["label"] for b in bars] == ["no streams (baseline)", "a · shared", "a · private", "b · shared",
                                         "b · private", "prediction"]
    assert float(bars[0]["value"]) == pytest.approx(0.4)
    assert [float(b["value"]) for b in bars[1:-1]] == pytest.approx([0.2, -0.05, 0.1, 0.03])
    assert [float(b["start"]) for b in bars[1:-1]] == pytest.approx([0.4, 0.6, 0.55, 0.65])
    assert float(bars[-1]["value"]) == pytest.approx(0.68)


def test_pattern_ids_are_unique_per_chart_and_every_reference_resolves():
    page = svg.waterfall(0.4, contributions(), "x", uid="one") + svg.waterfall(0.4, contributions(), "x", uid="two")
    ids = [el.attrib["id"] for chart in page.split("</svg>")[:-1] for el in ET.fromstring(chart + "</svg>").iter()
           if "id" in el.attrib]
    assert len(ids) == len(set(ids)) and ids
    for chart in page.split("</svg>")[:-1]:
        root = ET.fromstring(chart + "</svg>")
        own = {el.attrib["id"] for el in root.iter() if "id" in el.attrib}
        refs = {el.attrib["fill"][5:-1] for el in root.iter() if el.attrib.get("fill", "").startswith("url(#")}
        assert refs and refs <= own


def test_text_is_escaped_and_kept_on_one_line():
    weird = pd.DataFrame({"stream": ["<b>&$x.shared", "<b>&$x.private"], "modality": ["<b>&$x"] * 2,
                          "phi": [0.1, 0.2]})
    out = svg.waterfall(0.1, weird, "a$b")
    root = ET.fromstring(out)  # well-formed despite <, & in the labels
    assert "$" not in out  # Streamlit's markdown would start LaTeX at a dollar sign
    assert "\n\n" not in out  # a blank line would end the markdown HTML block
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "<b>&$x · shared" in texts


def test_learner_drop_marks_flips_and_values():
    frame = pd.DataFrame({"removed": ["a", "b", "a+b"], "proba": [0.8, 0.3, 0.05], "flipped": [False, True, True],
                          "new_pred": ["x", "y", "y"]})
    out = svg.learner_drop(frame, 0.9, "x", ["a", "b"])
    bars = marks(out, "label")
    assert [(b["label"], float(b["value"]), int(b["flipped"])) for b in bars] == \
        [("without a", 0.8, 0), ("without b", 0.3, 1), ("without a+b", 0.05, 1)]
    assert "0.30 → flips to y" in out


def test_stream_drop_keeps_signs_and_skips_missing_values():
    frame = pd.DataFrame({"modality": ["a", "b"], "whole": [-0.02, 0.01], "shared": [-0.015, np.nan],
                          "private": [0.0, 0.004]})
    out = svg.stream_drop(frame, "change in AUC", ["a", "b"])
    got = {(m["modality"], m["kind"]): float(m["value"]) for m in marks(out, "kind")}
    assert got == {("a", "whole"): -0.02, ("a", "shared"): -0.015, ("a", "private"): 0.0, ("b", "whole"): 0.01,
                   ("b", "private"): 0.004}
    root = ET.fromstring(out)
    heights = {(el.attrib["data-modality"], el.attrib["data-kind"]): float(el.attrib["height"])
               for el in root.iter(f"{NS}rect") if "data-kind" in el.attrib}
    assert heights[("a", "whole")] > heights[("a", "shared")] > heights[("a", "private")] > 0  # a zero stays visible


def test_clicks_timeline_stacks_the_top_activities_and_pools_the_rest():
    clicks = pd.DataFrame({"step_name": ["w1", "w1", "w1", "w2"], "feature": ["quiz", "forum", "page", "quiz"],
                           "value": [5.0, 3.0, 1.0, 2.0]})
    out = svg.clicks_timeline(clicks, ["w0", "w1", "w2"], pd.Series({"w0": 0.0, "w1": 0.01, "w2": -0.02}), top_k=2)
    weeks = marks(out, "clicks")  # one band per week, holding the week's clicks per activity
    assert {(w["week"], a, v) for w in weeks for a, v in json.loads(w["clicks"]).items()} == \
        {("w1", "quiz", 5.0), ("w1", "forum", 3.0), ("w1", "other", 1.0), ("w2", "quiz", 2.0)}
    assert [float(m["attribution"]) for m in marks(out, "attribution")] == pytest.approx([0.0, 0.01, -0.02])
    # the bars are drawn as one path per activity: the top activity's two bars, 5 and 2 clicks high
    root = ET.fromstring(out)
    fills = [p.attrib["d"] for p in root.iter(f"{NS}path") if p.attrib.get("fill") not in (None, "#000", "none")]
    assert len(fills) == 3 and fills[0].count("M") == 2
    heights = [float(v) for v in re.findall(r"V([\d.]+)", fills[0])]
    tops = [float(v) for v in re.findall(r"M[\d.]+,([\d.]+)", fills[0])]
    assert (heights[0] - tops[0]) / (heights[1] - tops[1]) == pytest.approx(5 / 2, rel=0.02)
    empty = svg.clicks_timeline(clicks.iloc[:0], ["w0"], None)
    assert "no clicks before the cut-off" in empty and not marks(empty, "clicks")


def test_assessment_timeline_places_every_point_and_the_cutoff():
    pts = pd.DataFrame({"assessment": ["assessment 1", "assessment 2"], "kind": ["TMA", "CMA"], "x": [20.0, 60.0],
                        "score": [70.0, 0.0], "status": ["scored", "not submitted"],
                        "label": ["assessment 1<br>scored 70", "assessment 2<br>not submitted"]})
    out = svg.assessment_timeline(pts, 90.0, "due day")
    got = marks(out, "score")
    assert [(p["assessment"], float(p["x"]), float(p["score"]), p["status"]) for p in got] == \
        [("assessment 1", 20.0, 70.0, "scored"), ("assessment 2", 60.0, 0.0, "not submitted")]
    root = ET.fromstring(out)
    assert "cut-off" in [t.text for t in root.iter(f"{NS}text")]
    assert "assessment 1\nscored 70" in [t.text for t in root.iter(f"{NS}title")]


def test_paired_bars_one_bar_per_category_and_group():
    frame = pd.DataFrame({"stream": ["a", "b", "a", "b"], "when": ["before", "before", "after", "after"],
                          "contribution": [0.1, -0.2, 0.0, -0.25]})
    out = svg.paired_bars(frame, "stream", "contribution", "when", "title", "exact Shapley value")
    got = {(m["x"], m["group"]): float(m["value"]) for m in marks(out, "group")}
    assert got == {("a", "before"): 0.1, ("b", "before"): -0.2, ("a", "after"): 0.0, ("b", "after"): -0.25}
    texts = [t.text for t in ET.fromstring(out).iter(f"{NS}text")]
    assert {"before", "after", "+0.000", "-0.250"} <= set(texts)  # legend and value labels, a zero included
