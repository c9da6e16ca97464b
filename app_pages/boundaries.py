"""Decision Boundaries: forgetting you can see, in 2-D."""
import streamlit as st

from clviz import charts, data, takeaways, ui
from clviz.experiments.boundaries import toy_setup

st.title("Decision boundaries")
st.markdown(
    "First: a 2-D toy problem learned class-incrementally, two classes per task; the coloured regions are the "
    "network's decisions over the plane after each task. Watch the new classes take the plane over. "
    "Below it: the real model's latent space (sidebar dataset) projected to 2-D by PCA, with the decision regions "
    "of its own head over that plane.")

s = ui.settings()
st.caption("The real model uses the tasks, epochs and learning rate below; the toy problem its own (Toy ...). "
           "The optimizer is shared by both.")
cfg = ui.knobs_panel("boundaries", s)


PER_ROW = 3


def keyed(k: int, n: int) -> bool:
    """Does panel k of n carry the class legend? The last of each row only (see charts.regions)."""
    return k % PER_ROW == PER_ROW - 1 or k == n - 1


def grid(named: dict, per_row=PER_ROW):
    """Charts in rows of `per_row` columns (5 panels side by side leave no room for a plane)."""
    items = list(named.items())
    for start in range(0, len(items), per_row):
        for (_, ch), col in zip(items[start:start + per_row], st.columns(per_row)):
            with col:
                ui.chart(ch, width="content")  # at its own (square) size


def panels(toy_regions, toy, planes, plane_acc, n_classes, lines=(None, None)):
    """Decision regions after each finished task: the toy problem, then the real model's latent
    plane; each under its line of what to see, once the run is done (`lines`)."""
    toy_charts = {f"toy task {k + 1}": charts.regions(reg["cls"], reg["conf"], toy["box"], toy["grid_n"],
                                                      toy["points"], toy["labels"], f"after task {k + 1}",
                                                      toy["n_classes"], legend=keyed(k, len(toy_regions)))
                  for k, reg in enumerate(toy_regions)}
    latent_charts = {f"latent task {k + 1}": charts.regions(
        p["grid"]["cls"], p["grid"]["conf"], p["box"], round(len(p["grid"]["cls"]) ** 0.5), p["points"], p["labels"],
        f"after task {k + 1}: accuracy {plane_acc[k]:.2f}", n_classes, ("PCA 1", "PCA 2"), keyed(k, len(planes)))
        for k, p in enumerate(planes)}
    if toy_charts:
        st.markdown("**2-D toy: decision regions after each task**")
        if lines[0]:
            ui.takeaway(lines[0])
        grid(toy_charts)
    if latent_charts:
        st.markdown("**Real model: latent space (PCA) and its decisions after each task**")
        if lines[1]:
            ui.takeaway(lines[1])
        grid(latent_charts)
    return {**toy_charts, **latent_charts}


def live_view(rows, events, cfg):
    ends = [e for e in events if e["event"] == "task_end"]
    toy_ends, lat = [e for e in ends if e["run"] == "toy"], [e for e in ends if e["run"] == "latent"]
    panels([e["regions"] for e in toy_ends], toy_setup(cfg)[3], [e["plane"] for e in lat], [e["acc_seen"] for e in lat],
           data.NUM_CLASSES[cfg.dataset])


def result_view(r):
    return panels(r["toy"]["regions"], r["toy"], r["latent"]["planes"], r["latent"]["acc_seen"],
                  data.NUM_CLASSES[r["config"]["dataset"]],
                  (takeaways.toy_regions(r["toy"]), takeaways.latent_planes(r["latent"])))


ui.run_panel("boundaries", cfg, s["device"], live_view, result_view)
