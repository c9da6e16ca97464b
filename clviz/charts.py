"""Altair chart builders: pure functions from result data to charts (no Streamlit, testable).

Axes are fixed where the data will grow (accuracy in [0, 1], epochs up to the planned total), so
a chart redrawn live keeps its frame and the curves grow into it.
"""
from __future__ import annotations

import base64
import copy
import struct
import zlib

import altair as alt
import numpy as np
import pandas as pd

from . import names

alt.data_transformers.disable_max_rows()  # heatmaps have tens of thousands of cells: fine for vega
ACC = alt.Scale(domain=[0, 1])
TASK_COLORS = "category10"
WHOLE = alt.Axis(labelLimit=0)  # a category axis writes its names whole ("nearest mean (iCaRL)", not "(iC…")


label = names.label  # what the engine calls a sub-run, as a legend or a panel title says it (clviz/names.py)


# Present mode (a projector): fonts in px, as a room at the back reads them; Vega-Lite's own are 10-13 px
PRESENT_FONTS = {"axis": {"labelFontSize": 16, "titleFontSize": 18}, "legend": {"labelFontSize": 16, "titleFontSize": 17},
                 "header": {"labelFontSize": 17, "titleFontSize": 18}, "title": {"fontSize": 20}}
PRESENT_TALLER = 1.5  # a stretching chart's height: the wide screen leaves room to draw it larger
PRESENT_NARROWER = 0.85  # panels side by side: their larger axis labels take this much of the plots' width


def present(spec: dict) -> dict:
    """A chart's Vega-Lite spec for a projector: larger fonts everywhere, and every part that
    stretches to the page's width (no fixed width) PRESENT_TALLER times as tall. Fixed-size panels
    keep their size (a facet's or a square plane's: grown, they would run past the page), and
    panels side by side give up some width to their larger labels (three forgetting curves ran
    past the page at 1280 px)."""
    spec = copy.deepcopy(spec)

    def grow(node):
        if isinstance(node.get("height"), (int, float)) and not isinstance(node.get("width"), (int, float)):
            node["height"] = round(node["height"] * PRESENT_TALLER)
        for part in ("layer", "hconcat", "vconcat", "concat"):
            for child in node.get(part, []):
                if part == "hconcat" and isinstance(child.get("width"), (int, float)):
                    child["width"] = round(child["width"] * PRESENT_NARROWER)
                grow(child)
        if isinstance(node.get("spec"), dict):  # a facet's panel
            grow(node["spec"])

    grow(spec)
    config = spec.setdefault("config", {})
    for part, sizes in PRESENT_FONTS.items():
        config[part] = {**config.get(part, {}), **sizes}
    return spec


def legend(n: int, title=None, above=False) -> alt.Legend:
    """A legend that names every series. Right of the plot for a few; above it in rows of four for
    more (or when `above`: panels side by side, whose one legend must not take their width):
    Streamlit draws a chart at its own height and clips a right-hand legend taller than that (the
    Remedies page named 7 of its 9 methods)."""
    if n <= 6 and not above:
        return alt.Legend(title=title, labelLimit=0)
    return alt.Legend(title=title, orient="top", columns=4, labelLimit=0)


