"""Savings: per optimizer, with and without resetting its state at task boundaries, the steps to
a criterion when each task is first learned, when task 1 is relearned after all tasks, and when
the joint problem is reached from the sequential end state (against from scratch); and the
gradient norm and weight change while task 2 overwrites task 1. Several seeds: one run per seed
(each stops at its own step), rows averaged."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch

from .. import metrics, report
from ..config import MAX_SEEDS, Config
from ..knobs import knob, override
from ..losses import make_loss
from ..train import OPTIMIZERS, make_optimizer, train_task
from .common import Experiment, Phase, all_classes, new_model


@dataclass(frozen=True)
class SavingsConfig(Config):
    unused = ("epochs", "lr", "optimizer")  # trained to a criterion, each optimizer at its rate in lrs
    seeds: int = override(Config, "seeds", 5, where="page", label="Runs per setting (seeds)", hi=MAX_SEEDS)  # runs per setting (seed .. seed+N-1), averaged: one run's savings is a few steps of noise
    criterion: float = knob(0.97, lo=0.1, hi=1.0, widget="slider", step=0.01, label="Criterion (train accuracy on the task)")  # train accuracy on a task that counts as "learned"
    joint_criterion: float = knob(0.85, lo=0.1, hi=1.0, widget="slider", step=0.01, where="more", label="Joint criterion")  # train accuracy on all classes that counts as the joint solution
    max_steps: int = knob(3000, lo=10, hi=100_000, label="Give up after (steps per phase)")  # give up on reaching the criterion after this many steps per phase
    optimizers: tuple = knob(("sgd", "momentum", "adam", "rmsprop", "adadelta"), choices=OPTIMIZERS)  # the optimizers compared
    lrs: tuple = knob((("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("rmsprop", 1e-3), ("adadelta", 1.0)), where="more", label="Learning rate per optimizer")  # per optimizer
    check_n: int = knob(2000, lo=1, hi=1_000_000, where="more", label="Samples per criterion check")  # training samples the criterion is checked on (the first n of the task)
    check_every: int = knob(10, lo=1, hi=10_000, where="more", label="Steps between checks")  # steps between criterion checks after the first 100 (each costs a forward pass)

    # bounds and choices: their knob(...) metadata, checked by config.validate; an optimizer
    # missing from lrs runs at lr


CE = make_loss("ce")  # one loss function for every phase: a run's step is made (and captured) once per optimizer


def to_criterion(cfg, model, opt, x, y, gen, criterion, on_step=None, trace=None):
    """Steps until the accuracy on (at most) cfg.check_n of the training samples reaches
    `criterion`; with `trace`, the [step, accuracy] of every check, from step 0 on.
    A check is a forward pass and a compare on the device; the loop reads the outcome every
    few steps on a GPU (train.Stop), and the trace once, at the end."""
    xs, ys = x[:cfg.check_n], y[:cfg.check_n]
    checks = []  # (step, accuracy on the device)

    def reached(m, step):
        acc = (metrics.forward_all(m, xs)[0].argmax(1) == ys).float().mean()
        checks.append((step, acc))
        return acc.double() >= criterion  # (in float64, as the number read back was compared before)

    if trace is not None:
        reached(model, 0)
    steps = train_task(model, opt, x, y, CE, batch_size=cfg.batch_size, gen=gen, epochs=None,
                       max_steps=cfg.max_steps, until=reached, check_every=cfg.check_every, on_step=on_step)
    if trace is not None:
        kept = [(s, a) for s, a in checks if s <= steps]  # (checks past the stop, before a read, are dropped)
        trace += [[s, round(a, 4)] for (s, _), a in zip(kept, torch.stack([a for _, a in kept]).tolist())]
    return steps


def drift(model, trace):
    """A step hook: gradient norm and distance from the weights at the start, per step (task 2),
    kept on the device and read once, when the task is learned (`read(steps)`)."""
    w0 = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    norms, changes = [], []

    def hook():
        norms.append(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())))
        changes.append((torch.cat([p.detach().flatten() for p in model.parameters()]) - w0).norm())

    def read(steps):  # (steps taken past the stop, before the loop read it, are dropped)
        if norms:
            trace["grad_norm"], trace["weight_change"] = torch.stack([torch.stack(norms[:steps]),
                                                                      torch.stack(changes[:steps])]).tolist()
    hook.read = read
    return hook


def scratch_phase(cfg, data, tasks, name, lr) -> Phase:
    """Steps to the joint criterion from a fresh network (one unit)."""
    def run(emit):
        model = new_model(cfg, data, seed_offset=1)
        steps = to_criterion(cfg, model, make_optimizer(name, model.parameters(), lr), *data.subset(all_classes(tasks)),
                             torch.Generator().manual_seed(cfg.seed), cfg.joint_criterion)
        emit({"event": "tick", "phase": "joint from scratch", "steps": steps})
        return steps
    return Phase(f"{name}_scratch", 1, run)


def setting_phase(cfg, data, tasks, name, lr, reset) -> Phase:
    """Learn each task to the criterion, then from the end state relearn task 1 and reach the
    joint criterion (one unit per task, one for relearning, one for the joint)."""
    def run(emit):
        gen = torch.Generator().manual_seed(cfg.seed)
        model = new_model(cfg, data)
        opt = make_optimizer(name, model.parameters(), lr)
        first, curves = [], {"grad_norm": [], "weight_change": []}
        conv = {"first": [], "relearn": []}  # accuracy on task 1 per check
        xs_ys = [data.subset(t) for t in tasks]
        for k, (x, y) in enumerate(xs_ys):
            if reset and k > 0:
                opt = make_optimizer(name, model.parameters(), lr)
            hook = drift(model, curves) if k == 1 else None
            first.append(to_criterion(cfg, model, opt, x, y, gen, cfg.criterion, hook, conv["first"] if k == 0 else None))
            if hook is not None:
                hook.read(first[-1])
            emit({"event": "tick", "task": k, "phase": f"learn task {k + 1}", "steps": first[-1]})
        end = copy.deepcopy((model.state_dict(), opt.state_dict()))

        def branch():  # a copy of the end state; the optimizer's state kept unless it is reset
            m = new_model(cfg, data)
            m.load_state_dict(end[0])
            o = make_optimizer(name, m.parameters(), lr)
            if not reset:
                o.load_state_dict(copy.deepcopy(end[1]))
            return m, o

        relearn = to_criterion(cfg, *branch(), *xs_ys[0], gen, cfg.criterion, trace=conv["relearn"])
        emit({"event": "tick", "task": 0, "phase": "relearn task 1", "steps": relearn})
        joint_after = to_criterion(cfg, *branch(), *data.subset(all_classes(tasks)), gen, cfg.joint_criterion)
        emit({"event": "tick", "phase": "joint after sequential", "steps": joint_after})
        row = {"optimizer": name, "lr": lr, "reset": reset, "steps_first": first, "steps_relearn": relearn,
               "savings": metrics.savings(first[0], relearn), "steps_joint_after": joint_after}
        return row, curves, conv
    return Phase(f"{name}{'_reset' if reset else ''}", len(tasks) + 2, run)


def run(cfg: SavingsConfig, data, tasks, rep):
    lrs = dict(cfg.lrs)
    groups = [(replace(cfg, seeds=1, seed=cfg.seed + i), name) for i in range(cfg.seeds) for name in cfg.optimizers]
    parts = rep.run([p for c, name in groups for p in (
        scratch_phase(c, data, tasks, name, lrs.get(name, cfg.lr)),
        *(setting_phase(c, data, tasks, name, lrs.get(name, cfg.lr), reset) for reset in (False, True)))])
    rows = {}  # per seed, in the order of the optimizers, no reset then reset
    curves, convergence = {}, {}  # of the first seed
    for g, (c, name) in enumerate(groups):
        scratch, *settings = parts[3 * g:3 * g + 3]
        for reset, (row, curve, conv) in zip((False, True), settings):
            steps = row["steps_first"] + [row["steps_relearn"], row["steps_joint_after"], scratch]
            rows.setdefault(c.seed, []).append({**row, "steps_joint_scratch": scratch,
                                                "hit_max_steps": max(steps) >= cfg.max_steps})
            if c.seed == cfg.seed:
                curves[f"{name}{'_reset' if reset else ''}"], convergence[f"{name}{'_reset' if reset else ''}"] = curve, conv
    merged = [metrics.mean_std(list(r)) for r in zip(*rows.values())]
    for row, runs in zip(merged, zip(*rows.values())):
        row["hit_max_steps"] = any(x["hit_max_steps"] for x in runs)
        row["savings_runs"] = [x["savings"] for x in runs]
        row["clear_of_noise"] = clear_of_noise(row["savings_runs"])
    return {"rows": merged, "task2_curves": curves, "convergence": convergence}


def clear_of_noise(values) -> bool | None:
    """Is the mean of these runs' savings further from 0 than two standard errors (about 95%)?
    None with a single run: its noise is unknown."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    return abs(mean) > 2 * sd / n ** 0.5


def table(r) -> str:
    ref, name = report.reference(r)
    notes = ref.get("savings", {})
    noise = {True: "yes", False: "no", None: "?"}
    rows = [(x["optimizer"], x["lr"], "yes" if x["reset"] else "no", x["steps_first"][0], x["steps_relearn"],
             report.cell(x, "savings"), noise[x.get("clear_of_noise")], notes.get(x["optimizer"], (None, None))[x["reset"]],
             x["steps_joint_after"], x["steps_joint_scratch"], "!" if x["hit_max_steps"] else "")
            for x in r["rows"]]
    return (f"Savings when relearning task 1 after all tasks (1 - relearn steps / first steps), mean over "
            f"{r['config']['seeds']} run(s); clear of noise: |mean| > 2 standard errors\n" +
            report.table(["optimizer", "lr", "reset", "steps first", "steps relearn", "savings", "clear of noise",
                          f"notes ({name})", "joint after seq", "joint from scratch", "capped"], rows))


EXPERIMENT = Experiment("savings", SavingsConfig, run, table, "Optimizer Savings", ":material/savings:")
