"""Small charts drawn as inline SVG, for the pages that must draw fast (Overview, Learner explorer).

Why not plotly here: the first plotly chart on a page makes the browser load and run plotly.js (4.7 MB),
about 2-3 s of a page load on the 2-core development machine, and every plotly chart costs again when a
learner switch redraws it: on the shipped run a switch took 1.56 s with the learner's five plotly charts
and 0.71 s with none (benchmarks/app_speed.py, docs/benchmarks.md), and building the five figures was half
of the server's time. An SVG of a few dozen shapes costs next to nothing on either side.

The charts follow :mod:`dsrsd_core.figures`' conventions (its colours; solid = shared stream, light and
hatched = private); the modality-share and stream-drop charts have plotly twins there for the other pages.
Every mark carries its exact value in ``data-*`` attributes (what the tests read) and in a ``<title>`` (the
browser shows it on hover). Pattern ids are prefixed with the chart's ``uid``: ids are global to the page,
and two charts defining ``hatch0`` would share one colour.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import pandas as pd

from dsrsd_core.figures import CATEGORY_COLOURS, GREY, lighten, modality_colour, stream_label
from dsrsd_core.views import humanize, split_stream
from dsrsd_core.vocabulary import MODALITIES

CHAR_W = 7.2  # px per character of 13 px sans-serif, for laying out labels and legends
INK, MUTED, GRID = "#333333", "#555555", "#e6e6e6"
KIND_WORDS = {"TMA": "tutor-marked", "CMA": "computer-marked", "Exam": "exam"}


def _esc(text) -> str:
    """Escaped for SVG text and attributes; '$' too, which Streamlit's markdown would read as LaTeX."""
    return escape(str(text)).replace("$", "&#36;")


def _num(v: float) -> str:
    return f"{v:.1f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round ticks (steps of 1, 2, 2.5 or 5 × a power of ten) from at or below ``lo`` to at or above ``hi``."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        lo, hi = (0.0, 1.0) if not np.isfinite(lo) or not np.isfinite(hi) else (lo - 0.5, lo + 0.5)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) + 0.0 for i in range(first, last + 1)]


class Linear:
    """A linear scale from the value interval [lo, hi] to the pixel interval [a, b]."""

    def __init__(self, lo: float, hi: float, a: float, b: float):
        self.lo, self.hi, self.a, self.b = lo, hi if hi > lo else lo + 1, a, b

    def __call__(self, v: float) -> float:
        return self.a + (float(v) - self.lo) / (self.hi - self.lo) * (self.b - self.a)


