"""CIFAR: the same story on Split CIFAR-100 (10 tasks of 10 classes) with a small CNN."""
import streamlit as st

from clviz import figures, report, takeaways, ui

REF = report.REFERENCE["cifar100"]

s = ui.settings()
name = "cifar100"
title, intro = st.empty(), st.empty()  # written once the dataset is known: a fallback is not called CIFAR-100
if not ui.dataset_status(name, s["data_dir"], where=st):
    ui.link("cifar_fallback", False)
    if st.toggle("Run the same experiment on the sidebar's dataset instead", key="cifar_fallback"):
        name = s["dataset"]
if name == "cifar100":
    title.title("Split CIFAR-100")
    intro.markdown(
        "A small CNN learns CIFAR-100 as 10 tasks of 10 classes. Joint vs sequential accuracy, the sparsity of the "
        "latent layer with and without BatchNorm, and linear probes on seen and on all classes. The notes: joint "
        f"{REF['joint_acc']}, sequential {REF['sequential_acc']}, probe {REF['probe_final']}. The default uses 100 "
        "training images per class so it runs in a minute or two on a CPU; set the cap to 0 for the full set "
        "(a GPU helps).")
else:
    title.title(f"The CIFAR experiment on {name}")
    intro.markdown(
        f"CIFAR-100 is not on this machine, so the CIFAR experiment runs on **{name}**: the same network (a small "
        "CNN), the same lenses (joint vs sequential accuracy, sparsity with and without BatchNorm, probes on seen "
        f"and on all classes), {name}'s tasks. The notes' CIFAR-100 figures do not apply to it.")
cfg = ui.knobs_panel("cifar", s, dataset=name)


def result_view(r):
    ui.takeaway(takeaways.probe_summary(r))
    ui.link("cifar_heat", 1, list(range(1, len(r["tasks"]) + 1)))
    k = min(st.session_state.get("cifar_heat", 1), len(r["tasks"])) - 1  # (its slider: below, by the heatmap)
    figs = figures.cifar(r, k)  # the charts --export writes too
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.chart(figs["summary"])
    with c2:
        st.metric("Preserved (probe / joint)", f"{r['preserved']:.3f}")
        if r["config"]["dataset"] == "cifar100":  # the notes' figures are CIFAR-100's: beside no other set
            st.caption(f"The notes (Split CIFAR-100): joint {REF['joint_acc']}, sequential {REF['sequential_acc']}, "
                       f"probe {REF['probe_final']}.")
    st.dataframe(ui.task_table(r["tasks"], **{"network (seen)": (r, "acc_seen"), "probe (seen)": (r, "probe_seen"),
                                               "probe (all)": (r, "probe_all"),
                                               "sparsity (no BN)": (r["no_bn"], "sparsity"),
                                               "sparsity (BN)": (r["bn"], "sparsity")}), hide_index=True)
    ui.takeaway(takeaways.sparsity(r))
    ui.chart(figs["sparsity"])
    k = st.select_slider("Latent features after task", list(range(1, len(r["tasks"]) + 1)), key="cifar_heat") - 1
    ui.takeaway(takeaways.heatmap(r["no_bn"]["heatmap"][k], k, "no_bn"))
    ui.chart(figs["heatmap"])
    ui.curves_panel(r["curve"], r["config"]["epochs"], done=True, built=figs)
    return figs


ui.run_panel("cifar", cfg, s["device"], ui.live_curves, result_view)
