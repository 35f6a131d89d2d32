"""Learner explorer: one learner's prediction, what drives it (streams, inputs, timeline), the nearest
learners in the shared space, and what the prediction becomes without each modality."""
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from app import runs, svg, ui
from app.pick_list import LEARNER_COLUMNS, RISK_FORMAT, learner_rows, learner_tips, page_of, pick_list
from app.text import input_words, learner_summary
from dsrsd_core import educator as E
from dsrsd_core import views as V
from dsrsd_core import whatif as W
from dsrsd_core.errors import DsrsdError
from dsrsd_core.run_dir import input_table, timeline_table

TABS = {"record": "Record before the cut-off", "near": "Nearest learners", "drop": "Without each modality",
        "whatif": "What if…?"}
SCOPES = {"unseen": "not seen in training (test split)", "all": "all learners (train, validation and test)"}


def find_by_id(learners: pd.DataFrame, listed: list) -> None:
    text = str(st.session_state.get("learner_id", "")).strip()
    if not text:
        return
    hits = learners[learners["id_student"].astype(str) == text]
    if hits.empty:
        st.session_state["learner_msg"] = f"No learner with id {text} in this run."
        return
    # several enrolments: the one the list shows first (most at risk in the list), else the most at risk
    order = {s: i for i, s in enumerate(listed)}
    best = sorted(hits.index, key=lambda s: (order.get(s, len(order)), -float(hits.loc[s, "risk"])))[0]
    ui.open_learner(int(best))


def pick_from_list(ids: dict, sample: int) -> None:
    """A row of the at-risk list was clicked (``ids``: sample -> student id of the rows shown)."""
    ui.open_learner(sample, ids.get(sample))


def pick_neighbour(key: str, ids: dict) -> None:
    """A nearest learner's button was pressed (``ids``: sample -> student id)."""
    sample = st.session_state.get(key)
    if sample is not None:
        ui.open_learner(int(sample), ids[int(sample)])


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


def export_section(run, in_scope: pd.DataFrame) -> None:
    threshold = st.slider("Flag learners from a chance of being at risk of", 0.05, 0.95, 0.5, 0.05,
                          key="export_threshold", format="%.2f")
    table = E.at_risk_export(in_scope, runs.record(run), threshold)
    st.caption(f"{len(table):,} of {len(in_scope):,} learners flagged.")
    ui.dataframe(table.drop(columns=["split"]), "educator at-risk list", key="export_table",
                 column_config={"top reasons": st.column_config.TextColumn(width="large")})