class Svg:
    """An SVG being written: ``defs`` (patterns) and ``body`` (marks), rendered on one line (a blank
    line would end Streamlit's markdown HTML block)."""

    def __init__(self, width: int, height: int, label: str, uid: str):
        self.width, self.height, self.label, self.uid = width, height, label, uid
        self.defs: dict[tuple, str] = {}
        self.body: list[str] = []

    def hatch(self, fill: str, stroke: str, cross: bool = False) -> str:
        """A 6-px diagonal hatch (plotly's "/" pattern; ``cross``: its "x") on ``fill``; returns ``url(#…)``."""
        key = (fill, stroke, cross)
        if key not in self.defs:
            pid = f"{self.uid}-hatch{len(self.defs)}"
            path = "M0,6 L6,0 M-1.5,1.5 L1.5,-1.5 M4.5,7.5 L7.5,4.5" + (" M0,0 L6,6" if cross else "")
            self.defs[key] = (f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                              f'<rect width="6" height="6" fill="{fill}"/><path d="{path}" stroke="{stroke}" '
                              f'stroke-width="1.2"/></pattern>')
        return f"url(#{self.uid}-hatch{list(self.defs).index(key)})"

    def add(self, mark: str) -> None:
        self.body.append(mark)

    def text(self, x: float, y: float, text, anchor: str = "start", fill: str = INK, size: int | None = None,
             bold: bool = False, rotate: float | None = None, halo: bool = False) -> None:
        style = (f' font-size="{size}"' if size else "") + (' font-weight="bold"' if bold else "")
        style += ' stroke="#ffffffd0" stroke-width="3" paint-order="stroke"' if halo else ""
        where = (f'transform="translate({_num(x)},{_num(y)}) rotate({rotate})"' if rotate is not None
                 else f'x="{_num(x)}" y="{_num(y)}"')
        self.add(f'<text {where} text-anchor="{anchor}" fill="{fill}"{style}>{_esc(text)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = INK, width: float = 1,
             dash: str | None = None) -> None:
        self.add(f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" stroke="{stroke}" '
                 f'stroke-width="{width}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str, stroke: str | None = None,
             title: str | None = None, data: Mapping | None = None) -> None:
        """The rectangle between two corners (in any order), with a hover title and data attributes."""
        x, y, w, h = min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
        attrs = "".join(f' data-{k}="{_esc(v)}"' for k, v in (data or {}).items())
        inner = f"<title>{_esc(title)}</title>" if title else ""
        self.add(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" fill="{fill}"'
                 + (f' stroke="{stroke}"' if stroke else "") + f"{attrs}>{inner}</rect>")

    def marker(self, x: float, y: float, symbol: str, fill: str, stroke: str, stroke_width: float = 1,
               size: float = 12, title: str | None = None, data: Mapping | None = None) -> None:
        """A point: circle, diamond, square, or x (a cross, drawn in ``fill``)."""
        r = size / 2
        attrs = "".join(f' data-{k}="{_esc(v)}"' for k, v in (data or {}).items())
        inner = f"<title>{_esc(title)}</title>" if title else ""
        paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"'
        if symbol == "x":
            a = r * 0.75
            shape = (f'<path d="M{_num(x - a)},{_num(y - a)} L{_num(x + a)},{_num(y + a)} M{_num(x - a)},'
                     f'{_num(y + a)} L{_num(x + a)},{_num(y - a)}" stroke="{fill}" stroke-width="3"'
                     f' stroke-linecap="round"')
        elif symbol == "diamond":
            shape = (f'<path d="M{_num(x)},{_num(y - r)} L{_num(x + r)},{_num(y)} L{_num(x)},{_num(y + r)} '
                     f'L{_num(x - r)},{_num(y)} Z" {paint}')
        elif symbol == "square":
            a = r * 0.85
            shape = f'<rect x="{_num(x - a)}" y="{_num(y - a)}" width="{_num(2 * a)}" height="{_num(2 * a)}" {paint}'
        else:
            shape = f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}" {paint}'
        self.add(f"{shape}{attrs}>{inner}</{shape[1:shape.index(' ')]}>")

    def legend(self, items: Sequence[tuple[str, dict]], x: float, y: float, max_x: float,
               vertical: bool = False) -> float:
        """Legend entries (label, swatch) from (x, y), wrapping at ``max_x`` (or one per line); swatch:
        ``{"fill", "stroke"}`` (a box), ``{"symbol", "fill", "stroke"}`` (a marker) or ``{"line", "dash"}``.
        Returns the y below the last line."""
        cx, cy = x, y
        for label, sw in items:
            width = 22 + CHAR_W * len(label) + 14
            if not vertical and cx > x and cx + width > max_x:
                cx, cy = x, cy + 20
            if "line" in sw:
                self.line(cx, cy, cx + 16, cy, sw["line"], 2, sw.get("dash"))
            elif "symbol" in sw:
                self.marker(cx + 8, cy, sw["symbol"], sw.get("fill", "#fff"), sw.get("stroke", INK),
                            sw.get("stroke_width", 1.5), size=11)
            else:
                self.rect(cx + 1, cy - 7, cx + 15, cy + 7, sw["fill"], sw.get("stroke"))
            self.text(cx + 22, cy + 4.5, label)
            if vertical:
                cy += 20
            else:
                cx += width
        return cy + (0 if vertical else 20)

    def render(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" width="100%" '
                f'style="max-width:{round(self.width * 1.25)}px;font-family:sans-serif;font-size:13px" role="img" '
                f'aria-label="{_esc(self.label)}"><defs>{"".join(self.defs.values())}</defs>'
                f'{"".join(self.body)}</svg>')


