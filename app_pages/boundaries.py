"""Decision Boundaries: forgetting you can see, in 2-D."""
import streamlit as st

from clviz import charts, config, ui
from clviz.boundaries import toy_setup

st.title("Decision boundaries")
st.markdown(
    "Left: a 2-D toy problem learned class-incrementally, two classes per task; the coloured regions are the "
    "network's decisions over the plane after each task. Watch the new classes take the plane over. "
    "Right: the real model's latent space (sidebar dataset) projected to 2-D by PCA, with the decision regions "
    "of its own head over that plane.")

s = ui.settings()
d = config.BoundariesConfig()
c1, c2, c3 = st.columns(3)
toy = c1.radio("Toy problem", ["blobs", "spirals"], horizontal=True, key="bnd_toy")
toy_tasks = c2.number_input("Toy tasks (2 classes each)", 2, 5, d.toy_tasks, key="bnd_tasks")
toy_epochs = c3.number_input("Toy epochs per task", 1, 500, d.toy_epochs, key="bnd_epochs")
toy_lr = ui.parse_float("Toy learning rate", c1.text_input("Toy learning rate", f"{d.toy_lr:g}", key="bnd_lr"), c1)
st.caption("The real model uses the settings below; the optimizer is shared by both.")
vals = ui.training_controls("boundaries", d)
cfg = ui.make_config("boundaries", s, **vals, toy=toy, toy_tasks=int(toy_tasks), toy_epochs=int(toy_epochs),
                     toy_lr=toy_lr)


def panels(toy_regions, toy, planes, plane_acc):
    """Decision regions after each finished task: the toy problem, then the real model's latent plane."""
    out = {}
    if toy_regions:
        st.markdown("**2-D toy: decision regions after each task**")
        for k, col in zip(range(len(toy_regions)), st.columns(len(toy_regions))):
            reg = toy_regions[k]
            out[f"toy task {k + 1}"] = charts.regions(reg["cls"], reg["conf"], toy["box"], toy["grid_n"],
                                                      toy["points"], toy["labels"], f"after task {k + 1}",
                                                      toy["n_classes"])
            with col:
                st.altair_chart(out[f"toy task {k + 1}"])
    if planes:
        st.markdown("**Real model: latent space (PCA) and its decisions after each task**")
        for start in range(0, len(planes), 5):
            for k, col in zip(range(start, len(planes)), st.columns(5)):
                p = planes[k]
                out[f"latent task {k + 1}"] = charts.regions(
                    p["grid"]["cls"], p["grid"]["conf"], p["box"], round(len(p["grid"]["cls"]) ** 0.5), p["points"],
                    p["labels"], f"after task {k + 1}: acc {plane_acc[k]:.2f}", 10).properties(width=220, height=220)
                with col:
                    st.altair_chart(out[f"latent task {k + 1}"])
    return out


def live_view(rows, events, cfg):
    ends = [e for e in events if e["event"] == "task_end"]
    toy_ends, lat = [e for e in ends if e["run"] == "toy"], [e for e in ends if e["run"] == "latent"]
    panels([e["regions"] for e in toy_ends], toy_setup(cfg)[3], [e["plane"] for e in lat], [e["acc_seen"] for e in lat])


def result_view(r):
    return panels(r["toy"]["regions"], r["toy"], r["latent"]["planes"], r["latent"]["acc_seen"])


ui.run_panel("boundaries", cfg, s["device"], live_view, result_view)
