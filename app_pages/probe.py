"""Linear Probe: the features survive even when the network's answers do not."""
import streamlit as st

from clviz import figures, report, takeaways, ui

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
    ui.link("probe_line_field", "loss", ["loss", "acc"])  # (its radio: below, by its chart)
    figs = figures.probe(r, st.session_state.get("probe_line_field", "loss"))  # the charts --export writes too
    ui.takeaway(takeaways.probe_summary(r))
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.chart(figs["summary"])
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
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.takeaway(takeaways.probe_per_task(r))
        ui.chart(figs["per task"])
    with c2:
        ui.takeaway(takeaways.matrix(r["matrix"]))
        st.caption("Accuracy on each task (columns) after training each task (rows)")
        ui.chart(figs["matrix"], width=None)  # at its own size ("content" drew it squeezed)
    ui.curves_panel(r["curve"], r["config"]["epochs"], done=True, built=figs)
    st.subheader("Between two tasks, in weight space")
    st.radio("Show", ["loss", "acc"], horizontal=True, key="probe_line_field",
             format_func={"loss": "test loss", "acc": "test accuracy"}.get)
    ui.takeaway(takeaways.straight_lines(r["line"]))
    ui.chart(figs["straight lines"])
    st.caption("The weights on the straight line from the network after task k (a = 0) to the network after "
               "task k+1 (a = 1), (1 − a)·w_k + a·w_k+1, evaluated on task k (old) and task k+1 (new). Where both curves are low at once, "
               "a network that knows both tasks lies on the path that training walked past.")
    return figs


ui.run_panel("probe", cfg, s["device"], ui.live_curves, result_view)