def _x_axis(svg: Svg, scale: Linear, ticks: Sequence[float], top: float, bottom: float, fmt: str,
            title: str | None) -> None:
    """Vertical grid lines with tick labels below ``bottom``, and the axis title under them."""
    for t in ticks:
        svg.line(scale(t), top, scale(t), bottom, GRID)
        svg.text(scale(t), bottom + 16, f"{t:{fmt}}", "middle", MUTED)
    if title:
        svg.text((scale.a + scale.b) / 2, bottom + 36, title, "middle", MUTED)


def _y_axis(svg: Svg, scale: Linear, ticks: Sequence[float], left: float, right: float, fmt: str,
            title: str | None, title_x: float = 14) -> None:
    """Horizontal grid lines with tick labels left of ``left``, and the axis title rotated beside them."""
    for t in ticks:
        svg.line(left, scale(t), right, scale(t), GRID)
        svg.text(left - 6, scale(t) + 4, f"{t:{fmt}}", "end", MUTED)
    if title:
        svg.text(title_x, (scale.a + scale.b) / 2, title, "middle", MUTED, rotate=-90)


def _stream_paint(svg: Svg, stream: str, modalities: Sequence[str]) -> tuple[str, str]:
    """(fill, outline) of a stream's bar: solid modality colour for shared, light and hatched for private."""
    modality, kind = split_stream(stream)
    colour = modality_colour(modality, modalities)
    return (svg.hatch(lighten(colour), colour) if kind == "private" else colour), colour


def _signed_ticks(values) -> list[float]:
    """Ticks for bars from 0 to each of ``values`` (either sign), with room beyond them for value labels."""
    finite = [float(v) for v in values if np.isfinite(v)]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    pad = 0.12 * max(hi - lo, 1e-3)
    return nice_ticks(lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 or lo == 0 else 0), 5)


def _signed_bar(svg: Svg, x0: float, w: float, y: Linear, v: float, fill: str, stroke: str | None, title: str,
                data: Mapping, label: str) -> None:
    """A bar from 0 to ``v`` with ``label`` beyond its end; a zero still shows, as a hairline."""
    y0, y1 = y(0), y(v)
    if abs(y1 - y0) < 1:
        y1 = y0 - 1
    svg.rect(x0, y0, x0 + w, y1, fill, stroke, title, data)
    svg.text(x0 + w / 2, y1 - 5 if v >= 0 else y1 + 14, label, "middle", size=11)


