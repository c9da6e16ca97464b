"""Remedies: the standard class-incremental methods (clviz/remedies/) through every lens clviz
has: forgetting curves, accuracy matrix, forgetting per task and BWT, final accuracy beside the
probe on the same features, latent sparsity, the head's weight norm and bias per class after
each task, and the cost (seconds, samples kept). Published Split MNIST class-IL figures beside.
Every method is a plugin record (clviz/remedies/, or a user's file): its own knobs (ewc_lambda,
si_c, ...) join this config as `<method>_<knob>`."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from .. import metrics, plugin, report
from ..config import Config
from ..knobs import knob, override
from ..losses import make_loss
from ..remedies import BUILTIN
from ..train import run_sequential
from .common import Experiment, Phase, merge, new_model, per_task, probes


@dataclass(frozen=True)
class RemediesConfig(Config):
    epochs: int = override(Config, "epochs", 3)  # epochs per task
    methods: tuple = knob(BUILTIN, choices=lambda: plugin.names("method"), label="Methods")  # the methods compared: any registered one, plugins' too
    memory: int = knob(50, lo=1, hi=5000, label="Memory (samples per class)")  # samples per class kept by replay, ncm and head (retraining)
    validation: float = knob(0.0, lo=0.0, hi=0.5, where="more", label="Validation share")  # share of each class's training samples held out and scored instead of the test set (0: the test set), for choosing strengths


def head_of(model) -> dict:
    """The head's weight norm and bias per class: the bias shift the notes blame, FACIL's last-layer view."""
    return {"head_norm": model.head.weight.norm(dim=1).tolist(), "head_bias": model.head.bias.tolist()}


def method_phase(cfg, data, tasks, name) -> Phase:
    """One method, every seed one after the other (a remedy's state is per network): one unit per epoch."""
    def run(emit):
        hists, seconds, kept = [], [], 0
        for i in range(cfg.seeds):
            c = replace(cfg, seed=cfg.seed + i, seeds=1)
            method = plugin.get("method", name).obj(c, data.num_classes)
            t0 = time.perf_counter()
            hists.append(run_sequential(
                new_model(c, data), data, tasks, make_loss("ce"), optimizer=cfg.optimizer, lr=cfg.lr,
                epochs=cfg.epochs, batch_size=cfg.batch_size, seed=c.seed, on_event=emit, method=method,
                live_eval_n=cfg.live_eval_n, grad_norms=False,
                extra=lambda m, k, test: merge(probes(cfg, m, data, tasks, k, test), head_of(m))))
            seconds.append(time.perf_counter() - t0)
            kept = method.memory_size()
        h = metrics.merge_histories(hists)
        T = len(tasks)
        bwt = [sum(m[-1][j] - m[j][j] for j in range(T - 1)) / (T - 1) for m in (x["matrix"] for x in hists)]
        return {**metrics.mean_std([{"final_acc": x["tasks"][-1]["acc_seen"], "bwt": b, "seconds": s}
                                    for x, b, s in zip(hists, bwt, seconds)]),
                "memory": kept, "matrix": h["matrix"], "curve": h["curve"], "forgetting": h["forgetting"],
                **per_task(h, "probe_seen", "probe_all", "acc_seen", "sparsity", "head_norm", "head_bias")}
    return Phase(name, cfg.seeds * len(tasks) * cfg.epochs, run)


def run(cfg: RemediesConfig, data, tasks, rep):
    return dict(zip(cfg.methods, rep.run([method_phase(cfg, data, tasks, name) for name in cfg.methods])))


# Published class-incremental Split MNIST accuracies (%, MLP), van de Ven & Tolias 2019, "Three
# scenarios for continual learning", Table 2 (offline = joint; iCaRL with 2000 stored samples).
# Recalled, not checked against the paper in the session that wrote them: see the README.
PUBLISHED = {"finetune": 19.90, "joint": 97.94, "ewc": 20.01, "online ewc": 19.96, "si": 19.99, "lwf": 23.85,
             "ncm": 94.57}
PUBLISHED_NAME = "van de Ven & Tolias 2019, Split MNIST class-IL"


def table(r) -> str:
    names = r["config"]["methods"]
    rows = [(plugin.label(n) or n, report.cell(r[n], "final_acc"), report.cell(r[n], "probe_all", -1), report.cell(r[n], "bwt"),
             round(r[n]["seconds"], 2), r[n]["memory"],
             PUBLISHED.get("online ewc" if n == "ewc" else n)) for n in names]
    return ("Remedies: accuracy on all classes after the last task, the probe on the same features, backward "
            "transfer (BWT), cost\n" + report.table(["method", "final acc", "probe (all)", "BWT", "seconds", "kept",
                                                     f"published % ({PUBLISHED_NAME})"], rows))


EXPERIMENT = Experiment("remedies", RemediesConfig, run, table, "Remedies", ":material/healing:", plugins="method")
