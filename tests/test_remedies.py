"""Each remedy's mechanism against a hand computation, and the published ordering on digits."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clviz import experiments, models, plugin
from clviz.remedies.ewc import fisher_diagonal
from clviz.remedies.head import align_weights
from clviz.remedies.lwf import distillation, soft_targets
from clviz.remedies.memory import Memory
from clviz.remedies.ncm import class_means, nearest_mean_logits
from clviz.remedies.si import SI


def tiny(seed=0):
    torch.manual_seed(seed)
    return models.mlp(4, (5,), 3)


def test_ewc_fisher_is_the_mean_squared_per_sample_gradient():
    m = tiny()
    x, y = torch.randn(7, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    got = fisher_diagonal(m, x, y)
    ref = {n: torch.zeros_like(p) for n, p in m.named_parameters()}
    for i in range(7):  # one sample at a time, by autograd
        m.zero_grad()
        F.cross_entropy(m(x[i:i + 1]), y[i:i + 1]).backward()
        for n, p in m.named_parameters():
            ref[n] += p.grad ** 2 / 7
    for n in ref:
        assert torch.allclose(got[n], ref[n], atol=1e-7), n


def test_ewc_penalty_pulls_towards_the_anchor():
    cfg = experiments.make("remedies", ewc_lambda=2.0)
    ewc = plugin.METHODS["ewc"].obj(cfg, 3)
    m = tiny()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    ewc.after_task(m, 0, x, y)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1)
    base = lambda mm, xx, yy: (torch.zeros(()), None, None)
    loss, _, _ = ewc.loss(m, x, y, base)
    expect = 0.5 * 2.0 * sum((ewc.fisher[n] * 0.1 ** 2).sum() for n in ewc.fisher)
    assert loss.item() == pytest.approx(expect.item(), rel=1e-4)


def test_lwf_soft_targets_and_distillation_by_hand():
    z = torch.tensor([[1.0, 2.0, 4.0]])
    e = np.exp(np.array([1.0, 2.0, 4.0]) / 2)
    assert soft_targets(z, 2.0)[0].tolist() == pytest.approx((e / e.sum()).tolist())
    zs = torch.tensor([[0.0, 1.0, 0.0]])
    q = np.exp(np.array([0.0, 0.5, 0.0])) / np.exp(np.array([0.0, 0.5, 0.0])).sum()
    assert distillation(zs, z, 2.0).item() == pytest.approx(-(e / e.sum() * np.log(q)).sum() * 4, rel=1e-5)


def test_memory_is_class_balanced():
    g = torch.Generator().manual_seed(0)
    mem = Memory(3, g)
    y = torch.tensor([1] * 10 + [2] * 2 + [5] * 4)
    x = torch.arange(len(y)).float()[:, None]
    mem.add(x, y)
    counts = {c: int((mem.y == c).sum()) for c in (1, 2, 5)}
    assert counts == {1: 3, 2: 2, 5: 3}  # k per class, all of a class with fewer
    assert all(int(y[int(v)]) == int(c) for v, c in zip(mem.x[:, 0], mem.y))  # samples keep their labels
    xs, ys = mem.sample(50)
    assert set(ys.tolist()) <= {1, 2, 5} and len(ys) == 50


def test_weight_aligning_makes_the_norms_equal():
    head = torch.nn.Linear(4, 4)
    with torch.no_grad():
        head.weight[2:] *= 5  # the new classes' rows grew
    gamma = align_weights(head, [0, 1], [2, 3])
    norms = head.weight.norm(dim=1)
    assert norms[2:].mean().item() == pytest.approx(norms[:2].mean().item(), rel=1e-6) and gamma < 1


def test_ncm_against_numpy_nearest_mean():
    rng = np.random.default_rng(0)
    h, y = rng.random((60, 8)).astype(np.float32), rng.integers(0, 3, 60)
    means = class_means(torch.tensor(h), torch.tensor(y), 5)
    assert torch.isnan(means[3:]).all()  # classes 3 and 4 have no sample
    hn = h / np.linalg.norm(h, axis=1, keepdims=True)
    ref = np.stack([hn[y == c].mean(0) for c in range(3)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    test = rng.random((20, 8)).astype(np.float32)
    tn = test / np.linalg.norm(test, axis=1, keepdims=True)
    expect = ((tn[:, None, :] - ref[None]) ** 2).sum(-1).argmin(1)
    assert nearest_mean_logits(torch.tensor(test), means).argmax(1).numpy().tolist() == expect.tolist()


def test_si_path_integral_on_plain_sgd():
    """With SGD, each step changes theta by -lr g, so the path integral is lr * sum of g^2."""
    cfg = experiments.make("remedies", si_xi=0.1)
    si = SI(cfg, 3)
    m = tiny()
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    si.before_task(m, 0, x, y)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    start = {n: p.detach().clone() for n, p in m.named_parameters()}
    expect = {n: torch.zeros_like(p) for n, p in m.named_parameters()}
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        si.after_backward()
        for n, p in m.named_parameters():
            expect[n] += 0.1 * p.grad ** 2
        opt.step()
    si.after_task(m, 0, x, y)
    for n, p in m.named_parameters():
        assert torch.allclose(si.w[n], expect[n], atol=1e-6), n
        omega = expect[n] / ((p.detach() - start[n]) ** 2 + 0.1)
        assert torch.allclose(si.omega[n], omega, atol=1e-5), n


@pytest.fixture(scope="module")
def digits():
    return experiments.run(experiments.make("remedies"), device="cpu", use_cache=False)


def test_published_ordering_on_digits(digits):
    r = digits
    ft = r["finetune"]["final_acc"]
    assert ft < 0.3 and r["joint"]["final_acc"] > 0.9            # fine-tune ~20%, joint ~98%
    assert r["replay"]["final_acc"] > ft + 0.4                   # replay far above
    assert r["ncm"]["final_acc"] > ft + 0.4                      # iCaRL's classifier, from the same memory
    for m in ("ewc", "si"):                                      # regularisation: near fine-tune in class-IL,
        assert abs(r[m]["final_acc"] - ft) < 0.1, m              # even at strengths chosen on a validation split
    for m in ("ewc", "si", "lwf"):                               # ... and far below a memory of 50 per class
        assert r[m]["final_acc"] < r["replay"]["final_acc"] - 0.3, m
    assert r["head"]["final_acc"] > ft + 0.3                     # retraining only the head brings classes back
    assert r["finetune"]["probe_all"][-1] > 0.85                 # ... because the features kept them
    assert r["replay"]["memory"] == r["ncm"]["memory"] == 50 * 10 and r["finetune"]["memory"] == 0


def test_every_lens_is_there(digits):
    for name, part in digits.items():
        if name in plugin.METHODS:
            assert len(part["probe_all"]) == len(part["sparsity"]) == len(part["head_norm"]) == 5
            assert len(part["head_bias"][0]) == 10 and len(part["forgetting"]) == 4
            m = np.array(part["matrix"])
            bwt = np.mean([m[-1, j] - m[j, j] for j in range(4)])
            assert part["bwt"] == pytest.approx(bwt)


def test_methods_side_by_side_equal_each_alone(monkeypatch):
    """Remedies trains its methods two at a time, each in a thread (device.SIDE_BY_SIDE): every
    number of every method, and each method's own events in their order, exactly as when the
    methods train one after another (bit for bit: each has its own nets and generators)."""
    from clviz import device

    def timeless(x):  # the result less its wall-clock times
        if isinstance(x, dict):
            return {k: timeless(v) for k, v in x.items() if k != "seconds"}
        return [timeless(v) for v in x] if isinstance(x, list) else x
    cfg = experiments.make("remedies", per_class=40, epochs=2)
    out = {}
    for side in (2, 1):
        monkeypatch.setattr(device, "SIDE_BY_SIDE", side)
        events = []
        r = experiments.run(cfg, device="cpu", use_cache=False, on_event=events.append)
        own = {n: [{k: v for k, v in e.items() if k != "progress"} for e in events if e.get("run") == n]
               for n in cfg.methods}
        out[side] = timeless(r), own, [e["progress"] for e in events]
    assert out[2][0] == out[1][0]
    assert out[2][1] == out[1][1] and all(out[1][1].values())
    for progress in (out[2][2], out[1][2]):  # one count over both threads: it only grows, to the end
        assert progress == sorted(progress) and progress[-1] == 1.0


def test_an_error_in_a_phase_side_by_side_starts_no_other():
    """Phases two at a time: the first one's error stops the run (the phase beside it ends, none
    starts after it: the Reporter's halt, which a phase checks before it starts), and is raised."""
    import threading

    from clviz.experiments.common import Phase, Reporter
    from clviz.train import TrainingError
    rep, started, beside = Reporter(), [], threading.Event()

    def fails(emit):
        started.append("fails")
        beside.wait(10)  # (the second phase has started beside it)
        raise TrainingError("diverged")

    def fine(name):
        def run(emit):
            started.append(name)
            beside.set()
            rep.halt.wait(10)  # still running when the error is raised
            return name
        return run
    with pytest.raises(TrainingError):
        rep.run([Phase("a", 0, fails), *(Phase(n, 0, fine(n)) for n in "bcdef")], side_by_side=2)
    assert sorted(started) == ["b", "fails"] and rep.halt.is_set()