# ---- Overview -----------------------------------------------------------------------------------------
def modality_stream_bar(shares: pd.DataFrame, axis_title: str = "share of attribution", uid: str = "shares") -> str:
    """One bar per modality, stacked shared (solid, bottom) + private (light, hatched): the SVG twin of
    :func:`dsrsd_core.figures.modality_stream_bar` for shares (``shares``: one row per stream with ``modality``,
    ``kind`` and ``share``); each segment's exact value is in its hover title."""
    mods = list(dict.fromkeys(shares["modality"]))
    val = {(r["modality"], r["kind"]): float(r["share"]) for r in shares.to_dict("records")}
    totals = [val.get((m, "shared"), 0.0) + val.get((m, "private"), 0.0) for m in mods]
    ticks = nice_ticks(0.0, max(0.1, math.ceil(max(totals, default=0.0) * 10 + 1e-9) / 10))
    width, height, top, bottom, left, right = 560, 380, 44, 28, 58, 10
    svg = Svg(width, height, f"{axis_title} per modality, shared and private stream", uid)
    y = Linear(0.0, ticks[-1], height - bottom, top)
    _y_axis(svg, y, ticks, left, width - right, ".0%", axis_title)
    slot = (width - left - right) / max(1, len(mods))
    for i, m in enumerate(mods):
        x0, w, base = left + slot * (i + 0.1), slot * 0.8, 0.0
        for kind in ("shared", "private"):
            v = val.get((m, kind), 0.0)
            fill, colour = _stream_paint(svg, f"{m}.{kind}", mods)
            y0, y1 = y(base + v), y(base)
            svg.rect(x0, y0, x0 + w, y1, fill, colour, f"{m} · {kind}: {v:.3f}",
                     {"stream": f"{m}.{kind}", "value": f"{v:.6g}"})
            if y1 - y0 >= 18:  # the value inside its segment, where it fits
                svg.text(x0 + w / 2, (y0 + y1) / 2 + 4.5, f"{v:.0%}", "middle",
                         "#fff" if kind == "shared" else "#222", halo=kind == "private")
            base += v
        svg.text(x0 + w / 2, height - 8, m, "middle")
    svg.legend([("shared stream (solid)", {"fill": MUTED}),
                ("private stream (hatched)", {"fill": svg.hatch("#dddddd", MUTED), "stroke": MUTED})],
               left, 17, width)
    return svg.render()


# ---- Learner explorer ---------------------------------------------------------------------------------
def waterfall(base: float, contributions: pd.DataFrame, cls: str, uid: str = "waterfall") -> str:
    """From the model's probability with no stream (the empty coalition) to its prediction, one floating bar
    per stream's exact Shapley value (``contributions``: ``stream``, ``modality``, ``phi``)."""
    mods = list(dict.fromkeys(contributions["modality"]))
    streams = [str(s) for s in contributions["stream"]]
    rows = ["no streams (baseline)"] + [stream_label(s) for s in streams] + ["prediction"]
    row_h, top, left, right = 34, 12, 12 + CHAR_W * max(len(r) for r in rows), 58
    width, height = 600, top + row_h * len(rows) + 46
    svg = Svg(width, height, f"Exact Shapley values from the baseline to the probability of {humanize(cls)}", uid)
    x = Linear(0.0, 1.0, left, width - right)
    _x_axis(svg, x, [0, 0.2, 0.4, 0.6, 0.8, 1.0], top, top + row_h * len(rows), ".1f",
            f"probability of {humanize(cls)}")
    cum = float(base)
    bars = [(rows[0], 0.0, cum, GREY, GREY, f"{cum:.2f}", f"baseline {cum:.3f}")]
    for s, phi in zip(streams, contributions["phi"].astype(float)):
        fill, colour = _stream_paint(svg, s, mods)
        bars.append((stream_label(s), cum, cum + phi, fill, colour, f"{phi:+.3f}",
                     f"{stream_label(s)}: {phi:+.3f}\nrunning total {cum + phi:.3f}"))
        cum += phi
    bars.append((rows[-1], 0.0, cum, INK, INK, f"{cum:.2f}", f"prediction {cum:.3f}"))
    for i, (label, a, b, fill, colour, text, title) in enumerate(bars):
        yc = top + row_h * (i + 0.5)
        svg.text(left - 8, yc + 4.5, label, "end")
        x0, x1 = x(min(max(min(a, b), -0.02), 1.02)), x(min(max(max(a, b), -0.02), 1.02))  # drawn clipped
        svg.rect(x0, yc - 11, max(x1, x0 + 1), yc + 11, fill, colour, title,
                 {"label": label, "start": f"{a:.6g}", "value": f"{(b - a) if 0 < i < len(bars) - 1 else b:.6g}"})
        svg.text(max(x1, x0 + 1) + 5, yc + 4.5, text)
    return svg.render()


