"""Optimizer Savings: how much of an old task is left to relearn, per optimizer."""
import pandas as pd
import streamlit as st

from clviz import charts, report, ui

NOTES = report.REFERENCE["mnist"]["savings"]

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
    done = [{"setting": e["run"], "phase": e["phase"], "steps": e["steps"]} for e in events if e["event"] == "tick"]
    if done:
        st.caption("Steps to the criterion, latest phases first")
        st.dataframe(pd.DataFrame(done[::-1][:12]), hide_index=True)


COLUMNS = {"optimizer": "optimizer", "lr": "lr", "reset": "reset", "steps_first": "steps first (task 1)",
           "steps_relearn": "steps relearn", "savings": "savings", "savings_std": "savings ± sd",
           "clear_of_noise": "clear of noise", "notes": "notes (Split MNIST)",
           "steps_joint_after": "joint after sequential", "steps_joint_scratch": "joint from scratch",
           "hit_max_steps": "hit the step limit"}


def result_view(r):
    rows = pd.DataFrame(r["rows"])
    rows["steps_first"] = rows["steps_first"].map(lambda v: v[0])  # task 1 of the per-task counts
    rows["notes"] = [NOTES.get(x["optimizer"], (None, None))[x["reset"]] for x in r["rows"]]
    if "savings_std" not in rows:
        rows["savings_std"] = None
    # the settings first, in a person's words; spreads across seeds (*_std) after them
    rows = rows[list(COLUMNS)].rename(columns=COLUMNS)
    # every column whole at 1280 px: numbers in narrow columns, their headers wrap in the tooltip
    narrow = {c: st.column_config.Column(width="small") for c in rows.columns}
    st.dataframe(rows, hide_index=True, column_config={
        **narrow, "savings": st.column_config.NumberColumn(format="%.3f", width="small"),
        "savings ± sd": st.column_config.NumberColumn(format="%.3f", width="small")})
    n = r["config"]["seeds"]
    noisy = [f"{x['optimizer']}{' (reset)' if x['reset'] else ''}" for x in r["rows"] if x.get("clear_of_noise") is False]
    if n < 2:
        st.warning("One run per setting: these savings are a few steps of noise. Set 'Runs per setting' to 5 or more.")
    elif noisy:
        st.warning(f"Within the noise of {n} runs (|mean| under two standard errors): {', '.join(noisy)}. "
                   f"Their sign may flip with more runs.")
    else:
        st.caption(f"Every savings here is clear of the noise of {n} runs (|mean| over two standard errors).")
    st.caption("Steps to the criterion on the task's training data; joint: to the joint criterion on all classes, "
               "from the end of sequential training or from a fresh network.")
    bars = charts.savings_bars(r["rows"])
    conv = charts.convergence(r["convergence"])
    gn = charts.step_curves(r["task2_curves"], "grad_norm", "gradient norm")
    wc = charts.step_curves(r["task2_curves"], "weight_change", "‖w − w after task 1‖")
    ui.chart(bars)
    st.subheader("Convergence on task 1: learned first, then relearned after all tasks")
    ui.chart(conv)
    st.subheader("During task 2")
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(gn)
    with c2:
        ui.chart(wc)
    if rows["hit the step limit"].any():
        st.warning("Some phases hit the step limit before reaching the criterion: their savings are bounds.")
    return {"savings": bars, "convergence": conv, "grad_norm": gn, "weight_change": wc}


ui.run_panel("savings", cfg, s["device"], live_view, result_view)