def what_if_section(run, row, sample: int) -> None:
    """Change a few inputs and see the new prediction (dsrsd_core.whatif: the model, on demand, time-limited)."""
    reason = W.unavailable(run)
    if reason:
        st.warning(f"The what-if needs the model and the run's data: {reason}.")
        return
    spec = {m["name"]: m for m in run.info["modalities"]}
    ta = runs.frame(run, timeline_table("assessments")) if run.has_table(timeline_table("assessments")) else None
    missed = []
    if ta is not None:
        mine = ta[ta["sample"] == sample]
        missed = [int(s) for s in mine.loc[mine["submitted"] <= 0.5, "step"]]
    weeks = [w for w in spec.get("clickstream", {}).get("step_names", [])
             if E.week_number(w) is not None and E.week_number(w) <= E.cutoff_week(row["cutoff_day"])]
    has_clicks = bool(row.get("present_clickstream", True)) and bool(weeks)
    with st.form(f"whatif_{sample}", border=True):
        f1, f2 = st.columns(2)
        with f1:
            submit = st.multiselect("Submit assessments the learner missed", missed, key=f"wi_submit_{sample}",
                                    format_func=lambda s: f"assessment {s + 1}", placeholder="none missed" if not
                                    missed else "choose", disabled=not missed)
            score = st.slider("with the score", 0, 100, 60, 5, key=f"wi_score_{sample}")
        with f2:
            week = st.selectbox("Scale the clicks of a week", ["(no change)"] + weeks, key=f"wi_week_{sample}",
                                disabled=not has_clicks)
            factor = st.slider("by a factor of", 0.0, 5.0, 2.0, 0.25, key=f"wi_factor_{sample}",
                               disabled=not has_clicks, help="0: no clicks that week; 2: twice as many.")
        go = st.form_submit_button("Show the new prediction", icon=":material/play_arrow:")
    if not go:
        st.caption("Computed from the model on demand (one learner, a few hundredths of a second; the first "
                   "prediction of a run also loads its model and data, a few seconds), never stored.")
        return
    clicks = {week: factor} if has_clicks and week != "(no change)" else {}
    try:  # the model is loaded only now, when asked: importing torch into the server slowed every later rerun
        model, data = runs.whatif_model(run)
    except DsrsdError as e:
        st.warning(f"The what-if needs the model and the run's data: {e}")
        return
    try:
        out = W.what_if(model, data, sample, run.classes, run.streams, {s: score for s in submit}, clicks)
    except DsrsdError as e:
        st.warning(str(e))
        return
    risk = V.risk_classes(run.classes)
    before = sum(out["before"]["proba"][c] for c in risk)
    after = sum(out["after"]["proba"][c] for c in risk)
    changes = [f"assessment {s + 1} submitted with {score}" for s in submit] + \
        [f"clicks of {w} × {f:g}" for w, f in clicks.items()]
    m1, m2 = st.columns([1, 2])
    m1.metric(f"Chance of being {E.risk_name(run.classes)}", f"{after:.1%}", f"{(after - before) * 100:+.1f} points",
              delta_color="inverse",
              help=f"Before: {before:.1%} (as stored). After: {', '.join(changes) or 'no change'}.")
    pred_after = max(out["after"]["proba"], key=out["after"]["proba"].get)
    m2.markdown(f"**With {', '.join(changes) or 'no change'}** the model predicts **{V.humanize(pred_after)}** "
                f"({out['seconds']:.2f} s).")
    rows = []
    for when in ("before", "after"):
        for s in run.streams:
            rows.append({"when": when, "stream": s.replace(".", " · "),
                         "contribution": sum(out[when]["phi"][c][s] for c in risk)})
    frame = pd.DataFrame(rows)
    ui.svg(svg.paired_bars(frame, "stream", "contribution", "when",
                           f"Stream contributions to the chance of being {E.risk_name(run.classes)}, before and after",
                           "exact Shapley value"))
    ui.csv_button(frame, f"what-if {row['id_student']}", key="csv_whatif")


