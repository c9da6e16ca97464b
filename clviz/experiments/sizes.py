"""How much work each experiment's config is, counted: its runs as `cost.Part`s (optimiser steps,
batch, copies at once, samples evaluated), written from each runner's loops (common.py's phases,
each experiment's `run`). clviz/cost.py turns them into seconds of this machine.

`sizes` are the training samples of each task (capped per class as the run will), `n_test` the
test samples; `ctx` holds the tasks, the training samples per class (capped), the model's
parameter count, and `worst`: count a run that stops at a criterion (savings) as if it never
reached it. A plugin's method or loss counts as the plain loop it extends.
"""
from __future__ import annotations

import math
from dataclasses import replace

from .. import device as dev
from .. import plugin
from ..cost import Part
from .cohort import FIRST_CHUNK, SLACK

# Savings trains each phase to a criterion: on its defaults (digits, criterion 0.97, joint 0.85)
# a task took 0.6-2 epochs to learn and relearn, the joint problem ~1 (bench/estimate.py). A
# stricter criterion takes longer: the expected epochs grow as 1 / (1 - criterion) from there,
# and never past the config's give-up limit (max_steps).
EPOCHS_AT = {"criterion": (0.97, 1.0), "joint_criterion": (0.85, 1.0)}
CHECKS_EVERY_STEP = 100  # savings checks its criterion at every one of a phase's first 100 steps (then every check_every)


