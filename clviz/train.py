"""The one training loop (`train_task`) and the class-incremental driver around it. (Savings
trains its many runs to a criterion side by side instead: clviz/experiments/cohort.py.)

`run_sequential` trains the tasks in order and reports what happens through events:
    {"event": "task_start", "task": k, "classes": [...]}
    {"event": "epoch_end",  "task": k, "epoch": e, "loss": ..., "acc_tasks": [...], "acc_seen": ..., ...}
    {"event": "task_end",   "task": k, ..., "grad_norms": {layer: sum of norms}, plus `extra(model, k, test)`}
    {"event": "done"}
The UI turns them into live charts, the CLI into a progress bar. A run is stopped by ending its
worker process (clviz/jobs.py). `extra` measures more after each task, from the model and its
test pass `test` = (logits, latent), always with the copies axis first ((copies, samples, ...),
one copy of a plain Net), and returns a record per copy (a list), or one record (a dict) that
all copies share. The number of copies is the model's `n_copies`: never guessed from a shape.
"""
from __future__ import annotations

import math
import warnings

import torch

from . import metrics
from .data import batches
from .device import Aside

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adadelta")
STATELESS = ("sgd",)  # optimizers with no state (plain SGD): resetting it at a task boundary changes nothing
# On CUDA the optimizers are made capturable (for the CUDA graph of a step); torch warns when such
# an optimizer steps outside a graph, which the warm-up before a capture does on purpose.
warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")


class TrainingError(RuntimeError):
    """A run that cannot go on (diverged, out of memory); the message says what to change."""


def make_optimizer(name: str, params, lr: float):
    """The optimizer with its fused kernel where it has one (one pass over all parameters a step:
    Adam 1.17 vs 1.50 ms a step on CPU); on CUDA also capturable, so that its step can be captured
    in a CUDA graph (`Stepper`): its step counter then lives on the device."""
    params = list(params)
    cls, kw = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
               "adam": (torch.optim.Adam, {}), "rmsprop": (torch.optim.RMSprop, {}),
               "adadelta": (torch.optim.Adadelta, {})}.get(name, (None, None))
    if cls is None:
        raise ValueError(f"Unknown optimizer '{name}'. Choose one of: {', '.join(OPTIMIZERS)}.")
    cuda = bool(params) and params[0].is_cuda
    # SGD has no step counter and no `capturable` (its fused step captures as it is); RMSprop and
    # Adadelta have no fused kernel
    tries = [{"fused": True, "capturable": True}, {"capturable": True}] if cuda else []
    for extra in tries + [{"fused": True}]:
        try:
            return cls(params, lr=lr, **kw, **extra)
        except (RuntimeError, TypeError, ValueError):  # not for this optimizer or device
            pass
    return cls(params, lr=lr, **kw)


class EagerFallback(UserWarning):
    """A training step could not be captured as a CUDA graph and runs eagerly (the run's notice)."""


class Stepper:
    """One optimiser step on a batch: loss, backward, `on_step()` (gradients in p.grad), update.
    `step(xb, yb)` returns the batch's loss as a device tensor (no sync), valid until the next step.

    With `graph=True` (a CUDA device) the step is captured once as a CUDA graph and replayed for
    every batch, copied into the graph's static input buffers: at batch 32 a GPU otherwise waits
    on the launches of the step's ~35 small kernels (an H200: 1.09 ms a step eager, 0.235 ms
    replayed; ../shared/gpu/floor.py). `loss_fn` and `on_step` must then be pure device work:
    no `.item()`, no Python branch on a tensor's value. A step that cannot be captured runs
    eagerly with a one-line `EagerFallback` warning, which the run reports as its notice.
    """

    def __init__(self, model, opt, loss_fn, on_step=None, graph=False):
        self.model, self.opt, self.loss_fn, self.on_step = model, opt, loss_fn, on_step
        self.asked = self.want_graph = graph
        self.graph = None

    def eager(self, xb, yb):
        loss, _, _ = self.loss_fn(self.model, xb, yb)
        # after a capture the gradients live in the graph's memory: zeroed there, not dropped
        self.opt.zero_grad(set_to_none=self.graph is None)
        loss.backward()
        if self.on_step is not None:
            self.on_step()
        self.opt.step()
        return loss.detach()

    def __call__(self, xb, yb):
        if self.want_graph:
            self.want_graph = False  # one try
            try:
                self._capture(xb, yb)
            except Exception as e:  # noqa: BLE001 - whatever stops a capture, the eager step still trains
                self.graph = None
                reason = (str(e).strip().splitlines() or [""])[0][:160]
                warnings.warn(f"The training step could not be captured as a CUDA graph ({type(e).__name__}: "
                              f"{reason}); it runs eagerly, which is slower on a GPU.", EagerFallback, stacklevel=2)
        if self.graph is None or xb.shape != self.x.shape:  # (a short last batch: eagerly)
            return self.eager(xb, yb)
        self.x.copy_(xb)
        self.y.copy_(yb)
        self.graph.replay()
        return self.loss

    def _capture(self, xb, yb):
        """Warm up on a side stream (the optimizer's lazy state, cuBLAS's handles), capture, and
        put back what the warm-up changed: the run trains as if every step were eager."""
        model, opt = self.model, self.opt
        before = Snapshot(model, opt)
        self.x, self.y = xb.clone(), yb.clone()
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    loss, _, _ = self.loss_fn(model, self.x, self.y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            torch.cuda.current_stream().wait_stream(side)
            # no gradients at capture: the graph's backward allocates them in its pool and writes
            # (not adds) them at every replay, so the graph needs no zeroing
            opt.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):  # recorded, not run: only the warm-up changed anything
                loss, _, _ = self.loss_fn(model, self.x, self.y)
                loss.backward()
                if self.on_step is not None:
                    self.on_step()
                opt.step()
                self.loss = loss.detach()
            self.graph = graph
        finally:
            before.restore()


