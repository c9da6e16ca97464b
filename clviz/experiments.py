"""One function per experiment: config in -> result dict out (JSON-ready).

`run(cfg)` is the entry for the app and the CLI: it validates, loads the data onto the device,
answers from the results store when it can, and otherwise runs the experiment, reporting
events with a `progress` in [0, 1] and the name of the sub-run (`run`: "no_bn", "ce", ...).
"""
from __future__ import annotations

import copy
import time
from dataclasses import replace

import torch

from . import data as D
from . import metrics, models, probe, store
from .boundaries import boundaries
from .config import (CifarConfig, Config, LossesConfig, ProbeConfig, SavingsConfig,
                     SparsityConfig, to_dict, validate)
from .device import resolve
from .ensemble import BatchedNet
from .losses import LOSSES, make_loss
from .train import TrainingError, generators, make_optimizer, run_sequential, train_task


class Reporter:
    """Adds `run` and `progress` to the engine's events; one unit of work = one epoch."""

    def __init__(self, on_event, total_units: int):
        self.on_event, self.total, self.done = on_event or (lambda ev: None), max(1, total_units), 0

    def __call__(self, run: str):
        def emit(ev):
            if ev["event"] == "epoch_end" or ev["event"] == "tick":
                self.done += 1
            if ev["event"] != "done":
                self.on_event({**ev, "run": run, "progress": min(1.0, self.done / self.total)})
        return emit

    def finish(self):
        self.on_event({"event": "done", "progress": 1.0})


# ---------------------------------------------------------------- shared pieces

def prepare(cfg: Config, device: str):
    """Load the data for `cfg` (capped per class if asked) and validate the config against it."""
    data = D.load(cfg.dataset, cfg.data_dir or None, device)
    counts = dict(zip(*[v.tolist() for v in torch.unique(data.y_train, return_counts=True)]))
    tasks = validate(cfg, data.num_classes, counts, device)
    if cfg.per_class:  # the same subset for every seed: seeds vary the initialisation and the order
        data = cap_per_class(data, cfg.per_class)
    return data, tasks


