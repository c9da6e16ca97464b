"""The training step as a CUDA graph (train.Stepper) and what makes it safe.

On any machine: the warm-up before a capture trains for real, and `Snapshot` must put the weights,
BatchNorm's statistics and every optimizer's state back so exactly that the run is the eager
run, step for step; a capture that fails falls back to the eager step with one notice; the
step is made once a run. These run the warm-up on the CPU (the CUDA stream calls replaced by
no-ops, the capture made to fail), against a run that never tried.

On a CUDA machine (marked `gpu`, skipped elsewhere): the captured step trains to the eager
path's accuracies for every optimizer, with and without BatchNorm, and with seeds batched; batched
probes give each copy's own. (Savings no longer trains through train_task: its cohort reads every
check, tests/test_savings_batched.py.)
"""
import contextlib

import pytest
import torch

from clviz import data as D
from clviz import experiments, models, train
from clviz.ensemble import BatchedNet
from clviz.losses import make_loss
from clviz.train import OPTIMIZERS, EagerFallback, Snapshot, Stepper, make_optimizer

LR = {"sgd": 0.05, "momentum": 0.01, "adam": 1e-3, "rmsprop": 1e-3, "adadelta": 1.0}
CUDA = torch.cuda.is_available()


def net(seed=0, bn=False, copies=0):
    if copies:
        return BatchedNet([net(seed + i) for i in range(copies)])
    torch.manual_seed(seed)
    return models.mlp(64, (32, 16), 10, bn=bn)


def batches(n=12, copies=0, seed=1):
    g = torch.Generator().manual_seed(seed)
    lead = (copies,) if copies else ()
    return [(torch.randn(*lead, 16, 64, generator=g), torch.randint(0, 10, (*lead, 16), generator=g))
            for _ in range(n)]


@pytest.fixture
def capture_fails_after_warm_up(monkeypatch):
    """CUDA's stream calls as no-ops (the warm-up then runs on the CPU) and a capture that fails."""
    class Stream:
        def wait_stream(self, other):
            pass

    def no_graph():
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: Stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", no_graph)


def weights(model):
    return [t.detach().clone() for t in list(model.parameters()) + list(model.buffers())]


def state(model, opt):
    """The optimizer's tensors, per parameter (in the model's order) and name."""
    return {(i, k): v.clone() for i, p in enumerate(model.parameters())
            for k, v in opt.state.get(p, {}).items() if torch.is_tensor(v)}


def same(a: dict, b: dict):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["plain", "bn", "batched"])
def test_a_failed_capture_trains_exactly_as_eager(opt, kind, capture_fails_after_warm_up):
    """Two tasks with one optimizer: the first capture meets a fresh optimizer, the second one with
    state (moments, step counters, momentum buffers), and both warm-ups must leave no trace."""
    copies = 3 if kind == "batched" else 0
    runs = []
    for graph in (False, True):
        m = net(bn=kind == "bn", copies=copies)
        o = make_optimizer(opt, m.parameters(), LR[opt])
        loss = make_loss("ce")
        with pytest.warns(EagerFallback) if graph else contextlib.nullcontext() as caught:
            for task in range(2):
                step = Stepper(m, o, loss, graph=graph)  # a new step each task: a second capture, with state
                for xb, yb in batches(copies=copies, seed=task):
                    step(xb, yb)
        if graph:
            fallbacks = [w for w in caught if w.category is EagerFallback]
            assert len(fallbacks) == 2  # once a step
            assert str(fallbacks[0].message).startswith("The training step could not be captured as a CUDA graph "
                                                         "(RuntimeError: operation not permitted when stream is "
                                                         "capturing); it runs eagerly")
        runs.append((weights(m), state(m, o)))
    (w_eager, s_eager), (w_graph, s_graph) = runs
    assert all(torch.equal(a, b) for a, b in zip(w_eager, w_graph))
    assert same(s_eager, s_graph) and (opt == "sgd" or s_eager)  # plain SGD keeps no state


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_snapshot_puts_back_weights_and_optimizer_state(opt):
    m = net(bn=True)
    o = make_optimizer(opt, m.parameters(), LR[opt])
    step = Stepper(m, o, make_loss("ce"))
    for xb, yb in batches(3):
        step(xb, yb)
    snap, w, st = Snapshot(m, o), weights(m), state(m, o)
    for xb, yb in batches(4, seed=7):
        step(xb, yb)
    assert not all(torch.equal(a, b) for a, b in zip(w, weights(m)))
    assert not same(st, state(m, o)) or opt == "sgd"
    snap.restore()
    assert all(torch.equal(a, b) for a, b in zip(w, weights(m)))  # BatchNorm's running statistics too
    assert same(st, state(m, o))