def body() -> None:
    run = ctx.require_explained()
    learners = runs.learners(run)
    cohort = ctx.cohort_learners(allow_empty=True)

    # ---- choose a learner: the at-risk list defaults to learners the model did not train on
    scope = st.segmented_control("At-risk list", list(SCOPES), format_func=SCOPES.get, key="risk_scope",
                                 default="unseen", help="Learners of the training split were fitted on and those of "
                                 "the validation split chose the epoch, so their predictions look better than they "
                                 "would for new learners. The test split is what the model never saw.") or "unseen"
    in_scope = cohort[cohort["split"] == "test"] if scope == "unseen" and "split" in cohort else cohort
    ranked = in_scope.sort_values("risk", ascending=False, kind="stable")
    sample = st.session_state.get(ui.LEARNER_KEY)
    if sample is None or sample not in learners.index:
        first = ranked if len(ranked) else cohort.sort_values("risk", ascending=False, kind="stable")
        sample = int(first.index[0]) if len(first) else int(learners.index[0])
        ui.open_learner(sample, learners.loc[sample, "id_student"])
    sample = int(sample)
    row = learners.loc[sample]

    pick, lst = st.columns([1, 2.8])
    with pick:
        st.text_input("Find a learner by student id", key="learner_id", on_change=find_by_id,
                      args=(learners, list(ranked.index)), placeholder="e.g. " + str(learners["id_student"].iloc[0]))
        if st.session_state.get("learner_msg"):
            st.warning(st.session_state["learner_msg"])
        same = learners[learners["id_student"] == row["id_student"]]
        if len(same) > 1:
            key = f"enrol_{row['id_student']}"
            st.session_state[key] = sample
            st.radio("Enrolments of this student", list(same.index), key=key, on_change=pick_enrolment, args=(key,),
                     format_func=lambda s: f"{learners.loc[s, 'presentation']} (sample {s})")
        shown, lo = page_of(ranked, "risk_page", "Page of the list")
        st.caption(f"{len(ranked):,} learners in the list ({SCOPES[scope]}; cohort: {ctx.cohort.describe()}), most "
                   f"at risk first; rows {lo + 1 if len(ranked) else 0:,}–{lo + len(shown):,} shown. Click a row to "
                   "open it.")
    with lst:
        pick_list(learner_rows(shown), list(shown.index), sample, key="risk_list", bar="chance at risk",
                  on_open=partial(pick_from_list, dict(zip(shown.index, shown["id_student"]))),
                  formats=RISK_FORMAT, tips=learner_tips(run.classes))
        ui.csv_button(ranked.assign(seen=ranked["split"].map(E.SEEN))[list(LEARNER_COLUMNS) + ["split", "sample"]],
                      "at-risk list", key="csv_risk_list")
    if st.toggle("Educator export: the at-risk learners of this list with the top reasons in words",
                 key="export_open", help="For the learners of the list above (its cohort and split choice) whose "
                 "chance of being at risk reaches the threshold: per learner, the two parts of the record that raise "
                 "the risk most, in words, with their exact Shapley contribution in percentage points."):
        export_section(run, in_scope)

    # ---- prediction
    st.divider()
    st.subheader(f"Student {row['id_student']} · {row['presentation']}", anchor=False)
    if sample not in cohort.index:
        st.caption("This learner is outside the filtered cohort.")
    st.caption(" · ".join(f"{k.replace('_', ' ')} {row[k]}" for k in
                          ("split", "cutoff_day", "gender", "age_band", "imd_band", "region", "highest_education",
                           "disability") if k in row))
    pred = str(row["pred_name"])
    rec = runs.record(run)
    risk_words = E.risk_name(run.classes)
    cols = st.columns(2 + len(run.classes))
    cols[0].metric("Prediction", V.humanize(pred), help="The class the model finds most likely at the cut-off.")
    cols[1].metric("True outcome", V.humanize(row["label_name"]),
                   help=f"What happened (final result {row.get('final_result')}). Known here because the run is "
                        "evaluated on past presentations; for new learners it is what the prediction tries to tell.")
    for c, cls in zip(cols[2:], run.classes):
        c.metric(f"Chance: {V.humanize(cls)}", f"{float(row[f'proba_{cls}']):.1%}",
                 help=f"The model's probability of “{V.humanize(cls)}” (p({V.humanize(cls)})).")

    present = {m: bool(row.get(f"present_{m}", True)) for m in run.modalities}
    med = rec["medians"].loc[row["presentation"]].to_dict() if row["presentation"] in rec["medians"].index else {}
    did = []
    if rec["assessments"] is not None:
        a = rec["assessments"].loc[sample].to_dict() if sample in rec["assessments"].index else None
        did.append(E.assessment_sentence(a, med.get("median_score"), row["presentation"]))
    if rec["clicks"] is not None:
        did.append(E.click_sentence(rec["clicks"].loc[sample].to_dict(), med.get("median_clicks"),
                                    row["presentation"], present.get("clickstream", True)))
    meaning = E.meaning_sentence(float(row["risk"]), float(rec["base"].loc[sample]),
                                 rec["contrib"].loc[sample].to_dict(), risk_words)
    shap = runs.frame(run, "shapley").loc[sample]
    phi = {s: float(shap[f"phi_{s}"]) for s in run.streams}
    summary = learner_summary(pred, float(row[f"proba_{pred}"]), phi, present, top_inputs(run, sample))
    with st.container(border=True, key="plain_words"):
        st.markdown("**In plain words.** What the learner did before the cut-off (day "
                    f"{int(row['cutoff_day'])}):\n" + "\n".join(f"- {t}" for t in did))
        st.markdown(f"**What it means for the prediction.** {meaning}",
                    help="Points: how many percentage points each part of the record adds to or takes from the "
                         "chance of being at risk, by exact Shapley values: they add up from the model's starting "
                         "point (no data about the learner) to this learner's chance.")
        st.caption(f"How the model weighs it: {summary}")

    w1, w2 = st.columns([1.4, 1])
    with w1:
        cls = st.radio("Explain the chance of", run.classes, index=run.classes.index(pred), horizontal=True,
                       format_func=V.humanize, key=f"waterfall_class_{sample}")
        base, contrib = V.waterfall_frame(shap, run.streams, cls)
        ui.svg(svg.waterfall(base, contrib, cls))
    with w2:
        st.markdown("**Stream contributions** (exact Shapley values)",
                    help="Each modality's encoding is split into a shared stream (what it has in common with the "
                         "other modalities) and a private stream (what only it shows). A stream's contribution is "
                         "its exact Shapley value φ: the average change in the probability when it is added.")
        words, table, prefix = ui.attribution_method(run, "learner_method")
        gates = pd.Series({s: float(row[f"gate_{s}"]) for s in run.streams})
        if table == "shapley":
            st.caption("From the model's prediction with no stream (baseline) to its prediction with all of them. "
                       "Solid: shared stream; hatched: private stream.")
            values, what = contrib.set_index("stream")["phi"], f"the probability of {V.humanize(cls)}"
        else:
            ig = runs.frame(run, "stream_ig").loc[sample]
            values = pd.Series({s: float(ig[f"ig_{s}"]) for s in run.streams})
            what = f"the probability of the predicted class ({V.humanize(pred)})"
            st.caption(f"Integrated gradients of {what}, from a zero stream to the learner's own; rank agreement "
                       f"with the Shapley values for this learner: {float(ig['rank_agreement']):.2f} (Spearman).")
        contrib_table = pd.DataFrame({"stream": [s.replace(".", " · ") for s in run.streams],
                                      "contribution": [round(float(values[s]), 4) for s in run.streams],
                                      "gate weight": [round(float(gates[s]), 4) for s in run.streams]})
        ui.table(contrib_table, f"contributions {row['id_student']}", key="contrib_table",
                 formats={"contribution": "{:+.4f}", "gate weight": "{:.4f}"})
        st.caption(f"Contribution: {words}, the change in {what} this stream brings. Gate weight: how much weight "
                   "the fusion gate puts on the stream (0-1, the streams present sum to 1); weight is where the "
                   "model looks, the contribution is what changes the prediction.")
        if table == "shapley":
            st.caption(f"baseline {base:.3f} + sum {contrib['phi'].sum():+.3f} = {base + contrib['phi'].sum():.3f}")

    # ---- the rest, one tab at a time: only the open tab is built and sent (a switch draws one of them)
    tabs = dict(zip(TABS, st.tabs(list(TABS.values()), key="learner_tab", on_change="rerun")))
    with tabs["record"]:
        if tabs["record"].open:
            record_section(run, row, sample)
    with tabs["near"]:
        if tabs["near"].open:
            neighbours_section(run, learners, row, sample)
    with tabs["drop"]:
        if tabs["drop"].open:
            drop_section(run, row, sample, pred)
    with tabs["whatif"]:
        if tabs["whatif"].open:
            st.caption("Change a few of this learner's inputs and see the new prediction, computed on demand from "
                       "the run's model.pt (one learner, under a time limit).")
            what_if_section(run, row, sample)