def legend_rows_height(n: int, above=False) -> int:
    """The height a `legend` above the plot adds (rows of four, 30 px each; 0 at its right): a chart
    drawn as wide as its container is fitted, legend included, to its height (the Remedies page's
    latent sparsity, 9 methods, kept a plot 20 px high under its legend)."""
    return 0 if n <= 6 and not above else 30 * -(-n // 4)


def curve_frame(rows) -> pd.DataFrame:
    """Long form of epoch_end rows: one line per (run, step, evaluated task)."""
    out = []
    for r in rows:
        sds = r.get("acc_tasks_std", [0.0] * len(r["acc_tasks"])) + [r.get("acc_seen_std", 0.0)]
        names = [f"task {j + 1}" for j in range(len(r["acc_tasks"]))] + ["all seen"]
        for name, a, sd in zip(names, r["acc_tasks"] + [r["acc_seen"]], sds):
            out.append({"run": label(r.get("run", "")), "step": r["step"], "trained task": r["task"] + 1, "task": name,
                        "accuracy": a, "lo": max(0.0, a - sd), "hi": min(1.0, a + sd)})
    return pd.DataFrame(out, columns=["run", "step", "trained task", "task", "accuracy", "lo", "hi"])


def forgetting_curves(rows, n_steps: int, epochs: int):
    """Accuracy on each task's test set after every epoch, across tasks; dashed: all seen classes.
    One panel per run (side by side), dotted rules at task boundaries."""
    df = curve_frame(rows)
    bounds = pd.DataFrame({"step": np.arange(epochs, n_steps, epochs) + 0.5})
    x = alt.X("step:Q", title="epoch (across tasks)", scale=alt.Scale(domain=[0, max(n_steps, 1)]),
              axis=alt.Axis(tickMinStep=1))  # whole epochs: no half-epoch ticks on a short run

    n = df["run"].nunique()  # side by side panels share the page's width, their one legend above them

    def panel(run, d):
        lines = alt.Chart(d, title=run or "").mark_line(point=alt.OverlayMarkDef(size=20)).encode(
            x=x, y=alt.Y("accuracy:Q", scale=ACC),
            color=alt.Color("task:N", scale=alt.Scale(scheme=TASK_COLORS),
                            legend=legend(df["task"].nunique(), "evaluated on", above=n > 1)),
            strokeDash=alt.condition(alt.datum.task == "all seen", alt.value([5, 3]), alt.value([1, 0])),
            tooltip=["run", "trained task", "task", alt.Tooltip("accuracy:Q", format=".3f")])
        rules = alt.Chart(bounds).mark_rule(color="#bbb", strokeDash=[2, 2]).encode(x="step:Q")
        if (d["hi"] > d["lo"]).any():  # several seeds: a band of ± one standard deviation
            band = alt.Chart(d).mark_area(opacity=0.15).encode(x=x, y="lo:Q", y2="hi:Q", color=alt.Color(
                "task:N", scale=alt.Scale(scheme=TASK_COLORS)))
            lines = alt.layer(band, lines)
        # panels side by side fit the main column at 1280 px (about 820 px; three of 220 ran past it)
        return alt.layer(rules, lines).properties(width="container" if n <= 1 else {2: 300, 3: 190}.get(n, 140), height=260)

    runs = list(dict.fromkeys(df["run"])) or [""]
    return alt.hconcat(*(panel(r, df[df["run"] == r]) for r in runs)) if len(runs) > 1 else panel(runs[0], df)


def metric_curve(rows, field: str, title: str, n_steps: int, domain=None):
    """One metric per epoch (loss, sparsity), one line per run."""
    df = pd.DataFrame([{"run": label(r.get("run", "")), "step": r["step"], field: r[field]} for r in rows],
                      columns=["run", "step", field])
    y = alt.Y(f"{field}:Q", title=title, scale=alt.Scale(domain=domain) if domain else alt.Undefined)
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q", title="epoch (across tasks)", scale=alt.Scale(domain=[0, max(n_steps, 1)]),
                axis=alt.Axis(tickMinStep=1)), y=y,
        color=alt.Color("run:N", legend=legend(df["run"].nunique(), "run")),
        tooltip=["run", "step", alt.Tooltip(f"{field}:Q", format=".4f")]
    ).properties(height=220)


def curve_charts(rows, epochs: int) -> dict:
    """A run's epoch charts, on axes fixed to the whole run: forgetting curves, loss, sparsity."""
    n_steps = len(rows[0]["acc_tasks"]) * epochs
    return {"forgetting curves": forgetting_curves(rows, n_steps, epochs),
            "loss": metric_curve(rows, "loss", "training loss", n_steps),
            "sparsity per epoch": metric_curve(rows, "sparsity", "latent sparsity", n_steps, domain=[0, 1])}