def per_epoch(n, batch):
    return max(1, n // batch)  # train_task drops the short last batch


def seq(cfg, sizes, n_test, copies=1, *, runs=1, probes=False, epochs=None, macs_scale=1.0, elem_scale=1.0,
        extra_eval=0, extra_evals=0):
    """`runs` class-incremental runs (common.sequential_phase, train.run_sequential): per epoch a
    live evaluation, per task a pass over the test set (and the probes, on their features)."""
    e = cfg.epochs if epochs is None else epochs
    T = len(sizes)
    fit = min(cfg.probe_fit_n, sum(sizes))  # the probes' features: a fixed subsample of the training set
    evaluated = T * e * min(cfg.live_eval_n, n_test) + T * n_test + (T * fit if probes else 0) + extra_eval
    return Part(runs * e * sum(per_epoch(n, cfg.batch_size) for n in sizes), cfg.batch_size, copies,
                runs * evaluated, macs_scale, elem_scale, evals=runs * (T * e + T + extra_evals),
                probe_fits=runs * T if probes else 0)


def joint(cfg, sizes, n_test):
    return Part(cfg.epochs * per_epoch(sum(sizes), cfg.batch_size), cfg.batch_size, cfg.seeds, n_test, evals=1)


def sparsity(cfg, sizes, n_test, ctx):
    return [seq(cfg, sizes, n_test, cfg.seeds), seq(cfg, sizes, n_test, runs=cfg.seeds)]  # BN: one run per seed


def probe(cfg, sizes, n_test, ctx):
    line = (len(sizes) - 1) * cfg.line_points * 2 * n_test // len(sizes)
    return [seq(cfg, sizes, n_test, cfg.seeds, probes=True), joint(cfg, sizes, n_test), Part(0, 1, 1, line)]


def losses(cfg, sizes, n_test, ctx):
    return [seq(cfg, sizes, n_test, cfg.seeds, runs=len(cfg.losses), probes=True)]


def cifar(cfg, sizes, n_test, ctx):
    return [seq(cfg, sizes, n_test, cfg.seeds, probes=True), seq(cfg, sizes, n_test, runs=cfg.seeds),
            joint(cfg, sizes, n_test)]


def boundaries(cfg, sizes, n_test, ctx):
    toy = cfg.toy_tasks * cfg.toy_epochs * per_epoch(2 * cfg.toy_per_class, cfg.toy_batch_size)
    # the toy's MLP is tiny: its steps cost the per-step overhead, not arithmetic
    return [Part(toy, cfg.toy_batch_size, 1, 0, macs_scale=0.0, elem_scale=0.0), seq(cfg, sizes, n_test)]


def method(cfg, name, sizes, n_test, ctx, batched=False):
    """One remedy's run (experiments/recorder.py's method_phase): every seed at once where
    `batched`, else one seed after another; with the lenses' evaluations (the stability gap's
    every few steps after a switch, CKA's per task)."""
    T = len(sizes)
    copies, runs = (cfg.seeds, 1) if batched else (1, cfg.seeds)
    gap = (T - 1) * (cfg.gap_steps // cfg.gap_every)
    lenses = dict(extra_eval=gap * min(cfg.live_eval_n, n_test) + T * cfg.cka_n, extra_evals=gap + T)
    if name == "joint":  # every task trains on all the tasks so far
        return [seq(cfg, [sum(sizes[:k + 1]) for k in range(T)], n_test, copies, runs=runs, probes=True, **lenses)]
    later = (T - 1) / T  # the share of steps after the first task, where a method's extra work starts
    scale = {"replay": (1 + later, 1.0), "lwf": (1 + later / 3, 1.0), "si": (1.0, 3.0), "ewc": (1.0, 2.0)}
    m, el = scale.get(name, (1.0, 1.0))
    out = [seq(cfg, sizes, n_test, copies, runs=runs, probes=True, macs_scale=m, elem_scale=el, **lenses)]
    if name == "ewc":  # per task, a per-sample gradient (vmap) of fisher_n samples, squared and averaged
        k = plugin.get("method", "ewc").knobs_of(cfg)
        n = min(k.fisher_n, min(sizes))
        out.append(Part(0, 1, copies, runs * 3 * T * n, elems=runs * 3 * T * n * ctx["params"]))
    if name == "head":  # per task, the head alone retrained for its epochs on the memory of the classes seen
        k = plugin.get("method", "head").knobs_of(cfg)
        kept = [sum(min(cfg.memory, ctx["counts"].get(c, 0)) for t in ctx["tasks"][:j + 1] for c in t) for j in range(T)]
        steps = sum(k.epochs * -(-n // cfg.batch_size) for n in kept)  # (its batches keep the short last one)
        out.append(Part(runs * steps, cfg.batch_size, copies, 0, macs_scale=0.0, elem_scale=0.0))
    return out


def remedies(cfg, sizes, n_test, ctx):
    side = min(dev.SIDE_BY_SIDE, len(cfg.methods))  # the methods side by side (experiments/remedies.py)
    return [replace(p, side_by_side=side) for name in cfg.methods for p in method(cfg, name, sizes, n_test, ctx)]


def depth(cfg, sizes, n_test, ctx):
    T, mean = len(sizes), sum(sizes) // len(sizes)
    control = Part(cfg.epochs * (T - 1) * per_epoch(mean, cfg.batch_size), cfg.batch_size, T * cfg.seeds,
                   T * (n_test + cfg.probe_fit_n))  # T networks per seed, each leaving out one task
    plane = Part(0, 1, 1, cfg.plane_points ** 2 * 2 * cfg.plane_eval_n)
    return [*method(cfg, cfg.method, sizes, n_test, ctx, batched=cfg.method == "finetune"), joint(cfg, sizes, n_test), control, plane]


def _to_criterion(cfg, n, which, worst, traced=False):
    """Expected steps, samples read by criterion checks, and checks of one savings phase on n
    samples; `worst`: a phase that never reaches its criterion, and gives up at max_steps (an
    optimizer whose lr is wrong); `traced`: a run whose accuracy is traced reads every check whole."""
    c0, e0 = EPOCHS_AT[which]
    c = getattr(cfg, which)
    steps = cfg.max_steps if worst else min(cfg.max_steps, max(1, round(e0 * per_epoch(n, cfg.batch_size) * (1 - c0) / max(1 - c, 1e-9))))
    checks = min(steps, CHECKS_EVERY_STEP) + max(0, steps - CHECKS_EVERY_STEP) // cfg.check_every
    m = min(cfg.check_n, n)
    if traced:  # (and one check before the first step)
        return steps, (checks + 1) * m, checks
    # a check that fails reads its first chunk (cohort.check: the wrong answers of the last check
    # first, so a run short of the criterion is decided there); the one that passes reads them all
    chunk = min(m, max(FIRST_CHUNK, int(SLACK * (m - math.ceil(getattr(cfg, which) * m) + 1))))
    return steps, (checks - 1) * chunk + m, checks


def savings(cfg, sizes, n_test, ctx):
    """Per optimizer and seed (one run each), joint from scratch; then, with and without reset,
    each task to the criterion, task 1 relearned, the joint criterion from the end state.
    A criterion check is a forward pass and a read: counted as a step's overhead besides."""
    from .savings import STATELESS  # (an optimizer without state trains its reset run once: the same run)
    N, w = sum(sizes), ctx["worst"]
    scratch = [_to_criterion(cfg, N, "joint_criterion", w)]
    setting = ([_to_criterion(cfg, n, "criterion", w) for n in sizes]
               + [_to_criterion(cfg, sizes[0], "criterion", w), _to_criterion(cfg, N, "joint_criterion", w)])
    settings = sum(1 if o in STATELESS else 2 for o in cfg.optimizers)
    steps, evaluated, checks = (cfg.seeds * (len(cfg.optimizers) * sum(p[i] for p in scratch)
                                             + settings * sum(p[i] for p in setting)) for i in range(3))
    # the first seed's runs trace their accuracy on task 1, learned and relearned: those checks read all
    evaluated += 2 * settings * (_to_criterion(cfg, sizes[0], "criterion", w, traced=True)[1] - setting[0][1])
    side = min(dev.SIDE_BY_SIDE, cfg.seeds * settings)  # the cohorts' threads (the smallest phase's runs)
    return [Part(steps, cfg.batch_size, 1, evaluated, side_by_side=side),
            Part(checks, 0, 1, 0, elem_scale=0.0, side_by_side=side)]


PARTS = {"sparsity": sparsity, "probe": probe, "losses": losses, "savings": savings, "cifar": cifar,
         "boundaries": boundaries, "remedies": remedies, "depth": depth}
