"""Building blocks shared by the pages: the sidebar (run picker, cohort filters), the page guard
that turns problems into friendly messages, CSV buttons and chart helpers."""
from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import streamlit as st

from app import runs
from dsrsd_core.errors import DsrsdError
from dsrsd_core import views as V
from dsrsd_core.views import COHORT_COLUMNS

log = logging.getLogger("dsrsd.app")
CTX_KEY = "_dsrsd_ctx"
LEARNER_KEY = "learner_sample"
PAGES = {  # page id -> (file relative to app/, title, material icon)
    "overview": ("pages_/overview.py", "Overview", ":material/home:"),
    "dominance": ("pages_/dominance.py", "Modality dominance", ":material/pie_chart:"),
    "learner": ("pages_/learner.py", "Learner explorer", ":material/person_search:"),
    "quality": ("pages_/quality.py", "Model quality", ":material/fact_check:"),
    "cohorts": ("pages_/cohorts.py", "Compare cohorts", ":material/group:"),
    "embedding": ("pages_/embedding.py", "Embedding space", ":material/scatter_plot:"),
    "drop": ("pages_/drop_lab.py", "Modality-drop lab", ":material/science:"),
    "diagnostics": ("pages_/diagnostics.py", "Training diagnostics", ":material/monitoring:"),
    "compare": ("pages_/compare.py", "Compare runs", ":material/compare_arrows:"),
}
PLOTLY_CONFIG = {"displayModeBar": False}


# ---- the page guard --------------------------------------------------------------------------------
@contextmanager
def guard():
    """Run a page body; a user-fixable problem becomes a message saying what to do, a bug a short
    error (the traceback goes to the server log, never to the page)."""
    try:
        yield
    except DsrsdError as e:
        st.warning(f"{e}", icon=":material/folder_off:")
    except runs.EmptyCohort as e:
        st.warning(f"{e}", icon=":material/filter_alt_off:")
    except Exception as e:  # st.stop / st.rerun are BaseExceptions and pass through
        print(f"dsrsd app: unexpected error on page {page_name()}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        st.error(f"This view could not be drawn ({type(e).__name__}). The details are in the server log; "
                 "please report them with the run directory you used.", icon=":material/bug_report:")


def page_name() -> str:
    try:
        return st.context.url or "?"
    except Exception:
        return "?"


def context() -> runs.Context:
    ctx = st.session_state.get(CTX_KEY)
    if ctx is None:  # a page opened without app/main.py (should not happen): read the shipped run
        ctx = build_context(str(runs.shipped_run()), "", {})
    return ctx


# ---- downloads & charts ----------------------------------------------------------------------------
def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def csv_button(frame: pd.DataFrame, name: str, label: str | None = None, key: str | None = None) -> None:
    """An explicit 'Download CSV' button for a table shown on the page."""
    run = st.session_state.get(CTX_KEY)
    prefix = slug(run.run_path.name) + "_" if run is not None else ""
    # the CSV is written when the button is pressed, not on every rerun (the at-risk list of a 25k run is MBs)
    st.download_button(label or f"Download {name} (CSV)", lambda: frame.to_csv(index=False).encode("utf-8"),
                       file_name=f"{prefix}{slug(name)}.csv", mime="text/csv", key=key or f"csv_{slug(name)}",
                       icon=":material/download:")


def when(created) -> str:
    """A run's creation time as people read it, "2026-12-01 13:53 UTC" (run.json keeps ISO 8601). Also keeps
    "13:53:32" out of the page, which Streamlit's markdown would take for an emoji shortcode (":53:") and load
    its emoji table for (~260 KB of JavaScript on a first visit)."""
    try:
        t = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created or "?")
    return (t.astimezone(timezone.utc) if t.tzinfo else t).strftime("%Y-%m-%d %H:%M") + (" UTC" if t.tzinfo else "")


def is_share_column(name) -> bool:
    """A column of shares or rates, by whole word: "modality_share", "flip rate"; not "shared R² from others"."""
    return re.search(r"(?<![a-z])(shares?|rate)(?![a-z])", str(name)) is not None