def learner_drop(frame: pd.DataFrame, full: float, cls: str, modalities: Sequence[str],
                 uid: str = "learner-drop") -> str:
    """The learner's probability of ``cls`` after each removal (``frame``: ``removed``, ``proba``,
    ``flipped``, ``new_pred``), cross-hatched where the prediction flips, with the full prediction dashed."""
    labels = [f"without {r}" for r in frame["removed"]]
    texts = [f"{p:.2f}" + (f" → flips to {humanize(n)}" if f else "")
             for p, f, n in zip(frame["proba"], frame["flipped"], frame["new_pred"])]
    # each bar's name above it, not beside it: "without clickstream+assessments" would take half the width
    row_h, top, left = 42, 6, 22
    width = 520
    right = 10 + CHAR_W * max([len(t) for t in texts] or [4])
    height = top + row_h * len(labels) + 46
    svg = Svg(width, height, f"probability of {humanize(cls)} without each modality", uid)
    x = Linear(0.0, 1.0, left, width - right)
    _x_axis(svg, x, [0, 0.25, 0.5, 0.75, 1.0], top, top + row_h * len(labels), ".2f", f"probability of {humanize(cls)}")
    svg.line(x(full), top, x(full), top + row_h * len(labels), INK, 1.5, "5,4")
    for i, (r, label, p, flip, text) in enumerate(zip(frame["removed"], labels, frame["proba"].astype(float),
                                                     frame["flipped"].astype(bool), texts)):
        y0 = top + row_h * i
        colour = modality_colour(r, modalities) if r in modalities else GREY
        fill = svg.hatch(lighten(colour, 0.3), INK, cross=True) if flip else colour
        svg.text(left, y0 + 15, label, halo=True)
        svg.rect(x(0), y0 + 20, max(x(p), x(0) + 1), y0 + 36, fill, INK, f"{label}: {p:.3f}",
                 {"label": label, "value": f"{p:.6g}", "flipped": int(flip)})
        svg.text(max(x(p), x(0) + 1) + 5, y0 + 32.5, text, halo=True)
    return svg.render()


def stream_drop(frame: pd.DataFrame, value_title: str, modalities: Sequence[str], fmt: str = "+.3f",
                uid: str = "stream-drop") -> str:
    """Per modality the change when removing the whole modality (grey), its shared stream alone (solid) and
    its private stream alone (hatched) (``frame``: :func:`dsrsd_core.views.stream_drop_frame`): the twin of
    :func:`dsrsd_core.figures.stream_drop_figure`."""
    mods = list(frame["modality"])
    ticks = _signed_ticks(frame[["whole", "shared", "private"]].to_numpy(float).ravel())
    width, height, top, bottom, left, right = 520, 360, 52, 30, 70, 10
    svg = Svg(width, height, value_title, uid)
    y = Linear(ticks[0], ticks[-1], height - bottom, top)
    _y_axis(svg, y, ticks, left, width - right, fmt.replace("+", "") if ticks[0] >= 0 else fmt, value_title)
    slot = (width - left - right) / max(1, len(mods))
    legend = [("whole modality removed", {"fill": "#bbbbbb", "stroke": INK}),
              ("only its shared stream removed", {"fill": MUTED}),
              ("only its private stream removed", {"fill": svg.hatch("#dddddd", MUTED), "stroke": MUTED})]
    for i, m in enumerate(mods):
        w = slot * 0.8 / 3
        for j, kind in enumerate(("whole", "shared", "private")):
            v = float(frame[kind].iloc[i])
            if not np.isfinite(v):
                continue
            fill, colour = ("#bbbbbb", INK) if kind == "whole" else _stream_paint(svg, f"{m}.{kind}", modalities)
            what = "whole modality" if kind == "whole" else f"{kind} stream only"
            _signed_bar(svg, left + slot * (i + 0.1) + w * j, w, y, v, fill, colour,
                        f"without {m} ({what}): {v:{fmt}}", {"modality": m, "kind": kind, "value": f"{v:.6g}"},
                        "0" if abs(v) < 5e-4 else f"{v:{fmt}}")
        svg.text(left + slot * (i + 0.5), height - 10, m, "middle")
    svg.line(left, y(0), width - right, y(0), INK)
    svg.legend(legend, left - 60, 14, width)
    return svg.render()


