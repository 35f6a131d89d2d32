"""Modality-drop lab: metrics when each subset of modalities is removed, robustness to noise, and the
learners whose prediction flips."""
from functools import partial

import pandas as pd
import streamlit as st

from app import runs, ui
from dsrsd_core import figures as F
from dsrsd_core import views as V

MODES = {"mask": "missing-modality path (mask)", "mean": "inputs set to the training mean (mean)",
         "stream": "one stream removed (stream)"}
STREAM_HELP = ("A stream is removed through the model's own missing-stream path (its gate weight set to 0, as in "
               "the stream Shapley values), leaving the modality's other stream and every other modality in place.")
METRICS = ["auc", "macro_f1", "accuracy"]
METRIC_WORDS = {"auc": "AUC", "macro_f1": "macro-F1", "accuracy": "accuracy"}


def pick_flip(key: str, samples: list, ids: list) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        ui.open_learner(int(samples[rows[0]]), ids[rows[0]])


ctx = ui.context()
st.title("Modality-drop lab", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_explained()
    cohort = ctx.cohort_learners()
    drop = runs.frame(run, "modality_drop")
    st.caption("Every subset of modalities removed at test time, two ways: through the model's own "
               "missing-modality path (mask) or by replacing the inputs with the training mean (mean). Below: one "
               "modality's shared or private stream removed alone, to see whether its contribution is its own.")

    c1, c2 = st.columns(2)
    splits = [s for s in ("test", "val", "train") if s in set(drop["split"])]
    split = c1.selectbox("Split", splits, key="drop_split")
    metric = c2.selectbox("Metric", METRICS, key="drop_metric", format_func=lambda m: m.replace("_", "-"))
    tbl = V.drop_table(drop, split)
    whole = tbl[tbl["mode"] != "stream"]
    ui.chart(F.drop_bar(whole, metric, run.modalities, f"Change in {metric.replace('_', '-')} ({split} split)"),
             key="drop_bar")
    ui.dataframe(whole.round(4), f"modality drop {split}", key="drop_table")

    st.subheader("Removing one stream: does another modality carry the same?", anchor=False, help=STREAM_HELP)
    if V.has_stream_drop(drop):
        what = f"{split} {METRIC_WORDS[metric]}"
        sframe = V.stream_drop_frame(tbl, run.modalities, f"delta_{metric}")
        s1, s2 = st.columns([1.2, 1])
        with s1:
            ui.chart(F.stream_drop_figure(sframe, f"change in {what}", run.modalities,
                                          f"Change in {what}: whole modality, shared or private stream removed"),
                     key="stream_drop_bar")
        with s2:
            st.markdown("\n".join(f"- {t}" for t in V.stream_drop_sentences(sframe, what, V.STREAM_DROP_TOL["metric"])))
            st.caption("If removing a modality's shared stream changes little but removing its private stream "
                       "changes a lot, its contribution is its own; if neither matters alone, the others (or its "
                       "other stream) carry it.")
            ui.dataframe(sframe.rename(columns=V.STREAM_DROP_COLUMNS).round(4), f"stream drop {split}",
                         key="stream_drop_table")
    else:
        st.caption("This run records whole-modality removal only; rerun `dsrsd explain` on it to add stream-level "
                   "removal.")

    st.subheader("Robustness to noise", anchor=False)
    rob = runs.frame(run, "robustness")
    r1, r2 = st.columns([1.4, 1])
    with r1:
        ui.chart(F.robustness_figure(rob, metric, run.modalities), key="robustness")
    with r2:
        st.caption("Test split: Gaussian noise (in training standard deviations) added to one modality's "
                   "continuous inputs at a time. A flat curve: the model does not rely on that modality's values.")
        ui.dataframe(rob.round(4), "robustness", key="rob_table")

    st.subheader("The filtered cohort", anchor=False)
    samples = runs.frame(run, "modality_drop_samples")
    mine = samples[samples["sample"].isin(cohort.index)]
    by = V.cohort_drop_summary(samples, cohort)
    st.caption(f"{len(cohort):,} learners ({ctx.cohort.describe()}), all splits. Mean |change|: the largest "
               "change in a class probability, averaged over the learners.")
    if V.has_stream_drop(by):
        cframe = V.stream_drop_frame(by, run.modalities, "mean_abs_change")
        c1, c2 = st.columns([1.2, 1])
        with c1:
            ui.chart(F.stream_drop_figure(cframe, "mean |change| in a class probability", run.modalities,
                                          "This cohort: mean |change| when a modality or one stream is removed",
                                          fmt=".3f"), key="cohort_stream_drop")
        with c2:
            st.markdown("\n".join(f"- {t}" for t in V.stream_drop_sentences(
                cframe, "mean |change| in probability", V.STREAM_DROP_TOL["probability"], signed=False)))
            st.caption("Per learner, probabilities move even where the metrics above barely change: those ask "
                       "whether the ranking of learners survives, this how far each learner's prediction moves.")
    ui.dataframe(by.round(4), "cohort drop summary", key="cohort_drop")

    st.subheader("Learners whose prediction flips", anchor=False)
    f1, f2 = st.columns(2)
    removed = [r for r in dict.fromkeys(samples["removed"]) if r != "none"]
    which = f1.selectbox("Remove", removed, key="flip_removed", format_func=lambda r: f"without {r}")
    modes = [m for m in MODES if m in set(samples.loc[samples["removed"] == which, "mode"])]
    if st.session_state.get("flip_mode") not in modes:
        st.session_state["flip_mode"] = modes[0]
    mode = f2.radio("Removal", modes, key="flip_mode", format_func=MODES.get, horizontal=True)
    part = mine[(mine["removed"] == which) & (mine["mode"] == mode)]
    flips = part[part["flipped"].astype(bool)]
    n_flip = len(flips)
    m1, m2 = st.columns(2)
    m1.metric("Learners whose prediction flips", f"{n_flip:,}")
    m2.metric("Share of the cohort", f"{n_flip / max(len(part), 1):.1%}")
    info = cohort.loc[flips["sample"]]
    deltas = flips[[c for c in flips.columns if c.startswith("delta_")]].abs().max(axis=1).to_numpy()
    view = pd.DataFrame({
        "student": info["id_student"].to_numpy(), "presentation": info["presentation"].to_numpy(),
        "true class": info["label_name"].to_numpy(), "predicted": info["pred_name"].to_numpy(),
        "without it": [run.classes[int(p)] for p in flips["pred"]], "largest change": deltas.round(3),
        "split": info["split"].to_numpy(), "sample": flips["sample"].to_numpy()})
    order = view["largest change"].sort_values(ascending=False).index
    view = view.loc[order].reset_index(drop=True)
    if n_flip:
        st.caption("Click a row to open the learner in the Learner explorer.")
        st.dataframe(view, hide_index=True, key="flip_table", selection_mode="single-row", height=300,
                     on_select=partial(pick_flip, "flip_table", list(view["sample"]), list(view["student"])))
        ui.csv_button(view, f"flips without {which} {mode}", key="csv_flips")
    else:
        st.info(f"No learner of this cohort changes prediction without {which} ({mode}).")
