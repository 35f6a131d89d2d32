"""Small charts drawn as inline SVG, for pages whose first render must be fast.

Why: the first plotly chart on a page makes the browser load and run plotly.js (4.7 MB), which costs about
2-3 s of a page load on the 2-core development machine (benchmarks/app_speed.py, docs/benchmarks.md); an SVG
of a few bars costs next to nothing. Used where a page would otherwise hold a single small plotly chart
(Overview), drawn in the same style as :func:`dsrsd_core.figures.modality_stream_bar`.
"""
from __future__ import annotations

import math
from html import escape

import pandas as pd

from dsrsd_core.figures import lighten, modality_colour

HEIGHT, TOP, BOTTOM, LEFT, RIGHT = 380, 44, 28, 58, 10  # px: the plot area sits inside these margins
WIDTH = 560  # the viewBox width; the SVG scales to its column


def _ticks(top: float) -> list[float]:
    """Ticks from 0 to ``top`` at a round step (0.05, 0.1, 0.2, 0.25 or 0.5 of the unit)."""
    step = next(s for s in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if top / s <= 6)
    return [i * step for i in range(int(math.floor(top / step + 1e-9)) + 1)]


def _hatch(pattern_id: str, fill: str, stroke: str) -> str:
    """A 6-px diagonal hatch (lines rising to the right) on ``fill``."""
    return (f'<pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse">'
            f'<rect width="6" height="6" fill="{fill}"/><path d="M0,6 L6,0 M-1.5,1.5 L1.5,-1.5 M4.5,7.5 L7.5,4.5" '
            f'stroke="{stroke}" stroke-width="1.5"/></pattern>')


def modality_stream_bar(shares: pd.DataFrame, axis_title: str = "share of attribution") -> str:
    """One bar per modality, stacked shared (solid, bottom) + private (light, hatched): the SVG twin of
    :func:`dsrsd_core.figures.modality_stream_bar` for shares (``shares``: one row per stream with ``modality``,
    ``kind`` and ``share``); each segment's exact value is in its hover title."""
    mods = list(dict.fromkeys(shares["modality"]))
    val = {(r["modality"], r["kind"]): float(r["share"]) for r in shares.to_dict("records")}
    totals = [val.get((m, "shared"), 0.0) + val.get((m, "private"), 0.0) for m in mods]
    top = max(0.1, math.ceil(max(totals, default=0.0) * 10 + 1e-9) / 10)
    ticks = _ticks(top)
    top = max(top, ticks[-1])
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    y = lambda v: TOP + plot_h * (1 - v / top)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
           f'style="max-height:{HEIGHT}px;font-family:sans-serif;font-size:13px" role="img" '
           f'aria-label="{escape(axis_title)} per modality, shared and private stream">', "<defs>"]
    for i, m in enumerate(mods):  # one hatch per modality, in its colour (plotly's "/" pattern)
        out.append(_hatch(f"hatch{i}", lighten(modality_colour(m, mods)), modality_colour(m, mods)))
    out.append(_hatch("hatch_legend", "#dddddd", "#555555") + "</defs>")
    for t in ticks:  # grid and y axis
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e6e6e6"/>'
                   f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#555">'
                   f'{t:.0%}</text>')
    out.append(f'<text transform="translate(14,{TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle" '
               f'fill="#555">{escape(axis_title)}</text>')
    slot = plot_w / max(1, len(mods))
    for i, m in enumerate(mods):
        x0, w, base = LEFT + slot * (i + 0.1), slot * 0.8, 0.0
        colour = modality_colour(m, mods)
        for kind in ("shared", "private"):
            v = val.get((m, kind), 0.0)
            fill = colour if kind == "shared" else f"url(#hatch{i})"
            y0, y1 = y(base + v), y(base)
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{y1 - y0:.1f}" fill="{fill}" '
                       f'stroke="{colour}"><title>{escape(m)} · {kind}: {v:.3f}</title></rect>')
            if y1 - y0 >= 18:  # the value inside its segment, where it fits
                label = f"{v:.0%}"
                colour_text = "#fff" if kind == "shared" else "#222"
                out.append(f'<text x="{x0 + w / 2:.1f}" y="{(y0 + y1) / 2 + 4.5:.1f}" text-anchor="middle" '
                           f'fill="{colour_text}" style="paint-order:stroke" '
                           f'stroke="{"#0000" if kind == "shared" else "#ffffffcc"}" stroke-width="3">{label}</text>')
            base += v
        out.append(f'<text x="{x0 + w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" fill="#333">{escape(m)}</text>')
    out.append(f'<rect x="{LEFT}" y="10" width="14" height="14" fill="#555555"/>'
               f'<text x="{LEFT + 20}" y="22">shared stream (solid)</text>'
               f'<rect x="{LEFT + 190}" y="10" width="14" height="14" fill="url(#hatch_legend)" stroke="#555555"/>'
               f'<text x="{LEFT + 210}" y="22">private stream (hatched)</text></svg>')
    return "".join(out)
