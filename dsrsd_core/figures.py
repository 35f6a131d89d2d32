"""Plotly figure builders shared by the dashboard (``app/``) and the static report (``dsrsd report``).

Pure functions from DataFrames to figures; nothing here reads files or computes attributions.
Colours: one Okabe–Ito colour per modality everywhere (colour-blind safe); a modality's shared
stream is drawn solid in that colour, its private stream lighter and hatched.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .views import humanize, split_stream
from .vocabulary import MODALITIES, OKABE_ITO

# ---- colours ----------------------------------------------------------------------------------
_SPARE = [OKABE_ITO[k] for k in ("reddish_purple", "yellow", "vermillion", "blue")]
# Classes, correctness and cohorts use colours that never stand for a modality on the default data.
CLASS_COLOURS = ["#0072B2", "#D55E00", "#CC79A7", "#000000", "#999999"]
CORRECT_COLOURS = {"correct": "#999999", "wrong": "#D55E00"}
CATEGORY_COLOURS = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
                    "#882255", "#AA4499", "#661100", "#6699CC", "#888888"]  # Paul Tol's muted + extras
GREY = "#9a9a9a"
PRIVATE_PATTERN = "/"


def modality_colour(modality: str, modalities: Sequence[str] = ()) -> str:
    if modality in MODALITIES:
        return MODALITIES[modality].colour
    unknown = [m for m in modalities if m not in MODALITIES]
    i = unknown.index(modality) if modality in unknown else abs(hash(modality))
    return _SPARE[i % len(_SPARE)]


def lighten(hex_colour: str, amount: float = 0.55) -> str:
    """Mix a colour with white: the private stream's fill."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return "#" + "".join(f"{c:02X}" for c in mix)


def stream_marker(stream: str, modalities: Sequence[str] = ()) -> dict:
    """Bar marker for a stream: solid modality colour (shared) or light + hatched (private)."""
    modality, kind = split_stream(stream)
    base = modality_colour(modality, modalities)
    if kind == "private":
        return {"color": lighten(base), "line": {"color": base, "width": 1},
                "pattern": {"shape": PRIVATE_PATTERN, "fgcolor": base, "size": 6, "solidity": 0.25}}
    return {"color": base, "line": {"color": base, "width": 1}}


def neutral_legend(fig: go.Figure, entries: Mapping[str, dict], offsetgroups: Sequence[str] | None = None) -> None:
    """Legend-only bar entries in neutral grey (e.g. solid = shared, hatched = private), so a legend
    swatch never shows one modality's colour for a style that all modalities share."""
    for i, (name, marker) in enumerate(entries.items()):
        kw = {"offsetgroup": offsetgroups[i]} if offsetgroups else {}
        fig.add_bar(x=[None], y=[None], name=name, marker=marker, **kw)


SOLID = {"color": "#555555"}
HATCHED = {"color": "#dddddd", "pattern": {"shape": PRIVATE_PATTERN, "fgcolor": "#555555"}}


def stream_label(stream: str) -> str:
    modality, kind = split_stream(stream)
    return f"{modality} · {kind}"


def class_colours(classes: Sequence[str]) -> dict:
    return {c: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, c in enumerate(classes)}


def _layout(fig: go.Figure, title: str | None = None, height: int = 380, **kw) -> go.Figure:
    """Common layout: legend on top (left), the title above it, room for both."""
    legend = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "traceorder": "normal",
              **kw.pop("legend", {})}
    shown = sum(getattr(t, "showlegend", None) is not False for t in fig.data)
    has_legend = kw["showlegend"] if "showlegend" in kw else shown >= 2
    legend_on_top = legend.get("orientation") == "h" and legend.get("y", 1) >= 1
    top = (34 if title else 10) + (48 if has_legend and legend_on_top else 0)
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left", "yref": "container", "y": 1,
                             "yanchor": "top", "pad": {"t": 10, "l": 4}, "font": {"size": 15}} if title else None,
                      height=height,
                      margin={"l": 10, "r": 10, "t": top, "b": 10}, legend=legend, font={"size": 13}, **kw)
    return fig


