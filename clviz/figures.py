"""Each experiment's own charts, built from its result alone: the page draws them (and lays them
out), and `python -m clviz run EXP --export DIR` writes the same ones (clviz/export.py). Keys are
the charts' file names in the export. A view setting the page offers (which task's heatmap, loss
or accuracy along the line) is an argument, its default what a fresh page shows.
"""
from __future__ import annotations

from . import charts as C
from . import lens_charts as L
from . import names
from .data import NUM_CLASSES
from .experiments.savings import shown_rows


def curves_of(result, runs):
    """The epoch rows of several sub-runs of a result, labelled by run."""
    return [{**row, "run": name} for name in runs for row in result[name]["curve"]]


def sparsity(r, heat_task: int = 0) -> dict:
    no_bn, bn = r["no_bn"], r["bn"]
    out = {"sparsity": C.task_lines("latent sparsity", [0, 1], **{"no BN": (no_bn, "sparsity"), "BN": (bn, "sparsity")}),
           "val_loss": C.task_lines("validation loss (seen classes)", **{"no BN": (no_bn, "val_loss"),
                                                                          "BN": (bn, "val_loss")})}
    for name, part in (("no BN", no_bn), ("BN", bn)):
        out[f"heatmap {name}"] = C.heatmap(part["heatmap"][heat_task], part["heatmap_labels"][heat_task],
                                           f"{name}: sparsity {part['sparsity'][heat_task]:.3f}")
    for name, part in (("no BN", no_bn), ("BN", bn)):
        out[f"bias {name}"] = C.bias_histograms(part["bias"]).properties(title=name)
    return {**out, **C.curve_charts(curves_of(r, ["no_bn", "bn"]), r["config"]["epochs"])}


def _summary(r):
    return C.bars({"joint (concurrent)": r["joint_acc"], "sequential": r["sequential_acc"],
                   "probe after last task": r["probe_all"][-1]}, "accuracy on all classes")


def probe(r, line_field: str = "loss") -> dict:
    return {"summary": _summary(r),
            "per task": C.task_lines("accuracy", [0, 1], **{"network, seen classes": (r, "acc_seen"),
                                                            "probe, seen classes": (r, "probe_seen"),
                                                            "probe, all classes": (r, "probe_all")}),
            "matrix": C.accuracy_matrix(r["matrix"]),
            **C.curve_charts([{**x, "run": "sequential"} for x in r["curve"]], r["config"]["epochs"]),
            "straight lines": C.straight_lines(r["line"], line_field)}


def losses(r) -> dict:
    ns = list(r["config"]["losses"])
    return {**C.curve_charts(curves_of(r, ns), r["config"]["epochs"]),
            "gradients": C.grad_bars({C.label(n): r[n]["grad_norms"] for n in ns})}


def savings(r) -> dict:
    """As its tables show it: an optimizer without state (plain SGD) once, not its reset twin."""
    twins = {f"{x['optimizer']}{names.RESET}" for x in r["rows"] if x.get("no_state")}
    once = lambda curves: {k: v for k, v in curves.items() if k not in twins}  # noqa: E731
    return {"savings": C.savings_bars(shown_rows(r)), "convergence": C.convergence(once(r["convergence"])),
            "grad_norm": C.step_curves(once(r["task2_curves"]), "grad_norm", "gradient norm"),
            "weight_change": C.step_curves(once(r["task2_curves"]), "weight_change", "‖w − w after task 1‖")}


def cifar(r, heat_task: int = 0) -> dict:
    return {"summary": _summary(r),
            "sparsity": C.task_lines("latent sparsity", [0, 1], **{"no BN": (r["no_bn"], "sparsity"),
                                                                  "BN": (r["bn"], "sparsity")}),
            "heatmap": C.heatmap(r["no_bn"]["heatmap"][heat_task], r["no_bn"]["heatmap_labels"][heat_task], "no BN"),
            **C.curve_charts([{**x, "run": "no BN"} for x in r["curve"]], r["config"]["epochs"])}


PER_ROW = 3  # decision-region panels per row on the boundaries page: 5 side by side leave no room for a plane


def keyed(k: int, n: int) -> bool:
    """Does panel k of n carry the class legend? The last of each row only (see charts.regions)."""
    return k % PER_ROW == PER_ROW - 1 or k == n - 1


