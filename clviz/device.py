"""Which torch device to run on, with a notice when the one asked for is not there."""
from __future__ import annotations

import copy
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")

# One config, one result: a CPU run's numbers depend on its thread count (a matmul's sums are
# split, so added in another order: Remedies' SI probe was 0.9417 at 1 thread, 0.9361 at 2), and
# the results store keys a run by its config alone. So every CPU run, in the app's workers and
# on the CLI alike, trains at this one count (experiments.run sets it). One, because it is the
# count every machine has. Its cost is real for one run alone (Fashion-MNIST's MLP at batch 128:
# 4.3 s at one thread, 2.7 s at two, bench/train_speed.py), so a machine's other cores go to
# runs side by side (SIDE_BY_SIDE: Remedies' methods, Savings' cohorts), to jobs side by side
# (jobs.default_workers), to seeds batched into one computation (--seeds), and, where one run
# trains alone, to its measurements (Aside).
THREADS = 1

# Runs side by side: an experiment that trains independent runs at once (Savings' cohorts) splits
# them over this many Python threads, each op still at THREADS (torch lets go of the GIL in its
# kernels). A run's numbers do not depend on which runs share its computation
# (tests/test_savings_batched.py), so this moves the time, not the result: Savings' default on the
# 2-core VM took 3.3 s, not 5.7. Two: what a laptop has; more cores go to jobs side by side
# (the app's server sets its own and its workers' from its number of workers: jobs.side_by_side).
SIDE_BY_SIDE = min(2, os.cpu_count() or 1)


def threads_on(device_type: str) -> int:
    """Runs side by side on a device: SIDE_BY_SIDE on a CPU, else one (a GPU queues the kernels of
    one thread already, and MPS does not take ops from two threads at once)."""
    return SIDE_BY_SIDE if device_type == "cpu" else 1


# Runs now training side by side in this process (side_by_side's threads): an Aside counts them.
_running = 0
_lock = threading.Lock()


def side_by_side(work, items, k: int, halt: threading.Event | None = None) -> list:
    """`work(item, halt)` for each item, `k` at a time, each in a thread of its own; the results in
    order. After an error `halt` is set (a fresh Event unless given): no item starts, one running
    may watch it to stop early, and the error is raised once those running have ended."""
    global _running
    halt = halt or threading.Event()

    def one(item):
        if halt.is_set():
            return None
        try:
            return work(item, halt)
        except BaseException:
            halt.set()
            raise
    if k <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    width = min(k, len(items))
    with _lock:  # for the whole call: a run starting between two items still sees its neighbours
        _running += width
    pool = ThreadPoolExecutor(k, thread_name_prefix="clviz-side")
    try:
        return list(pool.map(one, items))
    finally:
        pool.shutdown(cancel_futures=True)  # (those not started)
        with _lock:
            _running -= width


class Aside:
    """Work beside a run, done in the order given: in a thread of its own where the runs leave a
    core free (one CPU run at THREADS, one, where this process may use two), at once otherwise
    (a GPU queues its kernels already; a CPU whose cores the runs' ops all use would only share
    them: 2 torch threads plus one aside ran 1.3x slower than one after the other, and two
    Remedies methods side by side, each with an aside, 1.2x slower). What it is given must not
    change behind it: `copy(model)` is the model as it is now, a copy where the work runs aside
    (an MLP's: 0.3 ms). At most `depth` wait; the next `post` then waits for the oldest, so a
    lagging aside slows the run, never piles up copies. Its work's error is raised in the run's thread, at the first `post` after it or at the
    end of the `with` block, and nothing posted behind it runs (no event goes out); an error in
    the run's thread drops the work not started."""

    def __init__(self, device_type: str, depth: int = 3, on: bool = True):
        # its ops at the run's thread count from the first (a new thread takes torch's count only
        # at its first parallel op; MKL's first matmul there used every core)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="clviz-aside", initializer=torch.set_num_threads,
                                       initargs=(torch.get_num_threads(),)) if on and self.free(device_type) else None
        self.depth, self.pending, self.failed = depth, deque(), False

    @staticmethod
    def free(device_type: str) -> bool:
        """Do the runs training now leave a core free? Of the SIDE_BY_SIDE this process may use
        (one where the app's server shares the machine between several workers)."""
        return device_type == "cpu" and torch.get_num_threads() * max(1, _running) < SIDE_BY_SIDE

    def copy(self, model):
        return model if self.pool is None else copy.deepcopy(model)

    def post(self, fn, *args):
        if self.pool is None:
            return fn(*args)
        while self.pending and (self.pending[0].done() or len(self.pending) >= self.depth):
            self.pending.popleft().result()  # (raises a failed one's error)
        self.pending.append(self.pool.submit(self._guarded, fn, args))

    def _guarded(self, fn, args):  # after a failure, what was posted behind it does nothing (no event goes out)
        if self.failed:
            return
        try:
            fn(*args)
        except BaseException:
            self.failed = True
            raise

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if self.pool is None:
            return
        try:
            while kind is None and self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(cancel_futures=True)


def available() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def resolve(name: str = "auto") -> tuple[str, str | None]:
    """(device, notice): 'auto' picks the best one; an absent one falls back to CPU with a notice."""
    if name not in DEVICES:
        raise ValueError(f"Unknown device '{name}'. Choose one of: {', '.join(DEVICES)}.")
    have = available()
    if name == "auto":
        return have[-1] if len(have) > 1 else "cpu", None
    if name in have:
        return name, None
    return "cpu", f"Device '{name}' is not available on this machine; running on the CPU instead."


def describe() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return "cpu" + (" (mps available)" if "mps" in available() else f", {torch.get_num_threads()} threads")