# ---- attribution ---------------------------------------------------------------------------------
def modality_stream_bar(shares: pd.DataFrame, title: str | None = None, value: str = "share",
                        axis_title: str = "share of attribution") -> go.Figure:
    """One bar per modality, stacked shared (solid) + private (hatched). ``shares``: one group."""
    mods = list(dict.fromkeys(shares["modality"]))
    fig = go.Figure()
    for kind in ("shared", "private"):
        part = shares[shares["kind"] == kind].set_index("modality").reindex(mods)
        for m in mods:
            v = part.loc[m, value]
            fig.add_bar(x=[m], y=[v], name=f"{kind}", legendgroup=kind, showlegend=False,
                        marker=stream_marker(f"{m}.{kind}", mods), text=[f"{v:.0%}" if value == "share" else f"{v:.3f}"],
                        textposition="inside", insidetextanchor="middle",
                        hovertemplate=f"{m} · {kind}: %{{y:.3f}}<extra></extra>")
    neutral_legend(fig, {"shared stream (solid)": SOLID, "private stream (hatched)": HATCHED})
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=axis_title, tickformat=".0%" if value == "share" else None, rangemode="tozero")
    return _layout(fig, title)


def share_bars(frame: pd.DataFrame, value: str = "share", title: str | None = None, percent: bool = True,
               group_title: str = "", height: int | None = None) -> go.Figure:
    """Horizontal bars per group, stacked by stream (modality colour, private hatched).

    ``frame``: long table with ``group``, ``n``, ``stream``, and ``value``.
    """
    streams = list(dict.fromkeys(frame["stream"]))
    mods = list(dict.fromkeys(split_stream(s)[0] for s in streams))
    groups = list(dict.fromkeys(frame["group"]))
    n = frame.drop_duplicates("group").set_index("group")["n"] if "n" in frame else None
    labels = {g: f"{g} (n={n[g]:,})" if n is not None else str(g) for g in groups}
    fig = go.Figure()
    for s in streams:
        part = frame[frame["stream"] == s].set_index("group").reindex(groups)
        vals = part[value].to_numpy(float)
        fig.add_bar(y=[labels[g] for g in groups], x=vals, orientation="h", name=stream_label(s),
                    marker=stream_marker(s, mods),
                    text=[f"{v:.0%}" if percent and v >= 0.06 else (f"{v:.2f}" if not percent and v >= 0.06 else "")
                          for v in vals],
                    textposition="inside", insidetextanchor="middle", textangle=0, constraintext="none",
                    hovertemplate="%{y}<br>" + stream_label(s) + ": %{x:.3f}<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%" if percent else None, range=[0, 1] if percent else None)
    fig.update_yaxes(autorange="reversed", title=group_title)
    return _layout(fig, title, height=height or max(220, 90 + 42 * len(groups)))


def gate_box(samples: pd.DataFrame, streams: Sequence[str], title: str | None = None) -> go.Figure:
    """Distribution of gate weights per stream (absent streams, weight 0, left out)."""
    mods = list(dict.fromkeys(split_stream(s)[0] for s in streams))
    fig = go.Figure()
    for s in streams:
        m, _ = split_stream(s)
        v = samples[f"gate_{s}"]
        if f"present_{m}" in samples:
            v = v[samples[f"present_{m}"].astype(bool)]
        mk = stream_marker(s, mods)
        fig.add_box(y=v, name=stream_label(s), marker={"color": mk["line"]["color"]}, fillcolor=mk["color"],
                    line={"color": mk["line"]["color"]}, boxpoints=False, showlegend=False)
    fig.update_yaxes(title="gate weight", range=[0, 1])
    return _layout(fig, title)


