"""Altair chart builders for the lenses of where and when forgetting happens (clviz/lenses.py):
pure functions from a result's keys to charts, like clviz/charts.py."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .charts import ACC, TASK_COLORS


def il_gap(task_il, class_il):
    """Each task's accuracy after the last task: task-IL (its own classes) beside class-IL (all)."""
    rows = [{"task": f"task {k + 1}", "measure": m, "accuracy": v[k][-1]}
            for m, v in (("task-IL (its own classes)", task_il), ("class-IL (all classes)", class_il))
            for k in range(len(task_il))]
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("task:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)), xOffset="measure:N",
        y=alt.Y("accuracy:Q", scale=ACC, title="accuracy after the last task"),
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top", labelLimit=300)))
    return (base.mark_bar() + base.mark_text(dy=-6, fontSize=11).encode(text=alt.Text("accuracy:Q", format=".2f"))
            ).properties(height=260)


def layer_grid(values: dict, title: str, none=None, domain=(0, 1)):
    """{layer: [value per task]} as an annotated heatmap, layers (rows) x tasks (columns); `none`
    adds a first row of the values without any rollback."""
    rows = ({"none (as it ends)": none} if none is not None else {}) | values
    df = pd.DataFrame([{"layer": name, "task": f"task {k + 1}", "value": v}
                       for name, vs in rows.items() for k, v in enumerate(vs)])
    base = alt.Chart(df, title=title).encode(x=alt.X("task:N", sort=None, title=None, axis=alt.Axis(labelAngle=0)),
                                             y=alt.Y("layer:N", sort=list(rows), title=None))
    return (base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(domain=list(domain), scheme="blues"),
                                                    legend=None))
            + base.mark_text(fontSize=13).encode(text=alt.Text("value:Q", format=".2f"),
                                                 color=alt.condition(alt.datum.value > 0.6, alt.value("white"),
                                                                     alt.value("black")))
            ).properties(height=44 * len(rows) + 30)


def control_bars(learned, final, control):
    """Per task: the all-class probe on its test samples right after it was learned, after the last
    task, and on the control network that never saw it."""
    rows = [{"task": f"task {k + 1}", "probe": m, "accuracy": v[k]}
            for m, v in (("right after it was learned", learned), ("after the last task", final),
                         ("control: never saw it", control)) for k in range(len(learned))]
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("task:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)), xOffset=alt.XOffset("probe:N", sort=None),
        y=alt.Y("accuracy:Q", scale=ACC, title="probe accuracy on the task"),
        color=alt.Color("probe:N", sort=None, title=None, legend=alt.Legend(orient="top", labelLimit=300)))
    return (base.mark_bar() + base.mark_text(dy=-6, fontSize=10).encode(text=alt.Text("accuracy:Q", format=".2f"))
            ).properties(height=260)


def stability_gap(rows, switches):
    """Accuracy on each task against optimiser steps, from every evaluation (the dense ones after
    each switch included), with a rule at each task switch: the dip right after a switch is the
    stability gap."""
    df = pd.DataFrame([{"step": r["step"], "task": f"task {j + 1}", "accuracy": a}
                       for r in rows for j, a in enumerate(r["acc_tasks"]) if j <= r["task"]])
    lines = alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("step:Q", title="optimiser steps (across tasks)"), y=alt.Y("accuracy:Q", scale=ACC),
        color=alt.Color("task:N", scale=alt.Scale(scheme=TASK_COLORS), sort=None,
                        legend=alt.Legend(orient="top", title="accuracy on")),
        tooltip=["task", "step", alt.Tooltip("accuracy:Q", format=".3f")])
    rules = alt.Chart(pd.DataFrame({"step": switches})).mark_rule(strokeDash=[2, 3], color="gray").encode(x="step:Q")
    return (rules + lines).properties(height=300)


def events_per_class(per_class):
    """Forgetting events per class (the sum over its test samples)."""
    df = pd.DataFrame({"class": [str(c) for c in range(len(per_class))], "events": per_class})
    base = alt.Chart(df).encode(x=alt.X("class:N", sort=None, axis=alt.Axis(labelAngle=0)),
                                y=alt.Y("events:Q", title="forgetting events"))
    return (base.mark_bar() + base.mark_text(dy=-6, fontSize=11).encode(text=alt.Text("events:Q", format=".0f"))
            ).properties(height=220)


def loss_plane(plane, split: str, title: str):
    """The test loss of one task over the plane (log colour scale), the three points named and
    the training path drawn on it."""
    a, b = np.asarray(plane["a"]), np.asarray(plane["b"])
    da, db = a[1] - a[0], b[1] - b[0]
    loss = np.asarray(plane[split]["loss"])
    df = pd.DataFrame([{"a": x, "b": y, "a2": x + da, "b2": y + db, "loss": max(float(loss[i, j]), 1e-4)}
                       for i, x in enumerate(a - da / 2) for j, y in enumerate(b - db / 2)])
    heat = alt.Chart(df, title=title).mark_rect().encode(
        x=alt.X("a:Q", title="along after task k → after task k+1", scale=alt.Scale(domain=[a[0] - da / 2, a[-1] + da / 2], nice=False)),
        x2="a2", y=alt.Y("b:Q", title="towards joint training", scale=alt.Scale(domain=[b[0] - db / 2, b[-1] + db / 2], nice=False)),
        y2="b2", color=alt.Color("loss:Q", scale=alt.Scale(type="log", scheme="viridis", reverse=True), title="test loss"),
        tooltip=[alt.Tooltip("loss:Q", format=".3f")])
    path = pd.DataFrame([{"i": i, "a": p["a"], "b": p["b"], "task": f"task {p['task'] + 1}"} for i, p in enumerate(plane["path"])])
    line = alt.Chart(path).mark_line(color="white", strokeWidth=2, point=alt.OverlayMarkDef(color="white", size=14)).encode(
        x="a:Q", y="b:Q", order="i:Q")
    pts = pd.DataFrame(plane["points"])
    marks = alt.Chart(pts).mark_point(shape="diamond", size=160, filled=True, color="red").encode(x="a:Q", y="b:Q")
    right = pts["a"] > (a[0] + a[-1]) / 2  # a name on the right half is written to the left of its point: inside the chart
    text = [alt.Chart(pts[side]).mark_text(align=align, dx=dx, dy=-10, fontSize=13, color="white", fontWeight="bold").encode(
        x="a:Q", y="b:Q", text="name:N") for side, align, dx in ((~right, "left", 8), (right, "right", -8))]
    return alt.layer(heat, line, marks, *text).properties(height=340)
