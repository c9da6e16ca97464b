"""What the experiments share: the registry record, progress by phases, data preparation, the
model of a config, joint and sequential runs, probes and heatmaps.

Progress comes from the phases a runner actually executes: a runner hands the Reporter its
list of `Phase`s, each built by the helper that also runs it, so a phase's size sits beside
its loop (`sequential_phase`: tasks x epochs; ...). The Reporter checks that every phase
emitted exactly the units it announced, so a size that drifts from its loop fails the tests.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

import torch

from .. import data as D
from .. import device as dev
from .. import metrics, models, plugin, probe
from ..config import Config
from ..ensemble import BatchedNet
from ..losses import make_loss
from ..train import generators, make_optimizer, run_sequential, train_task


@dataclass(frozen=True)
class Experiment:
    """One record per experiment: all that the engine, the CLI and the app need to know of it."""
    name: str          # the CLI's sub-command, the JSON's "experiment", the page's file app_pages/<name>.py
    base: type         # its frozen Config subclass: every knob and its default
    run: Callable      # (cfg, data, tasks, reporter) -> result dict (JSON-ready)
    table: Callable    # result -> plain-text tables (CLI, `reproduce`)
    title: str         # the page's name in the app's navigation
    icon: str          # the page's icon (Material Symbols)
    reproduce: tuple = ("digits", "mnist", "fashion-mnist")  # datasets whose `reproduce` report includes it
    plugins: str = ""  # "loss" | "method": the kind of plugin it runs, whose knobs join its config

    @property
    def config(self) -> type:
        """Its config class: `base` with the knobs of every registered plugin of its kind."""
        return plugin.extend(self.base, self.plugins) if self.plugins else self.base


@dataclass(frozen=True)
class Phase:
    name: str          # the sub-run, as events and the result report it ("no_bn", "ce", "adam_reset", ...)
    units: int         # progress units it will emit: epochs, or criterion phases for savings
    run: Callable      # emit -> its part of the result


class Reporter:
    """Runs a runner's phases, adding `run` and `progress` (in [0, 1]) to the engine's events."""
    UNIT_EVENTS = ("epoch_end", "tick")

    def __init__(self, on_event=None):
        self.on_event, self.total, self.done = on_event or (lambda ev: None), 0, 0
        self.lock, self.halt = threading.Lock(), threading.Event()

    def run(self, phases: list[Phase], side_by_side: int = 1) -> list:
        """Execute the phases, in order, or `side_by_side` at a time, each in a thread of its own
        (independent runs: Remedies' methods; device.SIDE_BY_SIDE); their results, in order."""
        self.total += sum(p.units for p in phases)
        return dev.side_by_side(self._run, phases, side_by_side, self.halt)  # (after an error, none starts)

    def _run(self, p: Phase, halt=None):  # (halt: device.side_by_side's; a phase runs to its end)
        emit = self._emitter(p.name)
        out = p.run(emit)
        assert emit.units == p.units, f"phase {p.name} announced {p.units} units, emitted {emit.units}"
        return out

    def _emitter(self, run: str):
        def emit(ev):
            with self.lock:  # runs side by side: one event at a time, the count and the pipe alike
                if ev["event"] in self.UNIT_EVENTS:
                    self.done += 1
                    emit.units += 1
                if ev["event"] != "done":
                    self.on_event({"run": run, **ev, "progress": self.done / max(self.total, 1)})
        emit.units = 0
        return emit

    def finish(self):
        self.on_event({"event": "done", "progress": 1.0})


# ---------------------------------------------------------------- data and models

def cap_per_class(data: D.Data, n: int) -> D.Data:
    """At most n training samples per class: the same subset for every seed (seeds vary the
    initialisation and the order, not the data)."""
    g = torch.Generator().manual_seed(0)
    keep = []
    y = data.y_train.cpu()
    for c in range(data.num_classes):
        idx = (y == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    keep = torch.cat(keep).sort().values.to(data.device)
    return replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep])


