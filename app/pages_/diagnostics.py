"""Training diagnostics: loss terms per epoch, the shared space's correlation structure, shared/private
cross-correlation, effective rank and cross-modal alignment."""
import json

import pandas as pd
import streamlit as st

from app import ui
from dsrsd_core import figures as F
from dsrsd_core import views as V

ctx = ui.context()
st.title("Training diagnostics", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_run()
    hist = run.history
    best = run.info.get("best_epoch")
    st.caption(f"{len(hist)} epochs; best epoch {best} (dotted line), chosen on validation AUC; "
               f"{run.info.get('seconds', {}).get('per_epoch_mean', float('nan')):.2f} s per epoch on "
               f"{run.info.get('device', '?')}.")
    if run.has_doc("diagnostics"):
        diag = run.diagnostics
        flags = V.diagnostic_flags(diag, run.decomposition, run.config)
        with st.container(border=True, key="diag_flags"):
            st.markdown("**What to watch in the shared space**",
                        help="Collapsed: a shared stream whose effective rank is under 1.2 (it barely varies). "
                             "Retrieval at chance: each learner's aligned code ranks their own partner (the same "
                             "learner in the other modality, or with alignment “rest” the code's prediction from "
                             "the other modalities) no higher than a random learner, on average. Low rank: a shared stream "
                             "using under a quarter of its width, unless the model's low-rank code makes that "
                             "the design (alignment “rest”). Spare directions: directions of a shared stream the "
                             "other modalities do not predict (a code wider than what is shared).")
            warnings = [f for f in flags if f["severity"] == "warning"]
            for f in warnings:
                st.markdown(f":orange[:material/warning:] {f['text']}")
            for f in flags:
                if f["severity"] != "warning":
                    st.markdown(f":gray[:material/info:] {f['text']}")
            if not warnings:
                st.markdown(":green[:material/check_circle:] No collapsed shared stream, no retrieval at chance "
                            "and no shared stream far below its width.")
            pruning = V.code_pruning_note(hist, run.config)
            if pruning:
                st.markdown(f":gray[:material/compress:] {pruning}")
    ui.chart(F.history_figure(hist, best), key="history")
    ui.dataframe(hist.round(5), "history", key="history_table")

    if run.has_doc("diagnostics"):
        diag = run.diagnostics
        per = diag.get("per_modality", {})
        mods = [m for m in diag.get("modalities", run.modalities) if m in per]
        st.subheader("Shared space (test split)", anchor=False)
        ranks = pd.DataFrame({"modality": mods,
                              "shared": [per[m].get("shared_effective_rank") for m in mods],
                              "private": [per[m].get("private_effective_rank") for m in mods],
                              "mean_abs_cross_correlation": [per[m].get("mean_abs_cross_correlation") for m in mods]})
        dims = next((per[m].get("dims") for m in mods if per[m].get("dims")), None)
        e1, e2 = st.columns([1.3, 1])
        with e1:
            code_dim = run.config.get("code_dim") if run.config.get("alignment") == "rest" else None
            ui.chart(F.effective_rank_figure(ranks, dims, "Effective rank per stream", code_dim), key="ranks")
        with e2:
            pooled = diag.get("shared_effective_rank_pooled")
            if pooled is not None:
                st.metric("Pooled shared effective rank", f"{pooled:.1f}" + (f" of {dims}" if dims else ""))
            st.caption("Effective rank: exp(entropy of the normalised eigenvalues), roughly how many directions "
                       "a stream uses. " + (f"This model aligns a {code_dim}-dimensional code per modality, so a "
                       f"shared stream of rank up to {code_dim} is by design. " if code_dim else "Near the "
                       "dimension: the decorrelation loss keeps the space from collapsing. ") +
                       "Mean |cross-correlation|: how much a modality's shared and private streams still overlap "
                       "(the orthogonality loss lowers it).")
            ui.dataframe(ranks.round(4), "effective ranks", key="ranks_table")

        modality = st.selectbox("Modality", mods, key="diag_modality")
        h1, h2 = st.columns(2)
        with h1:
            ui.chart(F.heatmap(per[modality]["shared_correlation"], f"{modality}: shared-stream correlation",
                               "dimension", "dimension"), key="corr")
        with h2:
            ui.chart(F.heatmap(per[modality]["shared_private_cross_correlation"],
                               f"{modality}: shared × private cross-correlation", "private dimension",
                               "shared dimension"), key="cross")
        c = st.columns(2)
        c[0].download_button("Download shared correlation (CSV)",
                             pd.DataFrame(per[modality]["shared_correlation"]).to_csv(index=False),
                             file_name=f"{modality}_shared_correlation.csv", mime="text/csv", key="csv_corr",
                             icon=":material/download:")
        c[1].download_button("Download cross-correlation (CSV)",
                             pd.DataFrame(per[modality]["shared_private_cross_correlation"]).to_csv(index=False),
                             file_name=f"{modality}_cross_correlation.csv", mime="text/csv", key="csv_cross",
                             icon=":material/download:")

        st.subheader("Cross-modal alignment (test split)", anchor=False)
        al = pd.DataFrame([{"pair": V.alignment_label(k), **v}
                           for k, v in diag.get("alignment", {}).items()])
        st.caption("What the model aligns, learner by learner: a modality's code and its prediction from the "
                   "other modalities (alignment “rest”), or two modalities' aligned streams. Paired cosine: "
                   "the same learner's pair against random pairs; top-1 retrieval: how often the partner comes "
                   "first among all test learners (chance 1/n); mean rank: where the partner comes on average "
                   "(0 first, 1 last; chance 0.5 ± chance_rank_sd).")
        ui.dataframe(al.round(4), "alignment", key="alignment_table")
    else:
        st.info(f"No diagnostics yet: run `dsrsd explain {run.path}` to add the shared-space diagnostics.")

    with st.expander("Settings and timings"):
        st.code(json.dumps({"config": run.config, "seconds": run.info.get("seconds"),
                            "code_version": run.info.get("code_version")}, indent=2), language="json")