class Snapshot:
    """A model's weights and buffers and its optimizer's state, to put back in place (the tensors a
    captured graph holds stay the same objects). A state made after the snapshot is zeroed: each
    of the five optimizers starts its own from zero (moments, step counters; SGD's momentum buffer
    is the first gradient, and 0.9 * 0 + g = g)."""

    def __init__(self, model, opt):
        self.model, self.opt, self.params = model, opt, list(model.parameters())
        self.weights = [t.detach().clone() for t in self.params + list(model.buffers())]
        self.state = {(i, k): v.clone() for i, p in enumerate(self.params)
                      for k, v in opt.state.get(p, {}).items() if torch.is_tensor(v)}

    @torch.no_grad()
    def keep(self, now):
        """Take the current state where the device flag `now` is set, keep the snapshot where it is
        not: a lerp of weight 1 or 0 (exact, with no read)."""
        pairs = list(zip(self._kept(), self._live()))
        fused = [(k, t) for k, t in pairs if k.dtype == torch.float32 and k.device == now.device]
        if fused:  # (weights as a list of 0-dim tensors: the one-weight overload reads its weight back)
            torch._foreach_lerp_([k for k, _ in fused], [t for _, t in fused], [now.float()] * len(fused))
        for k, t in pairs:  # the odd one: a counter (an integer), a step count kept on the CPU
            if not (k.dtype == torch.float32 and k.device == now.device):
                k.copy_(torch.where(now.to(k.device), t, k))

    def _kept(self):
        return self.weights + list(self.state.values())

    def _live(self):  # the model's and optimizer's tensors behind `_kept()`, in its order
        return self.params + list(self.model.buffers()) + [
            v for i, p in enumerate(self.params) for k, v in self.opt.state.get(p, {}).items() if (i, k) in self.state]

    @torch.no_grad()
    def restore(self):
        for t, w in zip(self._live(), self._kept()):
            t.copy_(w)
        for i, p in enumerate(self.params):  # a state made after the snapshot starts from zero
            for k, v in self.opt.state.get(p, {}).items():
                if torch.is_tensor(v) and (i, k) not in self.state:
                    v.zero_()


def stepper(model, opt, loss_fn, on_step=None, graph=False) -> Stepper:
    """The Stepper of (model, opt, loss_fn, on_step), kept on the optimizer: a run that trains task
    after task with one optimizer captures its step once, not once a task."""
    s = getattr(opt, "_clviz_stepper", None)
    if s is None or s.asked != graph or not (s.model is model and s.loss_fn is loss_fn and s.on_step is on_step):
        s = opt._clviz_stepper = Stepper(model, opt, loss_fn, on_step, graph)
    return s


