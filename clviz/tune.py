"""Strengths chosen the way the published numbers were: a grid over a log scale, each point
scored on held-out training data (RemediesConfig.validation), never on the test set.

    python -m clviz tune ewc [--dataset fashion-mnist] [--seeds 2] [--validation 0.2]

The score is the final accuracy on all classes of the held-out samples; the choice is the grid
point with the highest score (the first of equal ones: the weakest). Replay's memory is not
tuned: more memory is always better, so its choice is a budget, not a fit.
"""
from __future__ import annotations

from . import experiments
from .data import DataError

# method -> (its strength knob, the grid); LwF's temperature stays at the usual 2
GRIDS = {"ewc": ("ewc_lambda", (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)),
         "si": ("si_c", (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)),
         "lwf": ("lwf_weight", (0.1, 0.3, 1.0, 3.0, 10.0, 30.0))}
VALIDATION = 0.2  # share of each class's training samples held out


def grid_configs(method: str, values=None, validation: float = VALIDATION, **base) -> list:
    knob, default_grid = GRIDS[method]
    return [experiments.make("remedies", methods=(method,), validation=validation, **{**base, knob: v})
            for v in (values or default_grid)]


def choose(method: str, values=None, validation: float = VALIDATION, device="cpu", **base) -> dict:
    """Score every grid point on the validation split; the best one."""
    knob, default_grid = GRIDS[method]
    if not 0 < validation <= 0.5:
        raise DataError(f"The validation share must be above 0 (else the test set would choose) and at most 0.5, "
                        f"got {validation}.")
    values = list(values or default_grid)
    cfgs = grid_configs(method, values, validation, **base)
    scores = [experiments.run(c, device=device)[method]["final_acc"] for c in cfgs]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return {"method": method, "knob": knob, "grid": values, "scores": scores, "choice": values[best],
            "validation": validation, "seeds": cfgs[0].seeds, "dataset": cfgs[0].dataset}


def sweep_cells(method: str, cfg, seeds: int) -> list:
    """The stability-plasticity sweep of `method` from a remedies config: fine-tuning (the
    baseline), then the method at each strength of its grid, `seeds` seeds each."""
    from dataclasses import replace
    knob, values = GRIDS[method]
    base = replace(cfg, seeds=seeds, validation=0.0)
    return [replace(base, methods=("finetune",))] + [replace(base, methods=(method,), **{knob: v}) for v in values]


def sweep_rows(method: str, cells: list, results: list) -> list:
    """Per strength: final accuracy on all classes and on the newest task (mean, sd over seeds),
    and the final accuracy's difference to fine-tuning with its verdict (Welch's t)."""
    from .compare import _sd, lenses, welch
    knob = GRIDS[method][0]
    ft = lenses(results[0])
    rows = []
    for cfg, r in zip(cells[1:], results[1:]):
        own = lenses(r)
        diff, (lo, hi) = welch(own["final accuracy"], ft["final accuracy"])
        rows.append({"strength": getattr(cfg, knob), "final": sum(own["final accuracy"]) / len(own["final accuracy"]),
                     "final_sd": _sd(own["final accuracy"]), "newest": sum(own["newest task"]) / len(own["newest task"]),
                     "newest_sd": _sd(own["newest task"]), "diff": diff, "ci": [lo, hi], "clear": bool(lo > 0 or hi < 0),
                     "finetune_final": sum(ft["final accuracy"]) / len(ft["final accuracy"]),
                     "finetune_newest": sum(ft["newest task"]) / len(ft["newest task"])})
    return rows