def share_columns(frame: pd.DataFrame, percent: list | None = None) -> list:
    return [c for c in frame.columns if (c in (percent or []) or is_share_column(c))
            and pd.api.types.is_numeric_dtype(frame[c])]


def dataframe(frame: pd.DataFrame, name: str, key: str | None = None, height: int | str = "auto",
              percent: list | None = None, **kw):
    """A dataframe followed by its CSV button. Shares (columns named ``*share*`` or ``*rate*``, and those in
    ``percent``) are shown as percentages, as in the charts beside them; the CSV keeps the fractions."""
    config = dict(kw.pop("column_config", None) or {})
    for col in share_columns(frame, percent):
        config.setdefault(col, st.column_config.NumberColumn(format="percent"))
    out = st.dataframe(frame, hide_index=True, height=height, key=key, column_config=config or None, **kw)
    csv_button(frame, name, key=f"csv_{key or slug(name)}")
    return out


def table(frame: pd.DataFrame, name: str, key: str | None = None, formats: dict | None = None) -> None:
    """A small static table followed by its CSV button, for tables of a few rows that need no sorting or
    scrolling. Drawn as a Markdown table: the interactive grid of st.dataframe costs the browser ~0.05 s per
    draw, and even st.table makes a page's first visit load Streamlit's Arrow code (~1 MB of JavaScript,
    ~0.28 s of the Overview's cold first render: docs/benchmarks.md, "Dashboard speed"). Numbers show 4
    decimals and shares percentages, unless ``formats`` (column -> format string) says otherwise; the CSV
    keeps the numbers as they are."""
    shown = {c: "{:.1%}" for c in share_columns(frame)} | (formats or {})
    st.markdown(markdown_table(frame, shown))
    csv_button(frame, name, key=f"csv_{key or slug(name)}")


# what Markdown or Streamlit's extensions would read in a cell: emphasis, code, links and images, HTML and
# entities, strikethrough, LaTeX ($), emoji shortcodes and colour directives (:), the cell separator (|)
_MARKDOWN_SIGNS = re.compile(r"([\\`*_\[\]<>&~$:|!])")


def markdown_text(value) -> str:
    """``value`` as literal text inside a Markdown table cell."""
    return _MARKDOWN_SIGNS.sub(r"\\\1", str(value)).replace("\n", " ")


def cell_text(value, fmt: str | None = None) -> str:
    """One cell as shown: "—" when missing, else ``fmt`` or, for a float, 4 decimals."""
    try:
        missing = value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array in a cell
        missing = False
    if missing:
        return "—"
    if fmt:
        return fmt.format(value)
    return f"{value:.4f}" if pd.api.types.is_float(value) else str(value)


def markdown_table(frame: pd.DataFrame, formats: dict | None = None, cell=None) -> str:
    """``frame`` as a GitHub-flavoured Markdown table, numeric columns right-aligned, every cell escaped;
    ``formats``: column -> format string; ``cell(column, value, text)``: may wrap a cell's escaped text (a
    colour directive)."""
    formats = formats or {}
    cols = list(frame.columns)
    right = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in cols]
    lines = ["| " + " | ".join(markdown_text(c) for c in cols) + " |",
             "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
    for rec in frame.itertuples(index=False):
        texts = [markdown_text(cell_text(v, formats.get(c))) for c, v in zip(cols, rec)]
        if cell is not None:
            texts = [cell(c, v, t) for c, v, t in zip(cols, rec, texts)]
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines)


def chart(fig, key: str | None = None, config: dict | None = None, **kw):
    return st.plotly_chart(fig, key=key, config=config or PLOTLY_CONFIG, **kw)


def svg(markup: str) -> None:
    """An inline SVG chart (app/svg.py): drawn by the browser at once, without plotly.js. Through markdown:
    st.html's sanitiser drops SVG elements (Streamlit 1.67)."""
    st.markdown(markup, unsafe_allow_html=True)


def open_learner(sample: int, id_student=None) -> None:
    """Make ``sample`` the learner the Learner explorer shows (call from callbacks or other pages)."""
    st.session_state[LEARNER_KEY] = int(sample)
    if id_student is not None:
        st.session_state["learner_id"] = str(id_student)
    st.session_state.pop("learner_msg", None)
    sync_url()