def validation_split(data: D.Data, fraction: float) -> D.Data:
    """Hold out `fraction` of each class's training samples (a fixed draw) and put them where the
    test set was: every figure of the run is then a validation figure, and the test set is never
    seen (a strength chosen on it would be chosen on the test set). Train and held-out samples
    are disjoint (tests/test_tune.py)."""
    g = torch.Generator().manual_seed(1)
    y = data.y_train.cpu()
    held = []
    for c in range(data.num_classes):
        idx = (y == c).nonzero().flatten()
        held.append(idx[torch.randperm(len(idx), generator=g)[:int(round(fraction * len(idx)))]])
    held = torch.cat(held).sort().values
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[held] = False
    held, keep = held.to(data.device), keep.to(data.device)
    return replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep], x_test=data.x_train[held],
                   y_test=data.y_train[held], source=f"{data.source}, {fraction:g} of its training set held out")


_INIT = threading.Lock()  # torch's global generator, which initialises a Net: one Net at a time


def new_net(cfg: Config, data: D.Data, seed: int, bn=False):
    """The plain Net of a config, initialised by `seed`: every variant of a seed starts from the
    same weights (also where runs are built side by side, in threads)."""
    with _INIT:
        torch.manual_seed(seed)
        return models.build(data.shape, data.num_classes, cfg.hidden, bn).to(data.device)


def new_model(cfg: Config, data: D.Data, bn=False, seed_offset=0):
    """The model of a config; with `cfg.seeds` > 1 (and no BatchNorm) N copies batched as one,
    copy i initialised exactly as the single model of seed + i."""
    if cfg.seeds > 1 and not bn:
        return BatchedNet([new_net(cfg, data, cfg.seed + seed_offset + i) for i in range(cfg.seeds)])
    return new_net(cfg, data, cfg.seed + seed_offset, bn)


def all_classes(tasks):
    return [c for t in tasks for c in t]


def views(model):
    """The plain Nets of a model: its copies for a BatchedNet, else the model itself."""
    return [model.copy(i) for i in range(model.n_copies)] if model.batched else [model]


# ---------------------------------------------------------------- what runs are measured with

def probes(cfg, model, data, tasks, k, test, seen=True):
    """Linear probe after task k: on the classes seen so far, and on all classes of the split
    (overall, and on each task's test samples: `probe_tasks`). Fitted on the latent features of
    a fixed subsample of the training set (cfg.probe_fit_n), scored on the whole test set, whose
    forward pass `test` = (logits, latent) of every copy the caller made. A record per copy (on
    a GPU all copies' probes are fitted at once). After the last task the seen classes are all
    classes: one fit serves both. `seen=False`: no seen-classes probe before then (None), for a
    page that shows only the last one (each probe is an L-BFGS fit: a third of a remedy's run)."""
    sub = probe.fit_subset(len(data.y_train), cfg.probe_fit_n, data.device)
    htr, ytr = metrics.forward_copies(model, data.x_train[sub])[1], data.y_train[sub]
    cls = torch.as_tensor(sorted(all_classes(tasks)), device=data.device)  # relabelled 0..n-1, as in probe_accuracy
    mtr, mte = torch.isin(ytr, cls), torch.isin(data.y_test, cls)
    right = probe.probe_correct(htr[:, mtr], torch.searchsorted(cls, ytr[mtr]), test[1][:, mte],
                                torch.searchsorted(cls, data.y_test[mte]))
    every = per_task_scores(right, data.y_test[mte], tasks)
    if sorted(all_classes(tasks[:k + 1])) == sorted(all_classes(tasks)):  # the same fit, on the same samples
        seen = [a for a, _ in every]
    elif seen:
        seen = probe.probe_accuracy(htr, ytr, test[1], data.y_test, all_classes(tasks[:k + 1]))
    else:
        seen = [None] * len(every)
    return [{"probe_seen": s, "probe_all": a, "probe_tasks": t} for s, (a, t) in zip(seen, every)]


def per_task_scores(right, y, tasks):
    """(overall accuracy, [accuracy on each task]) per copy, of (copies, samples) booleans on the
    test set: one read."""
    masks = [torch.isin(y, torch.as_tensor(list(t), device=y.device)) for t in tasks]
    r = right.float()
    accs = torch.stack([r.mean(1)] + [r[:, m].mean(1) for m in masks], 1).tolist()
    return [(a[0], a[1:]) for a in accs]


def merge(*parts):
    """An `extra`'s record from parts that are each a record per copy (a list) or one record that
    all copies share (a dict: of the first copy only, such as a heatmap)."""
    n = max((len(p) for p in parts if isinstance(p, list)), default=0)
    if not n:
        return {k: v for p in parts for k, v in p.items()}
    return [{k: v for p in parts for k, v in (p[i] if isinstance(p, list) else p).items()} for i in range(n)]


