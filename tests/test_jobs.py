"""The job queue on its own (no Streamlit): worker processes, FIFO order, joining, limits,
cancel, a worker killed mid-run, a server killed mid-queue; and the store under them."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from clviz import data as D
from clviz import device, experiments, jobs, store

REPO = Path(__file__).resolve().parent.parent


def quick(seed=0, **kw):
    return experiments.make("probe", **{"epochs": 1, "per_class": 20, "seed": seed, **kw})


def wait(job, timeout=120):
    deadline = time.time() + timeout
    while job.status in jobs.ACTIVE and time.time() < deadline:
        time.sleep(0.05)
    assert job.status not in jobs.ACTIVE, f"job still {job.status}"
    return job


def wait_for(cond, timeout=60):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.02)
    assert cond()


@pytest.fixture
def q():
    queue = jobs.JobQueue(workers=1, threads=1, max_per_owner=2)
    yield queue
    queue.shutdown()


def test_fifo_one_at_a_time_results_as_computed_in_process(q):
    threads = torch.get_num_threads()
    a, b, c = (q.submit(quick(s), "cpu", owner=f"user{s}") for s in range(3))
    assert [a.status, b.status, c.status] == ["running", "queued", "queued"]
    assert [q.position(b), q.position(c), q.position(a)] == [1, 2, 0]
    for j in (a, b, c):
        wait(j)
    assert [j.status for j in (a, b, c)] == ["done"] * 3
    assert a.started < b.started < c.started and a.started + a.result["seconds"] <= b.started + 0.5  # one at a time
    assert torch.get_num_threads() == threads  # a worker's thread count is its own
    torch.set_num_threads(1)  # as the workers: the same reductions in the same order, the same numbers
    for s, j in enumerate((a, b, c)):
        again = experiments.run(quick(s), device="cpu", use_cache=False)  # the same work, in this process
        assert j.result["probe_all"] == again["probe_all"] and j.result["joint_acc"] == again["joint_acc"]
        assert store.load(quick(s))["probe_all"] == j.result["probe_all"]  # the worker stored it where we look
    assert len(a.rows) == 5 and [e["event"] for e in a.events].count("task_end") == 5  # events came back live


def test_same_config_joins_and_owner_limit(q):
    a = q.submit(quick(0, epochs=3), "cpu", owner="me")
    assert q.submit(quick(0, epochs=3), "cpu", owner="someone else") is a
    q.submit(quick(1), "cpu", owner="me")
    with pytest.raises(jobs.QueueFull, match="You already have 2 runs queued or training"):
        q.submit(quick(2), "cpu", owner="me")
    assert q.submit(quick(2), "cpu", owner="you").status == "queued"  # others still get in


def test_a_worker_does_not_run_the_servers_main_script(q, tmp_path, monkeypatch):
    """Under Streamlit the server's __main__ is the page script that pressed Train; multiprocessing
    would import it again in every worker (a page run in bare mode before each job)."""
    import types
    marker = tmp_path / "ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'w').close()\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert wait(q.submit(quick(seed=7), "cpu")).status == "done"
    assert not marker.exists()


def test_queue_bound():
    q = jobs.JobQueue(workers=1, threads=1, max_queued=2)
    try:
        q.submit(quick(0, epochs=3), "cpu")
        q.submit(quick(1), "cpu"), q.submit(quick(2), "cpu")
        with pytest.raises(jobs.QueueFull, match="The queue is full"):
            q.submit(quick(3), "cpu")
    finally:
        q.shutdown()


def test_cancel_kills_the_worker_and_a_retry_works(q):
    a = q.submit(quick(0, epochs=20), "cpu")
    b = q.submit(quick(1), "cpu")
    q.cancel(b)
    assert b.status == "cancelled" and q.position(b) == 0
    wait_for(lambda: a.rows)  # training for real
    pid = a.proc.pid
    # batch work yields to the server's answers: the worker runs WORKER_NICE nicer than this process
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + jobs.WORKER_NICE)
    q.cancel(a)
    wait(a)
    assert a.status == "cancelled" and not a.proc.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert store.load(quick(0, epochs=20)) is None
    again = wait(q.submit(quick(0, epochs=20), "cpu"))
    assert again is not a and again.status == "done"


def test_worker_killed_mid_run_fails_the_job_with_a_message(q):
    a = q.submit(quick(0, epochs=20), "cpu")
    b = q.submit(quick(1), "cpu")
    wait_for(lambda: a.rows)
    os.kill(a.proc.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    wait(a)
    assert a.status == "error" and "stopped unexpectedly (exit code -9" in a.error and "press Train" in a.error
    assert wait(b).status == "done"  # the queue goes on
    assert store.load(quick(0, epochs=20)) is None  # nothing half-written stored
    assert wait(q.submit(quick(0, epochs=20), "cpu")).status == "done"  # the next press retries


def test_bad_settings_are_refused_at_submit_with_the_message(q):
    with pytest.raises(D.DataError, match="larger than task 1"):  # checked on the labels, before any worker
        q.submit(quick(0, batch_size=5000), "cpu")
    assert q.active() == 0


SERVER = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from clviz import device, experiments, jobs, store
store.ROOT = Path({root!r})
q = jobs.JobQueue(workers=1, threads=1)
js = [q.submit(experiments.make("probe", epochs=2, per_class=40, seed=s), "cpu") for s in range(4)]
while True:
    done = sum(j.status == "done" for j in js)
    print(done, flush=True)
    time.sleep(0.05)
"""


def test_server_killed_mid_queue_keeps_finished_results_and_no_half_written_one(tmp_path, monkeypatch):
    root = tmp_path / "results"
    monkeypatch.setattr(store, "ROOT", root)
    p = subprocess.Popen([sys.executable, "-c", SERVER.format(repo=str(REPO), root=str(root))],
                         stdout=subprocess.PIPE, text=True, env={**os.environ, "CLVIZ_OFFLINE": "1"})
    for line in p.stdout:  # wait until the first job is stored, then kill the server mid-queue
        if int(line) >= 1:
            break
    p.kill()
    p.wait()
    time.sleep(1.0)  # an orphaned worker notices the closed pipe at its next event and stops
    finished = [e for e in store.entries()]
    assert len(finished) >= 1
    cfgs = [experiments.make("probe", epochs=2, per_class=40, seed=s) for s in range(4)]
    for cfg in cfgs:  # every entry there is whole; the rest are absent, not corrupt
        r = store.load(cfg)
        assert r is None or len(r["probe_all"]) == 5
    q = jobs.JobQueue(workers=1, threads=1)  # the restarted server: the same presses finish the queue
    try:
        got = [wait(q.submit(c, "cpu")).result for c in cfgs]
        assert [r["config"]["seed"] for r in got] == [0, 1, 2, 3]
    finally:
        q.shutdown()


def test_default_workers_leave_a_core_to_the_server():
    assert jobs.default_workers("cpu", cores=2) == (1, 1)
    assert jobs.default_workers("cpu", cores=16) == (4, 1)  # every CPU job at device.THREADS
    assert jobs.default_workers("cuda", cores=16) == (2, 4)
    # a job's runs side by side (Savings' cohorts): with one worker it borrows the server's core, else one
    assert jobs.side_by_side(1) == device.SIDE_BY_SIDE and jobs.side_by_side(3) == 1