def variance_share_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Raw input variance (log x) against attribution share, one marker per modality."""
    mods = list(table["modality"])
    fig = go.Figure()
    for _, r in table.iterrows():
        fig.add_scatter(x=[r["input_variance"]], y=[r["attribution_share"]], mode="markers+text", name=r["modality"],
                        text=[r["modality"]], textposition="top center",
                        marker={"size": 22, "color": modality_colour(r["modality"], mods),
                                "line": {"color": "#333333", "width": 1}},
                        hovertemplate=f"{r['modality']}<br>raw variance %{{x:.3g}}<br>attribution share %{{y:.1%}}"
                                      f"<extra></extra>")
    n = len(table)
    if n:
        fig.add_hline(y=1 / n, line_dash="dot", line_color=GREY, annotation_text="equal share",
                      annotation_position="bottom right")
    top = float(np.nanmax(table["attribution_share"])) if n else 1.0
    v = table["input_variance"].astype(float)
    v = v[v > 0]
    rng = [np.log10(v.min()) - 0.3, np.log10(v.max()) + 0.3] if len(v) else None
    ticks = [m * 10.0 ** e for e in range(-4, 7) for m in (1, 2, 5)]
    if rng:
        ticks = [t for t in ticks if 10 ** rng[0] <= t <= 10 ** rng[1]]
    fig.update_xaxes(type="log", title="total raw input variance (log scale)", range=rng, tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks])
    fig.update_yaxes(title="share of attribution", tickformat=".0%", range=[0, max(0.6, top + 0.12)])
    return _layout(fig, title, showlegend=False)


def method_agreement_figure(phi_share: pd.DataFrame, ig_share: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Share per stream under exact Shapley and under integrated gradients, side by side."""
    streams = list(phi_share["stream"])
    mods = list(dict.fromkeys(split_stream(s)[0] for s in streams))
    fig = go.Figure()
    for method, frame, opacity in (("exact Shapley", phi_share, 1.0), ("integrated gradients", ig_share, 0.55)):
        f = frame.set_index("stream").reindex(streams)
        fig.add_bar(x=[stream_label(s) for s in streams], y=f["share"], name=method, opacity=opacity,
                    offsetgroup=method, showlegend=False,
                    marker={"color": [modality_colour(split_stream(s)[0], mods) for s in streams],
                            "pattern": {"shape": ["" if method == "exact Shapley" else "x" for _ in streams],
                                        "fgcolor": "#333333", "size": 5, "solidity": 0.2},
                            "line": {"color": "#333333", "width": 1}},
                    hovertemplate="%{x}<br>" + method + ": %{y:.1%}<extra></extra>")
    neutral_legend(fig, {"exact Shapley": SOLID,
                         "integrated gradients": {"color": "#bbbbbb", "pattern": {"shape": "x", "fgcolor": "#333333"}}},
                   ["exact Shapley", "integrated gradients"])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="share of attribution", tickformat=".0%")
    return _layout(fig, title)


def agreement_histogram(rank_agreement: pd.Series, title: str | None = None) -> go.Figure:
    v = pd.to_numeric(rank_agreement, errors="coerce").dropna()
    fig = go.Figure(go.Histogram(x=v, xbins={"start": -1, "end": 1.0001, "size": 0.1}, marker={"color": "#0072B2"},
                                 hovertemplate="Spearman %{x}<br>%{y} learners<extra></extra>"))
    fig.update_xaxes(title="rank agreement per learner (Spearman, Shapley vs integrated gradients)", range=[-1, 1])
    fig.update_yaxes(title="learners")
    return _layout(fig, title)


# ---- embedding maps -----------------------------------------------------------------------------------
def map_groups(points: pd.DataFrame, colour: str, colours: Mapping[str, str] | None = None
               ) -> tuple[np.ndarray, list[dict]]:
    """The groups of a map coloured by ``colour``, in drawing order: per point the position of its group in
    that order, and per group its ``value``, ``colour``, ``opacity`` and ``count``. Colours follow ``colours``
    (else the category palette by sorted value); by correct / wrong, the minority (wrong) is drawn first, under
    the majority, and the majority is see-through, so the map's look follows the counts instead of whichever
    group is drawn last."""
    values = points[colour].astype("string").fillna("(missing)")
    cats = list(pd.unique(values))
    if colours is None:
        colours = {c: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, c in enumerate(sorted(cats))}
    order = sorted(cats, key=lambda v: (list(colours).index(v) if v in colours else len(colours), v))
    counts = values.value_counts()
    minority_under = colour == "correctness"
    if minority_under:
        order = sorted(order, key=lambda v: counts.get(v, 0))
    groups = [{"value": str(c), "colour": colours.get(c, GREY), "count": int(counts.get(c, 0)),
               "opacity": 0.75 if not minority_under or c == order[0] else 0.35} for c in order]
    return pd.Categorical(values, categories=order).codes, groups


