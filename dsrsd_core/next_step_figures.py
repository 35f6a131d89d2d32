"""Figures of next-step runs: a learner's timeline and attribution by position in the sequence.

Pure functions from the ``next_responses`` / ``next_position`` tables (docs/run_format.md) to
plotly figures, in the dashboard's modality colours (:func:`dsrsd_core.figures.modality_colour`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import CORRECT_COLOURS, modality_colour


def timeline_figure(responses: pd.DataFrame, modalities: Sequence[str], positive: str, title: str = "") -> go.Figure:
    """Top: predicted probability of ``positive`` per response (line) and what happened (markers at
    1 / 0, coloured by the modality that drove the prediction). Bottom: each modality's Shapley
    value towards ``positive`` (signed, stacked)."""
    r = responses.sort_values("position")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.58, 0.42], vertical_spacing=0.06)
    x = r["position"].to_numpy()
    fig.add_trace(go.Scatter(x=x, y=r[f"proba_{positive}"], mode="lines", name=f"predicted P({positive})",
                             line={"color": "#333333", "width": 1.5}, hoverinfo="skip"), 1, 1)
    for m in modalities:
        sel = (r["driver"] == m).to_numpy()
        if not sel.any():
            continue
        hover = [f"position {p}<br>actual {'1' if y else '0'} · predicted {q:.2f}<br>driven by {m}"
                 for p, y, q in zip(x[sel], r["label"].to_numpy()[sel], r[f"proba_{positive}"].to_numpy()[sel])]
        fig.add_trace(go.Scatter(x=x[sel], y=r["label"].to_numpy()[sel], mode="markers",
                                 name=f"actual · driven by {m}", text=hover, hoverinfo="text",
                                 marker={"color": modality_colour(m, modalities), "size": 9,
                                         "line": {"color": "#ffffff", "width": 1}}), 1, 1)
    wrong = (r["pred"] != r["label"]).to_numpy()
    if wrong.any():
        fig.add_trace(go.Scatter(x=x[wrong], y=r["label"].to_numpy()[wrong], mode="markers", name="mispredicted",
                                 hoverinfo="skip", marker={"symbol": "circle-open", "size": 15,
                                                           "color": CORRECT_COLOURS["wrong"], "line": {"width": 2}}),
                      1, 1)
    for m in modalities:
        fig.add_trace(go.Bar(x=x, y=r[f"phi_{m}"], name=f"{m} (Shapley)", showlegend=True,
                             marker={"color": modality_colour(m, modalities)},
                             hovertemplate=f"{m}: %{{y:+.3f}}<extra></extra>"), 2, 1)
    fig.update_layout(barmode="relative", height=520, title=title or None, legend={"orientation": "h", "y": -0.18},
                      margin={"l": 50, "r": 20, "t": 40 if title else 10, "b": 40})
    fig.update_yaxes(title_text=f"P({positive}) / actual", range=[-0.08, 1.08], row=1, col=1)
    fig.update_yaxes(title_text="Shapley value", row=2, col=1)
    fig.update_xaxes(title_text="position in the sequence", row=2, col=1)
    return fig


def position_share_figure(position: pd.DataFrame, modalities: Sequence[str], title: str = "") -> go.Figure:
    """Share of mean |Shapley| per modality (stacked to 1) for each position bin, in sequence order."""
    p = position.sort_values("bin_order")
    fig = go.Figure()
    for m in modalities:
        fig.add_trace(go.Bar(x=p["position_bin"], y=p[f"share_{m}"], name=m,
                             marker={"color": modality_colour(m, modalities)},
                             customdata=np.column_stack([p["n"]]),
                             hovertemplate=f"{m}: %{{y:.1%}} (n = %{{customdata[0]:,}})<extra></extra>"))
    fig.update_layout(barmode="stack", height=380, title=title or None, yaxis={"tickformat": ".0%",
                                                                              "title": "share of attribution"},
                      xaxis={"title": "position in the sequence", "type": "category"},
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 50, "r": 20, "t": 40 if title else 10})
    return fig


def driver_share_figure(responses: pd.DataFrame, modalities: Sequence[str], bins: np.ndarray, order: list[str]) -> go.Figure:
    """Share of responses driven by each modality, per position bin."""
    counts = pd.crosstab(pd.Categorical(bins, categories=order), responses["driver"], normalize="index")
    fig = go.Figure()
    for m in modalities:
        if m in counts:
            fig.add_trace(go.Bar(x=list(counts.index.astype(str)), y=counts[m], name=m,
                                 marker={"color": modality_colour(m, modalities)},
                                 hovertemplate=f"{m}: %{{y:.1%}}<extra></extra>"))
    fig.update_layout(barmode="stack", height=320, yaxis={"tickformat": ".0%", "title": "responses driven"},
                      xaxis={"title": "position in the sequence", "type": "category"},
                      legend={"orientation": "h", "y": -0.3}, margin={"l": 50, "r": 20, "t": 10})
    return fig