def clicks_timeline(clicks: pd.DataFrame, step_names: Sequence[str], attribution: pd.Series | None = None,
                    top_k: int = 6, title: str | None = None, uid: str = "clicks") -> str:
    """Stacked clicks per week by activity type (the ``top_k`` types, the rest as 'other'; ``clicks``:
    ``step_name``, ``feature``, ``value``), with the week's attribution as a dotted line on a right-hand
    axis.

    Drawn light, because a learner switch redraws it: one path per activity type (all its bars), one path
    for the attribution's dots, and one invisible band per week that holds the week's numbers (hover title;
    ``data-week``, ``data-clicks`` as JSON activity -> clicks, ``data-attribution``). A rectangle and a
    title per bar made it ~300 SVG nodes that the browser rebuilt on every switch."""
    weeks = [str(w) for w in step_names]
    width, height, top, left = 1000, 380, 34 if title else 10, 64
    right_axis = 70 if attribution is not None else 10
    legend_w = 170
    bottom = 70
    svg = Svg(width, height, title or "clicks per week", uid)
    if title:
        svg.text(4, 20, title, size=15, bold=True)
    plot_r = width - legend_w - right_axis
    # plain dicts over the learner's few hundred rows: a pandas pivot here was ~14 % of the server's rerun (py-spy)
    feats, wks = [str(f) for f in clicks["feature"]], [str(w) for w in clicks["step_name"]]
    values = clicks["value"].to_numpy(float)
    totals: dict[str, float] = {}
    for f, v in zip(feats, values):
        totals[f] = totals.get(f, 0.0) + v
    keep = sorted(totals, key=lambda f: -totals[f])[:top_k]
    cells: dict[tuple[str, str], float] = {}
    for f, w, v in zip(feats, wks, values):
        key = (w, f if f in keep else "other")
        cells[key] = cells.get(key, 0.0) + v
    order = keep + (["other"] if any(a == "other" for _, a in cells) else [])
    colours = {a: GREY if a == "other" else CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, a in enumerate(order)}
    stacks = [sum(cells.get((wk, a), 0.0) for a in order) for wk in weeks]
    ticks = nice_ticks(0.0, max([1.0, *stacks]), 5)
    y = Linear(0.0, ticks[-1], height - bottom, top)
    _y_axis(svg, y, ticks, left, plot_r, ".0f", "clicks")
    slot = (plot_r - left) / max(1, len(weeks))
    bar_w = slot * 0.76
    paths: dict[str, list[str]] = {a: [] for a in order}
    for i, wk in enumerate(weeks):
        x0, base = left + slot * (i + 0.12), 0.0
        for a in order:
            v = cells.get((wk, a), 0.0)
            if v > 0:
                paths[a].append(f"M{_num(x0)},{_num(y(base + v))}h{_num(bar_w)}V{_num(y(base))}h{_num(-bar_w)}z")
                base += v
        svg.text(left + slot * (i + 0.5) + 4, height - bottom + 10, wk, "end", MUTED, size=11, rotate=-45)
    for a in order:
        if paths[a]:
            svg.add(f'<path d="{"".join(paths[a])}" fill="{colours[a]}"/>')
    att = attribution.reindex(weeks).to_numpy(float) if attribution is not None else None
    if att is not None:
        finite = att[np.isfinite(att)]
        span = float(np.abs(finite).max()) if len(finite) else 0.0
        a_ticks = nice_ticks(-span or -1e-3, span or 1e-3, 4)
        ya = Linear(a_ticks[0], a_ticks[-1], height - bottom, top)
        for t in a_ticks:
            svg.text(plot_r + 6, ya(t) + 4, f"{t:+.3f}", fill=MUTED, size=11)
        svg.line(left, ya(0), plot_r, ya(0), "#cccccc")
        svg.text(plot_r + right_axis - 8, (top + height - bottom) / 2, "attribution of the week", "middle", MUTED,
                 rotate=90)
        pts = [(left + slot * (i + 0.5), ya(v)) for i, v in enumerate(att) if np.isfinite(v)]
        if pts:
            svg.add(f'<polyline points="{" ".join(f"{_num(px)},{_num(py)}" for px, py in pts)}" fill="none" '
                    f'stroke="#000" stroke-width="2" stroke-dasharray="2,3"/>')
            dots = "".join(f"M{_num(px - 3)},{_num(py)}a3,3 0 1,0 6,0a3,3 0 1,0 -6,0" for px, py in pts)
            svg.add(f'<path d="{dots}" fill="#000"/>')
    for i, wk in enumerate(weeks):  # the week's band: its numbers on hover, and in data attributes
        week_clicks = {a: cells[(wk, a)] for a in order if cells.get((wk, a), 0.0) > 0}
        lines = [wk] + [f"{a}: {v:.0f} clicks" for a, v in week_clicks.items()]
        data = {"week": wk, "clicks": json.dumps({a: float(f"{v:.6g}") for a, v in week_clicks.items()})}
        if att is not None and np.isfinite(att[i]):
            lines.append(f"attribution {att[i]:+.4f}")
            data["attribution"] = f"{att[i]:.6g}"
        if len(lines) > 1:
            svg.rect(left + slot * i, top, left + slot * (i + 1), height - bottom, "transparent", None,
                     "\n".join(lines), data)
    if not order:
        svg.text((left + plot_r) / 2, (top + height - bottom) / 2, "no clicks before the cut-off", "middle", MUTED)
    items = [(a, {"fill": colours[a]}) for a in order]
    if attribution is not None:
        items.append(("attribution of the week", {"line": "#000", "dash": "2,3"}))
    svg.legend(items, width - legend_w + 6, top + 8, width, vertical=True)
    return svg.render()