def order(n, gen, sizes=None):
    """A random order of n samples; one per copy when `gen` is a list (one generator per copy).
    With `sizes` (each copy's own data, of sizes[i] >= n samples): per copy, a fresh random n of its own."""
    if sizes is not None:
        return torch.stack([torch.randperm(s, generator=g)[:n] for g, s in zip(gen, sizes)])
    if isinstance(gen, list):
        return torch.stack([torch.randperm(n, generator=g) for g in gen])
    return torch.randperm(n, generator=gen)


def generators(seed, copies=0):
    """The data-order generator of a run: copy i of a batched run orders data as a run with seed+i."""
    if copies:
        return [torch.Generator().manual_seed(seed + i) for i in range(copies)]
    return torch.Generator().manual_seed(seed)


# Steps between reads of a stopping test (`train_task(until=...)`), per device type: on a GPU a
# read waits until the queue of launched work has run dry, so a check read at every step stalls
# the replayed CUDA graphs; a CPU computes as it goes, and there a read costs nothing.
READ_EVERY = {"cuda": 25}


def train_task(model, opt, x, y, loss_fn, *, batch_size, gen, epochs=1, max_steps=None,
               until=None, check_every=10, on_step=None, on_epoch=None, after_step=None, graph=None, parts=None):
    """Train on (x, y) for `epochs`, or until `until(model, steps)` holds or `max_steps` is reached.
    Returns the number of optimiser steps taken.

    `parts` (a list of index tensors into x, one per copy of a BatchedNet) gives each copy its own
    data (the probe's control networks, clviz/experiments/depth.py, each trained on its own
    tasks): each epoch then draws for every copy a fresh random set of its own samples, as many as
    the smallest part holds, so that all copies take the same number of steps.

    Each epoch takes the data in a `randperm` order in batches (`data.batches`); the last
    incomplete batch is dropped (BatchNorm cannot train on a single sample).
    `on_step()` runs after each backward pass, `after_step(steps)` after each update. `graph`: capture the step as a CUDA graph
    (`Stepper`); by default on CUDA when there is no `on_step`, which may do host work.
    The stopping test runs every step for the first 100 (exact counts for quick learners), then
    every `check_every` steps; it may answer with a device tensor, read every READ_EVERY steps
    (`Stop`): the run ends as if every check had been read (but for `on_epoch`, which may have
    seen an epoch that ended after the stop, before the read).
    """
    sizes = [len(p) for p in parts] if parts is not None else None
    if parts is not None:  # padded to one (copies, largest part) tensor; the padding is never drawn
        parts = torch.nn.utils.rnn.pad_sequence(parts, batch_first=True)
    n, steps, epoch = min(sizes) if sizes else len(x), 0, 0
    nb = max(1, n // batch_size)
    step = stepper(model, opt, loss_fn, on_step, graph=x.is_cuda and on_step is None if graph is None else graph)
    stop = Stop(model, opt, gen, nb, READ_EVERY.get(x.device.type, 1)) if until is not None else None
    model.train()
    while epochs is None or epoch < epochs:
        if stop is not None:
            stop.epoch_start()
        idx = order(n, gen, sizes).to(x.device)
        if parts is not None:  # positions in each copy's own part -> samples of x, (copies, n)
            idx = parts.gather(1, idx)
        loss_sum = torch.zeros((), device=x.device)
        for xb, yb in batches(x, y, idx, batch_size, nb, model.batched):
            loss_sum += step(xb, yb)
            steps += 1
            if after_step is not None:
                after_step(steps)
            last = max_steps is not None and steps >= max_steps
            if stop is not None:
                if steps <= 100 or steps % check_every == 0:
                    stop.check(until(model, steps), steps)
                if (last or steps % stop.every == 0) and stop.reached():
                    return stop.rewind()
            if last:
                return steps
        epoch += 1
        mean_loss = loss_sum.item() / nb  # one sync per epoch
        if not math.isfinite(mean_loss):
            raise TrainingError(f"Training diverged (loss is {mean_loss}): lower the learning rate.")
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
    return stop.rewind() if stop is not None and stop.reached() else steps


class Stop:
    """A stopping test's first passing check, kept on the device between reads, with what it takes
    to go back to it: the model's and optimizer's state at that check (kept in place by a masked
    copy at every check, no read) and the data-order generator's state at each epoch's start.
    A read that finds a passed check puts them back, so the run goes on exactly as if it had
    stopped there (tests/test_train.py: the same steps, weights, optimizer and data order)."""

    def __init__(self, model, opt, gen, batches_per_epoch, every):
        self.model, self.opt, self.nb, self.every = model, opt, batches_per_epoch, every
        self.gens = gen if isinstance(gen, list) else [gen]
        self.starts = []   # per epoch: the generators' states before its order was drawn
        self.hit = None    # on the device: the step of the first passing check, or -1
        self.saved = None  # the state at that check (a Snapshot), where reads are not at every step

    def epoch_start(self):
        if self.every > 1:
            self.starts.append([g.get_state() for g in self.gens])

    def check(self, passed, step):
        passed = torch.as_tensor(passed, device=next(self.model.parameters()).device)
        if self.hit is None:
            self.hit = torch.full_like(passed, -1, dtype=torch.long)
            self.saved = Snapshot(self.model, self.opt) if self.every > 1 else None
        first = passed & (self.hit < 0)
        self.hit = torch.where(first, step, self.hit)
        if self.saved is not None:
            self.saved.keep(first)

    def reached(self) -> bool:
        return self.hit is not None and bool(self.hit >= 0)  # the read

    def rewind(self) -> int:
        """Back to the first passing check; its step."""
        hit = int(self.hit)
        if self.saved is not None:
            self.saved.restore()
            epoch = (hit - 1) // self.nb  # the epoch it passed in: the orders of later ones were not drawn
            if epoch + 1 < len(self.starts):
                for g, state in zip(self.gens, self.starts[epoch + 1]):
                    g.set_state(state)
        return hit


EPOCH_EVAL_N = 2000  # test samples behind each live (per-epoch) point (Config.live_eval_n); per-task figures use all


class Hooks:
    """Where a run can be changed, and plain fine-tuning as the default: run_sequential calls these.
    The remedies (clviz/remedies/) override them."""

    # `loss` and `after_backward` are pure device work (no host reads, no Python branch on a
    # value), so the training step with them can be captured as a CUDA graph (Stepper)
    capturable = True

    def before_task(self, model, k, x, y):
        """The data task k trains on (x, y: the task's own)."""
        return x, y

    def loss(self, model, x, y, base):
        """The loss of a batch; `base(model, x, y) -> (loss, logits, latent)` is the run's loss."""
        return base(model, x, y)

    def after_backward(self):
        """After each backward pass, before the optimiser step (p.grad holds this step's gradient)."""

    def after_task(self, model, k, x, y):
        """After training task k, before it is evaluated."""

    def forward(self, model, x):
        """Logits and latent features for evaluation, (copies, samples, ...) (metrics.forward_copies)."""
        return metrics.forward_copies(model, x)


def evaluate(model, x, y, num_classes, tasks, seen, forward=metrics.forward_copies):
    """Test metrics of each copy of a model, a list: accuracy per task, on the seen and on all
    classes, loss on the seen classes, and the latent layer's sparsity, from one forward pass
    of all copies over (x, y)."""
    return summarise(*forward(model, x), y, num_classes, tasks, seen)


def summarise(z, h, y, num_classes, tasks, seen):
    """`evaluate` from the (copies, samples, ...) logits and latent features of a pass already made."""
    stats, sparse = metrics.ClassStats.per_copy(z, y, num_classes), metrics.sparsity(h)
    return [{"acc_tasks": [st.acc(t) for t in tasks], "acc_seen": st.acc(seen), "acc_all": st.acc(range(num_classes)),
             "val_loss": st.loss_on(seen), "sparsity": sp} for st, sp in zip(stats, sparse)]


def live_subset(data, n=EPOCH_EVAL_N):
    """The fixed test samples behind the live curves (sorted indices, on the device): a full pass
    per epoch would cost a third of the training itself on Split MNIST."""
    live = torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(0))[:n]
    return live.sort().values.to(data.device)


