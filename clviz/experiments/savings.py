"""Savings: per optimizer, with and without resetting its state at task boundaries, the steps to
a criterion when each task is first learned, when task 1 is relearned after all tasks, and when
the joint problem is reached from the sequential end state (against from scratch); and the
gradient norm and weight change while task 2 overwrites task 1. Several seeds: one run per seed
(each stops at its own step), rows averaged. All runs of a phase train at once, each exactly as
alone (clviz/experiments/cohort.py); plain SGD has no state, so its reset row is its no-reset run."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .. import device as dev
from .. import metrics, names, report
from ..config import MAX_SEEDS, Config
from ..knobs import knob, override
from ..losses import make_loss
from ..train import OPTIMIZERS, STATELESS, make_optimizer
from .cohort import Run, to_criterion
from .common import Experiment, Phase, all_classes, new_net


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


CE = make_loss("ce")  # one loss function for every phase


def drift(model, trace):
    """A step hook: gradient norm and distance from the weights at the start, per step (task 2),
    kept on the device and read once, when the task is learned (`read(steps)`)."""
    w0 = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    norms, changes = [], []

    def hook():
        norms.append(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())))
        changes.append((torch.cat([p.detach().flatten() for p in model.parameters()]) - w0).norm())

    def read(steps):
        if norms:
            trace["grad_norm"], trace["weight_change"] = torch.stack([torch.stack(norms[:steps]),
                                                                      torch.stack(changes[:steps])]).tolist()
    hook.read = read
    return hook


def settings(cfg):
    """(optimizer, reset) of every row. A stateless optimizer's reset row is its no-reset run (the
    same run step for step): trained once, reported twice, marked `no_state`."""
    return [(name, reset) for name in cfg.optimizers for reset in (False, True)]


def key(name, reset):
    return f"{name}{'_reset' if reset else ''}"


@dataclass(eq=False)
class Setting:
    """One run of a (optimizer, reset) setting with one seed, through all its phases."""
    name: str
    reset: bool
    seed: int
    lr: float
    run: Run
    first: list = field(default_factory=list)
    curves: dict = field(default_factory=lambda: {"grad_norm": [], "weight_change": []})
    conv: dict = field(default_factory=lambda: {"first": [], "relearn": []})
    nets: dict = field(default_factory=dict)  # the network at the end of each phase (tests read them)


def units(cfg, tasks):
    """Progress units: a tick per run per phase (tasks, relearn, joint) and per scratch run."""
    runs = len(trained(cfg)) * cfg.seeds
    return runs * (len(tasks) + 2) + len(cfg.optimizers) * cfg.seeds


def trained(cfg):
    """The settings that are trained: all but a stateless optimizer's reset."""
    return [(n, r) for n, r in settings(cfg) if not (r and n in STATELESS)]


def train_all(cfg, data, tasks, emit=lambda ev: None, only=None, side_by_side=None):
    """Every (optimizer, reset) x seed run and every optimizer x seed run from scratch, phase by
    phase, all runs of a phase at once (cohort.to_criterion, over `side_by_side` threads): each
    exactly as alone (`side_by_side`: this process's device.SIDE_BY_SIDE unless given). `only`:
    the (optimizer, reset, seed) runs to train (tests train each alone). Returns (settings, scratch):
    Setting records, and {(optimizer, seed): (steps, net)}."""
    lrs = dict(cfg.lrs)
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    crit = dict(batch_size=cfg.batch_size, max_steps=cfg.max_steps, check_n=cfg.check_n, check_every=cfg.check_every,
                side_by_side=side_by_side or dev.SIDE_BY_SIDE)
    xs_ys = [data.subset(t) for t in tasks]
    joint = data.subset(all_classes(tasks))
    runs = []
    for name, reset in trained(cfg):
        for s in seeds:
            if only is None or (name, reset, s) in only:
                net = new_net(cfg, data, s)
                lr = lrs.get(name, cfg.lr)
                runs.append(Setting(name, reset, s, lr, Run(net, make_optimizer(name, net.parameters(), lr),
                                                            torch.Generator().manual_seed(s), key(name, reset))))

    def tick(phase, task=None):
        def on_stop(r):  # "run": the setting (the page's live table lists phases by setting)
            emit({"event": "tick", "run": r.name, **({"task": task} if task is not None else {}),
                  "phase": "joint from scratch" if r.name.endswith("_scratch") else phase, "steps": r.steps})
        return on_stop

    first = cfg.seed
    for k, (x, y) in enumerate(xs_ys):
        hooks = {}
        for st in runs:
            r = st.run
            if st.reset and k > 0:
                r.opt = make_optimizer(st.name, r.net.parameters(), st.lr)
            r.trace = st.conv["first"] if k == 0 and st.seed == first else None
            r.on_step = hooks[st] = drift(r.net, st.curves) if k == 1 and st.seed == first else None
        to_criterion([st.run for st in runs], x, y, CE, cfg.criterion, **crit, on_stop=tick(f"learn task {k + 1}", k))
        for st in runs:
            st.first.append(st.run.steps)
            if hooks[st] is not None:
                hooks[st].read(st.run.steps)
    end = {st: (st.run.net, st.run.opt.state_dict()) for st in runs}  # never trained again: each branch copies it

    def branch(st, trace=None):  # a copy of the end state; the optimizer's state kept unless it is reset
        net = copy.deepcopy(end[st][0])
        opt = make_optimizer(st.name, net.parameters(), st.lr)
        if not st.reset:
            opt.load_state_dict(copy.deepcopy(end[st][1]))
        return Run(net, opt, st.run.gen, st.run.name, trace)  # the data order goes on from where it was

    for st in runs:
        st.nets["end"] = end[st][0]
    relearn = {st: branch(st, st.conv["relearn"] if st.seed == first else None) for st in runs}
    to_criterion(list(relearn.values()), *xs_ys[0], CE, cfg.criterion, **crit, on_stop=tick("relearn task 1", 0))
    after = {st: branch(st) for st in runs}
    scratch = {}
    for name in cfg.optimizers:
        for s in seeds:
            if only is None or any((name, s) == (o[0], o[2]) for o in only):
                net = new_net(cfg, data, s + 1)  # a fresh network: not the sequential runs' start
                scratch[name, s] = Run(net, make_optimizer(name, net.parameters(), lrs.get(name, cfg.lr)),
                                       torch.Generator().manual_seed(s), f"{name}_scratch")
    to_criterion(list(after.values()) + list(scratch.values()), *joint, CE, cfg.joint_criterion, **crit,
                 on_stop=tick("joint after sequential"))
    for st in runs:
        st.steps_relearn, st.steps_joint_after = relearn[st].steps, after[st].steps
        st.nets["relearn"], st.nets["joint"] = relearn[st].net, after[st].net
    return runs, {k: (r.steps, r.net) for k, r in scratch.items()}


