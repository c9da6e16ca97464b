"""Runs trained to a criterion side by side, as one batched computation, each exactly as alone.

Savings trains 5 seeds x 5 optimizers x {state kept, reset} to a criterion, phase after phase;
one by one, most of the time went to the small steps' overhead and to the criterion checks (a
forward pass over a task's training data after nearly every step). Here a phase trains all its
runs at once (`ensemble.Stacked`): each run keeps its own plain Net, optimizer and data-order
generator, and leaves the stack at its own stopping step, so nothing of it moves after that.
A run's arithmetic does not depend on who else is in the stack (batched matmuls compute each
copy on its own; each optimizer steps its own tensors), so a run in a cohort equals the same
run alone (a cohort of one) bit for bit: tests/test_savings_batched.py.

The check only decides "criterion reached or not", so it reads the training samples in growing
chunks and drops a run as soon as its count of right answers decides it either way (a run at 50%
needs a few dozen samples to fail a 0.97 criterion), its last check's wrong samples first; a run
whose accuracy is traced is read whole. The decision is the count against the least count that
passes (`passing_count`), where the mean of the 0/1 answers, compared as before, first reaches
the criterion: the same decision as a whole read, in any order.

The runs of a phase are dealt over device.SIDE_BY_SIDE such cohorts, each in its own Python
thread (torch lets go of the GIL in its kernels): two cores, where one cohort used one.

This loop is the savings experiment's; `train.train_task` stays the loop of every other run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from .. import device as dev
from ..ensemble import Stacked
from ..models import Net
from ..train import TrainingError

FIRST_CHUNK = 64  # samples of the first check chunk at least; each next chunk doubles (few chunks, early exits)
SLACK = 1.3  # ... and at least this many times the wrong answers that fail a run (runs near the criterion)


@dataclass(eq=False)
class Run:
    net: Net
    opt: torch.optim.Optimizer
    gen: torch.Generator  # its data order, drawn once per epoch as a run alone draws it
    name: str = ""        # its setting, for progress events
    trace: list | None = None  # with a list: [step, accuracy] of every check from step 0 (convergence chart)
    on_step: Callable | None = None  # after its backward pass, before its update (the drift hook)
    steps: int = field(default=0)  # the step its last phase stopped at
    trace_acc: torch.Tensor | None = None  # its accuracy at the last check (traced runs)
    order: torch.Tensor | None = None  # the order its next check reads the check samples in

    def __post_init__(self):
        self.params = list(self.net.parameters())  # (the net's tensors stay the same objects)


def stack(runs: list[Run]) -> Stacked:
    return Stacked([r.net for r in runs], [r.params for r in runs])


def passing_count(n: int, criterion: float) -> int:
    """The least number of right answers out of n whose accuracy, as a run alone computes it (the
    float32 mean of the 0/1 answers, compared in float64), reaches `criterion`; n + 1 if none."""
    def passes(c):
        return bool((torch.arange(n) < c).float().mean().double() >= criterion)
    lo, hi = 0, n + 1  # passes(hi) is taken as true: the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if mid <= n and passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def accuracy(right: int, n: int) -> torch.Tensor:
    """The float32 mean of n answers of which `right` are right, as a run alone computes it (a sum
    of 0/1 values is exact in any order)."""
    return (torch.arange(n) < right).float().mean()


@torch.no_grad()
def check(runs: list[Run], x, y, need: int) -> list[bool]:
    """Has each run reached `need` right answers on (x, y)? Each run reads the samples in its own
    order, those it got wrong at its last check first (between two steps the wrong ones change
    little, so a run far from the criterion fails after a few hundred samples), in growing chunks,
    until its count decides it. Traced runs read all and get their accuracy (`trace_acc`)."""
    n, out = len(y), [None] * len(runs)
    orders = torch.stack([r.order for r in runs])  # (runs, n), on x's device
    key = torch.full(orders.shape, 2, dtype=torch.uint8, device=x.device)  # 0 wrong, 1 right, 2 unread
    open_, right = list(range(len(runs))), torch.zeros(len(runs), dtype=torch.long)
    start, size = 0, max(FIRST_CHUNK, int(SLACK * (n - need + 1)))  # fewer reads could not fail a run
    while open_ and start < n:
        stop = min(n, start + size)
        idx = orders[open_, start:stop]
        # per copy input: baddbmm computes each copy alone, whatever else the stack holds
        ok = stack([runs[i] for i in open_])(x[idx]).argmax(-1) == y[idx]
        key[open_, start:stop] = ok.to(torch.uint8)
        right[open_] += ok.sum(1).cpu()
        start, size = stop, 2 * size
        for i in list(open_):
            if runs[i].trace is None and (right[i] >= need or start - right[i] > n - need):
                out[i] = bool(right[i] >= need)
                open_.remove(i)
    for i in open_:
        out[i] = bool(right[i] >= need)
    # next order: wrong first, then right, then unread, each as it was (a stable sort of the keys)
    new = orders.gather(1, torch.sort(key, dim=1, stable=True).indices)
    for i, r in enumerate(runs):
        r.order = new[i]
        if r.trace is not None:
            r.trace_acc = accuracy(int(right[i]), n)
    return out


def to_criterion(runs: list[Run], x, y, loss_fn, criterion, *, side_by_side=1, on_stop=None, **kw):
    """Train each run to its criterion (`_to_criterion`), the runs dealt round-robin over
    `side_by_side` cohorts, each in a thread of its own (device.side_by_side, where the device
    takes them: device.threads_on): a run's arithmetic does not depend on its cohort, so only the
    time changes. An error in one cohort stops the others at their next step, then is raised.
    `on_stop` may be called from two cohorts at once (Savings': the Reporter's emitter, which
    takes one event at a time)."""
    k = min(side_by_side, dev.threads_on(x.device.type))
    parts = [runs[i::k] for i in range(min(k, len(runs)))]
    dev.side_by_side(lambda part, halt: _to_criterion(part, x, y, loss_fn, criterion, on_stop=on_stop, halt=halt, **kw),
                     parts, len(parts))


def _to_criterion(runs: list[Run], x, y, loss_fn, criterion, *, batch_size, max_steps, check_n, check_every,
                  on_stop=None, halt=None):
    """Train each run on (x, y) until its accuracy on the first `check_n` samples reaches
    `criterion`, or `max_steps`; each run's step count in `run.steps`. As `train.train_task` does
    for one run: a fresh order of the samples per epoch (the short last batch dropped), a check
    after each of the first 100 steps and then every `check_every` steps. `on_stop(run)` when a
    run stops. A loss that is not finite at an epoch's end stops the whole cohort (TrainingError),
    where it would stop only its own run alone: the runs share no weights, but one call. `halt`
    (an Event): set by another cohort's error, this one returns at its next step."""
    n = len(x)
    nb = max(1, n // batch_size)
    xc, yc = x[:check_n], y[:check_n]
    need = passing_count(len(yc), criterion)
    traced = [r for r in runs if r.trace is not None]
    for r in runs:
        r.order = torch.arange(len(yc), device=x.device)

    def record(rs, step):
        for r in rs:
            r.trace.append([step, round(r.trace_acc.item(), 4)])
    if traced:
        check(traced, xc, yc, need)
        record(traced, 0)
    active, rows, step = list(runs), [], 0

    def stop(r, s):
        j = active.index(r)
        active.pop(j), rows.pop(j)
        r.steps = s
        if on_stop is not None:
            on_stop(r)
    for r in runs:
        r.net.train()
    while active:
        # the epoch's orders only: each step gathers its batches (an epoch of MNIST gathered for 75
        # runs at once would take 2.8 GB)
        orders = torch.stack([torch.randperm(n, generator=r.gen) for r in active]).to(x.device)
        rows[:] = range(len(active))  # each active run's row of this epoch's orders
        loss_sum = torch.zeros((), device=x.device)
        for i in range(nb):
            if halt is not None and halt.is_set():
                return
            sel = slice(None) if len(rows) == len(orders) else torch.tensor(rows, device=x.device)
            idx = orders[sel, i * batch_size:(i + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            loss, _, _ = loss_fn(stack(active), xb, yb)
            for r in active:
                for p in r.params:
                    p.grad = None  # (zero_grad(set_to_none=True), without its per-call overhead)
            loss.backward()
            for r in active:
                if r.on_step is not None:
                    r.on_step()
                r.opt.step()
            loss_sum += loss.detach()
            step += 1
            if step <= 100 or step % check_every == 0:
                passed = check(active, xc, yc, need)
                record([r for r in active if r.trace is not None], step)
                for r, p in zip(list(active), passed):
                    if p:
                        stop(r, step)
            if step >= max_steps:
                for r in list(active):
                    stop(r, step)
            if not active:
                return
        if not math.isfinite(loss_sum.item()):
            raise TrainingError(f"Training diverged (loss is {loss_sum.item()}): lower the learning rate.")

