"""Decision Boundaries: forgetting you can see, in 2-D."""
import streamlit as st

from clviz import data, figures, takeaways, ui
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


def grid(named: dict, per_row=figures.PER_ROW):
    """Charts in rows of `per_row` columns (clviz/figures.py puts the legend on each row's last)."""
    items = list(named.items())
    for start in range(0, len(items), per_row):
        for (_, ch), col in zip(items[start:start + per_row], st.columns(per_row)):
            with col:
                ui.chart(ch, width="content")  # at its own (square) size


def panels(toy_charts, latent_charts, lines=(None, None)):
    """The toy problem's panels, then the real model's; each under its line of what to see, once
    the run is done (`lines`)."""
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


def live_view(rows, events, cfg):
    ends = [e for e in events if e["event"] == "task_end"]
    toy_ends, lat = [e for e in ends if e["run"] == "toy"], [e for e in ends if e["run"] == "latent"]
    panels(*figures.region_panels([e["regions"] for e in toy_ends], toy_setup(cfg)[3], [e["plane"] for e in lat],
                                  [e["acc_seen"] for e in lat], data.NUM_CLASSES[cfg.dataset]))
    return bool(toy_ends or lat)


def result_view(r):
    figs = figures.boundaries(r)  # the charts --export writes too
    panels({k: v for k, v in figs.items() if k.startswith("toy")}, {k: v for k, v in figs.items() if k.startswith("latent")},
           (takeaways.toy_regions(r["toy"]), takeaways.latent_planes(r["latent"])))
    return figs


ui.run_panel("boundaries", cfg, s["device"], live_view, result_view)