def per_task_lines(values: dict, title: str, domain=None, spread: dict | None = None):
    """{series: [value per task]} -> lines over tasks (sparsity with and without BN, probes ...),
    with a band of ± one standard deviation for the series in `spread` (several seeds)."""
    spread = spread or {}
    df = pd.DataFrame([{"series": k, "task": i + 1, "value": v, "sd": spread.get(k, [0.0] * len(vs))[i]}
                       for k, vs in values.items() for i, v in enumerate(vs)])
    df["lo"], df["hi"] = df["value"] - df["sd"], df["value"] + df["sd"]
    y = alt.Y("value:Q", title=title, scale=alt.Scale(domain=domain) if domain else alt.Undefined)
    base = alt.Chart(df).encode(x=alt.X("task:O", title="after task", axis=alt.Axis(labelAngle=0)), color=alt.Color("series:N", sort=list(values), legend=legend(len(values))))
    lines = base.mark_line(point=True).encode(y=y, tooltip=["series", "task", alt.Tooltip("value:Q", format=".4f"),
                                                            alt.Tooltip("sd:Q", format=".4f")])
    chart = alt.layer(base.mark_area(opacity=0.2).encode(y="lo:Q", y2="hi:Q"), lines) if spread else lines
    return chart.properties(height=240 + legend_rows_height(len(values)))


def spread_of(cols):
    """{name: list or (part, key)} -> (values, spread): a (part, key) column brings along its
    spread across seeds (part[key + '_std']) where the run had several seeds."""
    values, spread = {}, {}
    for name, v in cols.items():
        if isinstance(v, tuple):
            part, key = v
            values[name] = part[key]
            if f"{key}_std" in part:
                spread[name] = part[f"{key}_std"]
        else:
            values[name] = v
    return values, spread


def task_lines(title, domain=None, **cols):
    """Lines over tasks from result parts ((part, key) columns), with a band of ± one sd across seeds where there is one."""
    values, spread = spread_of(cols)
    return per_task_lines(values, title, domain, spread)


def variant_curves(rows: list, title: str, x_title: str = "epoch (across tasks)", domain=(0, 1)):
    """Compare: one line per variant ({"variant", "x", "value", "sd"} rows), with its band of
    ± one standard deviation across seeds. Distinct colours (a projector loses two blues); a
    per-task chart ("after task") has whole-number ticks and a y axis fitted to the values,
    where the differences a comparison is about would vanish in [0, 1]."""
    df = pd.DataFrame(rows, columns=["variant", "x", "value", "sd"])
    df["lo"], df["hi"] = df["value"] - df["sd"], df["value"] + df["sd"]
    x = alt.X("x:O", title=x_title, axis=alt.Axis(labelAngle=0)) if x_title == "after task" else alt.X("x:Q", title=x_title)
    base = alt.Chart(df).encode(x=x, color=alt.Color("variant:N", legend=legend(df["variant"].nunique(), "variant"),
                                                 scale=alt.Scale(scheme=TASK_COLORS)))
    y = alt.Y("value:Q", title=title, scale=alt.Scale(domain=list(domain)) if domain else alt.Scale(zero=False))
    lines = base.mark_line(point=True).encode(y=y, tooltip=["variant", "x", alt.Tooltip("value:Q", format=".4f"),
                                                            alt.Tooltip("sd:Q", format=".4f")])
    return alt.layer(base.mark_area(opacity=0.15).encode(y="lo:Q", y2="hi:Q"), lines).properties(height=260)