def run(cfg: SavingsConfig, data, tasks, rep):
    [(runs, scratch)] = rep.run([Phase("savings", units(cfg, tasks), lambda emit: train_all(cfg, data, tasks, emit))])
    done = {(st.name, st.reset, st.seed): st for st in runs}
    rows = {}  # per seed, in the order of the optimizers, no reset then reset
    curves, convergence = {}, {}  # of the first seed
    for s in (cfg.seed + i for i in range(cfg.seeds)):
        for name, reset in settings(cfg):
            st = done[name, reset and name not in STATELESS, s]
            steps_scratch = scratch[name, s][0]
            row = {"optimizer": name, "lr": st.lr, "reset": reset, "steps_first": st.first,
                   "steps_relearn": st.steps_relearn, "savings": metrics.savings(st.first[0], st.steps_relearn),
                   "steps_joint_after": st.steps_joint_after, "steps_joint_scratch": steps_scratch}
            steps = st.first + [st.steps_relearn, st.steps_joint_after, steps_scratch]
            rows.setdefault(s, []).append({**row, "hit_max_steps": max(steps) >= cfg.max_steps,
                                           **({"no_state": True} if name in STATELESS else {})})
            if s == cfg.seed:
                curves[key(name, reset)], convergence[key(name, reset)] = st.curves, st.conv
    merged = [metrics.mean_std(list(r)) for r in zip(*rows.values())]
    for row, runs_ in zip(merged, zip(*rows.values())):
        row["hit_max_steps"] = any(x["hit_max_steps"] for x in runs_)
        row["savings_runs"] = [x["savings"] for x in runs_]
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


def shown_rows(r) -> list[dict]:
    """The rows as a person reads them: an optimizer without state (plain SGD) once, its reset row
    (the same run, marked `no_state`) left out and its own row's reset None (named by the
    optimizer alone, names.setting)."""
    return [{**x, "reset": None} if x.get("no_state") else x for x in r["rows"]
            if not (x.get("no_state") and x["reset"])]


def table(r) -> str:
    ref, name = report.reference(r)
    notes = ref.get("savings", {})
    noise = {True: "yes", False: "no", None: "?"}
    rows = [(names.setting(x["optimizer"], x["reset"]), x["lr"], x["steps_first"][0], x["steps_relearn"],
             report.cell(x, "savings"), noise[x.get("clear_of_noise")],
             notes.get(x["optimizer"], (None, None))[bool(x["reset"])],
             x["steps_joint_after"], x["steps_joint_scratch"], "!" if x["hit_max_steps"] else "")
            for x in shown_rows(r)]
    return (f"Savings when relearning task 1 after all tasks (1 - relearn steps / first steps), mean over "
            f"{r['config']['seeds']} run(s); clear of noise: |mean| > 2 standard errors\n" +
            report.table(["setting", "lr", "steps first", "steps relearn", "savings", "clear of noise",
                          f"notes ({name})", "joint after seq", "joint from scratch", "capped"], rows))


EXPERIMENT = Experiment("savings", SavingsConfig, run, table, "Optimizer Savings", ":material/savings:")