def run_sequential(model, data, tasks, loss_fn, *, optimizer="adam", lr=1e-3, epochs=1, batch_size=128,
                   reset_optimizer=False, seed=0, on_event=None, extra=None, grad_norms=True,
                   live_eval_n=EPOCH_EVAL_N, method=None, watch=None):
    """Class-incremental training over `tasks`. Returns the history:
    matrix[i][j] (accuracy on task j after task i), curve (one row per epoch), per-task records.

    `model` may be a BatchedNet of N copies: it trains as one, and every metric is measured on
    each copy and reported as the mean over copies with the spread under `<name>_std`.
    `method` (`Hooks`, e.g. a clviz.remedies.Method; None: plain fine-tuning) changes the run at
    its hooks: the data of a task, the loss of a batch, a hook after each backward pass, one after
    each task (before it is evaluated), and the forward pass that evaluation uses.
    `watch` (a clviz.lenses.Watch) sees the live test pass, `watch(model, k, step, logits)`, at
    every epoch's end, and every `watch.every` steps for the first `watch.first` steps of each
    task after the first (the stability gap; `step` counts the run's optimiser steps).
    """
    method = method or Hooks()
    emit = on_event or (lambda ev: None)
    copies = model.n_copies
    gen = generators(seed, copies if model.batched else 0)
    base_loss = loss_fn
    loss_fn = lambda m, x, y: method.loss(m, x, y, base_loss)  # noqa: E731
    opt = make_optimizer(optimizer, model.parameters(), lr)
    acc = metrics.GradAccumulator(model) if grad_norms else None

    def on_step():  # one function for the whole run: the step (and its CUDA graph) is made once
        if acc is not None:
            acc.step()
        method.after_backward()
    graph = data.x_train.is_cuda and method.capturable
    hist = {"matrix": [], "curve": [], "tasks": []}
    seeds = [[] for _ in range(copies)]  # each copy's per-task records, for its own lenses
    live = live_subset(data, live_eval_n)
    x_live, y_live = data.x_test[live], data.y_test[live]

    # What is measured, from a model `m` as it was at that moment: on a CPU aside, beside the
    # training (device.Aside), in order, with the same numbers (tests/test_train.py). A method
    # whose forward reads its own state, which its after_task changes, measures in the run's thread.
    def measure_epoch(m, k, seen, e, loss, step):  # all copies of a BatchedNet in one pass: a record per copy
        z, h = method.forward(m, x_live)
        recs = summarise(z, h, y_live, data.num_classes, tasks, seen)
        if watch is not None:
            watch(m, k, step, z)
        row = {"task": k, "epoch": e, "step": len(hist["curve"]) + 1, "loss": loss / copies, **metrics.mean_std(recs)}
        row.pop("val_loss", None), row.pop("val_loss_std", None)
        hist["curve"].append(row)
        emit({"event": "epoch_end", **row})

    def measure_step(m, k, step):  # the stability gap: the first steps on a new task, seen closely
        watch(m, k, step, method.forward(m, x_live)[0])

    def measure_task(m, k, classes, seen, grads):
        test = method.forward(m, data.x_test)  # one pass of all copies serves the metrics and `extra`
        recs = summarise(*test, data.y_test, data.num_classes, tasks, seen)
        if extra is not None:
            ex = extra(m, k, test)
            recs = [{**r, **e} for r, e in zip(recs, ex if isinstance(ex, list) else [ex] * len(recs))]
        for own, r in zip(seeds, recs):
            own.append(r)
        rec = {"task": k, "classes": list(classes), "grad_norms": grads, **metrics.mean_std(recs)}
        hist["matrix"].append(rec["acc_tasks"])
        hist["tasks"].append(rec)
        emit({"event": "task_end", **rec})

    it = 0  # optimiser steps so far, over all tasks
    with Aside(data.x_train.device.type, on=type(method).forward is Hooks.forward) as aside:
        for k, classes in enumerate(tasks):
            if reset_optimizer and k > 0:
                opt = make_optimizer(optimizer, model.parameters(), lr)
            aside.post(emit, {"event": "task_start", "task": k, "classes": list(classes)})
            x, y = method.before_task(model, k, *data.subset(classes))
            seen = [c for t in tasks[:k + 1] for c in t]
            nb = max(1, len(x) // batch_size)  # steps per epoch (train_task drops the short last batch)

            def on_epoch(e, loss):
                aside.post(measure_epoch, aside.copy(model), k, seen, e, loss, it + e * nb)

            def after_step(s):
                if k > 0 and s <= watch.first and s % watch.every == 0:
                    aside.post(measure_step, aside.copy(model), k, it + s)

            if acc is not None:
                acc.reset()
            it += train_task(model, opt, x, y, loss_fn, batch_size=batch_size, gen=gen, epochs=epochs, on_step=on_step,
                             on_epoch=on_epoch, after_step=after_step if watch is not None and watch.every else None,
                             graph=graph)
            method.after_task(model, k, x, y)
            aside.post(measure_task, aside.copy(model), k, classes, seen, acc.read() if acc is not None else {})
    hist["forgetting"] = metrics.forgetting(hist["matrix"])
    hist["per_seed"] = [metrics.lenses(own) for own in seeds]
    emit({"event": "done"})
    return hist