def region_panels(toy_regions, toy, planes, plane_acc, n_classes) -> tuple[dict, dict]:
    """The decision regions after each finished task: the 2-D toy problem's, and the real model's
    on its latent plane. Also for a live run, from the tasks finished so far."""
    toy_charts = {f"toy task {k + 1}": C.regions(reg["cls"], reg["conf"], toy["box"], toy["grid_n"], toy["points"],
                                                 toy["labels"], f"after task {k + 1}", toy["n_classes"],
                                                 legend=keyed(k, len(toy_regions)))
                  for k, reg in enumerate(toy_regions)}
    latent_charts = {f"latent task {k + 1}": C.regions(
        p["grid"]["cls"], p["grid"]["conf"], p["box"], round(len(p["grid"]["cls"]) ** 0.5), p["points"], p["labels"],
        f"after task {k + 1}: accuracy {plane_acc[k]:.2f}", n_classes, ("PCA 1", "PCA 2"), keyed(k, len(planes)))
        for k, p in enumerate(planes)}
    return toy_charts, latent_charts


def boundaries(r) -> dict:
    toy, latent = region_panels(r["toy"]["regions"], r["toy"], r["latent"]["planes"], r["latent"]["acc_seen"],
                                NUM_CLASSES[r["config"]["dataset"]])
    return {**toy, **latent}


def switches(gap) -> list:
    """The steps where the stability-gap rows move to the next task."""
    return [a["step"] for a, b in zip(gap, gap[1:]) if a["task"] != b["task"]]


def _lenses(part) -> dict:
    """One run's rollback and CKA grids and its stability gap (clviz/lenses.py)."""
    return {"rollback": L.layer_grid(part["rollback"], "accuracy on task k with one layer rolled back",
                                     none=[t[-1] for t in part["class_il"]]),
            "cka": L.layer_grid(part["cka"], "linear CKA: features after task k against after the last"),
            "stability gap": L.stability_gap(part["gap"], switches(part["gap"]))}


def remedies(r, focus: str | None = None) -> dict:
    """Every method's final accuracy beside its probe and its sparsity; then one method up close
    (`focus`, the page's selection; default the first method, as a fresh page shows)."""
    ns = list(r["config"]["methods"])
    part = r[focus or ns[0]]
    classes = range(len(part["head_norm"][0]))
    return {"final vs probe": C.paired_bars([{"what": C.label(n), "network": r[n]["final_acc"],
                                              "probe (all classes)": r[n]["probe_all"][-1]} for n in ns], "accuracy"),
            "sparsity": C.task_lines("latent sparsity", [0, 1], **{C.label(n): (r[n], "sparsity") for n in ns}),
            **C.curve_charts([{**x, "run": focus or ns[0]} for x in part["curve"]], r["config"]["epochs"]),
            "matrix": C.accuracy_matrix(part["matrix"]),
            "head norms": C.per_task_lines({f"class {c}": [t[c] for t in part["head_norm"]] for c in classes},
                                           "head weight norm per class"),
            "head biases": C.per_task_lines({f"class {c}": [t[c] for t in part["head_bias"]] for c in classes},
                                            "head bias per class"),
            **_lenses(part)}


def depth(r) -> dict:
    """The six lenses on one method's run, in the page's order, and its forgetting curves."""
    pl, k = r["plane"], r["plane"]["task"]
    lenses = _lenses(r)
    return {"task-IL vs class-IL": L.il_gap(r["task_il"], r["class_il"]),
            "rollback": lenses["rollback"], "cka": lenses["cka"],
            "probe control": L.control_bars(r["probe_learned"], r["probe_final"], r["control_probe"]),
            "stability gap": lenses["stability gap"],
            "forgetting events": L.events_per_class(r["forgetting_events"]["per_class"]),
            "plane old": L.loss_plane(pl, "old", f"test loss of task {k + 1} (old)"),
            "plane new": L.loss_plane(pl, "new", f"test loss of task {k + 2} (new)"),
            **C.curve_charts([{**x, "run": r["config"]["method"]} for x in r["curve"]], r["config"]["epochs"])}


BUILDERS = {"sparsity": sparsity, "probe": probe, "losses": losses, "savings": savings, "cifar": cifar,
            "boundaries": boundaries, "remedies": remedies, "depth": depth}


def of(result) -> dict | None:
    """The charts of a result's experiment, or None where its page builds them itself."""
    build = BUILDERS.get(result.get("config", {}).get("experiment"))
    return None if build is None else build(result)
