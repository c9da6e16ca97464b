"""Optimizer Savings: how much of an old task is left to relearn, per optimizer."""
import pandas as pd
import streamlit as st

from clviz import figures, names, report, tables, takeaways, ui
from clviz.experiments.savings import shown_rows

st.title("Optimizer savings")
st.markdown(
    "Each task is trained until it reaches the criterion; after the last task, task 1 is **relearned**. "
    "Savings = 1 − steps to relearn / steps to learn it first: near 1, the knowledge was hidden, not lost. "
    "Done for SGD, SGD with momentum, Adam, RMSProp and Adadelta, keeping or **resetting the optimizer state** "
    "at task boundaries; also the steps to reach the joint solution after sequential training, and the "
    "gradient norm and weight change while task 2 overwrites task 1.")

s = ui.settings()
cfg = ui.knobs_panel("savings", s)  # "Runs per setting" is this page's own: the sidebar's seeds do not apply


def live_view(rows, events, cfg):
    done = [{"setting": names.label(e["run"]), "phase": e["phase"], "steps": e["steps"]} for e in events if e["event"] == "tick"]
    if done:
        st.caption("Steps to the criterion, latest phases first")
        st.dataframe(pd.DataFrame(done[::-1][:12]), hide_index=True)
    return bool(done)


def result_view(r):
    relearn, joint = tables.savings(r)  # two tables, each whole at 1280 px (clviz/tables.py)
    st.subheader("Relearning task 1")
    num = st.column_config.NumberColumn
    st.dataframe(relearn, hide_index=True, column_config={
        "setting": st.column_config.Column(width="medium"),
        "steps first": num("steps first", help="Steps to the criterion when task 1 was first learned", format="%.0f"),
        "steps relearn": num("steps relearn", help="Steps to the criterion when task 1 is relearned after all tasks",
                             format="%.0f"),
        "savings": num(format="%.3f", help="1 − steps relearn / steps first"),
        "± sd": num(format="%.3f", help="Standard deviation of the savings across the runs"),
        "notes": st.column_config.Column(help=f"The notes' savings for this setting, on {report.reference(r)[1]} "
                                              "(blank: not measured there)")})
    n = r["config"]["seeds"]
    noisy = [names.setting(x["optimizer"], x["reset"]) for x in shown_rows(r) if x.get("clear_of_noise") is False]
    if n < 2:
        st.warning("One run per setting: these savings are a few steps of noise. Set 'Runs per setting' to 5 or more.")
    elif noisy:
        st.warning(f"Within the noise of {n} runs (|mean| under two standard errors): {', '.join(noisy)}. "
                   f"Their sign may flip with more runs.")
    else:
        st.caption(f"Every savings here is clear of the noise of {n} runs (|mean| over two standard errors).")
    st.caption(f"Steps to the criterion on the task's training data. Notes: the notes' savings, on "
               f"{report.reference(r)[1]}.")
    st.subheader("Reaching the joint solution")
    st.dataframe(joint, hide_index=True, column_config={
        "setting": st.column_config.Column(width="medium"),
        "after sequential": num("steps after sequential", format="%.0f",
                                help="Steps to the joint criterion on all classes, from the end of sequential training"),
        "from scratch": num("steps from scratch", format="%.0f", help="The same, from a fresh network")})
    figs = figures.savings(r)  # the charts --export writes too
    ui.takeaway(takeaways.savings(shown_rows(r)))
    ui.chart(figs["savings"])
    st.subheader("Convergence on task 1: learned first, then relearned after all tasks")
    ui.takeaway(takeaways.convergence(r["rows"]))
    ui.chart(figs["convergence"])
    st.subheader("During task 2")
    ui.takeaway(takeaways.drift(r["task2_curves"]))
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(figs["grad_norm"])
    with c2:
        ui.chart(figs["weight_change"])
    st.caption("Solid: the optimizer's state kept at task boundaries; dashed: reset.")
    if (joint["hit the step limit"] == "yes").any():
        st.warning("Some phases hit the step limit before reaching the criterion: their savings are bounds.")
    return figs


ui.run_panel("savings", cfg, s["device"], live_view, result_view)