def assessment_timeline(frame: pd.DataFrame, cutoff_x: float | None, x_title: str,
                        colour: str = MODALITIES["assessments"].colour, title: str | None = None,
                        uid: str = "assessments") -> str:
    """Scores (0-100) against due dates (``frame``: ``x``, ``score``, ``status``, ``kind``, hover ``label``;
    :func:`dsrsd_core.views.assessment_points`), shape by kind, fill by status, the cut-off dashed."""
    symbols = {"TMA": "circle", "CMA": "diamond", "Exam": "square"}
    styles = {"scored": (colour, INK, 1), "submitted, no score": ("#ffffff", colour, 2),
              "not submitted": ("#000000", "#000000", 1)}
    width, height, left, right, bottom = 1000, 340, 60, 16, 50
    svg = Svg(width, height, title or "assessment scores against due dates", uid)
    legend = [(s, {"symbol": "x" if s == "not submitted" else "circle", "fill": styles[s][0], "stroke": styles[s][1],
                   "stroke_width": styles[s][2]}) for s in styles if len(frame) and s in set(frame["status"])]
    legend += [(f"{k} ({KIND_WORDS[k]})", {"symbol": symbols[k], "fill": "#ffffff", "stroke": MUTED})
               for k in symbols if len(frame) and k in set(frame["kind"])]
    if cutoff_x is not None:
        legend.append(("cut-off", {"line": INK, "dash": "6,4"}))
    y_text = 20
    if title:
        svg.text(4, 20, title, size=15, bold=True)
        y_text = 44
    top = svg.legend(legend, left, y_text, width) + 6 if legend else y_text + 6
    frame = frame[np.isfinite(frame["x"].astype(float)) & np.isfinite(frame["score"].astype(float))]
    xs = [float(v) for v in frame["x"]] + ([float(cutoff_x)] if cutoff_x is not None else [])
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 100.0)
    pad = max(1.0, 0.04 * (hi - lo))
    ticks = nice_ticks(lo - pad, hi + pad, 8)
    x = Linear(ticks[0], ticks[-1], left, width - right)
    y = Linear(-8, 108, height - bottom, top)
    _y_axis(svg, y, [0, 20, 40, 60, 80, 100], left, width - right, ".0f", "score")
    for t in ticks:
        svg.text(x(t), height - bottom + 16, f"{t:.0f}", "middle", MUTED)
    svg.text((left + width - right) / 2, height - 10, x_title, "middle", MUTED)
    if cutoff_x is not None:
        svg.line(x(cutoff_x), top, x(cutoff_x), height - bottom, INK, 1.5, "6,4")
        svg.text(x(cutoff_x) - 4, top + 12, "cut-off", "end")
    for r in frame.to_dict("records"):
        fill, stroke, sw = styles.get(r["status"], (GREY, INK, 1))
        sym = "x" if r["status"] == "not submitted" else symbols.get(r["kind"], "circle")
        svg.marker(x(r["x"]), y(r["score"]), sym, fill, stroke, sw, size=14,
                   title=str(r.get("label", "")).replace("<br>", "\n"),
                   data={"assessment": r.get("assessment", ""), "x": f"{r['x']:.6g}", "score": f"{r['score']:.6g}",
                         "status": r["status"]})
    if not len(frame):
        svg.text((left + width - right) / 2, (top + height - bottom) / 2,
                 "no assessments due or submitted before the cut-off", "middle", MUTED)
    return svg.render()


