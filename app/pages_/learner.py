"""Learner explorer: one learner's prediction, what drives it (streams, inputs, timeline), the nearest
learners in the shared space, and what the prediction becomes without each modality."""
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from app import runs, ui
from app.text import input_words, learner_summary
from dsrsd_core import figures as F
from dsrsd_core import views as V
from dsrsd_core.run_dir import input_table, timeline_table

LIST_COLUMNS = {"id_student": "student", "presentation": "presentation", "risk": "risk", "pred_name": "predicted",
                "label_name": "true class", "final_result": "final result", "split": "split"}


def find_by_id(learners: pd.DataFrame) -> None:
    text = str(st.session_state.get("learner_id", "")).strip()
    if not text:
        return
    hits = learners[learners["id_student"].astype(str) == text]
    if hits.empty:
        st.session_state["learner_msg"] = f"No learner with id {text} in this run."
        return
    ui.open_learner(int(hits.index[0]))


def pick_from_table(key: str, samples: list, ids: list) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        ui.open_learner(int(samples[rows[0]]), ids[rows[0]])


def pick_enrolment(key: str) -> None:
    ui.open_learner(int(st.session_state[key]))


def top_inputs(run, sample: int, k: int = 3) -> list[str]:
    """The learner's most supportive raw inputs (integrated gradients), worded for the summary."""
    cand = []
    for spec in run.info["modalities"]:
        m = spec["name"]
        name = input_table(m, "steps" if spec["kind"] == "sequence" else None)
        if not run.has_table(name):
            continue
        row = runs.frame(run, name).loc[sample].drop(labels="sample")
        for col, v in row.items():
            v = float(v) if np.isscalar(v) else np.nan
            if v > 0:
                cand.append((v, input_words(m, str(col))))
    return [w for _, w in sorted(cand, reverse=True)[:k]]


