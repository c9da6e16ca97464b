"""Linear probe: after each task, a linear classifier on the frozen latent features (seen
classes, all classes), beside joint training; and the loss along the straight line in weight
space from the weights after task k to those after task k+1 (the notes' "coming up")."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .. import metrics, report
from ..config import Config
from ..knobs import knob
from .common import Experiment, joint_phase, new_model, probes, sequential_phase, summary, views


@dataclass(frozen=True)
class ProbeConfig(Config):
    line_points: int = knob(11, lo=2, hi=201, where="more", label="Points on the straight line")  # points on the straight line between consecutive tasks' weights


def run(cfg: ProbeConfig, data, tasks, rep):
    after = {}  # the weights after each task, of the first seed (copy 0 of a batched run)

    def extra(m, k, test):
        after[k] = {n: t.detach().clone() for n, t in views(m)[0].state_dict().items()}
        return probes(cfg, m, data, tasks, k, test)

    hist, j = rep.run([sequential_phase("sequential", cfg, data, tasks, extra=extra), joint_phase(cfg, data, tasks)])
    return {**j, **summary(hist, j["joint_acc"]), "line": straight_lines(cfg, data, tasks, after)}


def straight_lines(cfg, data, tasks, after):
    """Loss along the straight line in weight space from the weights after task k to those after
    task k+1, on the test data of task k ("old") and of task k+1 ("new"): is there a path on
    which the new task is learned and the old one kept?"""
    model = new_model(replace(cfg, seeds=1), data)
    return [{"from_task": k, **metrics.loss_along_line(
        model, after[k], after[k + 1], {"old": data.subset(tasks[k], "test"), "new": data.subset(tasks[k + 1], "test")},
        steps=cfg.line_points)} for k in range(len(tasks) - 1)]


def table(r) -> str:
    out = report.probe_tables(r)
    mid = len(r["line"][0]["alpha"]) // 2
    rows = [(f"{ln['from_task'] + 1} -> {ln['from_task'] + 2}", *(ln[w][m][i] for w in ("old", "new")
                                                                  for m in ("loss", "acc") for i in (0, mid, -1)))
            for ln in r["line"]]
    heads = [f"{w} {m} a={a}" for w in ("old", "new") for m in ("loss", "acc") for a in (0, r["line"][0]["alpha"][mid], 1)]
    return (out + "\n\nTest loss and accuracy on the straight line from the weights after task k (a=0) to after "
            "task k+1 (a=1)\n" + report.table(["tasks", *heads], rows))


EXPERIMENT = Experiment("probe", ProbeConfig, run, table, "Linear Probe", ":material/straighten:")