def record_section(run, row, sample: int) -> None:
    """The learner's clicks per week and assessment scores, up to the cut-off."""
    spec = {m["name"]: m for m in run.info["modalities"]}
    if "clickstream" in spec and run.has_table(timeline_table("clickstream")):
        tl = runs.frame(run, timeline_table("clickstream"))
        clicks = tl[tl["sample"] == sample]
        steps = input_table("clickstream", "steps")
        attr = runs.frame(run, steps).loc[sample].drop(labels="sample") if run.has_table(steps) else None
        weeks = [w for w in spec["clickstream"]["step_names"]  # this learner's weeks: up to its cut-off
                 if E.week_number(w) is None or E.week_number(w) <= E.cutoff_week(row["cutoff_day"])]
        ui.svg(svg.clicks_timeline(clicks, weeks, attr, title="Clicks per week, up to the cut-off"))
        ui.csv_button(clicks.drop(columns="step"), f"clicks {row['id_student']}", key="csv_clicks")
    elif "clickstream" in spec:
        st.info("This run has no timeline tables; rerun `dsrsd explain` on it to add them.")
    if "assessments" in spec and run.has_table(timeline_table("assessments")):
        ta = runs.frame(run, timeline_table("assessments"))
        steps = input_table("assessments", "steps")
        attr = runs.frame(run, steps).loc[sample] if run.has_table(steps) else None
        pts, x_title, cut_x = V.assessment_points(ta[ta["sample"] == sample], row,
                                                  run.info["data"]["report"].get("cutoff", {}), attr)
        ui.svg(svg.assessment_timeline(pts, cut_x, x_title, title="Assessment scores against due dates"))
        ui.csv_button(pts.drop(columns="label"), f"assessments {row['id_student']}", key="csv_assess")


