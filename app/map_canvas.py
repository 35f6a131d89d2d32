"""The Embedding page's scatter maps: a Streamlit component (components v2, ``map_canvas.js``) that draws a
map's points on a 2-D canvas and recolours them in place.

Why not a plotly chart: Streamlit 1.67 gives a selectable plotly chart an element id hashed from its figure,
so every recolour remounted both maps and built new WebGL scenes, which a browser without a GPU draws on the
CPU (0.76 s for the shipped run's two maps, 2.35 s for a 25k-learner run's 150,000 points). This component is
keyed by the map alone: a recolour sends the points' group codes again and the browser redraws one canvas.

The points travel as base64 typed arrays, not JSON lists of numbers: 2.1 MB for a map of 75,876 points.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dsrsd_core import figures as F

HEIGHT = 520

_CSS = """
.dsrsd-map { font-size: 13px; color: var(--st-text-color, rgb(49, 51, 63)); }
.dsrsd-map-title { font-size: 15px; font-weight: 600; margin: 2px 0; }
.dsrsd-map-tools { display: flex; flex-wrap: wrap; gap: 2px; margin: 2px 0; }
.dsrsd-map-tool, .dsrsd-map-key { font: inherit; font-size: 12px; background: none; border: 1px solid transparent;
  border-radius: 4px; padding: 1px 6px; cursor: pointer; color: inherit; }
.dsrsd-map-tool:hover, .dsrsd-map-key:hover { border-color: rgba(49, 51, 63, 0.3); }
.dsrsd-map-tool.on { border-color: rgba(49, 51, 63, 0.5); background: rgba(49, 51, 63, 0.06); }
.dsrsd-map-tool.idle { visibility: hidden; }
.dsrsd-map-legend { display: flex; flex-wrap: wrap; gap: 2px 6px; margin: 2px 0 4px; }
.dsrsd-map-key { display: inline-flex; align-items: center; gap: 5px; padding: 1px 4px; }
.dsrsd-map-key.off { opacity: 0.4; text-decoration: line-through; }
.dsrsd-map-swatch { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
.dsrsd-map-plot { position: relative; width: 100%; border: 1px solid rgba(49, 51, 63, 0.12); border-radius: 4px;
  touch-action: none; user-select: none; cursor: grab; }
.dsrsd-map-plot[data-mode="zoom"], .dsrsd-map-plot[data-mode="box"], .dsrsd-map-plot[data-mode="lasso"] {
  cursor: crosshair; }
.dsrsd-map-plot canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.dsrsd-map-tip { position: absolute; pointer-events: none; border: 1px solid; border-radius: 4px;
  background: var(--st-background-color, white);
  padding: 3px 6px; font-size: 12px; line-height: 1.35; white-space: nowrap; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.15); }
"""

_component = st.components.v2.component(
    "dsrsd_map", js=Path(__file__).with_name("map_canvas.js").read_text(encoding="utf-8"), css=_CSS,
    isolate_styles=False)


def _column(values: np.ndarray, kind: str) -> dict:
    return {"type": kind, "b64": base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")}


def _ids(values: pd.Series) -> dict | list:
    """Student ids: 32-bit integers when they are whole numbers that fit, else their text."""
    if pd.api.types.is_integer_dtype(values) and len(values) and values.min() >= -2**31 and values.max() < 2**31:
        return _column(values.to_numpy(np.int32), "i32")
    return values.astype(str).tolist()


def payload(points: pd.DataFrame, colour: str, colours: dict | None, title: str, height: int = HEIGHT,
            colour_label: str | None = None) -> dict:
    """What the component draws: the points (``x``, ``y``, ``sample``, and ``id_student`` and ``risk`` for the
    hover when ``points`` has them), the group of each point and the groups in drawing order
    (:func:`dsrsd_core.figures.map_groups`); ``colour_label`` names the colouring for screen readers."""
    codes, groups = F.map_groups(points, colour, colours)
    pts = {"x": _column(points["x"].to_numpy(np.float32), "f32"),
           "y": _column(points["y"].to_numpy(np.float32), "f32"),
           "sample": _column(points["sample"].to_numpy(np.int32), "i32"),
           "student": _ids(points["id_student"]) if "id_student" in points else None,
           "risk": _column(points["risk"].to_numpy(np.float32), "f32") if "risk" in points else None}
    code_type, dtype = ("u8", np.uint8) if len(groups) <= 256 else ("u16", np.uint16)
    return {"points": pts, "codes": _column(codes.astype(dtype), code_type), "groups": groups,
            "colour": colour, "colour_label": colour_label or colour, "title": title, "height": height}


def scatter_map(points: pd.DataFrame, colour: str, colours: dict | None, title: str, key: str,
                height: int = HEIGHT, colour_label: str | None = None) -> list[int]:
    """Draw the map; return the samples the user selected in it (a clicked point, or a box or lasso)."""
    data = payload(points, colour, colours, title, height, colour_label)
    result = _component(key=key, data=data, default={"selected": []},
                        on_selected_change=lambda: None)
    return selected(result)


def selected(result) -> list[int]:
    """The selected samples of a component result (its ``selected`` state), once each, in order."""
    chosen = getattr(result, "selected", None) or []
    return list(dict.fromkeys(int(s) for s in chosen))