def sweep(rows: list, knob: str, default: float):
    """Stability against plasticity: final accuracy on all classes and accuracy on the newest task
    against a method's strength (log axis), with the seeds' band; fine-tuning's levels dashed, the
    default strength marked."""
    df = pd.DataFrame([{"strength": r["strength"], "what": what, "value": r[k], "sd": r[f"{k}_sd"]}
                       for r in rows for what, k in (("all classes (stability)", "final"), ("newest task (plasticity)", "newest"))])
    df["lo"], df["hi"] = df["value"] - df["sd"], df["value"] + df["sd"]
    color = alt.Color("what:N", title=None, scale=alt.Scale(scheme=TASK_COLORS), legend=alt.Legend(orient="top"))
    base = alt.Chart(df).encode(x=alt.X("strength:Q", title=knob, scale=alt.Scale(type="log")), color=color)
    lines = base.mark_line(point=True).encode(y=alt.Y("value:Q", title="accuracy after the last task", scale=ACC),
                                              tooltip=["strength", "what", alt.Tooltip("value:Q", format=".4f")])
    ft = pd.DataFrame([{"what": "all classes (stability)", "value": rows[0]["finetune_final"]},
                       {"what": "newest task (plasticity)", "value": rows[0]["finetune_newest"]}])
    rules = alt.Chart(ft).mark_rule(strokeDash=[4, 4]).encode(y="value:Q", color=color)
    mark = alt.Chart(pd.DataFrame([{"strength": default}])).mark_rule(color="gray").encode(x="strength:Q")
    return alt.layer(base.mark_area(opacity=0.15).encode(y="lo:Q", y2="hi:Q"), lines, rules, mark).properties(height=280)


def heatmap(matrix, labels, title=""):
    """Latent features: test samples sorted by class (rows) x units (columns); dead units are blank columns."""
    m = np.asarray(matrix, dtype=float)
    order = np.argsort(np.asarray(labels), kind="stable")
    m, labels = m[order], np.asarray(labels)[order]
    r, c = np.indices(m.shape)
    df = pd.DataFrame({"sample": r.ravel(), "unit": c.ravel(), "activation": m.ravel(), "class": labels[r.ravel()]})
    return alt.Chart(df, title=title).mark_rect().encode(
        x=alt.X("unit:O", axis=alt.Axis(labels=False, ticks=False), title=f"latent unit ({m.shape[1]})"),
        y=alt.Y("sample:O", axis=alt.Axis(labels=False, ticks=False), title="test samples, sorted by class"),
        color=alt.Color("activation:Q", scale=alt.Scale(scheme="viridis", domainMin=0)),
        tooltip=["class", "unit", alt.Tooltip("activation:Q", format=".3f")],
    ).properties(height=300)


def bias_histograms(biases, tasks_shown=None):
    """Histogram of the latent layer's biases after each task, one colour per task."""
    df = pd.DataFrame([{"after task": f"task {k + 1}", "bias": b} for k, bs in enumerate(biases)
                       if tasks_shown is None or k in tasks_shown for b in bs])
    return alt.Chart(df).mark_bar(opacity=0.5, binSpacing=0).encode(
        x=alt.X("bias:Q", bin=alt.Bin(maxbins=40), title="latent-layer bias"),
        y=alt.Y("count():Q", stack=None, title="units"),
        color=alt.Color("after task:N", scale=alt.Scale(scheme=TASK_COLORS)),
    ).properties(height=240)


VALUE_ROOM = {"left": 5, "top": 5, "bottom": 5, "right": 36}  # a bar's value written past its end: room for "0.978" at 1.0


def bars(values: dict, title: str, domain=(0, 1)):
    """{label: value} as horizontal bars with the value written on them (joint vs sequential vs probe)."""
    df = pd.DataFrame({"what": list(values), "value": list(values.values())})
    base = alt.Chart(df).encode(y=alt.Y("what:N", sort=None, title=None, axis=WHOLE),
                                x=alt.X("value:Q", title=title, scale=alt.Scale(domain=list(domain))))
    return (base.mark_bar() + base.mark_text(align="left", dx=3).encode(text=alt.Text("value:Q", format=".3f"))
            ).properties(height=40 * len(df) + 20, padding=VALUE_ROOM)


