"""Every job sized before it runs (clviz/cost.py, clviz/experiments/sizes.py): the counted steps
are the steps a run takes; the server's cap refuses a large linked job on the page and in the
queue, with the estimate and the cap. (Estimate against actual seconds: bench/estimate.py.)"""
import pytest
from streamlit.testing.v1 import AppTest
from torch.optim.optimizer import register_optimizer_step_post_hook

from clviz import cost, experiments, jobs
from clviz.device import THREADS
from conftest import write_cifar100_root
from test_app import APP, open_link

HUGE = {"max_steps": 100_000, "seeds": 32}  # the link: each value within its widget's range


@pytest.fixture
def steps_taken():
    cost.calibrate(THREADS)  # (its own few steps, once per process, before the count starts)
    n = [0]
    handle = register_optimizer_step_post_hook(lambda *a: n.__setitem__(0, n[0] + 1))
    yield n
    handle.remove()


SMALL = [("sparsity", {}), ("probe", {}), ("losses", {}), ("boundaries", {}), ("depth", {}),
         ("remedies", {}), ("remedies", {"per_class": 7, "batch_size": 5, "memory": 3}),
         ("savings", {"criterion": 1.0, "joint_criterion": 1.0, "max_steps": 12, "optimizers": ("sgd", "adam"),
                      "lrs": (("sgd", 1e-7), ("adam", 1e-7))})]  # (a rate that cannot reach 1.0 in 12 steps)


@pytest.mark.parametrize("name,kw", SMALL, ids=[f"{n}{'-' + '-'.join(k) if k else ''}" for n, k in SMALL])
def test_the_estimate_counts_every_optimiser_step(name, kw, steps_taken):
    """The counted steps are the steps the run takes, exactly (savings: with a criterion never
    reached every phase runs to its give-up limit, and then its count is exact too)."""
    cfg = experiments.make(name, **{"epochs": 2, "per_class": 30, "seeds": 2, **kw})
    est = experiments.size(cfg)
    experiments.run(cfg, "cpu", use_cache=False)
    assert est.steps == steps_taken[0]
    assert est.worst_steps == est.steps  # a run without a criterion: its worst case is its case


def test_the_estimate_counts_cifar_on_real_format_files(tmp_path, steps_taken):
    write_cifar100_root(tmp_path, n_train=1000, n_test=200)
    cfg = experiments.make("cifar", data_dir=str(tmp_path), epochs=1, per_class=10, batch_size=16)
    est = experiments.size(cfg)
    experiments.run(cfg, "cpu", use_cache=False)
    assert est.steps == steps_taken[0]
    assert est.macs == 32 * 32 * 3 * 32 * 9 + 16 * 16 * 32 * 64 * 9 + 64 * 8 * 8 * 256 + 256 * 100  # the CNN's forward


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(cost.CAP_ENV, raising=False)
    assert cost.cap_s() == cost.DEFAULT_CAP_S == 120
    monkeypatch.setenv(cost.CAP_ENV, "600")
    assert cost.cap_s() == 600
    monkeypatch.setenv(cost.CAP_ENV, "0")
    assert cost.cap_s() is None  # lifted


@pytest.mark.parametrize("value", ["ten minutes", "-5", "nan", "1e3s"])
def test_a_cap_that_is_not_seconds_keeps_the_default_and_says_so(monkeypatch, value):
    """A typo in the server's setting neither crashes the room's server (float('ten') raised in the
    first session that made the queue) nor lifts its cap; the page shows what is wrong."""
    monkeypatch.setenv(cost.CAP_ENV, value)
    cap, problem = cost.cap_setting()
    assert cap == cost.DEFAULT_CAP_S == 120
    assert problem == (f"$CLVIZ_MAX_JOB_S={value!r} is not a number of seconds (0 for no cap): this server keeps "
                       f"the default cap of 120 s a run.")
    if value != "ten minutes":
        return  # (the page once is enough)
    from clviz import ui
    assert ui.queue()._warm.wait(60)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/probe.py").run()
    assert not at.exception
    assert problem in [w.value for w in at.warning]


