"""Each experiment's own charts, built from its result alone: the page draws them (and lays them
out), and `python -m clviz run EXP --export DIR` writes the same ones (clviz/export.py). Keys are
the charts' file names in the export. A view setting the page offers (which task's heatmap, loss
or accuracy along the line) is an argument, its default what a fresh page shows.
"""
from __future__ import annotations

from . import charts as C
from . import names
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


BUILDERS = {"sparsity": sparsity, "probe": probe, "losses": losses, "savings": savings, "cifar": cifar}


def of(result) -> dict | None:
    """The charts of a result's experiment, or None where its page builds them itself."""
    build = BUILDERS.get(result.get("config", {}).get("experiment"))
    return None if build is None else build(result)
