"""Embedding space: the stored 2-D UMAP maps of the shared and private streams, side by side.
Selecting one point opens that learner in the Learner explorer; a box or lasso lists the learners."""
import pandas as pd
import streamlit as st

from app import runs, ui
from app.map_canvas import scatter_map
from app.pick_list import RISK_FORMAT, learner_rows, learner_tips, page_of, pick_list
from dsrsd_core import figures as F
from dsrsd_core import views as V

ALL = "shared vs private (all modalities)"
COLOURS = {"modality": "Modality", "stream": "Stream", "label_name": "True class", "pred_name": "Predicted class",
           "correctness": "Correct / wrong", **{c: l for c, l in V.COHORT_COLUMNS.items() if c != "pred_name"},
           "placement": "UMAP: fitted or placed"}
HELP = {"modality_mixing": "share of each point's nearest neighbours that come from another modality "
                           "(high in the shared map: the modalities' shared streams meet)",
        "stream_mixing": "share of nearest neighbours from the other stream (low: shared and private stay apart)",
        "label_separation": "nearest-neighbour agreement of the true class above chance"}


def colour_map(points: pd.DataFrame, colour: str, run) -> dict | None:
    if colour == "modality":
        return {m: F.modality_colour(m, run.modalities) for m in run.modalities}
    if colour == "stream":
        m = points["modality"].iloc[0] if len(points) else ""
        return {"shared": F.modality_colour(m, run.modalities), "private": F.lighten(F.modality_colour(m))}
    if colour in ("label_name", "pred_name"):
        return F.class_colours(run.classes)
    if colour == "correctness":
        return F.CORRECT_COLOURS
    return None


@st.fragment
def maps_view(run, learners: pd.DataFrame, cohort: pd.DataFrame, umap: pd.DataFrame, emb: dict, placed: bool) -> None:
    """The maps and their controls, as a fragment: a recolour or another view redraws the maps alone, not the
    sidebar and the decomposition block above them."""
    with ui.guard():
        maps = set(umap["map"].unique())  # once: each set(umap["map"]) walked 150,000 strings on a 25k run
        per_modality = [m for m in run.modalities if f"{m}_shared_private" in maps]
        c1, c2 = st.columns(2)
        view = c1.selectbox("Maps", [ALL] + [f"{m}: shared vs private" for m in per_modality], key="emb_view")
        options = [c for c in COLOURS if (c != "stream" or view != ALL) and (c != "placement" or placed)]
        colour = c2.selectbox("Colour by", options, format_func=COLOURS.get, key="emb_colour")

        if view == ALL:
            names = [("shared_all", "Shared streams"), ("private_all", "Private streams")]
        else:
            m = view.split(":")[0]
            names = [(f"{m}_shared_private", f"{m}: shared and private streams in one map")]
        selected, columns = [], st.columns(len(names))
        for col, (name, title) in zip(columns, names):
            with col:
                pts = runs.map_points(run, name, cohort)
                if placed and colour == "placement":
                    pts = pts.assign(placement=pts["fitted"].map({True: "fitted", False: "placed"}))
                if pts.empty:
                    st.info(f"No point of the cohort is in the {name} map (the maps hold a sample of the "
                            "learners).")
                    continue
                selected += scatter_map(pts, colour, colour_map(pts, colour, run), title, key=f"map_{name}",
                                        colour_label=COLOURS[colour])
                stats = emb.get(name, {})
                shown = {k: v for k, v in stats.items() if k in HELP or k.startswith("label_separation")}
                if shown:
                    mcols = st.columns(len(shown))
                    for mc, (k, v) in zip(mcols, shown.items()):
                        mc.metric(k.replace("_", " "), f"{v:.2f}", help=HELP.get(k, HELP["label_separation"]))
                fitted = int(pts["fitted"].sum()) if placed else 0
                st.caption(f"{pts['sample'].nunique():,} learners, {len(pts):,} points"
                           + (f" ({fitted:,} fitted, {len(pts) - fitted:,} placed)." if placed else "."))
                cols = ["sample", "id_student", "modality", "stream", "x", "y", "label_name", "pred_name", "risk",
                        "split"]
                ui.csv_button(pts[cols + ([colour] if colour in pts and colour not in cols else [])],
                              f"map {name}", key=f"csv_map_{name}")

        picked = list(dict.fromkeys(selected))
        # a selection made before the cohort changed: only its learners still in the cohort (listed, not opened)
        selected = [s for s in picked if s in cohort.index]
        if len(picked) == 1 and selected:
            ui.go_to_learner(selected[0], learners.loc[selected[0], "id_student"])
        elif selected:
            ranked = learners.loc[selected].sort_values("risk", ascending=False, kind="stable")
            st.subheader(f"{len(ranked):,} learner{'s' if len(ranked) > 1 else ''} selected", anchor=False)
            shown, lo = page_of(ranked, "emb_page", "Page of the selection")
            st.caption(f"Most at risk first; rows {lo + 1:,}–{lo + len(shown):,} shown. Click a row to open that "
                       "learner in the Learner explorer.")
            # a list rather than a box of every learner to choose from: such a box of 15,000 learners took the
            # browser ~0.3 s to draw after each selection on a 25k-learner run
            pick_list(learner_rows(shown), list(shown.index), None, key="emb_selected", bar="chance at risk",
                      on_open=lambda s: st.session_state.update(emb_open=s), formats=RISK_FORMAT,
                      tips=learner_tips(run.classes))
            ui.csv_button(ranked[["sample", "id_student", "presentation", "label_name", "pred_name", "risk", "split"]],
                          "selected learners", key="csv_emb_selected")
            opened = st.session_state.pop("emb_open", None)
            if opened is not None:
                ui.go_to_learner(opened, learners.loc[opened, "id_student"])


ctx = ui.context()
st.title("Embedding space", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_explained()
    learners = runs.learners(run)
    cohort = ctx.cohort_learners()
    umap = runs.frame(run, "umap")
    emb = run.summary.get("embeddings", {})
    placed = "fitted" in umap  # runs explained before placement have only the fitted subsample
    st.caption("2-D UMAP maps stored by `dsrsd explain`, fitted on a seeded subsample of at most "
               f"{run.summary.get('umap_max_samples', '?')} learners"
               + ("; every other learner is placed on the fitted map (colour by 'UMAP: fitted or placed')" if placed
                  else " (this run's maps hold only them; rerun `dsrsd explain` to place the others)")
               + ". Each point is one learner's stream. "
               "Click a point to open that learner; choose Box select or Lasso select above a map to list several.")
    ui.decomposition_block(run, "embedding", fold=True)
    maps_view(run, learners, cohort, umap, emb, placed)
