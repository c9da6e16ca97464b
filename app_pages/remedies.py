"""Remedies: what fixes forgetting, and where the fix acts (features or head)."""
import pandas as pd
import streamlit as st

from clviz import charts, lens_charts, tune, ui
from clviz.experiments.remedies import PUBLISHED, PUBLISHED_NAME

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
    if rows:  # the method training now: its curves grow; the finished ones are listed above them
        done = sorted({e["run"] for e in events if e["event"] == "task_end"} - {rows[-1]["run"]})
        if done:
            st.caption("Finished: " + ", ".join(charts.label(n) for n in done))
        ui.curves_panel([r for r in rows if r["run"] == rows[-1]["run"]], cfg.epochs)


def _published(n) -> str:
    """The paper's figure as text: a blank, not "None", where the paper has no row."""
    v = PUBLISHED.get("online ewc" if n == "ewc" else n)
    return "" if v is None else f"{v:.2f}"


def result_view(r):
    names = list(r["config"]["methods"])
    st.subheader("Accuracy on all classes after the last task, beside the probe on the same features")
    bars = charts.paired_bars([{"what": charts.label(n), "network": r[n]["final_acc"],
                                "probe (all classes)": r[n]["probe_all"][-1]} for n in names], "accuracy")
    ui.chart(bars)
    table = pd.DataFrame([{"method": charts.label(n), "final acc": r[n]["final_acc"],
                           "probe (all)": r[n]["probe_all"][-1], "probe (seen)": r[n]["probe_seen"][-1],
                           "BWT": r[n]["bwt"], "seconds": r[n]["seconds"], "samples kept": r[n]["memory"],
                           "published %": _published(n)} for n in names])
    st.dataframe(table, hide_index=True)
    if "finetune" in r:  # a method that answers exactly as fine-tuning says so, and why
        same = [charts.label(n) for n in names if n != "finetune" and r[n]["matrix"] == r["finetune"]["matrix"]]
        if same:
            st.info(f"{', '.join(same)}: the accuracy matrix equals fine-tune's, to the last test sample: at these "
                    "settings it changed no prediction (a penalty too weak to act). Sweep its strength below.")
    st.caption("BWT: the mean change of each earlier task's accuracy from right after it was learned to the end "
               f"(negative: forgotten). Published %: {PUBLISHED_NAME}, Table 4 (blank: not in it), on MNIST "
               "with 60k images, a 400-400 MLP and more epochs; ours use the sidebar's dataset.")
    sp = ui.task_lines("latent sparsity", [0, 1], **{charts.label(n): (r[n], "sparsity") for n in names})
    ui.chart(sp)
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
    ui.link("remedies_focus", names[0], names)
    n = st.selectbox("Method", names, key="remedies_focus", format_func=charts.label)
    part = r[n]
    c1, c2 = st.columns([3, 2])
    with c1:
        curves = ui.curves_panel([{**x, "run": n} for x in part["curve"]], r["config"]["epochs"], done=True)
    with c2:
        st.caption("Accuracy on each task (columns) after training each task (rows)")
        matrix = charts.accuracy_matrix(part["matrix"])
        ui.chart(matrix, width=None)  # at its own size ("content" drew it squeezed)
        st.caption("Forgetting per task (best accuracy minus the last): "
                   + ", ".join(f"{f:.2f}" for f in part["forgetting"]))
    classes = range(len(part["head_norm"][0]))
    norm = charts.per_task_lines({f"class {c}": [t[c] for t in part["head_norm"]] for c in classes},
                                 "head weight norm per class")
    bias = charts.per_task_lines({f"class {c}": [t[c] for t in part["head_bias"]] for c in classes},
                                 "head bias per class")
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(norm)
    with c2:
        ui.chart(bias)
    roll = lens_charts.layer_grid(part["rollback"], "accuracy on task k with one layer rolled back",
                                  none=[t[-1] for t in part["class_il"]])
    cka = lens_charts.layer_grid(part["cka"], "linear CKA: features after task k against after the last")
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(roll)
    with c2:
        ui.chart(cka)
    switches = [a["step"] for a, b in zip(part["gap"], part["gap"][1:]) if a["task"] != b["task"]]
    gap = lens_charts.stability_gap(part["gap"], switches)
    ui.chart(gap)
    st.caption(f"The stability gap: every evaluation, dense right after each switch. min-ACC {part['min_acc']:.2f}, "
               f"WC-ACC {part['wc_acc']:.2f}.")
    return {"final vs probe": bars, "sparsity": sp, **curves, "matrix": matrix, "head norms": norm, "head biases": bias,
            "rollback": roll, "cka": cka, "stability gap": gap}


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