def heatmap(model, data, tasks, per_class):
    """Latent features of `per_class` test samples per class, sorted by class (rows) x units; of a
    BatchedNet, of its first copy (unit i of one seed has nothing to do with unit i of another)."""
    model = views(model)[0]
    idx = torch.cat([(data.y_test == c).nonzero().flatten()[:per_class] for c in all_classes(tasks)])
    _, h = metrics.forward_all(model, data.x_test[idx])
    return {"heatmap": h.cpu().numpy().round(3).tolist(), "heatmap_labels": data.y_test[idx].tolist(),
            "bias": model.latent_bias.detach().cpu().numpy().round(4).tolist()}


# ---------------------------------------------------------------- runs, as phases

def joint_phase(cfg: Config, data, tasks, name="joint", keep=None) -> Phase:
    """Concurrent training on all classes at once (one unit per epoch): the upper bound that
    sequential training is compared to. Its result: {"joint_acc": accuracy on all classes of the
    split}, the mean over seeds with its spread under "joint_acc_std" where there are several.
    `keep(model)` sees the trained model (the loss plane's third point)."""
    def run(emit):
        model = new_model(cfg, data)
        x, y = data.subset(all_classes(tasks))
        opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
        train_task(model, opt, x, y, make_loss("ce"), batch_size=cfg.batch_size,
                   gen=generators(cfg.seed, model.n_copies if model.batched else 0), epochs=cfg.epochs,
                   on_epoch=lambda e, loss: emit({"event": "tick", "epoch": e, "loss": loss}))
        z = metrics.forward_copies(model, data.x_test)[0]  # all copies in one pass, one read
        stats = metrics.ClassStats.per_copy(z, data.y_test, data.num_classes)
        accs = [st.acc(all_classes(tasks)) for st in stats]
        if keep is not None:
            keep(model)
        return metrics.mean_std([{"joint_acc": a} for a in accs])
    return Phase(name, cfg.epochs, run)


def sequential_phase(name, cfg, data, tasks, *, bn=False, loss="ce", extra=None) -> Phase:
    """One class-incremental run (one unit per epoch of each task), all seeds at once where they
    can be batched; BatchNorm's running statistics cannot be, so then one run per seed. Its
    result: the history of `train.run_sequential`, merged over seeds. The loss (any registered
    one) takes its own knobs from the config's `<loss>_<knob>` fields."""
    per_seed = bn and cfg.seeds > 1
    seeds = [cfg.seed + i for i in range(cfg.seeds)] if per_seed else [cfg.seed]

    def one(seed, emit):
        c = replace(cfg, seed=seed, seeds=1) if per_seed else cfg
        return run_sequential(new_model(c, data, bn), data, tasks, make_loss(loss, plugin.get("loss", loss).knobs_of(cfg)), optimizer=cfg.optimizer,
                              lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed, on_event=emit,
                              extra=extra, live_eval_n=cfg.live_eval_n)
    return Phase(name, len(seeds) * len(tasks) * cfg.epochs,
                 lambda emit: metrics.merge_histories([one(s, emit) for s in seeds]))


def per_task(hist, *keys):
    """Per-task lists of the records' values, and their spread across seeds where there is one;
    and each seed's own lenses (`per_seed`, which clviz/compare.py weighs)."""
    keys = [k for key in keys for k in (key, f"{key}_std") if k in hist["tasks"][0]]
    return {**{k: [t[k] for t in hist["tasks"]] for k in keys}, "per_seed": hist["per_seed"]}


SEQ_KEYS = ("val_loss", "sparsity", "acc_seen", "acc_all", "grad_norms")


def summary(hist, joint_acc):
    """What the probe and CIFAR experiments report of a sequential run, beside joint training."""
    last = hist["tasks"][-1]
    p = per_task(hist, "probe_seen", "probe_all", *SEQ_KEYS)
    seq = {f"sequential_acc{sd}": last[f"acc_seen{sd}"] for sd in ("", "_std") if f"acc_seen{sd}" in last}
    return {**seq, **p,
            "preserved": p["probe_all"][-1] / joint_acc if joint_acc else float("nan"),
            "matrix": hist["matrix"], "curve": hist["curve"], "forgetting": hist["forgetting"]}
