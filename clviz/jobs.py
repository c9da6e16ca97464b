"""Training jobs in worker processes, a bounded FIFO queue, events streamed back. No Streamlit.

Why processes: with jobs as threads of the Streamlit server, 8 browsers pressing Train at once
on a 2-core machine made a ninth wait 22-26 s for a page to draw (the training threads held the
GIL of the process that runs every page script), and one job's `torch.set_num_threads` changed
the whole server's. Here each job runs `experiments.run` in its own process, forked from a
forkserver that has imported torch and the engine once (a job starts in tens of milliseconds,
not the seconds of a fresh interpreter); it sets its own thread count and sends its events
back over a pipe, which a reader thread in the server turns into the job's state.

The queue runs at most `workers` jobs at once and keeps the rest in FIFO order; the same config
submitted from any session joins the job already queued or running; one owner (a browser
session) holds at most `max_per_owner` unfinished jobs. Cancel kills the worker. A worker that
dies (kill -9, out of memory) leaves its job failed with a message, and the next submit of the
same config starts it afresh; the store's atomic writes mean it never leaves half a result.
"""
from __future__ import annotations

import collections
import multiprocessing as mp
import os
import threading
import time
import traceback
from pathlib import Path

import torch

from . import data as D
from . import device as dev
from . import cost, experiments, plugin, store
from .config import to_dict
from .device import THREADS
from .train import TrainingError

ACTIVE = ("queued", "running")
CALIBRATE_WAIT_S = 60  # a warm-up's start of the forkserver and its measurement, at most (seconds)
KEEP_FINISHED = 200  # finished jobs remembered for the pages that show them; older ones are dropped
ENV_TO_WORKER = ("CLVIZ_OFFLINE", "CLVIZ_DATA_DIR", "CLVIZ_CACHE_MB", "CLVIZ_PLUGINS")


class QueueFull(RuntimeError):
    """A submit refused: the owner has enough jobs waiting, or the queue is full. Says what to do."""


class TooLarge(QueueFull):
    """A submit refused before it runs: its estimated cost is over the server's cap (clviz/cost.py)."""


