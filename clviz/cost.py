"""Every job sized before it runs: a config's cost as counted work, in seconds of this machine.

The work is counted, not guessed from past runs: a run is a list of `Part`s, each so many
optimiser steps of a batch through a model of so many copies (seeds trained at once), so many
evaluations (a test pass and its metrics, per epoch and per task), probe fits, and samples
passed forward. Its seconds are

    steps x (STEP_S + copies x params x ELEM_S)     what a step costs beyond its arithmetic:
                                                    Python, launches, the optimizer's update
                                                    of every weight (elementwise)
  + evals x EVAL_S + probe_fits x PROBE_S           the same for an evaluation and a probe fit
  + (3 x steps x batch + evaluated) x copies x MACs / MAC_PER_S
                                                    the arithmetic: forward and backward (2x)
                                                    of every sample, forward of every evaluation

with MACs the multiply-adds of one sample's forward pass through the model (models.build, one
sample through it: a Linear's in x out, a convolution's output x kernel). The constants are
measured once per process on this machine (`calibrate`, a fifth of a second: the engine's own
training loop, evaluation and probe on a tiny model, a matmul, an elementwise update; at the
thread count jobs run at), so the estimate follows the machine and the engine: a faster loop
shows as a smaller step constant, not as a wrong count. On small data (digits) the fixed costs
dominate; on Fashion-MNIST or CIFAR-100 the arithmetic does.

How many steps each experiment takes is counted in clviz/experiments/sizes.py (one function per
experiment, from its config and its data's class counts: clviz/meta.py). Savings trains to a
criterion, so its steps are not known in advance: there the count is the expected one, bounded by
the config's give-up limit. bench/estimate.py sets every experiment's estimate beside its actual
time.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from . import models

CAP_ENV = "CLVIZ_MAX_JOB_S"
DEFAULT_CAP_S = 120.0  # a seminar's queue: two minutes a job at most; CLVIZ_MAX_JOB_S=0 lifts the cap
WORST_OVER_CAP = 10  # a job that stops at a criterion may run this many caps if it is never reached, no more


def cap_setting() -> tuple[float | None, str | None]:
    """The server's cap on one job's estimated seconds (None: no cap), from $CLVIZ_MAX_JOB_S, and
    what is wrong with the variable if it is not a number of seconds. A bad value keeps the default
    cap (a typo must neither crash the room's server nor lift its cap), and the page says so."""
    v = os.environ.get(CAP_ENV)
    if v is None or not v.strip():
        return DEFAULT_CAP_S, None
    try:
        cap = float(v)
    except ValueError:
        cap = math.nan
    if math.isnan(cap) or cap < 0:
        return DEFAULT_CAP_S, (f"${CAP_ENV}={v.strip()[:40]!r} is not a number of seconds (0 for no cap): "
                               f"this server keeps the default cap of {DEFAULT_CAP_S:g} s a run.")
    return (cap if cap > 0 else None), None


def cap_s() -> float | None:
    """The server's cap on one job's estimated seconds (None: no cap): `cap_setting`'s."""
    return cap_setting()[0]


def over_cap(est: "Estimate", cap: float | None) -> str | None:
    """Why a job must be refused, or None: expected to take longer than `cap`, or it could take
    WORST_OVER_CAP times longer if it never reached its criterion (savings' give-up limit, from a
    link: max_steps=100000). The message gives the estimate, the cap, and what to do."""
    if cap is None:
        return None
    lift = (f"The app's server sets its cap from ${CAP_ENV} ({CAP_ENV}=600 for ten minutes, 0 for none); the "
            f"command line (`python -m clviz run ...`) has none unless asked (--max-job-s).")
    if est.seconds > cap:
        return (f"This run would take {est.text()} ({est.steps:,} optimiser steps), over the cap of {cap:g} s a run. "
                f"Make it smaller: fewer epochs, seeds, runs or methods, or a cap on training samples per class. {lift}")
    if est.worst > WORST_OVER_CAP * cap:
        return (f"This run could take {Estimate(est.worst, est.worst_steps, est.macs).text()} ({est.worst_steps:,} "
                f"optimiser steps) if a criterion is never reached: more than {WORST_OVER_CAP} times the cap of "
                f"{cap:g} s a run (about {est.seconds:.0f} s if every criterion is reached). Lower the give-up limit "
                f"(max steps) or the runs per setting. {lift}")
    return None


@dataclass(frozen=True)
class Part:
    steps: int            # optimiser steps
    batch: int            # samples per step (per copy)
    copies: int = 1       # copies trained at once (BatchedNet)
    evaluated: int = 0    # samples passed forward to evaluate (per copy)
    macs_scale: float = 1.0  # the step's arithmetic relative to the plain model (replay's doubled batch: 2)
    elem_scale: float = 1.0  # the step's elementwise work relative to one optimizer update (SI, EWC: more)
    evals: int = 0        # evaluations (per-epoch live points, per-task test passes, lenses)
    probe_fits: int = 0   # calls of common.probes (two L-BFGS fits each)
    elems: float = 0.0    # elementwise work besides the steps' (EWC's per-sample gradients), in weights
    side_by_side: int = 1  # threads its runs are dealt over (Savings' cohorts: device.SIDE_BY_SIDE)


@dataclass(frozen=True)
class Machine:
    step_s: float      # seconds per optimiser step, beyond the arithmetic
    elem_s: float      # seconds per weight updated
    mac_per_s: float   # multiply-adds per second
    eval_s: float      # seconds per evaluation, beyond the arithmetic
    probe_s: float     # seconds per probes() call (two fits), beyond the arithmetic


@dataclass(frozen=True)
class Estimate:
    seconds: float
    steps: int
    macs: float               # one sample's forward pass
    worst: float = 0.0        # seconds if no criterion is reached (savings); else = seconds
    worst_steps: int = 0

    def text(self) -> str:
        s = self.seconds
        when = f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"
        return f"about {when} here" if s >= 1 else "under a second here"


# ---------------------------------------------------------------- the model's size

@lru_cache(maxsize=64)
def model_size(shape: tuple, num_classes: int, hidden: tuple) -> tuple[float, int]:
    """(multiply-adds of one sample's forward pass, parameters) of the config's model."""
    net = models.build(shape, num_classes, hidden)  # (on the CPU: a forward on the meta device imports torch._dynamo, 174 MB)
    macs = []

    def count(m, inp, out):
        if isinstance(m, torch.nn.Linear):
            macs.append(m.in_features * m.out_features)
        elif isinstance(m, torch.nn.Conv2d):
            macs.append(out[0].numel() * m.in_channels * math.prod(m.kernel_size) // m.groups)
    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    with torch.no_grad():
        net(torch.zeros((1, *shape)))
    for h in hooks:
        h.remove()
    return float(sum(macs)), sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------- the machine

_machine: list[Machine] = []
_calibrating = threading.Lock()  # the server's warm-up and a page's first estimate may ask at once


def calibrate(threads: int = 1) -> Machine:
    """This machine's constants, measured once per process at `threads` threads (the thread
    count jobs run at: clviz/device.py), in about a fifth of a second, with the engine's own
    training loop, evaluation and probe on a model too small for its arithmetic to count."""
    with _calibrating:
        if not _machine:
            _machine.append(_measure(threads))
    return _machine[0]


def adopt(m: Machine):
    """Take constants measured elsewhere (the server's: in a worker, clviz/jobs.py's warm-up)."""
    with _calibrating:
        _machine[:] = [m]


def _measure(threads: int) -> Machine:
    from . import metrics, probe, train
    from .losses import make_loss
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        w = torch.zeros(1 << 20)
        elem_s = _best(lambda: w.mul_(0.9).add_(1.0).addcmul_(w, w, value=0.1).sqrt_()) / w.numel()
        g = torch.Generator().manual_seed(0)

        def step_of(d, hidden, batch):  # seconds of one step of the engine's loop (Adam, as run_sequential)
            net = models.mlp(d, hidden, 10)
            x, y = torch.randn(8 * batch, d, generator=g), torch.arange(8 * batch) % 10
            opt, acc = train.make_optimizer("adam", net.parameters(), 1e-3), metrics.GradAccumulator(net)
            return net, _best(lambda: train.train_task(net, opt, x, y, ce, batch_size=batch, gen=g, on_step=acc.step), n=1) / 8
        ce = make_loss("ce")
        net, step_s = step_of(4, (4,), 2)  # no arithmetic to speak of: the loop's own cost
        big, t = step_of(64, (256, 256), 32)  # the default model and batch: its arithmetic, as small matmuls run
        macs, params = model_size((64,), 10, (256, 256))
        mac_per_s = 3 * 32 * macs / max(t - step_s - params * elem_s, 1e-7)
        x, y = torch.randn(64, 4, generator=g), torch.arange(64) % 10
        tasks = tuple((2 * k, 2 * k + 1) for k in range(5))
        eval_s = _best(lambda: train.evaluate(net, x, y, 10, tasks, list(range(10))))
        h = torch.randn(1, 64, 4, generator=g)
        probe_s = _best(lambda: (probe.probe_accuracy(h, y, h, y, list(range(10))), probe.probe_correct(h, y, h, y)), n=1)
    finally:
        torch.set_num_threads(before)
    return Machine(step_s, elem_s, mac_per_s, eval_s, probe_s)


def _best(fn, n=5, rounds=5) -> float:
    """Seconds of one call: the best of a few rounds (a shared machine's noise only ever adds)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


# What each thread beyond the first adds when runs go side by side: Savings' default on the 2-core
# VM took 5.7 s in one cohort and 3.3 s in two threads (a 1.73x speed-up; the steps' Python is serial)
SIDE_GAIN = 0.73


def seconds(parts, macs: float, params: int, m: Machine) -> float:
    return sum((p.steps * (m.step_s + p.copies * params * p.elem_scale * m.elem_s)
                + p.evals * m.eval_s + p.probe_fits * m.probe_s + p.elems * m.elem_s
                + (3 * p.steps * p.batch * p.macs_scale + p.evaluated) * p.copies * macs / m.mac_per_s)
               / (1 + (p.side_by_side - 1) * SIDE_GAIN) for p in parts)


# ---------------------------------------------------------------- every experiment's parts

def estimate(cfg, meta, count, threads: int = 1, machine: Machine | None = None) -> Estimate:
    """The cost of `cfg` on data described by `meta` (clviz/meta.py), in seconds of this machine;
    `count(cfg, sizes, n_test, ctx)` lists its work (its experiment's, clviz/experiments/sizes.py)."""
    from .config import tasks_of
    tasks = tasks_of(cfg, meta.num_classes)
    cap = cfg.per_class or float("inf")
    counts = {c: min(n, cap) for c, n in meta.train_counts.items()}
    sizes = [int(sum(counts.get(c, 0) for c in t)) for t in tasks]
    n_test = meta.n_test if not getattr(cfg, "validation", 0) else int(sum(sizes) * cfg.validation)  # held out
    if getattr(cfg, "validation", 0):
        sizes = [int(n * (1 - cfg.validation)) for n in sizes]
    macs, params = model_size(meta.shape, meta.num_classes, tuple(cfg.hidden))
    m = machine or calibrate(threads)
    parts, worst = (count(cfg, sizes, n_test, {"tasks": tasks, "counts": counts, "params": params, "worst": w})
                    for w in (False, True))
    steps = lambda ps: sum(p.steps for p in ps if p.batch)  # (savings' criterion checks are not optimiser steps)
    return Estimate(seconds(parts, macs, params, m), steps(parts), macs, seconds(worst, macs, params, m), steps(worst))