def umap_figure(points: pd.DataFrame, colour: str, colours: Mapping[str, str] | None = None,
                title: str | None = None, height: int = 520, marker_size: int = 5, hover: bool = True) -> go.Figure:
    """A 2-D map, one trace per group of ``colour`` (:func:`map_groups`); ``customdata`` holds the sample index
    first (what a selection returns), then the student id and the chance at risk when ``points`` has them
    (``id_student``, ``risk``), which the hover shows with the trace's name. Numbers only: a text per point made
    every redraw of a 25k-learner map encode, copy and send ~75,000 strings."""
    fig = go.Figure()
    codes, groups = map_groups(points, colour, colours)
    extra = [c for c in ("id_student", "risk") if c in points]
    numeric = all(pd.api.types.is_numeric_dtype(points[c]) for c in extra)
    template = "sample %{customdata[0]:.0f}"
    if "id_student" in extra:
        template += "<br>student %{customdata[1]" + (":.0f}" if numeric else "}")
    if "risk" in extra:
        template += f"<br>chance at risk %{{customdata[{len(extra)}]:.0%}}"
    for i, g in enumerate(groups):
        part = points[codes == i]
        cols = [part["sample"].to_numpy()] + [part[e].to_numpy() for e in extra]
        custom = np.column_stack(cols).astype(float) if numeric else np.column_stack(cols).astype(object)
        kw = {"hovertemplate": template} if hover else {"hoverinfo": "skip"}
        name = f"{g['value']} ({g['count']:,})" if colour == "correctness" else g["value"]
        fig.add_trace(go.Scattergl(x=part["x"].to_numpy(), y=part["y"].to_numpy(), mode="markers", name=name,
                                   customdata=custom, marker={
                                       "size": marker_size, "color": g["colour"], "opacity": g["opacity"],
                                       "line": {"width": 0}}, **kw))
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x", scaleratio=1)
    # no dragmode here: Streamlit then pans by default and selects a point on click (a select or lasso
    # dragmode would turn click-selection off); box and lasso stay in the mode bar.
    fig.update_layout(legend={"itemsizing": "constant"})
    return _layout(fig, title, height=height)


# ---- modality drop -----------------------------------------------------------------------------------
def drop_bar(table: pd.DataFrame, metric: str, modalities: Sequence[str], title: str | None = None) -> go.Figure:
    """Change in ``metric`` when each subset of modalities is removed, per removal mode."""
    t = table[table["removed"] != "none"]
    fig = go.Figure()
    for mode, part in t.groupby("mode", sort=False):
        colours = [modality_colour(r, modalities) if r in modalities else GREY for r in part["removed"]]
        fig.add_bar(x=[f"without {r}" for r in part["removed"]], y=part[f"delta_{metric}"], name=f"{mode} removal",
                    offsetgroup=str(mode), showlegend=False,
                    marker={"color": colours, "line": {"color": "#333333", "width": 1},
                            "pattern": {"shape": "" if mode == "mask" else ".", "fgcolor": "#333333", "solidity": 0.3}},
                    text=[f"{v:+.3f}" for v in part[f"delta_{metric}"]], textposition="outside",
                    hovertemplate="%{x} (" + str(mode) + "): %{y:+.3f}<extra></extra>")
    modes = list(dict.fromkeys(t["mode"]))
    neutral_legend(fig, {f"{m} removal": {"color": "#bbbbbb", "line": {"color": "#333333", "width": 1},
                                          "pattern": {"shape": "" if m == "mask" else ".", "fgcolor": "#333333"}}
                         for m in modes}, [str(m) for m in modes])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=f"change in {metric.replace('_', '-')} vs all modalities")
    fig.update_xaxes(tickangle=-20)
    return _layout(fig, title, height=400)


def robustness_figure(robustness: pd.DataFrame, metric: str, modalities: Sequence[str],
                      title: str | None = None) -> go.Figure:
    fig = go.Figure()
    for m, part in robustness.groupby("modality", sort=False):
        part = part.sort_values("noise")
        fig.add_scatter(x=part["noise"], y=part[metric], mode="lines+markers", name=str(m),
                        line={"color": modality_colour(str(m), modalities), "width": 3},
                        hovertemplate=f"{m}<br>noise %{{x}} sd<br>{metric} %{{y:.3f}}<extra></extra>")
    fig.update_xaxes(title="Gaussian noise added to the modality's inputs (training standard deviations)")
    fig.update_yaxes(title=metric.replace("_", "-"))
    return _layout(fig, title)


