"""Remedies: what fixes forgetting, and where the fix acts (features or head)."""
import pandas as pd
import streamlit as st

from clviz import charts, ui
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


def result_view(r):
    names = list(r["config"]["methods"])
    st.subheader("Accuracy on all classes after the last task, beside the probe on the same features")
    bars = charts.paired_bars([{"what": charts.label(n), "network": r[n]["final_acc"],
                                "probe (all classes)": r[n]["probe_all"][-1]} for n in names], "accuracy")
    ui.chart(bars)
    table = pd.DataFrame([{"method": charts.label(n), "final acc": r[n]["final_acc"],
                           "probe (all)": r[n]["probe_all"][-1], "probe (seen)": r[n]["probe_seen"][-1],
                           "BWT": r[n]["bwt"], "seconds": r[n]["seconds"], "samples kept": r[n]["memory"],
                           f"published % ({PUBLISHED_NAME})": PUBLISHED.get("online ewc" if n == "ewc" else n)}
                          for n in names])
    st.dataframe(table, hide_index=True)
    st.caption("BWT: the mean change of each earlier task's accuracy from right after it was learned to the end "
               "(negative: forgotten). Published figures: MNIST with 60k images, a 400-400 MLP and more epochs; "
               "ours use the sidebar's dataset.")
    sp = ui.task_lines("latent sparsity", [0, 1], **{charts.label(n): (r[n], "sparsity") for n in names})
    ui.chart(sp)
    st.subheader("One method up close")
    ui.link("remedies_focus", names[0], names)
    n = st.selectbox("Method", names, key="remedies_focus", format_func=charts.label)
    part = r[n]
    c1, c2 = st.columns([3, 2])
    with c1:
        curves = ui.curves_panel([{**x, "run": n} for x in part["curve"]], r["config"]["epochs"])
    with c2:
        st.caption("Accuracy on each task (columns) after training each task (rows)")
        matrix = charts.accuracy_matrix(part["matrix"])
        st.altair_chart(matrix)
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
    return {"final vs probe": bars, "sparsity": sp, **curves, "matrix": matrix, "head norms": norm, "head biases": bias}


ui.run_panel("remedies", cfg, s["device"], live_view, result_view)