def paired_bars(rows: list, title: str):
    """[{"what": name, measure: value, ...}] -> one group of bars per name, one bar per measure
    (final accuracy beside the probe on the same features), the value written at the end."""
    df = pd.DataFrame([{"what": r["what"], "measure": k, "value": v} for r in rows for k, v in r.items() if k != "what"])
    base = alt.Chart(df).encode(y=alt.Y("what:N", sort=None, title=None, axis=WHOLE), yOffset="measure:N",
                                x=alt.X("value:Q", title=title, scale=ACC), color=alt.Color("measure:N", title=None))
    return (base.mark_bar() + base.mark_text(align="left", dx=3, fontSize=10).encode(
        text=alt.Text("value:Q", format=".2f"))).properties(height=34 * len(rows) + 20, padding=VALUE_ROOM)


def grad_bars(grad_norms):
    """Accumulated gradient norm per layer, per task ([{parameter: norm}] per task), one panel per
    run: horizontal bars, so the layers' names read level, written once at the left (standing
    under the bars they were cut every other one at 1280 px)."""
    df = pd.DataFrame([{"run": run, "task": f"task {k + 1}", "layer": names.param(layer, list(d)), "sum of grad norms": v}
                       for run, per_task in grad_norms.items() for k, d in enumerate(per_task) for layer, v in d.items()])
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("layer:N", title=None, sort=None, axis=WHOLE), yOffset="task:N", x=alt.X("sum of grad norms:Q"),
        color=alt.Color("task:N", scale=alt.Scale(scheme=TASK_COLORS)), tooltip=["run", "task", "layer",
                                                                                 "sum of grad norms"],
    ).properties(width=170, height=300).facet(column=alt.Column("run:N", title=None, sort=list(grad_norms)))


def savings_bars(rows):
    df = pd.DataFrame([{"optimizer": label(r["optimizer"]), "reset": {True: "state reset", False: "state kept"}.get(r["reset"], "no state"),
                        "savings": r["savings"]} for r in rows])
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("optimizer:N", sort=None, title=None, axis=alt.Axis(labelAngle=0, labelLimit=0)), xOffset="reset:N", y=alt.Y("savings:Q", title="savings (1 - relearn/first)"),
        color=alt.Color("reset:N", title="optimizer state"), tooltip=["optimizer", "reset", alt.Tooltip("savings:Q", format=".3f")],
    ).properties(height=260)


def step_curves(curves: dict, field: str, title: str):
    """Per-step curves during task 2 (gradient norm, weight change): colour the optimizer, dashed
    where its state is reset (settings named `<optimizer>` and `<optimizer>_reset`). Two legends of
    five names beside the plot, not ten (a legend below takes the chart's height from the plot; the
    dash is said in the page's words)."""
    df = pd.DataFrame([{"optimizer": label(k.removesuffix(names.RESET)),
                        "optimizer state": "reset" if k.endswith(names.RESET) else "kept", "step": i + 1, field: v}
                       for k, c in curves.items() for i, v in enumerate(c[field])],
                      columns=["optimizer", "optimizer state", "step", field])
    return alt.Chart(df).mark_line().encode(
        x=alt.X("step:Q", title="step in task 2"), y=alt.Y(f"{field}:Q", title=title),
        color=alt.Color("optimizer:N", sort=None, scale=alt.Scale(scheme=TASK_COLORS),  # two blues are one on a projector
                        legend=legend(df["optimizer"].nunique())),
        strokeDash=alt.StrokeDash("optimizer state:N", sort=["kept", "reset"], legend=None),
        detail="optimizer state:N",
        tooltip=["optimizer", "optimizer state", "step", alt.Tooltip(f"{field}:Q", format=".3f")]).properties(height=240)