# ---- training diagnostics -------------------------------------------------------------------------------
LOSS_TERMS = ["train_total", "train_task", "train_infonce", "train_regression", "train_decorrelation",
              "train_orthogonality"]


def history_figure(history: pd.DataFrame, best_epoch: int | None = None, title: str | None = None) -> go.Figure:
    terms = [t for t in LOSS_TERMS if t in history]
    vals = [c for c in ("val_auc", "val_macro_f1", "val_accuracy") if c in history]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss terms (training, log scale)", "validation metrics"))
    dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
    greys = ["#000000", "#0072B2", "#D55E00", "#CC79A7", "#009E73", "#E69F00"]
    for i, t in enumerate(terms):
        fig.add_scatter(x=history["epoch"], y=history[t], name=t.removeprefix("train_"), mode="lines+markers",
                        line={"color": greys[i % 6], "dash": dashes[i % 6]}, row=1, col=1)
    for i, v in enumerate(vals):
        fig.add_scatter(x=history["epoch"], y=history[v], name=v.replace("_", " "), mode="lines+markers",
                        line={"color": CLASS_COLOURS[i % 3], "width": 3 if i == 0 else 2}, row=1, col=2)
    if best_epoch:
        for col in (1, 2):
            fig.add_vline(x=best_epoch, line_dash="dot", line_color=GREY, row=1, col=col)
    lo = float(np.nanmin(history[terms].to_numpy())) if terms else 0.01
    ticks = [v for v in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
             if v >= lo / 2]
    fig.update_yaxes(type="log", tickvals=ticks, row=1, col=1)
    fig.update_xaxes(title="epoch")
    _layout(fig, title, height=400, legend={"yanchor": "top", "y": -0.22})
    fig.update_layout(margin={"t": 40 + (34 if title else 0)})
    return fig


def heatmap(matrix, title: str | None = None, x_title: str = "", y_title: str = "", height: int = 380) -> go.Figure:
    z = np.asarray(matrix, dtype=float)
    fig = go.Figure(go.Heatmap(z=z, zmin=-1, zmax=1, zmid=0, colorscale="RdBu_r",
                               colorbar={"title": {"text": "r"}, "thickness": 12},
                               hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=y_title, scaleanchor="x", constrain="domain")
    fig.update_xaxes(title=x_title, constrain="domain")
    return _layout(fig, title, height=height)


def effective_rank_figure(table: pd.DataFrame, dims: int | None = None, title: str | None = None,
                          code_dim: int | None = None) -> go.Figure:
    """``table``: ``modality``, ``shared``, ``private`` effective ranks; ``code_dim``: the width of the aligned
    code (low-rank alignment), drawn as the rank the shared streams are designed to stay within."""
    mods = list(table["modality"])
    fig = go.Figure()
    for kind in ("shared", "private"):
        fig.add_bar(x=mods, y=table[kind], name=f"{kind} stream", offsetgroup=kind,
                    marker={"color": [stream_marker(f"{m}.{kind}", mods)["color"] for m in mods],
                            "line": {"color": [modality_colour(m, mods) for m in mods], "width": 1},
                            "pattern": {"shape": PRIVATE_PATTERN if kind == "private" else "",
                                        "fgcolor": [modality_colour(m, mods) for m in mods], "solidity": 0.25}},
                    text=[f"{v:.1f}" for v in table[kind]], textposition="outside", showlegend=False)
    neutral_legend(fig, {"shared stream (solid)": SOLID, "private stream (hatched)": HATCHED}, ["shared", "private"])
    if dims:
        fig.add_hline(y=dims, line_dash="dot", line_color=GREY, annotation_text=f"{dims} dimensions",
                      annotation_position="top left")
    if code_dim:
        fig.add_hline(y=code_dim, line_dash="dash", line_color=GREY, annotation_text=f"code width {code_dim}",
                      annotation_position="bottom right")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="effective rank", rangemode="tozero")
    return _layout(fig, title)


