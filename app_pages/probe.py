"""Linear Probe: the features survive even when the network's answers do not."""
import streamlit as st

from clviz import charts, report, takeaways, ui

REF = report.REFERENCE["mnist"]

st.title("Linear probe on the latent features")
st.markdown(
    "After each task, a linear classifier is fitted on the **frozen latent features** of the network: on the "
    "classes seen so far, and on all classes. If it does well while the network's own head fails, the knowledge "
    "is still in the representation and forgetting happened mostly in the head. The notes, on Split MNIST: joint "
    f"training {REF['joint_acc']}, sequential {REF['sequential_acc']}, probe after task 5 {REF['probe_final']}.")

s = ui.settings()
cfg = ui.knobs_panel("probe", s)


def result_view(r):
    summary = {"joint (concurrent)": r["joint_acc"], "sequential": r["sequential_acc"],
               "probe after last task": r["probe_all"][-1]}
    ui.takeaway(takeaways.probe_summary(r))
    c1, c2 = st.columns([3, 2])
    with c1:
        bars = charts.bars(summary, "accuracy on all classes")
        ui.chart(bars)
    with c2:
        st.metric("Preserved (probe / joint)", f"{r['preserved']:.3f}")
        ds = r["config"]["dataset"]
        other = "" if ds == "mnist" else f" This run is on {ds}, not MNIST: compare the shape, not the numbers (Home)."
        st.caption(f"The notes (Split MNIST, MLP): joint {REF['joint_acc']}, sequential {REF['sequential_acc']}, "
                   f"probe {REF['probe_final']}.{other}")
    st.subheader("Per task")
    st.dataframe(ui.task_table(r["tasks"], **{"network (seen)": (r, "acc_seen"), "probe (seen)": (r, "probe_seen"),
                                               "probe (all)": (r, "probe_all"), "sparsity": (r, "sparsity")}),
                 hide_index=True)
    lines = ui.task_lines("accuracy", [0, 1], **{"network, seen classes": (r, "acc_seen"),
                                                 "probe, seen classes": (r, "probe_seen"),
                                                 "probe, all classes": (r, "probe_all")})
    matrix = charts.accuracy_matrix(r["matrix"])
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.takeaway(takeaways.probe_per_task(r))
        ui.chart(lines)
    with c2:
        ui.takeaway(takeaways.matrix(r["matrix"]))
        st.caption("Accuracy on each task (columns) after training each task (rows)")
        ui.chart(matrix, width=None)  # at its own size ("content" drew it squeezed)
    curves = ui.curves_panel([{**x, "run": "sequential"} for x in r["curve"]], r["config"]["epochs"], done=True)
    st.subheader("Between two tasks, in weight space")
    ui.link("probe_line_field", "loss", ["loss", "acc"])
    field = st.radio("Show", ["loss", "acc"], horizontal=True, key="probe_line_field",
                     format_func={"loss": "test loss", "acc": "test accuracy"}.get)
    line = charts.straight_lines(r["line"], field)
    ui.takeaway(takeaways.straight_lines(r["line"]))
    ui.chart(line)
    st.caption("The weights on the straight line from the network after task k (a = 0) to the network after "
               "task k+1 (a = 1), (1 − a)·w_k + a·w_k+1, evaluated on task k (old) and task k+1 (new). Where both curves are low at once, "
               "a network that knows both tasks lies on the path that training walked past.")
    return {"summary": bars, "per task": lines, "matrix": matrix, **curves, "straight lines": line}


ui.run_panel("probe", cfg, s["device"], ui.live_curves, result_view)