def test_a_run_makes_its_step_once():
    m = net()
    o, loss, hook = make_optimizer("adam", m.parameters(), 1e-3), make_loss("ce"), lambda: None
    s = train.stepper(m, o, loss, hook)
    assert train.stepper(m, o, loss, hook) is s
    assert train.stepper(m, o, make_loss("ce"), hook) is not s  # another loss: another step
    o2 = make_optimizer("adam", m.parameters(), 1e-3)
    assert train.stepper(m, o2, loss, hook) is not train.stepper(m, o, loss, hook)


def test_an_experiment_reports_the_fallback_as_its_notice(capture_fails_after_warm_up, monkeypatch, tmp_path):
    """Forced onto the graph path on the CPU, the capture fails: the run still finishes, with the
    very numbers of an eager run, and says once why it was slower."""
    cfg = experiments.make("probe", epochs=1, per_class=40)
    eager = experiments.run(cfg, device="cpu", use_cache=False)
    assert "notice" not in eager
    real = train.stepper
    monkeypatch.setattr(train, "stepper", lambda *a, graph=False: real(*a, graph=True))
    forced = experiments.run(cfg, device="cpu", use_cache=False)
    assert forced["notice"].count("could not be captured as a CUDA graph") == 1
    assert forced["probe_all"] == eager["probe_all"] and forced["joint_acc"] == eager["joint_acc"]


# ---------------------------------------------------------------- on a GPU

gpu = pytest.mark.skipif(not CUDA, reason="no CUDA device: the captured CUDA-graph step is checked on a GPU machine")


def split_run(opt, device, graph, bn=False, copies=0, epochs=2):
    """Tasks (1, 2) then (3, 4) of digits; accuracy on each task at the end (mean over copies)."""
    d = D.load("digits", device=device)
    m = (net(bn=bn, copies=copies)).to(device)
    o = make_optimizer(opt, m.parameters(), LR[opt])
    gen = train.generators(0, copies)
    for classes in ((1, 2), (3, 4)):
        x, y = d.subset(classes)
        train.train_task(m, o, x, y, make_loss("ce"), batch_size=32, gen=gen, epochs=epochs, graph=graph)
    views = [m.copy(i) for i in range(copies)] if copies else [m]
    return [sum(train.evaluate(v, d.x_test, d.y_test, 10, [(1, 2), (3, 4)], [1, 2, 3, 4])[0]["acc_tasks"][t]
                for v in views) / len(views) for t in (0, 1)]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["plain", "bn", "batched"])
def test_the_captured_step_trains_as_the_eager_one(opt, kind, recwarn):
    kw = {"bn": kind == "bn", "copies": 4 if kind == "batched" else 0}
    eager = split_run(opt, "cuda", False, **kw)
    graphed = split_run(opt, "cuda", True, **kw)
    assert not [w for w in recwarn if w.category is EagerFallback]  # it was captured
    # the same arithmetic in another order of kernels: equal to float rounding over a few hundred steps
    assert graphed == pytest.approx(eager, abs=0.02)


@gpu
@pytest.mark.gpu
def test_probe_on_cuda_equals_the_cpu_within_noise():
    cfg = experiments.make("probe", epochs=2)
    cpu = experiments.run(cfg, device="cpu", use_cache=False)
    cuda = experiments.run(cfg, device="cuda", use_cache=False)
    assert "notice" not in cuda
    assert cuda["joint_acc"] == pytest.approx(cpu["joint_acc"], abs=0.03)
    assert cuda["sequential_acc"] == pytest.approx(cpu["sequential_acc"], abs=0.05)


@gpu
@pytest.mark.gpu
def test_batched_probes_on_cuda_equal_each_copy_alone():
    cfg = experiments.make("probe", epochs=1, seeds=4)
    batched = experiments.run(cfg, device="cuda", use_cache=False)
    alone = [experiments.run(experiments.make("probe", epochs=1, seed=s), device="cuda", use_cache=False)
             for s in range(4)]
    for key in ("probe_seen", "probe_all"):
        assert batched[key] == pytest.approx([sum(r[key][t] for r in alone) / 4 for t in range(5)], abs=0.01)
