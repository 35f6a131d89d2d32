"""Overview: data card, metrics beside the baselines found, and which modality drives the model."""
from pathlib import Path

import pandas as pd
import streamlit as st

from app import runs, svg, ui
from dsrsd_core import figures as F
from dsrsd_core import views as V
from dsrsd_core.errors import DsrsdError


def baselines(ctx, run) -> tuple[pd.DataFrame, int]:
    """Test metrics of this run and of the other runs found on the same data (same files, presentations,
    task, target and cut-off: like with like), and how many runs on other data were left out (read
    leniently: baseline runs may hold little more than run.json and metrics.json)."""
    rows, other = [], 0
    key = V.data_identity(run.info)[0]
    for path in ctx.runs:
        row = runs.run_row(path)
        if row.get("test_auc") is None:
            continue
        if row.get("data_key") != key:
            other += 1
            continue
        this = Path(path).resolve() == run.path.resolve()
        rows.append({"run": "this run" if this else Path(path).name, "model": row.get("model") or "?",
                     "auc": row.get("test_auc"), "macro_f1": row.get("test_macro_f1"),
                     "accuracy": row.get("test_accuracy"), "n_test": row.get("test_n")})
    return pd.DataFrame(rows, columns=["run", "model", "auc", "macro_f1", "accuracy", "n_test"]), other


ctx = ui.context()
st.title("Overview", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_run()
    st.caption(f"Run `{run.path}` · model `{run.info.get('model')}` · created {ui.when(run.info.get('created'))}")

    problem = runs.explain_problem(run.path)
    if problem:
        try:
            ctx.require_explained()
        except DsrsdError as e:
            st.info(f"Attribution views need an explanation: {e}")
    else:
        summary = run.summary
        test = summary["attribution"]["test"]
        with st.container(border=True):
            st.markdown("**Which modality drives this model?**")
            st.markdown(f"##### {V.headline(test['modality_share'], test.get('stream_share'))}")
            pt = summary.get("planted_truth")
            if pt:
                st.caption(V.planted_truth_sentence(pt))
            if ctx.cohort.active:
                cohort = ctx.cohort_learners()
                shap = runs.frame(run, "shapley").loc[cohort.index]
                shares = V.share_table(shap, run.streams)
                mod = shares.groupby("modality", sort=False)["share"].sum().to_dict()
                st.caption(f"In the filtered cohort ({len(cohort):,} learners, all splits): "
                           f"{V.headline(mod, dict(zip(shares['stream'], shares['share'])), 'this cohort')}")
        ui.decomposition_block(run, "overview")

    left, right = st.columns([1.1, 1])
    with left:
        st.subheader("Data card", anchor=False)
        card = V.data_card(run.info, runs.frame(run, "samples"))
        st.markdown("\n".join(f"- **{k}**: {v}" for k, v in card["facts"].items()))
        if len(card["presentations"]):
            with st.expander("Presentations and cut-off days"):
                ui.table(card["presentations"], "presentations", key="presentations")
    with right:
        st.subheader("Metrics", anchor=False)
        metrics = V.metrics_table(run.metrics)
        ui.table(metrics, "metrics", key="metrics")
        base, other = baselines(ctx, run)
        if len(base) > 1:
            st.markdown("**Beside the baselines found** (test split; runs on the same data: same data files, "
                        "presentations, task, target and cut-off)")
            ui.chart(F.metric_compare_figure(base, label="run"), key="baseline_chart")
            ui.table(base, "baselines", key="baselines")
        else:
            st.caption("No baseline or ablation run on the same data found beside this one. Name a runs folder in "
                       "the sidebar (or set DSRSD_RUNS) that holds them; **Compare runs** lists everything found.")
        if other:
            st.caption(f"{other} run(s) trained on other data (other files, presentations, target or cut-off) are "
                       "not compared with this one: their metrics measure another task. **Compare runs** lists "
                       "them grouped by data.")
        for path in runs.find_results(ctx.runs_folder):
            try:
                res = V.results_wide(V.results_summary(runs.read_results(path)), "test")
            except (DsrsdError, ValueError) as e:
                st.caption(f"{path}: {e}")
                continue
            st.markdown(f"**Benchmark** `{path}` (test, mean ± std over seeds)")
            ui.table(res, f"benchmark {path.parent.name}", key=f"bench_{ui.slug(str(path))}")

    if not problem:
        st.subheader("Attribution per modality and stream (test split)", anchor=False)
        shares = V.test_shares(run.summary, run.metrics, run.streams)
        c1, c2 = st.columns([1, 1])
        with c1:
            # an SVG, not a plotly chart: plotly.js would add seconds to the Overview's first render (app/svg.py)
            ui.svg(svg.modality_stream_bar(shares))
        with c2:
            st.markdown("Shares of mean absolute **exact Shapley value** over the streams, for the predicted "
                        "class. Solid: the part a modality shares with the others; hatched: its private part. "
                        "**Modality dominance** breaks this down by class, cohort and gate; the **Learner "
                        "explorer** shows it for one learner.")
            ui.table(shares[["stream", "modality", "kind", "share"]], "stream shares test", key="overview_share_table")