# ---- comparing runs ---------------------------------------------------------------------------------------
def metric_compare_figure(table: pd.DataFrame, metrics: Sequence[str] = ("auc", "macro_f1", "accuracy"),
                          label: str = "run", error: Mapping[str, str] | None = None,
                          title: str | None = None) -> go.Figure:
    fig = go.Figure()
    for i, m in enumerate(metrics):
        if m not in table:
            continue
        kw = {}
        if error and m in error and error[m] in table:
            kw["error_y"] = {"type": "data", "array": table[error[m]], "visible": True}
        fig.add_bar(x=table[label], y=table[m], name=m.replace("_", "-"), marker={"color": CLASS_COLOURS[i % 3]},
                    text=[f"{v:.3f}" if pd.notna(v) else "" for v in table[m]], textposition="outside", **kw)
    fig.update_layout(barmode="group")
    top = max([float(np.nanmax(pd.to_numeric(table[m], errors="coerce"))) for m in metrics if m in table] or [1.0])
    fig.update_yaxes(range=[0, 1.1] if top <= 1 else None, title="metric")
    fig.update_xaxes(tickangle=-30 if len(table) > 4 else 0)
    return _layout(fig, title, height=400)


def dominance_compare_figure(table: pd.DataFrame, modalities: Sequence[str], label: str = "run",
                             title: str | None = None) -> go.Figure:
    """Stacked modality shares per run (``table``: ``label`` + one column per modality)."""
    fig = go.Figure()
    for m in modalities:
        if m in table:
            fig.add_bar(y=table[label], x=table[m], orientation="h", name=m,
                        marker={"color": modality_colour(m, modalities)},
                        text=[f"{v:.0%}" if pd.notna(v) and v >= 0.05 else "" for v in table[m]],
                        textposition="inside", hovertemplate="%{y}<br>" + m + ": %{x:.1%}<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="share of attribution (test)")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(220, 100 + 40 * len(table)))


# ---- stream-level drop ------------------------------------------------------------------------------------
WHOLE = {"color": "#bbbbbb", "line": {"color": "#333333", "width": 1}}


def stream_drop_figure(frame: pd.DataFrame, value_title: str, modalities: Sequence[str],
                       title: str | None = None, fmt: str = "+.3f") -> go.Figure:
    """Per modality the change when removing the whole modality (grey), its shared stream alone (solid)
    and its private stream alone (hatched). ``frame``: :func:`dsrsd_core.views.stream_drop_frame`."""
    mods = list(frame["modality"])

    def labels(values) -> list[str]:
        return ["" if not np.isfinite(v) else "0" if abs(v) < 5e-4 else f"{v:{fmt}}" for v in values]

    fig = go.Figure()
    fig.add_bar(x=mods, y=frame["whole"], name="whole modality", offsetgroup="whole", marker=WHOLE, showlegend=False,
                text=labels(frame["whole"]), textposition="outside",
                hovertemplate="without %{x} (whole modality): %{y:" + fmt + "}<extra></extra>")
    for kind in ("shared", "private"):
        markers = [stream_marker(f"{m}.{kind}", modalities) for m in mods]
        fig.add_bar(x=mods, y=frame[kind], name=f"{kind} stream only", offsetgroup=kind, showlegend=False,
                    marker={"color": [mk["color"] for mk in markers],
                            "line": {"color": [modality_colour(m, modalities) for m in mods], "width": 1},
                            "pattern": {"shape": PRIVATE_PATTERN if kind == "private" else "",
                                        "fgcolor": [modality_colour(m, modalities) for m in mods], "solidity": 0.25}},
                    text=labels(frame[kind]), textposition="outside",
                    hovertemplate="without %{x}." + kind + ": %{y:" + fmt + "}<extra></extra>")
    neutral_legend(fig, {"whole modality removed": WHOLE, "only its shared stream removed": SOLID,
                         "only its private stream removed": HATCHED}, ["whole", "shared", "private"])
    fig.add_hline(y=0, line_color="#333333", line_width=1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=value_title)
    return _layout(fig, title, height=380)


# ---- model quality (dsrsd_core.quality) ------------------------------------------------------------------
def confusion_figure(matrix: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Counts with the share of each true class in the cell text; rows true, columns predicted."""
    z = matrix.to_numpy(float)
    share = z / np.maximum(z.sum(1, keepdims=True), 1)
    text = [[f"{int(v):,}<br>({s:.0%} of row)" for v, s in zip(rv, rs)] for rv, rs in zip(z, share)]
    names = [humanize(c) for c in matrix.columns]
    fig = go.Figure(go.Heatmap(z=share, x=names, y=[humanize(c) for c in matrix.index], zmin=0, zmax=1,
                               colorscale="Blues", showscale=False, text=text, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class", side="top")
    return _layout(fig, title, height=120 + 70 * len(names))


def roc_figure(curves: Mapping[str, pd.DataFrame], aucs: Mapping[str, float], title: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": GREY, "dash": "dot"})
    for i, (name, c) in enumerate(curves.items()):
        fig.add_scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=f"{name} (AUC {aucs[name]:.3f})",
                        line={"color": CLASS_COLOURS[i % len(CLASS_COLOURS)], "width": 2.5},
                        hovertemplate="false positive rate %{x:.2f}<br>true positive rate %{y:.2f}<extra></extra>")
    fig.update_xaxes(title="false positive rate (not at risk, flagged)", range=[0, 1])
    fig.update_yaxes(title="true positive rate (at risk, flagged)", range=[0, 1.02])
    return _layout(fig, title, height=400)


def pr_figure(curves: Mapping[str, pd.DataFrame], aps: Mapping[str, float], base_rates: Mapping[str, float],
              title: str | None = None) -> go.Figure:
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.items()):
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        fig.add_scatter(x=c["recall"], y=c["precision"], mode="lines", name=f"{name} (AP {aps[name]:.3f})",
                        line={"color": colour, "width": 2.5, "shape": "hv"},
                        hovertemplate="recall %{x:.2f}<br>precision %{y:.2f}<extra></extra>")
        fig.add_hline(y=base_rates[name], line_dash="dot", line_color=colour,
                      annotation_text=f"chance ({base_rates[name]:.0%} at risk)", annotation_position="bottom right")
    fig.update_xaxes(title="recall (share of the at-risk learners flagged)", range=[0, 1])
    fig.update_yaxes(title="precision (share of the flagged who are at risk)", range=[0, 1.02])
    return _layout(fig, title, height=400)


def calibration_figure(tables: Mapping[str, pd.DataFrame], title: str | None = None) -> go.Figure:
    """Observed share at risk against the mean predicted chance per bin (marker size: learners in the bin)."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"color": GREY, "dash": "dot"})
    for i, (name, t) in enumerate(tables.items()):
        size = 6 + 18 * np.sqrt(t["n"] / max(t["n"].max(), 1))
        fig.add_scatter(x=t["mean_predicted"], y=t["observed"], mode="lines+markers", name=name,
                        marker={"size": size, "color": CLASS_COLOURS[i % len(CLASS_COLOURS)]},
                        line={"color": CLASS_COLOURS[i % len(CLASS_COLOURS)]}, text=t["n"],
                        hovertemplate="predicted %{x:.0%}<br>observed %{y:.0%}<br>%{text} learners<extra></extra>")
    fig.update_xaxes(title="predicted chance of being at risk (mean in the bin)", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(title="observed share at risk", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, title, height=400)


def paired_bars(frame: pd.DataFrame, x: str, value: str, group: str, title: str | None = None,
                value_title: str = "", fmt: str = ".3f") -> go.Figure:
    """Two (or more) cohorts side by side: one bar colour per ``group``, labelled with its value, so a
    near-zero bar still shows its number."""
    fig = go.Figure()
    for i, (g, part) in enumerate(frame.groupby(group, sort=False)):
        fig.add_bar(x=part[x], y=part[value], name=str(g), marker={"color": CATEGORY_COLOURS[(2 * i) % len(CATEGORY_COLOURS)]},
                    text=[f"{v:{fmt}}" for v in part[value]], textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}<br>" + str(g) + ": %{y:" + fmt + "}<extra></extra>")
    fig.update_layout(barmode="group", showlegend=True)
    fig.update_yaxes(title=value_title)
    fig.update_xaxes(tickangle=-20)
    return _layout(fig, title, height=380)
