"""Attribution by position (next-step runs): does history take over as the sequence grows?"""
import streamlit as st

from app import next_step as N
from app import ui
from dsrsd_core.explain.next_step import position_bins
from dsrsd_core.next_step_figures import driver_share_figure, position_share_figure

ctx = ui.context()
with ui.guard():
    run = N.require_next_step(ctx)
    st.title("Attribution by position", anchor=False)
    pos = N.positions(run)
    ex = run.doc("summary")["explained"]
    group = st.radio("Responses", ["test", "all"], horizontal=True, key="pos_group",
                     format_func={"test": "test learners", "all": "all explained learners"}.get)
    table = pos[pos["group"] == group].sort_values("bin_order")
    if table.empty:
        st.info("No explained response in this group.")
        st.stop()
    st.caption(f"Share of mean absolute Shapley value (each response's predicted class) per modality, by the "
               f"response's position in its learner's sequence; {int(table['n'].sum()):,} responses "
               f"({ex['n_responses']:,} explained of {ex['n_samples']:,}).")
    mods = run.modalities
    first, last = table.iloc[0], table.iloc[-1]
    rising = max(mods, key=lambda m: last[f"share_{m}"] - first[f"share_{m}"])
    st.markdown(f"**From position {first['position_bin']} to {last['position_bin']}, {rising}'s share goes from "
                f"{first[f'share_{rising}']:.0%} to {last[f'share_{rising}']:.0%}**"
                + (" (the largest gain)." if last[f"share_{rising}"] > first[f"share_{rising}"] else
                   " (no modality gains share)."))
    ui.chart(position_share_figure(table, mods), key="pos_share")
    resp = N.responses(run)
    resp = resp if group == "all" else resp[resp["split"] == "test"]
    bins, order = position_bins(resp["position"].to_numpy())
    st.subheader("Which modality drove each prediction", anchor=False)
    ui.chart(driver_share_figure(resp, mods, bins, order), key="pos_driver")
    cols = ["position_bin", "n", *[f"share_{m}" for m in mods], *[f"share_{s}" for s in run.streams]]
    ui.dataframe(table[cols].round(4), f"attribution by position {group}", key="pos_table")
    st.caption("share_<modality>.shared / .private: the same split by stream. Bins: exact positions up to 10, "
               "then doubling ranges.")
