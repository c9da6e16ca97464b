"""Remedies: what fixes forgetting, and where the fix acts (features or head)."""
import collections

import pandas as pd
import streamlit as st

from clviz import charts, data, figures, tables, tune, ui
from clviz.config import tasks_of
from clviz.experiments.remedies import PUBLISHED_SOURCE

st.title("Remedies")
st.markdown(
    "The standard class-incremental methods side by side, through every lens: **fine-tune** (the baseline) and "
    "**joint** (the bound); **replay** of a class-balanced memory; **online EWC** and **SI** (pull important weights "
    "back); **LwF** (distil the last network's outputs); **nearest mean** (iCaRL's classifier on the latent "
    "features); and two fixes of the head alone, **weight aligning** and **head retrained** on the memory. "
    "Final accuracy sits beside the linear probe on the same features: did a method keep the knowledge in the "
    "features or in the head?")

s = ui.settings()
cfg = ui.knobs_panel("remedies", s)


def live_view(rows, events, cfg):
    """The first method (in the config's order) still training: its curves grow; the finished ones
    are listed above them. (Two methods train at once on a CPU: their epochs interleave.)"""
    n_tasks = len(tasks_of(cfg, data.NUM_CLASSES[cfg.dataset]))
    ends = collections.Counter(e["run"] for e in events if e["event"] == "task_end")
    done = [n for n in cfg.methods if ends[n] == n_tasks * cfg.seeds]
    started = {r["run"] for r in rows}
    now = next((n for n in cfg.methods if n in started and n not in done), None)
    if done:
        st.caption("Finished: " + ", ".join(charts.label(n) for n in done))
    if now is not None:
        ui.curves_panel([r for r in rows if r["run"] == now], cfg.epochs)
    return now is not None


def result_view(r):
    names = list(r["config"]["methods"])
    ui.link("remedies_focus", names[0], names)  # (its selectbox: below, by "One method up close")
    if st.session_state.get("remedies_focus") not in names:  # none yet, or a method this run lacks
        st.session_state["remedies_focus"] = names[0]
    figs = figures.remedies(r, st.session_state["remedies_focus"])  # the charts --export writes too
    st.subheader("Accuracy on all classes after the last task, beside the probe on the same features")
    ui.chart(figs["final vs probe"])
    table, reference = tables.remedies(r)
    st.dataframe(table, hide_index=True)
    if "finetune" in r:  # a method that answers exactly as fine-tuning says so, and why
        same = [charts.label(n) for n in names if n != "finetune" and r[n]["matrix"] == r["finetune"]["matrix"]]
        if same:
            st.info(f"{', '.join(same)}: the accuracy matrix equals fine-tune's, to the last test sample: at these "
                    "settings it changed no prediction (a penalty too weak to act). Sweep its strength below.")
    st.caption("BWT: the mean change of each earlier task's accuracy from right after it was learned to the end "
               f"(negative: forgotten). Published %: {PUBLISHED_SOURCE}, mean ± as printed there (blank: a method "
               "not in it), on MNIST with 60k images, a 400-400 MLP and more epochs; ours use the sidebar's dataset. "
               "Below, for reference, that table's methods none of ours is; our nearest mean is iCaRL's classifier "
               "alone, without its replay and distillation.")
    st.dataframe(reference, hide_index=True)
    ui.chart(figs["sparsity"])
    st.subheader("Where each method forgets")
    old = range(len(r["tasks"]) - 1)

    def on_old(values):
        return sum(values[k] for k in old) / len(old)

    def best_layer(part):
        roll = part["rollback"]
        return max(roll, key=lambda n: on_old(roll[n]))
    st.dataframe(pd.DataFrame([{
        "method": charts.label(n), "task-IL, old tasks": on_old([t[-1] for t in r[n]["task_il"]]),
        "class-IL, old tasks": on_old([t[-1] for t in r[n]["class_il"]]), "min-ACC": r[n]["min_acc"],
        "WC-ACC": r[n]["wc_acc"], "rollback that recovers most": best_layer(r[n]),
        "recovered to": on_old(r[n]["rollback"][best_layer(r[n])])} for n in names]), hide_index=True)
    st.caption("Task-IL: told which task an image is from (the logits masked to its classes); class-IL: among all "
               "classes. min-ACC: the old tasks' lowest accuracy after each switch, on average (De Lange et al. "
               "2023). Rollback: one layer put back to its weights right after the task, the rest as it ends "
               "(Ramasesh et al. 2021). The \"Where forgetting lives\" page has every lens for one method.")
    st.subheader("One method up close")
    n = st.selectbox("Method", names, key="remedies_focus", format_func=charts.label)
    part = r[n]
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.curves_panel([{**x, "run": n} for x in part["curve"]], r["config"]["epochs"], done=True, built=figs)
    with c2:
        st.caption("Accuracy on each task (columns) after training each task (rows)")
        ui.chart(figs["matrix"], width=None)  # at its own size ("content" drew it squeezed)
        st.caption("Forgetting per task (best accuracy minus the last): "
                   + ", ".join(f"{f:.2f}" for f in part["forgetting"]))
    for pair in (("head norms", "head biases"), ("rollback", "cka")):
        for name, col in zip(pair, st.columns(2)):
            with col:
                ui.chart(figs[name])
    ui.chart(figs["stability gap"])
    st.caption(f"The stability gap: every evaluation, dense right after each switch. min-ACC {part['min_acc']:.2f}, "
               f"WC-ACC {part['wc_acc']:.2f}.")
    return figs


ui.run_panel("remedies", cfg, s["device"], live_view, result_view)

st.subheader("Stability against plasticity: a method's strength, swept")
st.caption("Final accuracy on all classes (stability) and on the newest task (plasticity) against the strength, "
           "beside fine-tuning (dashed), with the verdict against fine-tuning at each strength. A weak regulariser "
           "forgets; a strong one stops learning. The settings above, at least 2 seeds.")
c1, c2 = st.columns([1, 3])
ui.link("remedies_sweep_method", "si", list(tune.GRIDS))
method = c1.selectbox("Method", list(tune.GRIDS), index=list(tune.GRIDS).index("si"), key="remedies_sweep_method",
                      format_func=charts.label)
sweep = st.session_state.get("remedies_sweep")
if c2.button("Sweep this method's strength", disabled=cfg is None, key="remedies_sweep_train"):
    sweep = st.session_state["remedies_sweep"] = {
        "method": method, "cells": tune.sweep_cells(method, cfg, max(2, cfg.seeds)), "jobs": {}, "done": {}}
if sweep is not None:
    def sweep_view(results):
        m, knob = sweep["method"], tune.GRIDS[sweep["method"]][0]
        rows = tune.sweep_rows(m, sweep["cells"], results)
        default = getattr(type(sweep["cells"][0])(), knob)
        ch = charts.sweep(rows, knob, default)
        ui.chart(ch, key="remedies_sweep_chart")
        st.caption(f"{charts.label(m)}; gray: the default {knob} = {default:g}, chosen on a validation split.")
        st.dataframe(pd.DataFrame([{knob: x["strength"], "final acc": x["final"], "± sd": x["final_sd"],
                                    "newest task": x["newest"], "vs fine-tune": x["diff"], "95% low": x["ci"][0],
                                    "95% high": x["ci"][1], "verdict": "clear" if x["clear"] else "within noise"}
                                   for x in rows]), hide_index=True)
    ui.grid_view(sweep, s["device"], "Sweep", sweep_view)