def neighbours_section(run, learners: pd.DataFrame, row, sample: int) -> None:
    """The ten nearest learners in the shared space, with a button to open each."""
    nb = runs.frame(run, "neighbours").loc[sample]
    ids = [int(nb[f"n{i}"]) for i in range(10) if f"n{i}" in nb]
    near = learners.loc[ids]
    same_true = int((near["label"] == row["label"]).sum())
    same_pred = int((near["pred"] == row["pred"]).sum())
    st.caption(f"The learners closest to this one in the shared space: {same_true} of {len(ids)} share this "
               f"learner's true class, {same_pred} its prediction.")
    nview = pd.DataFrame({"student": near["id_student"], "presentation": near["presentation"],
                          "true class": near["label_name"].map(V.humanize),
                          "predicted": near["pred_name"].map(V.humanize),
                          "chance at risk": (near["risk"] * 100).round(0).astype(int).astype(str) + "%"})
    nview.insert(0, "rank", range(1, len(ids) + 1))
    ui.table(nview, f"neighbours {row['id_student']}", key="nn")
    key = f"nn_open_{sample}"  # a new widget per learner: no neighbour stays picked
    st.pills("Open a nearest learner", ids, key=key, on_change=pick_neighbour, wrap=True,
             args=(key, dict(zip(ids, near["id_student"]))),
             format_func=lambda s: f"{ids.index(s) + 1} · {learners.loc[s, 'id_student']}")


def drop_section(run, row, sample: int, pred: str) -> None:
    """What the prediction becomes without each modality, and without each stream."""
    c1, c2 = st.columns(2)
    drops = runs.frame(run, "modality_drop_samples")
    mine = drops[drops["sample"] == sample]
    with c1:
        st.markdown("**Without one modality**")
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
            ui.svg(svg.learner_drop(frame, full, pred, run.modalities))
            flips = frame[frame["flipped"]]
            st.caption(f"Dashed line: the probability with all modalities ({full:.2f}). Hatched bars flip the "
                       f"prediction; it flips without: {', '.join(flips['removed']) if len(flips) else 'none'}.")
            ui.csv_button(frame, f"modality drop {row['id_student']}", key="csv_learner_drop")
        else:
            st.info("No modality-drop results for this learner.")
    with c2:
        st.markdown("**Without one stream**", help="One stream removed through the model's missing-stream path "
                    "(its gate weight set to 0), everything else kept. Is this modality's contribution something "
                    "the other modalities also carry?")
        if V.has_stream_drop(mine):
            sframe = V.stream_drop_frame(mine, run.modalities, f"delta_{pred}")
            what = f"p({V.humanize(pred)})"
            ui.svg(svg.stream_drop(sframe, f"change in {what}", run.modalities))
            st.markdown("\n".join(f"- {t}" for t in V.stream_drop_sentences(sframe, what,
                                                                             V.STREAM_DROP_TOL["probability"])))
            ui.csv_button(sframe.rename(columns=V.STREAM_DROP_COLUMNS), f"stream drop {row['id_student']}",
                          key="csv_learner_stream_drop")
        else:
            st.caption("This run records whole-modality removal only; rerun `dsrsd explain` on it to add "
                       "stream-level removal.")


@st.fragment
def learner_view() -> None:
    """The page below its title, as a fragment: picking a learner (a row, an id, a neighbour) or changing one
    of the learner's views reruns this part only, so neither the server nor the browser redoes the sidebar
    and its nine cohort filters (a switch by id 0.81 -> 0.54 s on the shipped run: docs/benchmarks.md)."""
    with ui.guard():
        body()
    runs.freeze_loaded()  # a fragment rerun skips main.py's call; the what-if imports torch in one


ctx = ui.context()
st.title("Learner explorer", anchor=False)  # also when the page cannot be drawn
learner_view()
