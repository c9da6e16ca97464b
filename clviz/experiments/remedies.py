"""Remedies: the standard class-incremental methods (clviz/remedies/) through every lens clviz
has: forgetting curves, accuracy matrix, forgetting per task and BWT, final accuracy beside the
probe on the same features, latent sparsity, the head's weight norm and bias per class after
each task, and the cost (seconds, samples kept). Published Split MNIST class-IL figures beside.
Every method is a plugin record (clviz/remedies/, or a user's file): its own knobs (ewc_lambda,
si_c, ...) join this config as `<method>_<knob>`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import device as dev
from .. import metrics, plugin, report
from ..config import Config
from ..knobs import knob, override
from ..remedies import BUILTIN
from .common import Experiment, merge, per_task, probes
from .recorder import LensConfig, lens_result, method_phase


@dataclass(frozen=True)
class RemediesConfig(LensConfig):
    epochs: int = override(Config, "epochs", 3)  # epochs per task
    methods: tuple = knob(BUILTIN, choices=lambda: plugin.names("method"), label="Methods")  # the methods compared: any registered one, plugins' too
    validation: float = knob(0.0, lo=0.0, hi=0.5, where="more", label="Validation share")  # share of each class's training samples held out and scored instead of the test set (0: the test set), for choosing strengths


def head_of(model) -> dict:
    """The head's weight norm and bias per class: the bias shift the notes blame, FACIL's last-layer view."""
    return {"head_norm": model.head.weight.norm(dim=1).tolist(), "head_bias": model.head.bias.tolist()}


def method_result(run: dict, data, tasks) -> dict:
    """One method's part of the result: its figures (mean and spread over seeds) and its lenses
    of where and when it forgets (clviz/experiments/recorder.py)."""
    h = run["hist"]
    return {**metrics.mean_std([{"final_acc": own["final accuracy"], "bwt": own["BWT"], "seconds": s}
                                for own, s in zip(h["per_seed"], run["seconds"])]),
            "memory": run["memory"], "matrix": h["matrix"], "curve": h["curve"], "forgetting": h["forgetting"],
            **per_task(h, "probe_seen", "probe_all", "acc_seen", "sparsity", "head_norm", "head_bias"),
            **lens_result(run, data, tasks, top=0)}


def run(cfg: RemediesConfig, data, tasks, rep):
    # the seen-classes probe only after the last task: the page and the table show no other
    extra = lambda m, k, test: merge(probes(cfg, m, data, tasks, k, test, seen=False), head_of(m))  # noqa: E731
    # the methods side by side (device.threads_on): each trains its own nets on its own generators,
    # so its numbers are its run alone (tests/test_remedies.py)
    runs = rep.run([method_phase(cfg, data, tasks, name, extra=extra) for name in cfg.methods],
                   side_by_side=dev.threads_on(data.x_train.device.type))
    return {name: method_result(r, data, tasks) for name, r in zip(cfg.methods, runs)}


# The one home of the published figures: van de Ven & Tolias 2019, "Three scenarios for continual
# learning", Table 4, Split MNIST class-IL, accuracy in % (MLP, 60k MNIST), mean ± as the table
# prints it (offline: no spread given). One row per method of the paper: its name there, mean, ±,
# and which of our methods is that method, or None: shown as a reference row only. Our `ewc` is
# online EWC, so it sits beside that row, not EWC's; our `ncm` classifies by nearest class mean as
# iCaRL does, but its network trains as fine-tuning does (no replay, no distillation, no herding)
# beside a smaller memory: not iCaRL, whose figure is a reference row.
PUBLISHED = (("None", 19.90, 0.02, "finetune"), ("EWC", 20.01, 0.06, None), ("online EWC", 19.96, 0.07, "ewc"),
             ("SI", 19.99, 0.06, "si"), ("LwF", 23.85, 0.44, "lwf"), ("DGR", 90.79, 0.41, None),
             ("iCaRL, 2000 kept", 94.57, 0.11, None), ("offline (joint)", 97.9, None, "joint"))
PUBLISHED_SOURCE = "van de Ven & Tolias 2019, Three scenarios for continual learning, Table 4 (Split MNIST class-IL)"


def _text(mean, pm) -> str:
    """A cell as the paper's: two decimals and the spread; offline, checked to one decimal, as checked."""
    return f"{mean:g}" if pm is None else f"{mean:.2f} ± {pm:.2f}"


def published(method: str) -> str:
    """The paper's figure for one of our methods, as text ('19.96 ± 0.07'); blank where it has none."""
    return next((_text(m, pm) for _, m, pm, ours in PUBLISHED if ours == method), "")


def published_only() -> list:
    """[(the paper's method, its figure as text)] for the paper's methods none of ours is."""
    return [(name, _text(m, pm)) for name, m, pm, ours in PUBLISHED if ours is None]


def table(r) -> str:
    names = r["config"]["methods"]
    rows = [(plugin.label(n) or n, report.cell(r[n], "final_acc"), report.cell(r[n], "probe_all", -1), report.cell(r[n], "bwt"),
             round(r[n]["seconds"], 2), r[n]["memory"], published(n)) for n in names]
    rows += [(f"{name} (published only)", "", "", "", "", "", text) for name, text in published_only()]
    return ("Remedies: accuracy on all classes after the last task, the probe on the same features, backward "
            "transfer (BWT), cost\n" + report.table(["method", "final acc", "probe (all)", "BWT", "seconds", "kept",
                                                     "published %"], rows)
            + f"\nPublished %: {PUBLISHED_SOURCE}; blank: not in it.")


EXPERIMENT = Experiment("remedies", RemediesConfig, run, table, "Remedies", ":material/healing:", plugins="method")
