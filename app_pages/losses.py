"""Loss Variants: which part of cross-entropy does the forgetting?"""
import streamlit as st

from clviz import charts, data, figures, meta, takeaways, ui
from clviz.experiments.losses import notes_beside

st.title("Loss variants")
st.markdown(
    "Three losses, same network and tasks: **cross-entropy**; **correct-logit only** (a sigmoid on the true "
    "logit, the other logits get no gradient); and **latent-only negatives** (the incorrect logits push the hidden "
    "layers but not the head). The notes found that with only the correct logit trained, old classes are "
    "forgotten much more slowly. Add a loss of your own in one file: see the README, \"Your own idea\".")

s = ui.settings()
cfg = ui.knobs_panel("losses", s)


def result_view(r):
    NAMES = {n: charts.label(n) for n in r["config"]["losses"]}
    figs = figures.losses(r)  # the charts --export writes too
    st.subheader("Summary")
    ui.takeaway(takeaways.losses_summary(r))
    st.dataframe([{"loss": NAMES[n], "final acc (all seen)": r[n]["final_acc"], "forgetting of task 1":
                   r[n]["forgetting"][0], "probe (seen), last task": r[n]["probe_seen"][-1]} for n in NAMES],
                 hide_index=True)
    ui.curves_panel(ui.curves_of(r, list(NAMES)), r["config"]["epochs"], done=True, built=figs)

    if rows := notes_beside(r):  # when correct logit only ran
        st.subheader("Correct logit only, beside the notes (Split MNIST)")
        # one type per column: text and numbers mixed in one made Arrow fail ("Could not convert '0.911 to 0.9556'")
        st.dataframe([{"": what, "here": here if isinstance(here, str) else f"{here:.4f}", "notes": str(notes)}
                      for what, here, notes in rows], hide_index=True)
        st.caption("The notes' head behaviour comes back under **SGD** (the default: lr 0.01, 5 epochs per task, L2 "
                   "1e-3): tasks are learned only partly, old classes are forgotten slowly, every sigmoid sits near 1. "
                   "Under **Adam**, or with more epochs, every sigmoid saturates at 1.000 and tasks 2-5 are never "
                   "learned; on full-size Fashion-MNIST too.")

    st.subheader("Sigmoid probability per class for one test image")
    ex = r["examples"]
    ui.link("losses_example", 0, list(range(len(ex["index"]))))
    i = st.selectbox("Test image", range(len(ex["index"])), key="losses_example",
                     format_func=lambda j: f"#{ex['index'][j]} (class {ex['label'][j]})")
    c1, c2 = st.columns([1, 5])
    try:
        img = meta.test_image(r["config"]["dataset"], r["config"]["data_dir"] or None, ex["index"][i])
        c1.image(img, caption=f"class {ex['label'][i]}", width=120)
    except data.DataError:
        c1.caption("(image unavailable: dataset not on disk)")
    with c2:
        ui.link("losses_table_loss", list(NAMES)[0], list(NAMES))
        n = st.radio("Loss", list(NAMES), format_func=NAMES.get, horizontal=True, key="losses_table_loss")
    ui.takeaway(takeaways.sigmoids(r, n, i))
    probs = r[n]["example_sigmoid"]  # below the image, the page's whole width: every class's column shows
    table = ui.task_table(r["tasks"], **{str(c): [probs[k][i][c] for k in range(len(probs))]
                                         for c in range(len(probs[0][i]))}).drop(columns=["classes"])
    # widths in pixels, not "small" (75 px): eleven small columns ran a few pixels past the page at 1280 px
    bar = st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.3f", width=66)
    st.dataframe(table, hide_index=True, column_config={"task": st.column_config.Column("after task", width=64),
                                                        **{c: bar for c in table.columns[1:]}})
    st.caption(f"Row: after task k; column: class. True class: {ex['label'][i]}.")

    st.subheader("Linear probe per task")  # one row per loss and classes, one column per task: it fits
    ui.takeaway(takeaways.probes(r))
    probe = ui.task_table(r["tasks"], **{f"{NAMES[n]} ({w})": (r[n], f"probe_{w}") for n in NAMES
                                         for w in ("seen", "all")})
    st.dataframe(probe.drop(columns=["classes"]).set_index("task").T.rename(columns=lambda k: f"task {k}"))
    st.subheader("Accumulated gradient norm per layer, per task")
    ui.takeaway(takeaways.gradients(r))
    ui.chart(figs["gradients"])
    return figs


ui.run_panel("losses", cfg, s["device"], ui.live_curves, result_view)