def default_workers(device: str, cores: int | None = None) -> tuple[int, int]:
    """(jobs at once, threads per job). On a CPU one core stays with the server and the browsers,
    which redraw the live charts (on 2 cores: the probe on Fashion-MNIST took 42.8 s in the app
    with 2 threads, 36.5 s with 1); every CPU job runs at device.THREADS (one config, one
    result), so the other cores go to more jobs, at most 4 (each holds its dataset: CIFAR-100
    is 1.2 GB). On a GPU two jobs keep it busy while each one's host side waits."""
    cores = cores or os.cpu_count() or 2
    if device != "cpu":
        return 2, max(1, min(4, (cores - 1) // 2))
    return max(1, min(4, cores - 1)), THREADS


def side_by_side(workers: int) -> int:
    """Threads for a CPU job's runs side by side (device.SIDE_BY_SIDE): with one worker its job
    may borrow the server's core (the worker runs nicer, so the server still wins it); with
    several, each job has a core of its own and no more."""
    return dev.SIDE_BY_SIDE if workers == 1 else 1


class Job:
    """One config's run, as the server sees it: status, progress, the events so far, the result."""

    def __init__(self, key, cfg, device, owner):
        self.key, self.cfg, self.device, self.owner = key, cfg, device, owner
        self.status = "queued"                  # queued | running | done | error | cancelled
        self.rows, self.events = [], []         # epoch_end events; task_end and tick events
        self.progress, self.stage = 0.0, None    # (sub-run, task) of the latest event
        self.result = self.error = None
        self.submitted, self.started, self.first_update = time.perf_counter(), None, None
        self.proc = self.cancelled = None
        self.lock = threading.Lock()

    def _on_event(self, ev):
        with self.lock:
            self.progress = ev.get("progress", self.progress)
            if "task" in ev and "run" in ev:
                self.stage = (ev["run"], ev["task"])
            if ev["event"] == "epoch_end":
                self.rows.append(ev)
                if self.first_update is None:
                    self.first_update = time.perf_counter() - self.started
            elif ev["event"] in ("task_end", "tick"):
                self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.rows), list(self.events), self.progress, self.stage


def worker_settings() -> dict:
    """What a worker must share with the server that it would not get from a fresh import: where
    the store and the data cache are, the system folders, and the CLVIZ_* switches."""
    return {"store_root": str(store.ROOT), "cache_data": str(D.CACHE_DATA), "system_dirs": D.SYSTEM_DIRS,
            "env": {k: os.environ[k] for k in ENV_TO_WORKER if k in os.environ}, "plugins": dict(plugin.LOADED),
            "side_by_side": dev.SIDE_BY_SIDE}


# Training is batch work; the server's answers (a page, a poll, a fresh tab) are what a person
# waits on. Workers run this much nicer than the server, so when both want the CPU the server wins,
# and a worker still gets every cycle the server leaves (bench/seminar.py: README, "A seminar room").
WORKER_NICE = 10


def _lower_priority():
    try:
        os.nice(WORKER_NICE)
    except OSError:  # (not allowed here: the worker runs at the server's priority)
        pass


def _calibrate(threads, conn):
    """A worker that measures this machine's constants for the estimates (clviz/cost.py), at a
    job's priority."""
    _lower_priority()
    conn.send(cost.calibrate(threads))
    conn.close()


def _work(knobs, device, threads, settings, conn):
    """The worker process: run one config (sent as its values: its class may hold plugins' knobs,
    made at run time, which pickle cannot name), sending ("event", ev)... then ("done", result)
    or ("error", message)."""
    _lower_priority()
    torch.set_num_threads(threads)
    os.environ.update(settings["env"])
    dev.SIDE_BY_SIDE = settings["side_by_side"]  # as the server sized the job (side_by_side)
    store.ROOT, D.CACHE_DATA, D.SYSTEM_DIRS = Path(settings["store_root"]), Path(settings["cache_data"]), settings["system_dirs"]
    try:
        if errors := plugin.ensure(settings["plugins"]):  # the server's plugins, as the server loaded them
            raise D.DataError(" ".join(errors))
        cfg = experiments.make(knobs.pop("experiment"), **knobs)
        result = experiments.run(cfg, device=device, on_event=lambda ev: conn.send(("event", ev)))
        conn.send(("done", result))
    except (D.DataError, TrainingError, ValueError) as e:
        conn.send(("error", str(e)))
    except torch.OutOfMemoryError:
        conn.send(("error", f"Out of memory on {device}: choose the CPU in the sidebar or a smaller batch size."))
    except BrokenPipeError:  # the server is gone: nobody to report to
        pass
    except Exception as e:  # never a traceback in the page: say what happened, keep the app usable
        traceback.print_exc()
        conn.send(("error", f"The run failed: {type(e).__name__}: {e}"))
    finally:
        conn.close()


class JobQueue:
    def __init__(self, workers: int = 1, threads: int = 1, max_per_owner: int = 2, max_queued: int = 64,
                 max_job_s: float | None = None):
        """`max_job_s`: refuse a job whose estimate is over it (None: no cap; the app's server passes
        cost.cap_s(), from $CLVIZ_MAX_JOB_S)."""
        self.workers, self.threads, self.max_per_owner, self.max_queued = workers, threads, max_per_owner, max_queued
        self.max_job_s = max_job_s
        self._warming, self._warm = threading.Event(), threading.Event()  # warm_up started, finished
        self.jobs: dict[str, Job] = {}
        self.pending: collections.deque[Job] = collections.deque()
        self.running: list[Job] = []
        self.lock = threading.RLock()
        self.ctx = mp.get_context("forkserver")
        # the forkserver imports these once and every worker is forked with them loaded: torch and
        # the engine (2 s), torch._dynamo (1.0 s: the first optimizer a process builds imports it),
        # scikit-learn's datasets (0.9 s: the bundled digits) and torchvision's readers; and
        # clviz.workerinit, which keeps a worker from running the server's page script again
        self.ctx.set_forkserver_preload(["clviz.workerinit", "clviz.experiments", "torch._dynamo", "sklearn.datasets",
                                         "torchvision.datasets"])

    def warm_up(self):
        """Start the forkserver now (it imports torch and the engine: seconds), not at the first Train;
        and measure the estimates' constants (cost.calibrate) in a worker, as a job would run. In
        the server they would cost 174 MB of its memory: the first optimizer a process steps
        imports torch._dynamo, which the workers have preloaded anyway."""
        self._warming.set()
        try:
            recv, send = self.ctx.Pipe(duplex=False)
            p = self.ctx.Process(target=_calibrate, args=(THREADS, send), daemon=True, name="clviz-calibrate")
            p.start()
            send.close()
            if recv.poll(CALIBRATE_WAIT_S):
                cost.adopt(recv.recv())
            recv.close()
            p.join(5)
            if p.is_alive():  # stuck: sized in-process then, rather than a server that waits forever
                p.kill()
        except (RuntimeError, EOFError, OSError):  # exiting meanwhile, or the worker died: sized in-process then
            pass
        finally:
            self._warm.set()

    def start_warm_up(self):
        """`warm_up` in a thread: the server's first page does not wait for it."""
        self._warming.set()
        threading.Thread(target=self.warm_up, daemon=True, name="clviz-warm-up").start()

    def size(self, cfg, wait: bool = True) -> cost.Estimate | None:
        """The config's estimate (experiments.size), once the warm-up has measured this machine;
        None while it has not, unless `wait` (a submit waits, a page's estimate line does not)."""
        if self._warming.is_set() and not self._warm.wait(CALIBRATE_WAIT_S if wait else 0):
            return None if not wait else experiments.size(cfg)
        return experiments.size(cfg)

    def refusal(self, cfg, est=None) -> str | None:
        """Why the cap refuses `cfg` (cost.over_cap), or None. A config no costlier than its page's
        default (both sized with this machine's constants, so a busy spell while they were measured
        moves both alike), expected and in its worst case, is never refused: a busy machine once
        measured savings' default over the cap."""
        if self.max_job_s is None:
            return None
        est = est or self.size(cfg)
        base = self.size(experiments.make(cfg.experiment, dataset=cfg.dataset, data_dir=cfg.data_dir))
        if est.seconds <= base.seconds and est.worst <= base.worst:
            return None
        return cost.over_cap(est, self.max_job_s)

    def get(self, key: str) -> Job | None:
        return self.jobs.get(key)

    def submit(self, cfg, device: str, owner: str = "") -> Job:
        """The job for (cfg, device): the one queued or running, or a new one at the end of the queue.
        A new one is first checked against the dataset's metadata (experiments.check: the server
        never loads the data, the worker does); bad settings raise DataError with the message."""
        key = f"{store.key(cfg)}@{device}"
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job.status in ACTIVE:
                return job  # the same config from any session joins it
        experiments.check(cfg, device)  # outside the lock: it may unpack a .gz once (data._stage)
        if device == "cpu" and (why := self.refusal(cfg)):
            raise TooLarge(why)  # (the estimate is calibrated on this machine's CPU: a GPU's jobs are not capped)
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job.status in ACTIVE:
                return job
            if owner and sum(j.owner == owner for j in self.running + list(self.pending)) >= self.max_per_owner:
                raise QueueFull(f"You already have {self.max_per_owner} runs queued or training: wait for one "
                                f"to finish, or cancel one.")
            if len(self.pending) >= self.max_queued:
                raise QueueFull(f"The queue is full ({self.max_queued} runs waiting): try again in a minute.")
            job = self.jobs[key] = Job(key, cfg, device, owner)
            self.pending.append(job)
            self._forget_old()
            self._dispatch()
            return job

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 behind it ...; 0 if the job is not waiting."""
        with self.lock:
            return next((i for i, j in enumerate(self.pending, 1) if j is job), 0)

    def cancel(self, job: Job):
        with self.lock:
            if job.status == "queued":
                self.pending.remove(job)
                job.status = "cancelled"
            elif job.status == "running":
                job.cancelled = True
                job.proc.kill()  # the reader thread sees the pipe close and frees the slot

    def active(self) -> int:
        with self.lock:
            return len(self.running) + len(self.pending)

    def shutdown(self):
        with self.lock:
            for job in list(self.pending):
                self.cancel(job)
            for job in list(self.running):
                self.cancel(job)

    # ------------------------------------------------------------ inside

    def _dispatch(self):
        while len(self.running) < self.workers and self.pending:
            job = self.pending.popleft()
            recv, send = self.ctx.Pipe(duplex=False)
            job.proc = self.ctx.Process(target=_work, args=(to_dict(job.cfg), job.device, self.threads, worker_settings(), send),
                                        daemon=True, name=f"clviz-{job.key}")
            job.status, job.started = "running", time.perf_counter()
            self.running.append(job)
            job.proc.start()
            send.close()  # the worker holds the only writing end: its exit closes the pipe
            threading.Thread(target=self._read, args=(job, recv), daemon=True, name=f"read-{job.key}").start()

    def _read(self, job: Job, conn):
        final = None
        try:
            while True:
                kind, body = conn.recv()
                if kind == "event":
                    job._on_event(body)
                else:
                    final = (kind, body)
        except (EOFError, OSError):
            pass
        conn.close()
        job.proc.join()
        with self.lock:
            if final is not None and final[0] == "done":
                job.result, job.status = final[1], "done"
            elif final is not None:
                job.error, job.status = final[1], "error"
            elif job.cancelled:
                job.status = "cancelled"
            else:
                code = job.proc.exitcode
                why = " (killed: out of memory?)" if code == -9 else ""
                job.error, job.status = (f"The worker training this run stopped unexpectedly (exit code {code}{why}). "
                                         f"Nothing was stored; press Train to try again."), "error"
            self.running.remove(job)
            self._dispatch()

    def _forget_old(self):
        done = [k for k, j in self.jobs.items() if j.status not in ACTIVE]
        for k in done[:max(0, len(done) - KEEP_FINISHED)]:
            del self.jobs[k]