def go_to_learner(sample: int, id_student=None):
    """Open ``sample`` in the Learner explorer, keeping the run (and runs folder) in the URL."""
    open_learner(sample, id_student)
    st.switch_page(learner_page(), query_params=url_params())


# ---- the URL: run, runs folder and learner as query parameters (bookmarks, reloads, page switches) ----
RUN_PARAM, FOLDER_PARAM, LEARNER_PARAM = "run", "folder", "learner"
RUN_KEEP = "_run_keep"  # the chosen run outside widget state, which Streamlit may drop on a page switch


def url_params() -> dict[str, str]:
    """What the URL should say now: the run unless it is the shipped one, the runs folder when typed, the learner."""
    out = {}
    run = st.session_state.get(RUN_KEEP)
    if run and Path(run) != runs.shipped_run():
        out[RUN_PARAM] = str(run)
    folder = str(st.session_state.get("runs_folder") or "").strip()
    if folder and folder != os.environ.get("DSRSD_RUNS", ""):
        out[FOLDER_PARAM] = folder
    if st.session_state.get(LEARNER_KEY) is not None:
        out[LEARNER_PARAM] = str(int(st.session_state[LEARNER_KEY]))
    return out


def sync_url() -> None:
    want = url_params()
    if {k: st.query_params.get(k) for k in (RUN_PARAM, FOLDER_PARAM, LEARNER_PARAM) if k in st.query_params} != want:
        st.query_params.from_dict(want)


def _url_learner() -> int | None:
    try:
        return int(st.query_params.get(LEARNER_PARAM, ""))
    except ValueError:
        return None


def learner_page():
    return page_path("learner")


def page_path(page_id: str) -> str:
    return PAGES[page_id][0]


# ---- which stored attribution a view shows ------------------------------------------------------------
METHODS = {"shapley": ("exact Shapley values", "shapley", "phi_"),
           "ig": ("integrated gradients", "stream_ig", "ig_")}
METHOD_HELP = ("Both are stored by `dsrsd explain`, per stream, for each learner's predicted class. Exact Shapley "
               "values average a stream's effect over every subset of the other streams (they add up to the "
               "prediction); integrated gradients follow the gradient from a zero stream to the learner's own. "
               "Where they disagree, read either with care.")


def attribution_method(run, key: str) -> tuple[str, str, str]:
    """A choice between the stored attributions (exact Shapley, integrated gradients) where both exist;
    returns ``(method words, table name, column prefix)``."""
    method = "shapley"
    if run.has_table("stream_ig"):
        method = st.segmented_control("Attribution method", list(METHODS), format_func=lambda m: METHODS[m][0],
                                      default="shapley", key=key, help=METHOD_HELP) or "shapley"
    return METHODS[method]


# ---- sidebar -----------------------------------------------------------------------------------------
def _run_label(path: Path, shipped: Path) -> str:
    row = runs.run_row(path)
    if row.get("problem") and not row.get("model"):
        desc = "cannot be read"
    else:
        desc = f"{row.get('model') or '?'} · {row.get('target') or '?'}" + (" · problem" if row.get("problem") else "")
    name = "default, shipped" if path == shipped else path.name
    return f"{name} ({desc})"


def _reset_filters() -> None:
    for col in COHORT_COLUMNS:
        st.session_state[f"filter_{col}"] = []


def build_context(run_path: str, runs_folder: str, filters: dict) -> runs.Context:
    ctx = runs.Context(run_path=Path(run_path), cohort=runs.Cohort(filters), runs_folder=runs_folder)
    try:
        ctx.run = runs.open_run(run_path)
    except DsrsdError as e:
        ctx.error = str(e)
    return ctx