def cap_per_class(data: D.Data, n: int) -> D.Data:
    g = torch.Generator().manual_seed(0)
    keep = []
    y = data.y_train.cpu()
    for c in range(data.num_classes):
        idx = (y == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    keep = torch.cat(keep).sort().values.to(data.device)
    return D.Data(data.name, data.x_train[keep], data.y_train[keep], data.x_test, data.y_test, data.num_classes,
                  data.shape, data.mean, data.std, data.source)


def new_model(cfg: Config, data: D.Data, bn=False, seed_offset=0):
    """The model of a config; with `cfg.seeds` > 1 (and no BatchNorm) N copies batched as one,
    copy i initialised exactly as the single model of seed + i."""
    def one(seed):
        torch.manual_seed(seed)  # every variant starts from the same weights
        return models.build(data.shape, data.num_classes, cfg.hidden, bn).to(data.device)
    if cfg.seeds > 1 and not bn:
        return BatchedNet([one(cfg.seed + seed_offset + i) for i in range(cfg.seeds)])
    return one(cfg.seed + seed_offset)


def all_classes(tasks):
    return [c for t in tasks for c in t]


def probes(model, data, tasks, k, test):
    """Linear probe after task k: on the classes seen so far, and on all classes of the split.
    Fitted on the latent features of a fixed subsample of the training set (probe.FIT_N), scored
    on the whole test set, whose forward pass `test` = (logits, latent) the caller has made."""
    sub = probe.fit_subset(len(data.y_train), data.device)
    htr, ytr = metrics.forward_all(model, data.x_train[sub])[1], data.y_train[sub]
    hte = test[1]
    seen = all_classes(tasks[:k + 1])
    return {"probe_seen": probe.probe_accuracy(htr, ytr, hte, data.y_test, seen),
            "probe_all": probe.probe_accuracy(htr, ytr, hte, data.y_test, all_classes(tasks))}


def heatmap(model, data, tasks, per_class):
    """Latent features of `per_class` test samples per class, sorted by class (rows) x units."""
    cls = all_classes(tasks)
    idx = torch.cat([(data.y_test == c).nonzero().flatten()[:per_class] for c in cls])
    _, h = metrics.forward_all(model, data.x_test[idx])
    return {"heatmap": h.cpu().numpy().round(3).tolist(), "heatmap_labels": data.y_test[idx].tolist(),
            "bias": model.latent_bias.detach().cpu().numpy().round(4).tolist()}


def joint(cfg: Config, data, tasks, emit):
    """Concurrent training on all classes at once: the upper bound sequential training is compared to.
    Returns {"joint_acc": accuracy on all classes of the split}, the mean over seeds with its
    spread under "joint_acc_std" where there are several."""
    model = new_model(cfg, data)
    x, y = data.subset(all_classes(tasks))
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    copies = getattr(model, "n_copies", 0)
    train_task(model, opt, x, y, make_loss("ce"), batch_size=cfg.batch_size, gen=generators(cfg.seed, copies),
               epochs=cfg.epochs, on_epoch=lambda e, loss: emit({"event": "tick", "epoch": e, "loss": loss}))
    accs = [metrics.acc_on(metrics.forward_all(v, data.x_test)[0], data.y_test, all_classes(tasks))
            for v in ([model.copy(i) for i in range(copies)] if copies else [model])]
    return metrics.mean_std([{"joint_acc": a} for a in accs])


def sequential(cfg, data, tasks, emit, *, bn=False, loss="ce", extra=None, l2=0.0):
    """One class-incremental run (all seeds of it at once when they can be batched). Returns its history."""
    run = lambda model, seed: run_sequential(
        model, data, tasks, make_loss(loss, l2), optimizer=cfg.optimizer, lr=cfg.lr, epochs=cfg.epochs,
        batch_size=cfg.batch_size, seed=seed, on_event=emit, extra=extra)
    if cfg.seeds > 1 and bn:  # BatchNorm's running statistics cannot be batched: one run per seed
        one = replace(cfg, seeds=1)
        return metrics.merge_histories([run(new_model(replace(one, seed=cfg.seed + i), data, bn), cfg.seed + i)
                                        for i in range(cfg.seeds)])
    return run(new_model(cfg, data, bn), cfg.seed)


def per_task(hist, *keys):
    """Per-task lists of the records' values, and their spread across seeds where there is one."""
    keys = [k for key in keys for k in (key, f"{key}_std") if k in hist["tasks"][0]]
    return {k: [t[k] for t in hist["tasks"]] for k in keys}


SEQ_KEYS = ("val_loss", "sparsity", "acc_seen", "acc_all", "grad_norms")


# ---------------------------------------------------------------- the experiments

def sparsity(cfg: SparsityConfig, data, tasks, rep):
    out = {}
    for name, bn in (("no_bn", False), ("bn", True)):
        extra = lambda m, k, test: heatmap(m, data, tasks, cfg.heatmap_per_class)
        hist = sequential(cfg, data, tasks, rep(name), bn=bn, extra=extra)
        out[name] = {**per_task(hist, *SEQ_KEYS, "heatmap", "heatmap_labels", "bias"),
                     "matrix": hist["matrix"], "curve": hist["curve"]}
    return out


def probe_exp(cfg: ProbeConfig, data, tasks, rep):
    after = {}  # the weights after each task, of the first seed (the first view of task k is copy 0)

    def extra(m, k, test):
        after.setdefault(k, {n: t.detach().clone() for n, t in m.state_dict().items()})
        return probes(m, data, tasks, k, test)

    hist = sequential(cfg, data, tasks, rep("sequential"), extra=extra)
    j = joint(cfg, data, tasks, rep("joint"))
    return {**j, **summary(hist, j["joint_acc"]), "forgetting": hist["forgetting"],
            "line": straight_lines(cfg, data, tasks, after)}


def straight_lines(cfg, data, tasks, after):
    """Loss along the straight line in weight space from the weights after task k to those after
    task k+1, on the test data of task k ("old") and of task k+1 ("new"): is there a path on
    which the new task is learned and the old one kept? (The notes' "coming up".)"""
    model = new_model(replace(cfg, seeds=1), data)
    return [{"from_task": k, **metrics.loss_along_line(
        model, after[k], after[k + 1], {"old": data.subset(tasks[k], "test"), "new": data.subset(tasks[k + 1], "test")})}
        for k in range(len(tasks) - 1)]


def summary(hist, joint_acc):
    """What the probe and CIFAR experiments report of a sequential run, beside joint training."""
    last = hist["tasks"][-1]
    p = per_task(hist, "probe_seen", "probe_all", *SEQ_KEYS)
    seq = {f"sequential_acc{sd}": last[f"acc_seen{sd}"] for sd in ("", "_std") if f"acc_seen{sd}" in last}
    return {**seq, **p,
            "preserved": p["probe_all"][-1] / joint_acc if joint_acc else float("nan"),
            "matrix": hist["matrix"], "curve": hist["curve"]}


def losses(cfg: LossesConfig, data, tasks, rep):
    # a few test images per class whose per-class sigmoid probabilities are tracked after each task
    idx = torch.cat([(data.y_test == c).nonzero().flatten()[:cfg.examples_per_class] for c in all_classes(tasks)])
    out = {"examples": {"index": idx.tolist(), "label": data.y_test[idx].tolist()}}
    for name in LOSSES:
        def extra(m, k, test):
            sig = torch.sigmoid(test[0][idx])  # the examples' logits, from the test set's forward pass
            return {**probes(m, data, tasks, k, test), "example_sigmoid": sig.cpu().numpy().round(4).tolist()}
        hist = sequential(cfg, data, tasks, rep(name), loss=name, extra=extra,
                          l2=cfg.l2 if name == "correct_only" else 0.0)
        out[name] = {"final_acc": hist["tasks"][-1]["acc_seen"], "matrix": hist["matrix"], "curve": hist["curve"],
                     "forgetting": hist["forgetting"],
                     **per_task(hist, "probe_seen", "probe_all", "example_sigmoid", *SEQ_KEYS)}
    return out


def savings(cfg: SavingsConfig, data, tasks, rep):
    """Per optimizer, with and without resetting its state at task boundaries: steps to the
    criterion when each task is first learned, when task 1 is relearned after all tasks, and
    when the joint problem is reached from the sequential end state (vs from scratch).
    Several seeds: one run per seed (each stops at its own step), rows averaged."""
    if cfg.seeds > 1:
        runs = [savings(replace(cfg, seeds=1, seed=cfg.seed + i), data, tasks, rep) for i in range(cfg.seeds)]
        return {"rows": [metrics.mean_std(list(rows)) for rows in zip(*(r["rows"] for r in runs))],
                "task2_curves": runs[0]["task2_curves"], "convergence": runs[0]["convergence"]}
    loss_fn = make_loss("ce")
    xs_ys = [data.subset(t) for t in tasks]
    xj, yj = data.subset(all_classes(tasks))

    def to_criterion(model, opt, x, y, gen, criterion, on_step=None, trace=None):
        """Steps until the accuracy on (at most) 2000 of the training samples reaches `criterion`;
        with `trace`, the [step, accuracy] of every check, from step 0 on (convergence curves)."""
        xs, ys = x[:2000], y[:2000]

        def reached(m, step):
            acc = metrics.accuracy(metrics.forward_all(m, xs)[0], ys)
            if trace is not None:
                trace.append([step, round(acc, 4)])
            return acc >= criterion

        if trace is not None:
            reached(model, 0)
        return train_task(model, opt, x, y, loss_fn, batch_size=cfg.batch_size, gen=gen, epochs=None,
                          max_steps=cfg.max_steps, until=reached, check_every=10, on_step=on_step)

    def drift(model, trace):
        """Gradient norm and distance from the weights at the start, per step (for task 2)."""
        w0 = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
        def hook(step):
            trace["grad_norm"].append(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item())
            trace["weight_change"].append((torch.cat([p.detach().flatten() for p in model.parameters()]) - w0).norm().item())
        return hook

    rows, curves, convergence = [], {}, {}
    for name in cfg.optimizers:
        lr = dict(cfg.lrs).get(name, cfg.lr)
        scratch = new_model(cfg, data, seed_offset=1)
        joint_scratch = to_criterion(scratch, make_optimizer(name, scratch.parameters(), lr), xj, yj,
                                     torch.Generator().manual_seed(cfg.seed), cfg.joint_criterion)
        for reset in (False, True):
            setting = f"{name}{'_reset' if reset else ''}"
            emit, gen = rep(setting), torch.Generator().manual_seed(cfg.seed)
            model = new_model(cfg, data)
            opt = make_optimizer(name, model.parameters(), lr)
            first, curves[setting] = [], {"grad_norm": [], "weight_change": []}
            conv = convergence[setting] = {"first": [], "relearn": []}  # accuracy on task 1 per step
            for k, (x, y) in enumerate(xs_ys):
                if reset and k > 0:
                    opt = make_optimizer(name, model.parameters(), lr)
                hook = drift(model, curves[setting]) if k == 1 else None
                first.append(to_criterion(model, opt, x, y, gen, cfg.criterion, hook, conv["first"] if k == 0 else None))
                emit({"event": "tick", "task": k, "phase": f"learn task {k + 1}", "steps": first[-1]})
            end = copy.deepcopy((model.state_dict(), opt.state_dict()))

            def branch():  # a copy of the end state; the optimizer's state kept unless it is reset
                m = new_model(cfg, data)
                m.load_state_dict(end[0])
                o = make_optimizer(name, m.parameters(), lr)
                if not reset:
                    o.load_state_dict(copy.deepcopy(end[1]))
                return m, o

            relearn = to_criterion(*branch(), *xs_ys[0], gen, cfg.criterion, trace=conv["relearn"])
            joint_after = to_criterion(*branch(), xj, yj, gen, cfg.joint_criterion)
            emit({"event": "tick", "task": 0, "phase": "relearn task 1", "steps": relearn})
            rows.append({"optimizer": name, "lr": lr, "reset": reset, "steps_first": first, "steps_relearn": relearn,
                         "savings": metrics.savings(first[0], relearn), "steps_joint_after": joint_after,
                         "steps_joint_scratch": joint_scratch,
                         "hit_max_steps": max(first + [relearn, joint_after, joint_scratch]) >= cfg.max_steps})
    return {"rows": rows, "task2_curves": curves, "convergence": convergence}


def cifar(cfg: CifarConfig, data, tasks, rep):
    extra = lambda m, k, test: {**probes(m, data, tasks, k, test), **heatmap(m, data, tasks, cfg.heatmap_per_class)}
    hist = sequential(cfg, data, tasks, rep("no_bn"), extra=extra)
    hist_bn = sequential(cfg, data, tasks, rep("bn"), bn=True)
    j = joint(cfg, data, tasks, rep("joint"))
    return {**j, **summary(hist, j["joint_acc"]),
            "no_bn": per_task(hist, "sparsity", "val_loss", "heatmap", "heatmap_labels", "bias"),
            "bn": per_task(hist_bn, "sparsity", "val_loss")}


RUNNERS = {"sparsity": sparsity, "probe": probe_exp, "losses": losses, "savings": savings, "cifar": cifar,
           "boundaries": boundaries}


def units(cfg: Config, tasks) -> int:
    """How many progress units (epochs, or criterion phases for savings) an experiment takes."""
    T, e, s = len(tasks), cfg.epochs, cfg.seeds  # BatchNorm runs and savings take one run per seed
    return {"sparsity": T * e * (1 + s), "probe": T * e + e, "losses": 3 * T * e, "cifar": T * e * (1 + s) + e,
            "savings": s * len(getattr(cfg, "optimizers", ())) * 2 * (T + 1),
            "boundaries": T * e + getattr(cfg, "toy_tasks", 0) * getattr(cfg, "toy_epochs", 0)}[cfg.experiment]


def run(cfg: Config, device: str = "auto", on_event=None, use_cache: bool = True) -> dict:
    """Validate, load, answer from the cache or compute, store. Raises DataError / TrainingError."""
    device, notice = resolve(device)
    if use_cache and (hit := store.load(cfg)) is not None:
        return {**hit, "cached": True}
    data, tasks = prepare(cfg, device)
    runner = RUNNERS[cfg.experiment]
    rep = Reporter(on_event, units(cfg, tasks))
    t0 = time.perf_counter()
    try:
        out = runner(cfg, data, tasks, rep)
    except torch.OutOfMemoryError:
        raise TrainingError(f"Out of memory on {device}: choose the CPU or a smaller batch size.") from None
    result = {"config": to_dict(cfg), "tasks": [list(t) for t in tasks], **out,
              "seconds": round(time.perf_counter() - t0, 3), "device": device, "data_source": data.source}
    if notice:
        result["notice"] = notice
    store.save(cfg, result)
    rep.finish()
    return {**result, "cached": False}
