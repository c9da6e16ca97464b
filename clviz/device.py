"""Which torch device to run on, with a notice when the one asked for is not there."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")

# One config, one result: a CPU run's numbers depend on its thread count (a matmul's sums are
# split, so added in another order: Remedies' SI probe was 0.9417 at 1 thread, 0.9361 at 2), and
# the results store keys a run by its config alone. So every CPU run, in the app's workers and
# on the CLI alike, trains at this one count (experiments.run sets it). One, because it is the
# count every machine has, and it costs little here: the models are small MLPs, whose steps
# gain little from a second thread, and a machine's cores go to jobs running side by side
# (jobs.default_workers) and to seeds batched into one computation (--seeds).
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


def side_by_side(work, items, k: int, halt: threading.Event | None = None) -> list:
    """`work(item, halt)` for each item, `k` at a time, each in a thread of its own; the results in
    order. After an error `halt` is set (a fresh Event unless given): no item starts, one running
    may watch it to stop early, and the error is raised once those running have ended."""
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
    pool = ThreadPoolExecutor(k, thread_name_prefix="clviz-side")
    try:
        return list(pool.map(one, items))
    finally:
        pool.shutdown(cancel_futures=True)  # (those not started)


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
