"""Learner timeline (next-step runs): predicted vs actual for each response of one learner, and
which modality drove each prediction."""
import streamlit as st

from app import next_step as N
from app import ui
from dsrsd_core.next_step_figures import timeline_figure

ctx = ui.context()
with ui.guard():
    run = N.require_next_step(ctx)
    st.title("Learner timeline", anchor=False)
    resp = N.responses(run)
    summary = run.doc("summary")
    ex = summary["explained"]
    positive = N.positive_class(run)
    st.caption(f"{ex['n_responses']:,} of {ex['n_samples']:,} responses of {ex['n_learners']:,} learners are explained "
               f"(whole learners drawn at random, seed {ex['seed']}). Each response: the predicted probability of "
               f"'{positive}', what happened, and the modality whose Shapley value towards it was largest.")
    per = resp.groupby("learner", sort=False).agg(n=("sample", "size"), split=("split", "first"))
    order = per.sort_values(["split", "n"], ascending=[True, False], key=lambda s: s.map(
        {"test": 0, "val": 1, "train": 2}) if s.name == "split" else s).index.tolist()
    c1, c2 = st.columns([2, 1])
    text = c2.text_input("Find a learner", key="tl_find", placeholder="learner id").strip()
    if text:
        hits = [k for k in order if text == k or k.startswith(text + " ")]
        if not hits:
            c2.warning(f"No explained learner '{text}'.")
        else:
            st.session_state["tl_learner"] = hits[0]
    if st.session_state.get("tl_learner") not in order:
        st.session_state["tl_learner"] = order[0]
    learner = c1.selectbox("Learner", order, key="tl_learner",
                           format_func=lambda k: f"{k} · {per.loc[k, 'n']} responses · {per.loc[k, 'split']}")
    mine = resp[resp["learner"] == learner].sort_values("position")
    acc = float((mine["pred"] == mine["label"]).mean())
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Responses", f"{len(mine):,}")
    m2.metric(f"Actual '{positive}'", f"{(mine['label'] == len(run.classes) - 1).mean():.0%}")
    m3.metric("Predictions right", f"{acc:.0%}")
    top = mine["driver"].value_counts()
    m4.metric("Most often driven by", top.index[0], help=", ".join(f"{m}: {n}" for m, n in top.items()))
    ui.chart(timeline_figure(mine, run.modalities, positive), key="tl_chart")
    st.caption("Markers: what happened (1 = " + positive + "), coloured by the driving modality; open red "
               "circles: the prediction was wrong. Bars: each modality's Shapley value towards '" + positive +
               "' (shared + private stream), stacked: their sum is the prediction minus the empty-coalition value.")
    cols = [c for c in ["position", "item", "skill", "assessment_type", "label", "pred", f"proba_{positive}", "driver",
                        "driver_share", *[f"phi_{m}" for m in run.modalities]] if c in mine]
    view = mine[cols].copy()
    view["label"] = view["label"].map(dict(enumerate(run.classes)))
    view["pred"] = view["pred"].map(dict(enumerate(run.classes)))
    ui.dataframe(view.round(4), f"timeline {learner}", key="tl_table")
