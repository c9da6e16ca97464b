"""Sparsity: the latent layer goes quiet as tasks arrive, unless BatchNorm holds it."""
import streamlit as st

from clviz import figures, report, takeaways, ui

REF = report.REFERENCE["mnist"]

st.title("Sparsity of the latent layer")
st.markdown(
    "An MLP learns the tasks one after another, with and without BatchNorm. After each task we measure the "
    "**population sparsity** of the latent layer (the fraction of activations that are exactly zero). "
    f"The notes found it jumps after the second task without BatchNorm ({REF['sparsity_no_bn'][0]} → "
    f"{REF['sparsity_no_bn'][1]} on Split MNIST) and stays flat with it ({REF['sparsity_bn'][0]} → {REF['sparsity_bn'][1]}), "
    "and blame a shift of the hidden biases.")

s = ui.settings()
cfg = ui.knobs_panel("sparsity", s)


def result_view(r):
    no_bn, bn = r["no_bn"], r["bn"]
    st.subheader("After each task")
    st.dataframe(ui.task_table(r["tasks"], **{
        "val loss (no BN)": (no_bn, "val_loss"), "sparsity (no BN)": (no_bn, "sparsity"),
        "val loss (BN)": (bn, "val_loss"), "sparsity (BN)": (bn, "sparsity"),
        "acc seen (no BN)": (no_bn, "acc_seen"), "acc seen (BN)": (bn, "acc_seen")}), hide_index=True)
    ui.link("sparsity_heat_task", 1, list(range(1, len(r["tasks"]) + 1)))
    k = min(st.session_state.get("sparsity_heat_task", 1), len(r["tasks"])) - 1  # (its slider: below, by the heatmaps)
    figs = figures.sparsity(r, k)  # the charts --export writes too
    sp, vl = figs["sparsity"], figs["val_loss"]
    c1, c2 = st.columns(2)
    with c1:
        ui.takeaway(takeaways.sparsity(r))
        ui.chart(sp)
    with c2:
        ui.takeaway(takeaways.val_loss(r))
        ui.chart(vl)
    st.subheader("Latent features")
    k = st.select_slider("After task", options=list(range(1, len(r["tasks"]) + 1)), key="sparsity_heat_task") - 1
    ui.takeaway(takeaways.heatmaps(r, k))
    c1, c2 = st.columns(2)
    for col, name in ((c1, "no BN"), (c2, "BN")):
        with col:
            ui.chart(figs[f"heatmap {name}"])
    st.caption("Rows: test samples sorted by class; columns: latent units. A blank column is a unit that "
               "never fires: a dead unit.")
    st.subheader("Hidden-layer biases")
    ui.takeaway(takeaways.biases(r))
    c1, c2 = st.columns(2)
    for col, name in ((c1, "no BN"), (c2, "BN")):
        with col:
            ui.chart(figs[f"bias {name}"])
    st.subheader("Forgetting curves")
    ui.curves_panel(ui.curves_of(r, ["no_bn", "bn"]), r["config"]["epochs"], done=True, built=figs)
    return figs


ui.run_panel("sparsity", cfg, s["device"], ui.live_curves, result_view)
