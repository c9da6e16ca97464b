"""The training loop against a plain PyTorch loop, and the class-incremental driver's records
against measurements made by hand."""
import threading

import pytest
import torch
import torch.nn.functional as F

from clviz import data as D
from clviz import metrics, models, train
from clviz.losses import make_loss
from clviz.train import (OPTIMIZERS, TrainingError, evaluate, generators, make_optimizer, order, run_sequential,
                         train_task)

TASKS = ((1, 2), (3, 4), (5, 6))


def net(seed=0, bn=False):
    torch.manual_seed(seed)
    return models.mlp(64, (32, 16), 10, bn=bn)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_train_task_equals_a_plain_loop(opt):
    d = D.load("digits")
    x, y = d.subset((1, 2))
    lr = {"sgd": 0.05, "momentum": 0.01, "adadelta": 1.0}.get(opt, 1e-3)
    ours = net()
    steps = train_task(ours, make_optimizer(opt, ours.parameters(), lr), x, y, make_loss("ce"), batch_size=32,
                       gen=torch.Generator().manual_seed(5), epochs=2)
    ref = net()
    cls, kw = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
               "adam": (torch.optim.Adam, {}), "rmsprop": (torch.optim.RMSprop, {}),
               "adadelta": (torch.optim.Adadelta, {})}[opt]
    o = cls(ref.parameters(), lr=lr, **kw)
    g = torch.Generator().manual_seed(5)
    n = len(y)
    for _ in range(2):
        perm = torch.randperm(n, generator=g)
        for i in range(n // 32):  # the last incomplete batch is dropped
            idx = perm[i * 32:(i + 1) * 32]
            o.zero_grad()
            F.cross_entropy(ref(x[idx]), y[idx]).backward()
            o.step()
    assert steps == 2 * (n // 32)
    for (name, a), (_, b) in zip(ours.named_parameters(), ref.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (opt, name)


def test_make_optimizer_settings():
    p = [torch.nn.Parameter(torch.zeros(3))]
    m = make_optimizer("momentum", p, 0.01)
    assert isinstance(m, torch.optim.SGD) and m.defaults["momentum"] == 0.9 and m.defaults["lr"] == 0.01
    assert make_optimizer("sgd", p, 0.1).defaults["momentum"] == 0
    assert isinstance(make_optimizer("rmsprop", p, 1e-3), torch.optim.RMSprop)
    assert isinstance(make_optimizer("adadelta", p, 1.0), torch.optim.Adadelta)
    with pytest.raises(ValueError, match="Unknown optimizer 'lion'"):
        make_optimizer("lion", p, 1e-3)


def test_stopping_rules():
    d = D.load("digits")
    x, y = d.subset((1, 2))
    m = net()
    kw = dict(batch_size=8, gen=torch.Generator().manual_seed(0), epochs=None)
    assert train_task(m, make_optimizer("sgd", m.parameters(), 0.01), x, y, make_loss("ce"), max_steps=7, **kw) == 7
    seen = []

    def until(model, s):
        seen.append(s)
        return s >= 105
    # checked at every step up to 100, then every 10th: 105 is first seen at 110
    assert train_task(m, make_optimizer("sgd", m.parameters(), 0.01), x, y, make_loss("ce"), until=until,
                      check_every=10, **kw) == 110
    assert seen == list(range(1, 101)) + [110]
    calls = []
    assert train_task(m, make_optimizer("sgd", m.parameters(), 0.01), x, y, make_loss("ce"), batch_size=8,
                      gen=torch.Generator().manual_seed(0), epochs=3, on_epoch=lambda e, loss: calls.append(e),
                      on_step=lambda: None) == 3 * (len(y) // 8)
    assert calls == [1, 2, 3]


def test_divergence_is_a_training_error():
    d = D.load("digits")
    x, y = d.subset((1, 2))
    m = net()
    with pytest.raises(TrainingError, match="diverged"):
        train_task(m, make_optimizer("sgd", m.parameters(), 1e6), x * 1e3, y, make_loss("ce"), batch_size=32,
                   gen=torch.Generator().manual_seed(0), epochs=2)


def test_order_and_generators():
    assert torch.equal(order(10, torch.Generator().manual_seed(3)), torch.randperm(10, generator=torch.Generator().manual_seed(3)))
    gens = generators(4, copies=3)
    o = order(6, gens)
    assert o.shape == (3, 6)
    for i in range(3):  # copy i orders its data as a single run with seed 4 + i
        assert torch.equal(o[i], torch.randperm(6, generator=torch.Generator().manual_seed(4 + i)))


def test_evaluate_against_masked_accuracy():
    d = D.load("digits")
    m = net()
    e, = evaluate(m, d.x_test, d.y_test, 10, TASKS, [1, 2, 3, 4])  # one copy: a list of one
    with torch.no_grad():
        z, h = m(d.x_test, return_latent=True)
    for t, a in zip(TASKS, e["acc_tasks"]):
        mask = torch.isin(d.y_test, torch.tensor(t))
        assert a == pytest.approx((z[mask].argmax(1) == d.y_test[mask]).float().mean().item())
    seen = torch.isin(d.y_test, torch.tensor([1, 2, 3, 4]))
    assert e["val_loss"] == pytest.approx(F.cross_entropy(z[seen], d.y_test[seen]).item(), rel=1e-5)
    assert e["acc_all"] == pytest.approx((z.argmax(1) == d.y_test).float().mean().item())
    assert e["sparsity"] == pytest.approx((h == 0).float().mean().item())


def test_run_sequential_records_what_the_model_does():
    d = D.load("digits")
    m = net()
    events, snaps = [], []
    extra = lambda model, k, test: snaps.append({n: p.clone() for n, p in model.state_dict().items()}) or {"k": k}
    hist = run_sequential(m, d, TASKS, make_loss("ce"), epochs=2, batch_size=32, seed=1, on_event=events.append,
                          extra=extra)
    assert [t["k"] for t in hist["tasks"]] == [0, 1, 2]
    for k, w in enumerate(snaps):  # the matrix row of task k is the accuracy of the weights after task k
        ref = net()
        ref.load_state_dict(w)
        z = metrics.forward_all(ref, d.x_test)[0]
        assert hist["matrix"][k] == pytest.approx([metrics.acc_on(z, d.y_test, t) for t in TASKS])
    assert hist["forgetting"] == pytest.approx(metrics.forgetting(hist["matrix"]))
    assert len(hist["curve"]) == 6 and [r["step"] for r in hist["curve"]] == [1, 2, 3, 4, 5, 6]
    assert [r["task"] for r in hist["curve"]] == [0, 0, 1, 1, 2, 2]
    assert hist["matrix"][0][0] > 0.6 and hist["matrix"][-1][0] < 0.2  # learned, then forgotten
    grads = hist["tasks"][0]["grad_norms"]
    assert set(grads) == {n for n, _ in m.named_parameters()} and all(v > 0 for v in grads.values())


def test_reset_optimizer_changes_the_run():
    d = D.load("digits")
    kw = dict(optimizer="adam", epochs=1, batch_size=32, seed=0)
    a = run_sequential(net(), d, TASKS, make_loss("ce"), **kw)
    b = run_sequential(net(), d, TASKS, make_loss("ce"), reset_optimizer=True, **kw)
    assert a["matrix"][0] == b["matrix"][0] and a["matrix"][1] != b["matrix"][1]


@pytest.mark.parametrize("opt", ["adam", "momentum", "adadelta"])
def test_a_stop_read_late_is_rewound_exactly(opt, monkeypatch):
    """On a GPU the stopping test is read every READ_EVERY steps, not at every check: a run that
    passed between reads is put back to the check that passed. Three tasks in a row (one model,
    optimizer and data order) end on the same steps, weights, optimizer state and generator as
    with a read at every check, though most stops here are read in a later epoch (9 steps an
    epoch, a read every 25)."""
    d = D.load("digits")

    def run(read_every):
        monkeypatch.setattr(train, "READ_EVERY", {"cpu": read_every})
        m, gen = net(), torch.Generator().manual_seed(3)
        o = make_optimizer(opt, m.parameters(), {"momentum": 0.01, "adadelta": 1.0}.get(opt, 1e-3))
        steps, checks = [], []
        for classes in TASKS:
            x, y = d.subset(classes)

            def until(model, s):  # a criterion on the device, never read by the test itself
                checks.append(s)
                return (model(x).argmax(1) == y).float().mean() >= 0.9
            steps.append(train_task(m, o, x, y, make_loss("ce"), batch_size=32, gen=gen, epochs=None, until=until,
                                    max_steps=500))
        return steps, checks, m, o, gen.get_state()

    steps, checks, m, o, g = run(1)
    steps25, checks25, m25, o25, g25 = run(25)
    assert steps == steps25 and all(s < 500 and s % 25 for s in steps)  # each stop read late,
    assert any((s - 1) // 9 < (-(-s // 25) * 25 - 1) // 9 for s in steps)  # one in a later epoch
    assert len(checks25) > len(checks)  # (checks past a stop ran, and were undone)
    for a, b in zip(list(m.parameters()) + [v for s in o.state.values() for v in s.values()],
                    list(m25.parameters()) + [v for s in o25.state.values() for v in s.values()]):
        assert torch.equal(a, b)
    assert torch.equal(g, g25)


def _measured_run(monkeypatch, aside: bool):
    """A run of two copies with every measurement (per-epoch, the stability gap's steps, the task's
    test pass and an extra), its measurements aside (device.Aside in a thread of its own) or not;
    what it recorded and where the extra ran."""
    from clviz import lenses
    from clviz.device import Aside
    from clviz.ensemble import BatchedNet
    monkeypatch.setattr(Aside, "free", staticmethod(lambda device_type: aside))
    d = D.load("digits")
    watch = lenses.Watch(d.y_test[train.live_subset(d, 300)], TASKS, every=2, first=6, path=(1,))
    events, where = [], []

    def extra(m, k, test):
        where.append(threading.current_thread().name)
        return [{"w": p.sum().item()} for p in m.parameters()][:2]  # a record per copy, from the weights
    hist = run_sequential(BatchedNet([net(0), net(1)]), d, TASKS, make_loss("ce"), epochs=2, batch_size=32, seed=3,
                          on_event=events.append, extra=extra, live_eval_n=300, watch=watch)
    return hist, events, watch, where


def test_measurements_aside_equal_those_in_the_run(monkeypatch):
    """Measured beside the training (device.Aside: on a copy of the model as it was, in a thread of
    its own, while the run goes on), every number and event is the same as measured in the run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as every CPU run (device.THREADS): the aside's ops at the same count
    try:
        a_hist, a_events, a_watch, a_where = _measured_run(monkeypatch, aside=True)
        b_hist, b_events, b_watch, b_where = _measured_run(monkeypatch, aside=False)
    finally:
        torch.set_num_threads(threads)
    assert set(a_where) == {"clviz-aside_0"} and set(b_where) == {"MainThread"}  # it did run aside
    assert a_hist == b_hist and a_events == b_events  # every number, every event, in the same order
    assert [e["event"] for e in a_events][:4] == ["task_start", "epoch_end", "epoch_end", "task_end"]
    assert a_watch.gap() == b_watch.gap() and (a_watch.counts() == b_watch.counts()).all()
    assert len(a_watch.evals) == 2 * 3 + 2 * 3  # epoch ends, and steps 2, 4, 6 of tasks 1 and 2
    assert all(torch.equal(a, b) for (_, _, wa), (_, _, wb) in zip(a_watch.weights, b_watch.weights)
               for a, b in zip(wa.values(), wb.values()))


def test_an_error_aside_is_the_runs_error(monkeypatch):
    """A measurement's error, raised in the aside's thread, ends the run with that error, and the
    aside's thread with it."""
    from clviz.device import Aside
    monkeypatch.setattr(Aside, "free", staticmethod(lambda device_type: True))
    d = D.load("digits")
    events = []

    def extra(m, k, test):
        if k == 1:
            raise ValueError("a broken lens")
        return {}
    with pytest.raises(ValueError, match="a broken lens"):
        run_sequential(net(), d, TASKS, make_loss("ce"), epochs=1, batch_size=32, on_event=events.append, extra=extra)
    assert not any(t.name.startswith("clviz-aside") for t in threading.enumerate())
    # nothing posted behind the failure went out: the events end where the run's thread would have stopped
    assert [(e["event"], e["task"]) for e in events][-3:] == [("task_end", 0), ("task_start", 1), ("epoch_end", 1)]


def test_aside_keeps_order_and_bounds_what_waits(monkeypatch):
    """In order, at most `depth` waiting (a lagging aside holds the run back); at once where it is off."""
    from clviz.device import Aside
    monkeypatch.setattr(Aside, "free", staticmethod(lambda device_type: True))
    done, waiting = [], []
    gate = threading.Event()
    with Aside("cpu", depth=2) as aside:
        aside.post(gate.wait)
        aside.post(done.append, 1)
        about = threading.Event()
        t = threading.Thread(target=lambda: (about.set(), aside.post(done.append, 2), waiting.append("posted")))
        t.start()
        about.wait(10)
        t.join(0.2)
        assert t.is_alive() and waiting == [] and done == []  # the third waits for the first to finish
        gate.set()
        t.join()
    assert done == [1, 2]
    with Aside("cpu", on=False) as inline:
        inline.post(done.append, 3)
        assert done == [1, 2, 3] and inline.pool is None


def test_aside_only_where_the_runs_leave_a_core(monkeypatch):
    """One run at one thread of two: aside. Two runs side by side (device.side_by_side), a run at
    every thread, or a server that gives each worker one: in the run's thread."""
    from clviz import device
    from clviz.device import Aside
    monkeypatch.setattr(device, "SIDE_BY_SIDE", 2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        gate, seen = threading.Barrier(2), []

        def work(item, halt):  # both runs started before either asks, and neither ends before both have
            gate.wait(timeout=30)
            seen.append(Aside.free("cpu"))
            gate.wait(timeout=30)
        device.side_by_side(work, [0, 1], 2)
        assert Aside.free("cpu") and seen == [False, False] and not Aside.free("cuda")
        monkeypatch.setattr(device, "SIDE_BY_SIDE", 1)
        assert not Aside.free("cpu")
        monkeypatch.setattr(device, "SIDE_BY_SIDE", 2)
        torch.set_num_threads(2)
        assert not Aside.free("cpu")
    finally:
        torch.set_num_threads(threads)