def sidebar() -> runs.Context:
    """Run picker and cohort filters; returns (and stores) the pages' context."""
    sb = st.sidebar
    shipped = runs.shipped_run()
    first = "_dsrsd_started" not in st.session_state  # a new session (or a reload): the URL says what to open
    st.session_state["_dsrsd_started"] = True
    if "runs_folder" not in st.session_state:
        st.session_state["runs_folder"] = st.session_state.get("_folder_keep") or \
            st.query_params.get(FOLDER_PARAM) or os.environ.get("DSRSD_RUNS", "")
    sb.markdown("#### Run")
    folder = sb.text_input("Runs folder", key="runs_folder", placeholder="e.g. runs/ (or set DSRSD_RUNS)",
                           help="Run directories (folders with a run.json) and benchmark outputs (results.csv) "
                                "at most three levels below this folder are listed.").strip()
    if folder and not Path(folder).expanduser().is_dir():
        sb.warning(f"No folder at {folder}; showing the shipped run only.")
    st.session_state["_folder_keep"] = folder
    found = runs.find_runs(folder)
    if folder and Path(folder).expanduser().is_dir() and not found:
        sb.info(f"No run directory (a folder with a run.json) in {folder} or up to three levels below it; "
                "showing the shipped run only.", icon=":material/folder_open:")
    candidates = [shipped] + [p for p in found if p.resolve() != shipped.resolve()]
    options = [str(p) for p in candidates]
    # the widget's own value first (the user just changed it), then the run kept outside widget state (a page
    # switch may drop widget state), then the URL (a reload or a bookmark), then the shipped run
    for wanted in (st.session_state.get("run_choice"), st.session_state.get(RUN_KEEP),
                   st.query_params.get(RUN_PARAM) if first else None):
        if wanted in options:
            st.session_state["run_choice"] = wanted
            break
    else:
        st.session_state["run_choice"] = options[0]
    labels = {str(p): _run_label(p, shipped) for p in candidates}
    choice = sb.selectbox("Run", options, key="run_choice", format_func=lambda o: labels.get(o, o))
    st.session_state[RUN_KEEP] = choice
    if st.session_state.get("_active_run") != choice:  # a new run: its samples differ, reset the views
        st.session_state["_active_run"] = choice
        st.session_state.pop(LEARNER_KEY, None)
        _reset_filters()
        if first and _url_learner() is not None:  # a bookmarked learner of this run
            st.session_state[LEARNER_KEY] = _url_learner()
    sync_url()
    ctx = build_context(choice, folder, {})
    ctx.runs = candidates
    if ctx.run is not None:
        info = ctx.run.info
        sb.caption(f"`{ctx.run.path}` · {info.get('model', '?')} · created {when(info.get('created'))}")
        _filters(sb, ctx)
    else:
        sb.caption(f"`{choice}` cannot be opened (see the page).")
    st.session_state[CTX_KEY] = ctx
    return ctx


def _filters(sb, ctx: runs.Context) -> None:
    try:
        frame, choices = runs.learners(ctx.run), runs.filter_options(ctx.run)
    except DsrsdError as e:
        sb.caption(f"Cohort filters unavailable: {e}")
        return
    sb.markdown("#### Cohort")
    with sb.expander("Cohort filters", expanded=False, icon=":material/filter_alt:"):
        for col, label in COHORT_COLUMNS.items():
            if col not in choices:
                continue
            options = choices[col]
            key = f"filter_{col}"
            if key in st.session_state:  # keep only values this run has
                st.session_state[key] = [v for v in st.session_state[key] if v in options]
            st.multiselect(label, options, key=key, placeholder="all")
        st.button("Clear filters", on_click=_reset_filters, icon=":material/filter_alt_off:")
    ctx.cohort = runs.Cohort({c: list(st.session_state.get(f"filter_{c}", [])) for c in COHORT_COLUMNS})
    unit = V.sample_unit(ctx.run.info)  # a knowledge-tracing run's samples are responses, not learners
    if ctx.cohort.active:
        n = int(ctx.cohort.mask(frame).sum())
        sb.caption(f"**{n:,} of {len(frame):,} {unit}** · {ctx.cohort.describe()}")
    else:
        sb.caption(f"**All {len(frame):,} {unit}** (no filter)")