def test_the_queue_refuses_a_large_job_with_its_estimate_and_the_cap():
    q = jobs.JobQueue(workers=0, max_job_s=120)  # (no worker: nothing accepted would start)
    cfg = experiments.make("savings", **HUGE)
    est = experiments.size(cfg)
    with pytest.raises(jobs.TooLarge) as e:
        q.submit(cfg, "cpu")
    # the message of its estimate: by its worst case on a quiet machine (more than 10 caps), by its
    # expected time alone where this machine was measured busy (the estimate is in its seconds)
    assert str(e.value) == cost.over_cap(est, 120)
    assert "cap of 120 s" in str(e.value) and "CLVIZ_MAX_JOB_S" in str(e.value)
    if est.seconds <= 120:  # expected within the cap: refused for its worst case, which it names
        assert f"{est.worst_steps:,} optimiser steps" in str(e.value) and "more than 10 times" in str(e.value)
    assert q.active() == 0
    # both messages, from estimates made by hand (whatever this machine measured): 121 s over a 120 s
    # cap by its expected time; 60 s expected but 1,300 s if no criterion is reached (10.8 caps)
    assert cost.over_cap(cost.Estimate(121, 5_000, 1.0, 121, 5_000), 120).startswith(
        "This run would take about 2 min here (5,000 optimiser steps), over the cap of 120 s a run.")
    assert cost.over_cap(cost.Estimate(60, 3_000, 1.0, 1_300, 90_000), 120).startswith(
        "This run could take about 22 min here (90,000 optimiser steps) if a criterion is never reached: more "
        "than 10 times the cap of 120 s a run (about 60 s if every criterion is reached).")
    assert cost.over_cap(cost.Estimate(60, 3_000, 1.0, 1_200, 90_000), 120) is None  # (10 caps exactly: allowed)
    # over the cap by its expected time alone (no criterion to miss)
    big = experiments.make("remedies", epochs=200, seeds=32)
    assert experiments.size(big).seconds > 120
    with pytest.raises(jobs.TooLarge, match=r"would take about .* over the cap of 120 s"):
        q.submit(big, "cpu")
    # the defaults pass, and a queue without a cap (the CLI's choice) takes the large one
    assert q.submit(experiments.make("savings"), "cpu").status == "queued"
    assert jobs.JobQueue(workers=0).submit(cfg, "cpu").status == "queued"


def test_the_page_shows_the_estimate_and_refuses_a_large_linked_job(monkeypatch):
    from clviz import ui
    monkeypatch.setattr(ui.queue(), "max_job_s", 120)  # the server's default (the queue is made once per process)
    assert ui.queue()._warm.wait(60)  # its worker has measured this machine (until then: "Sizing this run")
    at = open_link("savings", savings_max_steps="100000", savings_seeds="32")
    # said before Train, with the estimate (over 10 caps in its worst case; over one cap expected, where
    # this machine was measured busy: the link is about 100 s of expected work here)
    assert any("cap of 120 s" in w.value and "optimiser steps" in w.value for w in at.warning)
    at.button(key="savings_train").click().run()
    assert not at.exception
    assert any("cap of 120 s" in e.value and "optimiser steps" in e.value for e in at.error)
    assert "savings_job" not in at.session_state  # nothing queued
    # its defaults: the estimate, before Train
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/probe.py").run()
    est = experiments.size(experiments.make("probe"))  # (its seconds: this machine's; its steps: the run's)
    lines = [c.value for c in at.caption]
    assert any(c.startswith("This run: ") and f" here ({est.steps:,} optimiser steps)" in c for c in lines), lines


def test_the_defaults_pass_on_a_busy_machine():
    """The cap's seconds are this machine's, measured once: a machine measured while busy sized
    savings' default over the cap (its worst case, no criterion ever reached, is ~10 caps) and
    refused the page's own default. A config no bigger than its page's default passes however
    slow the machine was measured; the issue's link is still refused."""
    m = cost.calibrate(THREADS)
    slow = cost.Machine(m.step_s * 8, m.elem_s * 8, m.mac_per_s / 8, m.eval_s * 8, m.probe_s * 8)
    cost.adopt(slow)
    try:
        q = jobs.JobQueue(workers=0, max_job_s=120)
        assert cost.over_cap(experiments.size(experiments.make("savings")), 120) is not None  # what it refused
        for name in experiments.REGISTRY:
            if name != "cifar":  # (its default data, CIFAR-100, is not on this machine)
                assert q.submit(experiments.make(name), "cpu").status == "queued", name
        with pytest.raises(jobs.TooLarge):
            q.submit(experiments.make("savings", **HUGE), "cpu")
        # no more steps than the default, but a far larger model, 8 copies: costlier, so refused
        with pytest.raises(jobs.TooLarge, match="over the cap"):
            q.submit(experiments.make("probe", hidden=(4096, 4096, 4096), seeds=8), "cpu")
    finally:
        cost.adopt(m)

