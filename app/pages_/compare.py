"""Compare runs: DSRSD-Net beside baselines and ablations (metrics and dominance), and the benchmark
tables (results.csv) found in the runs folder."""
from pathlib import Path

import pandas as pd
import streamlit as st

from app import runs, ui
from dsrsd_core import figures as F
from dsrsd_core import views as V
from dsrsd_core.errors import DsrsdError


def label(path: Path, folder: str) -> str:
    if path == runs.shipped_run():
        return "default (shipped)"
    try:
        return str(path.resolve().relative_to(Path(folder).expanduser().resolve()))
    except (ValueError, OSError):
        return path.name


ctx = ui.context()
st.title("Compare runs", anchor=False)
with ui.guard():
    paths = ctx.runs or [ctx.run_path]
    rows = []
    for p in paths:
        row = runs.run_row(p)
        row["run"] = label(Path(p), ctx.runs_folder) if ctx.runs_folder else Path(p).name
        rows.append(row)
    listing = pd.DataFrame(rows)
    mods = list(dict.fromkeys(m for r in rows for m in r.get("shares", {})))
    for m in mods:
        listing[m] = [r.get("shares", {}).get(m) for r in rows]
    st.caption(f"{len(rows)} run(s): the shipped run and the runs found in "
               f"{'`' + ctx.runs_folder + '`' if ctx.runs_folder else 'no runs folder (name one in the sidebar or set DSRSD_RUNS)'}. "
               "Runs are compared only with runs on the same data (same data files, presentations, task, target "
               "and cut-off); each other kind of data gets its own group below.")
    # the numbers first, the long settings last, so a narrow screen shows what is compared
    cols = ["run", "model", "test_auc", "test_macro_f1", "test_accuracy", "test_n", "val_auc"] + mods + \
        ["explained", "problem", "target", "created", "loss_weights", "data", "path"]
    here = V.data_identity(ctx.run.info)[0] if ctx.run is not None else None
    order = [here] + [k for k in dict.fromkeys(listing["data_key"]) if k != here]
    for i, key in enumerate(k for k in order if k in set(listing["data_key"])):
        group = listing[listing["data_key"] == key]
        shown = group.reindex(columns=cols)
        same = key == here
        with st.container(border=True, key=f"cmp_group_{i}"):
            st.subheader(("Same data as the selected run" if same else f"Other data ({i})"), anchor=False)
            st.caption(f"{group['data'].iloc[0]} · {len(group)} run(s)" + ("" if same else
                       " · not comparable with the selected run: another task, or the same task on other samples"))
            ui.dataframe(shown.round(4), "runs" if same else f"runs other data {i}", key="runs_table" if same
                         else f"runs_table_{i}", percent=mods,
                         column_config={"run": st.column_config.TextColumn(pinned=True),
                                        "path": st.column_config.TextColumn(width="medium")})
            ok = shown[shown["test_auc"].notna()].rename(columns={"test_auc": "auc", "test_macro_f1": "macro_f1",
                                                                  "test_accuracy": "accuracy"})
            dom = shown[shown["explained"].fillna(False).astype(bool)]
            if ok.empty and dom.empty:
                continue
            c1, c2 = st.columns(2)
            with c1:
                st.markdown("**Test metrics**")
                if len(ok):
                    ui.chart(F.metric_compare_figure(ok, label="run"), key=f"cmp_metrics_{i}")
                else:
                    st.info("No run with test metrics in this group.")
            with c2:
                st.markdown("**Which modality dominates**")
                if len(dom) and mods:
                    ui.chart(F.dominance_compare_figure(dom, mods, label="run"), key=f"cmp_dominance_{i}")
                    st.caption("Runs without stream-level attributions (most baselines) are left out here.")
                else:
                    st.info("No run with recorded attributions (explain/summary.json) in this group.")

    results = runs.find_results(ctx.runs_folder)
    st.subheader("Benchmarks", anchor=False)
    if not results:
        st.caption("No results.csv found in the runs folder. A benchmark writes one (columns model, seed, split, "
                   "metric, value); put its output folder in the runs folder to see mean ± std per model here.")
    for path in results:
        with st.container(border=True):
            st.markdown(f"**{path}**")
            try:
                summ = V.results_summary(runs.read_results(path))
            except (DsrsdError, ValueError) as e:
                st.warning(f"{path} cannot be used: {e}")
                continue
            splits = sorted(summ["split"].dropna().unique()) if "split" in summ else [None]
            key = ui.slug(str(path))
            split = st.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0,
                                 key=f"res_split_{key}") if splits != [None] else None
            wide = V.results_wide(summ, split)
            ui.dataframe(wide, f"benchmark {path.parent.name} {split or ''}", key=f"res_{key}")
            part = summ if split is None else summ[summ["split"] == split]
            main = [m for m in V.MAIN_METRICS if m in set(part["metric"])]
            if main:
                means = V.results_wide(part[part["metric"].isin(main)], None, "mean")
                stds = V.results_wide(part[part["metric"].isin(main)], None, "std")
                fig_tbl = means.merge(stds.add_suffix("_std").rename(columns={"model_std": "model"}), on="model")
                ui.chart(F.metric_compare_figure(fig_tbl, main, label="model", error={m: f"{m}_std" for m in main},
                                                 title=f"{split or ''} metrics, mean ± std over seeds"),
                         key=f"res_fig_{key}")
            dom = V.results_dominance(summ)
            dmods = [c for c in dom.columns if c != "model"]
            if dmods:
                ui.chart(F.dominance_compare_figure(dom, dmods, label="model",
                                                    title="Modality shares per model (test, mean over seeds)"),
                         key=f"res_dom_{key}")
                ui.csv_button(dom, f"benchmark {path.parent.name} modality shares", key=f"csv_dom_{key}")