# ---- what the shared and private streams hold (Overview, Embedding space) ------------------------------
PROBES = {"best": "best of the two probes", "linear": "linear (ridge) probe", "mlp": "small neural-network probe"}
SPLIT_HELP = ("Each modality's encoding is split into a *shared* stream (meant to hold what the other modalities "
              "also carry) and a *private* one (what only this modality shows). `dsrsd explain` checks this on the "
              "test split: R² (0 = nothing, 1 = all) says how well a stream's values predict a quantity.")


def decomposition_block(run, key: str, fold: bool = False) -> None:
    """The verdict badge, its reason and meaning, then the factor x stream table on synthetic runs or the
    cross-modal table on real data (``fold``: inside an expander). Reads ``decomposition.json`` only (a
    one-line note without it)."""
    dec = run.decomposition
    v = V.verdict_view(dec)
    with st.container(border=True, key=f"{key}_decomposition"):
        st.markdown("**Do the shared and private streams mean what they say?**", help=SPLIT_HELP)
        if not v["measured"]:
            st.caption(v["meaning"].replace("RUN", str(run.path)))
            return
        st.badge(f"Split {v['label']}", color=v["colour"], icon=":material/verified:" if v["level"] == "trusted"
                 else ":material/warning:" if v["level"] == "partly" else ":material/block:")
        st.markdown(f"{v['reason']}. *{v['meaning']}*")
        if v["skipped"]:
            st.caption(v["skipped"])
        placement = dec.get("placement") or {}
        title = "Where the planted factors ended up" if placement else "Cross-modal measures"
        with (st.expander(title) if fold else st.container()):
            if placement:
                _factor_table(run, dec, key)
            else:
                _cross_modal(run, dec, key)


def _factor_table(run, dec, key: str) -> None:
    probes = runs.frame(run, "decomposition_probes") if run.has_table("decomposition_probes") else None
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    probe = "best"
    if probes is not None:
        probe = c2.selectbox("Probe", list(PROBES), format_func=PROBES.get, key=f"{key}_probe",
                             help="R² of a ridge (linear) or a one-hidden-layer network (mlp) probe fitted on the "
                                  "training split; the verdict uses the better of the two.")
    c1.markdown(f"**Planted factors × stream** (synthetic data): probe R² on the test split, {PROBES[probe]}",
                help=V.placement_legend(dec))
    tbl = V.factor_table(dec, probes, run.streams, probe)
    # shown with streams as rows and one column per factor (headed by its ✓ / ✗), so it fits the page
    heads = {f: f"{f} {mark}" for f, mark in zip(tbl["factor"], tbl["as planted"])}
    view = tbl.set_index("factor")[list(run.streams)].T.rename(columns=heads)
    view.insert(0, "stream", [s.replace(".", " · ") for s in view.index])
    # a static Markdown table (a grid here cost the Overview's first render ~0.3 s: docs/benchmarks.md)
    st.markdown(markdown_table(view, cell=_mark_cell))
    csv_button(tbl, "factor placement", key=f"csv_{key}_factor_table")
    st.caption(" · ".join(f"**{r['factor']}** {r['kind']}, observed by {r['observed by']}"
                          for r in tbl.to_dict("records")) + ". " + V.placement_legend(dec))
    if dec.get("proxy_verdict"):
        pv = V.verdict_view({"verdict": dec["proxy_verdict"]})
        with st.expander(f"Measures that need no planted truth (as on real data) would say: {pv['label']}"):
            st.markdown(f"{pv['reason']}.")
            _cross_modal(run, dec, key)


def _mark_cell(column, value, text: str) -> str:
    """A factor cell on a green background where the factor sits as planted (✓), red where not (✗), grey
    where it is not checked."""
    if str(value).endswith("✓"):
        return f":green-background[{text}]"
    if str(value).endswith("✗"):
        return f":red-background[{text}]"
    return text if column == "stream" else f":gray[{text}]"


def _cross_modal(run, dec, key: str) -> None:
    st.markdown("**Cross-modal measures** (test split)", help=V.cross_modal_legend(dec))
    table(V.cross_modal_table(dec, run.modalities), "cross-modal measures", key=f"{key}_cross_modal")
    st.caption(V.cross_modal_legend(dec))