def paired_bars(frame: pd.DataFrame, x: str, value: str, group: str, title: str | None = None,
                value_title: str = "", fmt: str = "+.3f", uid: str = "paired") -> str:
    """One bar per (``x``, ``group``) side by side, one colour per group, each labelled with its value
    (e.g. the what-if's stream contributions before and after): the twin of
    :func:`dsrsd_core.figures.paired_bars`."""
    cats = list(dict.fromkeys(str(c) for c in frame[x]))
    groups = list(dict.fromkeys(str(g) for g in frame[group]))
    val = {(str(c), str(g)): float(v) for c, g, v in zip(frame[x], frame[group], frame[value])}
    colours = {g: CATEGORY_COLOURS[(2 * i) % len(CATEGORY_COLOURS)] for i, g in enumerate(groups)}
    ticks = _signed_ticks(list(val.values()))
    width, height, left, right, bottom = 1000, 360, 70, 10, 50
    svg = Svg(width, height, title or value_title or value, uid)
    top = 10
    if title:
        svg.text(4, 20, title, size=15, bold=True)
        top = 34
    top = svg.legend([(g, {"fill": colours[g]}) for g in groups], left, top + 8, width) + 4
    y = Linear(ticks[0], ticks[-1], height - bottom, top)
    _y_axis(svg, y, ticks, left, width - right, fmt.replace("+", "") if ticks[0] >= 0 else fmt, value_title)
    slot = (width - left - right) / max(1, len(cats))
    w = slot * 0.8 / max(1, len(groups))
    for i, c in enumerate(cats):
        for j, g in enumerate(groups):
            v = val.get((c, g), np.nan)
            if not np.isfinite(v):
                continue
            _signed_bar(svg, left + slot * (i + 0.1) + w * j, w, y, v, colours[g], None, f"{c}\n{g}: {v:{fmt}}",
                        {"x": c, "group": g, "value": f"{v:.6g}"}, f"{v:{fmt}}")
        svg.text(left + slot * (i + 0.5), height - bottom + 18, c, "middle")
    svg.line(left, y(0), width - right, y(0), INK)
    return svg.render()
