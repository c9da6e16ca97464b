"""Where forgetting lives: which layer, which moment, how deep."""
import numpy as np
import streamlit as st

from clviz import figures, ui

st.title("Where forgetting lives")
st.markdown(
    "One method's run (fine-tuning unless you choose another), seen through six lenses: is the lost knowledge "
    "gone from the features, or only from the head's choice between tasks? Which layer lost it, and when?")

s = ui.settings()
cfg = ui.knobs_panel("depth", s)


def mean(xs):
    xs = [x for x in xs if x == x]  # (nan: no value)
    return sum(xs) / len(xs) if xs else float("nan")


def result_view(r):
    T, old = len(r["tasks"]), range(len(r["tasks"]) - 1)
    out = figures.depth(r)  # the charts --export writes too
    st.subheader("1. Told the task, or choosing among all classes")
    til, cil = mean([r["task_il"][k][-1] for k in old]), mean([r["class_il"][k][-1] for k in old])
    st.markdown(f"After the last task, told which task a test image is from, the network still gets **{til:.2f}** "
                f"of the old tasks right; choosing among all classes, **{cil:.2f}**. The gap is the head choosing "
                "the newest task's classes.")
    ui.chart(out["task-IL vs class-IL"])

    st.subheader("2. Which layer lost it")
    roll, none = r["rollback"], [r["class_il"][k][-1] for k in range(T)]
    best = max(roll, key=lambda n: mean([roll[n][k] for k in old]))
    st.markdown(f"Put one layer back to its weights right after task k, keep the rest as it ends, test task k: "
                f"restoring **{best}** brings the old tasks back to **{mean([roll[best][k] for k in old]):.2f}** "
                f"on average (as it ends: {mean([none[k] for k in old]):.2f}; the head alone: "
                f"{mean([roll['head'][k] for k in old]):.2f}).")
    layers = list(r["cka"])
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(out["rollback"])
    with c2:
        ui.chart(out["cka"])
    st.caption(f"CKA 1: the layer's features kept their geometry. After task 1 the first layer keeps "
               f"{r['cka'][layers[0]][0]:.2f}, the head {r['cka']['head'][0]:.2f}.")

    st.subheader("3. The probe, and its control")
    learned, final, ctrl = (mean([r[key][k] for k in old]) for key in ("probe_learned", "probe_final", "control_probe"))
    kept = (final - ctrl) / (learned - ctrl) if learned - ctrl > 1e-9 else float("nan")  # of the means: steadier than the mean of ratios
    st.markdown(
        f"A linear probe on all classes, read on each task: after the last task it scores the old tasks "
        f"**{final:.2f}**, right after learning them {learned:.2f}, and on a network that never saw them {ctrl:.2f}. "
        + (f"The features keep **{kept:.0%}** of what learning a task added." if kept == kept else
           "Here learning a task added nothing the control lacks."))
    ui.chart(out["probe control"])
    st.caption("Control (Hess et al. 2023): a network trained on every task but that one, from the same start. "
               f"Kept = (after the last - control) / (right after - control). The probe on all classes after "
               f"task 1 alone: {r['probe_all'][0]:.2f}, what features give classes they never learned.")

    st.subheader("4. The stability gap")
    st.markdown(f"Evaluated every {r['config']['gap_every']} steps right after each switch: the old tasks' lowest "
                f"point averages **min-ACC {r['min_acc']:.2f}**; the worst-case accuracy **WC-ACC "
                f"{r['wc_acc']:.2f}** (final accuracy {r['acc_seen'][-1]:.2f}).")
    ui.chart(out["stability gap"])

    st.subheader("5. Forgetting events")
    ev = r["forgetting_events"]
    worst = int(np.argmax(ev["per_class"]))
    st.markdown(f"A test image's event: right at one evaluation, wrong at the next ({ev['evaluations']} evaluations "
                f"of {ev['examples']} test images). Class **{worst}** is forgotten most "
                f"({ev['per_class'][worst]:.0f} events).")
    c1, c2 = st.columns([2, 3])
    with c1:
        ui.chart(out["forgetting events"])
    with c2:
        st.caption("The most forgotten test images")
        st.image([np.asarray(im) for im in ev["images"]], width=64,
                 caption=[f"{c}: {n:.0f}" for c, n in zip(ev["top_class"], ev["top_count"])])

    st.subheader("6. The loss plane")
    pl = r["plane"]
    k = pl["task"]
    at = {p["name"]: p for p in pl["points"]}
    j, new = at["joint"], at[f"after task {k + 2}"]
    st.markdown(f"The plane through the weights after task {k + 1}, after task {k + 2} and after joint training. "
                f"Task {k + 1}'s loss: {new['old loss']:.2f} where sequential training ends, "
                f"**{j['old loss']:.2f}** at the joint solution, where task {k + 2}'s is {j['new loss']:.2f}: "
                "a point that knows both lies in the plane, off the path training took (white).")
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(out["plane old"])
    with c2:
        ui.chart(out["plane new"])
    st.caption("Axes in filter-normalised units (Li et al. 2018): one unit moves the weights' filters by their own "
               "norm. The path: every evaluation of both tasks, projected; off the plane by at most "
               f"{max(p['off'] for p in pl['path']):.0%} of the distance between the first two points.")
    st.subheader("Forgetting curves")
    ui.curves_panel([{**x, "run": r["config"]["method"]} for x in r["curve"]], r["config"]["epochs"], done=True, built=out)
    return out


ui.run_panel("depth", cfg, s["device"], ui.live_curves, result_view)