def convergence(curves: dict):
    """Accuracy on task 1 against optimiser steps, one panel per optimizer: learned the first time,
    and relearned after all tasks with the optimizer's state kept or reset. ({setting: {"first":
    [[step, acc], ...], "relearn": [...]}}, settings named `<optimizer>` and `<optimizer>_reset`.)"""
    rows = []
    for setting, c in curves.items():
        opt, reset = setting.removesuffix("_reset"), setting.endswith("_reset")
        phases = [("relearn, state reset" if reset else "relearn, state kept", c["relearn"])]
        if not reset:  # the first learning of task 1 is the same run with and without resets
            phases.append(("first learning", c["first"]))
        rows += [{"optimizer": label(opt), "phase": phase, "step": st, "accuracy": a} for phase, trace in phases
                 for st, a in trace]
    df = pd.DataFrame(rows, columns=["optimizer", "phase", "step", "accuracy"])
    order = list(dict.fromkeys(df["optimizer"]))
    return alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=14)).encode(
        x=alt.X("step:Q", title="optimiser steps"), y=alt.Y("accuracy:Q", scale=ACC, title="accuracy on task 1"),
        color=alt.Color("phase:N", scale=alt.Scale(domain=["first learning", "relearn, state kept",
                                                           "relearn, state reset"], range=["#999", "#1f77b4", "#d62728"]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["optimizer", "phase", "step", alt.Tooltip("accuracy:Q", format=".3f")],
    ).properties(width=200, height=170).facet(  # three to a row: five panels in one ran past the page at 1280 px
        facet=alt.Facet("optimizer:N", sort=order, title=None), columns=3).resolve_scale(x="independent")


def straight_lines(lines: list, field: str = "loss"):
    """Loss (or accuracy) along the straight line in weight space from the end of task k (a = 0)
    to the end of task k+1 (a = 1), on the old and on the new task's test data; one panel per step."""
    df = pd.DataFrame([{"step": f"task {ln['from_task'] + 1} → {ln['from_task'] + 2}", "a": a,
                        "evaluated on": f"{which} task", field: ln[which][field][i]}
                       for ln in lines for which in ("old", "new") for i, a in enumerate(ln["alpha"])])
    y = alt.Y(f"{field}:Q", title=f"test {'loss' if field == 'loss' else 'accuracy'}",
              scale=ACC if field == "acc" else alt.Undefined)
    return alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=14)).encode(
        x=alt.X("a:Q", title="a"), y=y,  # (what a is, the page's caption says: repeated under each panel, it ran into the next)
        color=alt.Color("evaluated on:N", scale=alt.Scale(domain=["old task", "new task"], range=["#d62728", "#1f77b4"]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["step", "evaluated on", alt.Tooltip("a:Q", format=".1f"), alt.Tooltip(f"{field}:Q", format=".3f")],
    ).properties(width=170, height=170).facet(column=alt.Column("step:N", title=None, sort=None))


# Vega's "category10" scheme, which the points' colour scale uses: the regions' image is painted in
# it, class i in its i-th colour (an ordinal scale repeats its range past ten classes, as here)
CATEGORY10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf")
REGION_PX = 256  # the regions' image at least this many pixels a side (a panel's plot is 210 px)
REGION_ALPHA = (0.05, 0.55)  # a region's opacity at confidence 0 and 1: the test points stay readable on it


def png(rgba: np.ndarray) -> bytes:
    """An (h, w, 4) uint8 array as PNG bytes: zlib and CRCs by hand, for an image of a few kB."""
    h, w, _ = rgba.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgba.reshape(h, 4 * w)], 1).tobytes()  # filter 0 per row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def region_image(grid_cls, grid_conf, n, k=1) -> np.ndarray:
    """The decision regions as an (n k, n k, 4) RGBA image: each grid point's predicted class in its
    colour, its confidence as opacity, as k x k pixels; the top row is the grid's largest y (the
    engine's grid is meshgrid 'xy': row-major in y, then x, both ascending)."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CATEGORY10], np.uint8)
    cls, conf = np.asarray(grid_cls).reshape(n, n), np.asarray(grid_conf, float).reshape(n, n)
    lo, hi = REGION_ALPHA
    alpha = np.rint(255 * (lo + (hi - lo) * np.clip(conf, 0, 1))).astype(np.uint8)
    img = np.concatenate([rgb[cls % len(CATEGORY10)], alpha[..., None]], 2)[::-1]
    return img.repeat(k, 0).repeat(k, 1)


def regions(grid_cls, grid_conf, box, n, points, labels, title="", n_classes=None, axes=(None, None), legend=True):
    """Decision regions over a 2-D grid (colour: predicted class, opacity: confidence) with test points;
    `legend` False: none (panels in a row share the last one's: each its own ran under its neighbour).
    The regions are one image (a PNG in the spec), each grid point a pixel stretched over its cell:
    as 3,600 rects a 60 x 60 panel was 570 kB of spec that the browser took seconds to draw, and a
    live page sent every panel again at each poll."""
    (x0, y0), (x1, y1) = box
    dx, dy = (x1 - x0) / (n - 1) / 2, (y1 - y0) / (n - 1) / 2  # a pixel is centred on its grid point
    k = -(-REGION_PX // n)  # whole pixels per cell: the browser's smoothing then blurs only the cells' edges
    url = "data:image/png;base64," + base64.b64encode(png(region_image(grid_cls, grid_conf, n, k))).decode()
    pts = pd.DataFrame({"x": [p[0] for p in points], "y": [p[1] for p in points], "class": [str(c) for c in labels]})
    domain = [str(c) for c in range(n_classes or (max(max(grid_cls), max(labels)) + 1))]
    # filled legend symbols (the points' black outline would hide their colour); 100 classes get none
    key = alt.Legend(symbolType="circle", symbolStrokeWidth=0, symbolOpacity=1) if legend and len(domain) <= 20 else None
    color = alt.Color("class:N", scale=alt.Scale(domain=domain, range=list(CATEGORY10)), legend=key)
    x = alt.X("x:Q", scale=alt.Scale(domain=[x0, x1], nice=False), title=axes[0])
    y = alt.Y("y:Q", scale=alt.Scale(domain=[y0, y1], nice=False), title=axes[1])
    bg = alt.Chart(pd.DataFrame([{"url": url, "x": x0 - dx, "x2": x1 + dx, "y": y0 - dy, "y2": y1 + dy}])).mark_image(
        aspect=False, clip=True).encode(x=x, x2="x2", y=y, y2="y2", url="url:N")
    fg = alt.Chart(pts).mark_circle(size=18, stroke="black", strokeWidth=0.4, opacity=1).encode(
        x="x:Q", y="y:Q", color=color, tooltip=["class"])
    # a square plane; "pad": the size is the plot's, title, axes and legend come on top of it
    return alt.layer(bg, fg, title=title).properties(width=210, height=210, autosize="pad")


def accuracy_matrix(matrix):
    """matrix[i][j]: accuracy on task j after training task i, as an annotated heatmap."""
    df = pd.DataFrame([{"after task": i + 1, "on task": j + 1, "accuracy": a} for i, row in enumerate(matrix)
                       for j, a in enumerate(row)])
    base = alt.Chart(df).encode(x=alt.X("on task:O", axis=alt.Axis(labelAngle=0)), y="after task:O")
    return (base.mark_rect().encode(color=alt.Color("accuracy:Q", scale=alt.Scale(domain=[0, 1], scheme="blues")))
            + base.mark_text(fontSize=11).encode(text=alt.Text("accuracy:Q", format=".2f"),
                                                 color=alt.condition(alt.datum.accuracy > 0.6, alt.value("white"),
                                                                     alt.value("black")))
            ).properties(height=36 * len(matrix) + 20, width=36 * len(matrix) + 60)