ctx = ui.context()
with ui.guard():
    run = ctx.require_explained()
    learners = runs.learners(run)
    cohort = ctx.cohort_learners(allow_empty=True)
    st.title("Learner explorer", anchor=False)

    # ---- choose a learner
    ranked = cohort.sort_values("risk", ascending=False, kind="stable")
    sample = st.session_state.get(ui.LEARNER_KEY)
    if sample is None or sample not in learners.index:
        sample = int(ranked.index[0]) if len(ranked) else int(learners.index[0])
        ui.open_learner(sample, learners.loc[sample, "id_student"])
    sample = int(sample)
    row = learners.loc[sample]

    pick, lst = st.columns([1, 2.2])
    with pick:
        st.text_input("Find a learner by student id", key="learner_id", on_change=find_by_id, args=(learners,),
                      placeholder="e.g. " + str(learners["id_student"].iloc[0]))
        if st.session_state.get("learner_msg"):
            st.warning(st.session_state["learner_msg"])
        same = learners[learners["id_student"] == row["id_student"]]
        if len(same) > 1:
            key = f"enrol_{row['id_student']}"
            st.session_state[key] = sample
            st.radio("Enrolments of this student", list(same.index), key=key, on_change=pick_enrolment, args=(key,),
                     format_func=lambda s: f"{learners.loc[s, 'presentation']} (sample {s})")
        st.caption(f"Or pick from the list: {len(cohort):,} learners of the cohort, most at risk first "
                   f"({V.risk_label(run.classes)}). Click a row to open it.")
    with lst:
        shown = ranked.head(2000)
        view = shown[list(LIST_COLUMNS)].rename(columns=LIST_COLUMNS)
        view["risk"] = view["risk"].round(3)
        st.dataframe(view, hide_index=True, height=230, key="risk_list", selection_mode="single-row",
                     on_select=partial(pick_from_table, "risk_list", list(shown.index), list(shown["id_student"])),
                     column_config={"risk": st.column_config.ProgressColumn("risk", min_value=0, max_value=1,
                                                                            format="%.3f")})
        ui.csv_button(ranked[list(LIST_COLUMNS) + ["sample"]], "at-risk list", key="csv_risk_list")

    # ---- prediction
    st.divider()
    st.subheader(f"Student {row['id_student']} · {row['presentation']}", anchor=False)
    if sample not in cohort.index:
        st.caption("This learner is outside the filtered cohort.")
    st.caption(" · ".join(f"{k.replace('_', ' ')} {row[k]}" for k in
                          ("split", "cutoff_day", "gender", "age_band", "imd_band", "region", "highest_education",
                           "disability") if k in row))
    pred = str(row["pred_name"])
    cols = st.columns(2 + len(run.classes))
    cols[0].metric("Prediction", V.humanize(pred))
    cols[1].metric("True outcome", V.humanize(row["label_name"]), help=f"final_result: {row.get('final_result')}")
    for c, cls in zip(cols[2:], run.classes):
        c.metric(f"p({V.humanize(cls)})", f"{float(row[f'proba_{cls}']):.3f}")

    shap = runs.frame(run, "shapley").loc[sample]
    phi = {s: float(shap[f"phi_{s}"]) for s in run.streams}
    present = {m: bool(row.get(f"present_{m}", True)) for m in run.modalities}
    summary = learner_summary(pred, float(row[f"proba_{pred}"]), phi, present, top_inputs(run, sample))
    with st.container(border=True):
        st.markdown(f"**In plain words.** {summary}")

    w1, w2 = st.columns([1.4, 1])
    with w1:
        cls = st.radio("Explain the probability of", run.classes, index=run.classes.index(pred), horizontal=True,
                       format_func=V.humanize, key=f"waterfall_class_{sample}")
        base, contrib = V.waterfall_frame(shap, run.streams, cls)
        ui.chart(F.waterfall_figure(base, contrib, cls), key="waterfall")
    with w2:
        st.markdown("**Stream contributions** (exact Shapley values)")
        st.caption("From the model's prediction with no stream (baseline) to its prediction with all of them. "
                   "Solid: shared stream; hatched: private stream.")
        gates = pd.Series({s: float(row[f"gate_{s}"]) for s in run.streams})
        contrib_table = contrib[["stream", "phi"]].assign(gate=contrib["stream"].map(gates)).round(4)
        ui.dataframe(contrib_table, f"contributions {row['id_student']}", key="contrib_table")
        st.caption(f"baseline {base:.3f} + sum {contrib['phi'].sum():+.3f} = {base + contrib['phi'].sum():.3f}")

    # ---- timeline
    st.subheader("The learner's own record before the cut-off", anchor=False)
    t1, t2 = st.container(), st.container()
    spec = {m["name"]: m for m in run.info["modalities"]}
    with t1:
        if "clickstream" in spec and run.has_table(timeline_table("clickstream")):
            tl = runs.frame(run, timeline_table("clickstream"))
            clicks = tl[tl["sample"] == sample]
            steps = input_table("clickstream", "steps")
            attr = runs.frame(run, steps).loc[sample].drop(labels="sample") if run.has_table(steps) else None
            ui.chart(F.clicks_timeline(clicks, spec["clickstream"]["step_names"], attr, title="Clicks per week"),
                     key="clicks")
            ui.csv_button(clicks.drop(columns="step"), f"clicks {row['id_student']}", key="csv_clicks")
        elif "clickstream" in spec:
            st.info("This run has no timeline tables; rerun `dsrsd explain` on it to add them.")
    with t2:
        if "assessments" in spec and run.has_table(timeline_table("assessments")):
            ta = runs.frame(run, timeline_table("assessments"))
            steps = input_table("assessments", "steps")
            attr = runs.frame(run, steps).loc[sample] if run.has_table(steps) else None
            pts, x_title, cut_x = V.assessment_points(ta[ta["sample"] == sample], row,
                                                      run.info["data"]["report"].get("cutoff", {}), attr)
            ui.chart(F.assessment_timeline(pts, cut_x, x_title, title="Assessment scores against due dates"),
                     key="assessments")
            ui.csv_button(pts.drop(columns="label"), f"assessments {row['id_student']}", key="csv_assess")

    # ---- neighbours and modality drop
    n1, n2 = st.columns(2)
    with n1:
        st.subheader("Nearest learners in the shared space", anchor=False)
        nb = runs.frame(run, "neighbours").loc[sample]
        ids = [int(nb[f"n{i}"]) for i in range(10) if f"n{i}" in nb]
        near = learners.loc[ids]
        same_true = int((near["label"] == row["label"]).sum())
        same_pred = int((near["pred"] == row["pred"]).sum())
        st.caption(f"{same_true} of {len(ids)} share this learner's true class, {same_pred} its prediction. "
                   "Click a row to open that learner.")
        nview = near[["id_student", "presentation", "label_name", "pred_name", "risk"]] \
            .rename(columns=LIST_COLUMNS).round(3)
        nview.insert(0, "rank", range(1, len(ids) + 1))
        st.dataframe(nview, hide_index=True, key="nn_table", selection_mode="single-row",
                     on_select=partial(pick_from_table, "nn_table", ids, list(near["id_student"])))
        ui.csv_button(nview, f"neighbours {row['id_student']}", key="csv_nn")
    with n2:
        st.subheader("Without each modality", anchor=False)
        drops = runs.frame(run, "modality_drop_samples")
        mine = drops[drops["sample"] == sample]
        modes = [m for m in ("mask", "mean") if m in set(mine["mode"])]
        mode = st.radio("Removal", modes, horizontal=True, key="learner_drop_mode",
                        format_func={"mask": "missing-modality path (mask)",
                                     "mean": "training mean (mean)"}.get) if modes else None
        part = mine[mine["mode"] == mode]
        full = float(row[f"proba_{pred}"])
        frame = pd.DataFrame({"removed": part["removed"], "proba": part[f"proba_{pred}"],
                              "flipped": part["flipped"].astype(bool),
                              "new_pred": [run.classes[int(p)] for p in part["pred"]],
                              f"delta_{pred}": part[f"delta_{pred}"]})
        if len(frame):
            ui.chart(F.learner_drop_figure(frame, full, pred, run.modalities), key="learner_drop")
            flips = frame[frame["flipped"]]
            st.caption(f"Dashed line: the probability with all modalities ({full:.2f}). Hatched bars flip the "
                       f"prediction; it flips without: {', '.join(flips['removed']) if len(flips) else 'none'}.")
            ui.csv_button(frame, f"modality drop {row['id_student']}", key="csv_learner_drop")
        else:
            st.info("No modality-drop results for this learner.")
        st.markdown("**Without one stream**", help="One stream removed through the model's missing-stream path "
                    "(its gate weight set to 0), everything else kept. Is this modality's contribution something "
                    "the other modalities also carry?")
        if V.has_stream_drop(mine):
            sframe = V.stream_drop_frame(mine, run.modalities, f"delta_{pred}")
            what = f"p({V.humanize(pred)})"
            ui.chart(F.stream_drop_figure(sframe, f"change in {what}", run.modalities), key="learner_stream_drop")
            st.markdown("\n".join(f"- {t}" for t in V.stream_drop_sentences(sframe, what,
                                                                             V.STREAM_DROP_TOL["probability"])))
            ui.csv_button(sframe.rename(columns=V.STREAM_DROP_COLUMNS), f"stream drop {row['id_student']}",
                          key="csv_learner_stream_drop")
        else:
            st.caption("This run records whole-modality removal only; rerun `dsrsd explain` on it to add "
                       "stream-level removal.")
