"""The metrics against reference answers: numpy, plain PyTorch, and hand computations."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clviz import metrics, models
from clviz.ensemble import BatchedNet
from clviz.losses import make_loss


def logits_and_labels(n=200, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * 2, torch.randint(0, c, (n,), generator=g)


def test_class_stats_against_masked_means():
    z, y = logits_and_labels()
    st = metrics.ClassStats(z, y, 6)
    zn, yn = z.numpy(), y.numpy()
    ce = F.cross_entropy(z, y, reduction="none").numpy()
    for classes in ([0], [1, 4], [2, 3, 5], range(6)):
        m = np.isin(yn, list(classes))
        assert st.acc(classes) == pytest.approx((zn[m].argmax(1) == yn[m]).mean(), abs=1e-9)
        # the mean over the samples of the given classes, not over all samples or all classes
        assert st.loss_on(classes) == pytest.approx(ce[m].mean(), rel=1e-5)
    assert np.isnan(metrics.ClassStats(z[y != 5], y[y != 5], 6).acc([5]))  # no sample of the class


def test_acc_on_and_accuracy():
    z, y = logits_and_labels()
    m = (y == 1) | (y == 3)
    assert metrics.acc_on(z, y, [1, 3]) == pytest.approx((z[m].argmax(1) == y[m]).float().mean().item())
    z = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    assert metrics.accuracy(z, torch.tensor([0, 1, 1, 1])) == 0.75  # by hand: rows 0, 1 and 3 are right


def test_sparsity_is_the_fraction_of_exact_zeros():
    h = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 1e-9]])
    assert metrics.sparsity(h[None]) == [5 / 8]  # 1e-9 is not zero; one copy, a list of one


def test_forgetting_on_a_hand_built_matrix():
    # matrix[i][j]: accuracy on task j after task i
    m = [[0.9, 0.0, 0.0],
         [0.5, 0.95, 0.0],
         [0.2, 0.6, 0.99]]
    # task 1: best 0.9, last 0.2 -> 0.7; task 2: best 0.95, last 0.6 -> 0.35 (the last task is not reported)
    assert metrics.forgetting(m) == pytest.approx([0.7, 0.35])
    m2 = [[0.5, 0.0], [0.8, 0.9]]  # task 1 improved after task 2: its best is its last
    assert metrics.forgetting(m2) == pytest.approx([0.0])


def test_class_stats_per_copy_equal_each_copys_own():
    g = torch.Generator().manual_seed(3)
    z, y = torch.randn(4, 50, 6, generator=g), torch.randint(0, 5, (50,), generator=g)  # class 5 absent
    for st, zi in zip(metrics.ClassStats.per_copy(z, y, 6), z):
        own = metrics.ClassStats(zi, y, 6)
        assert (st.right, st.count) == (own.right, own.count)
        assert st.loss == pytest.approx(own.loss, rel=1e-6)
        assert st.acc([0, 1]) == pytest.approx(metrics.acc_on(zi, y, [0, 1]), abs=1e-7)  # float32 mean there
    h = torch.relu(torch.randn(3, 20, 8, generator=g))
    assert metrics.sparsity(h) == [metrics.sparsity(hi[None])[0] for hi in h]
    assert metrics.sparsity(h) == [(hi == 0).float().mean().item() for hi in h]


def test_grad_accumulator_sums_the_norms():
    torch.manual_seed(0)
    m = models.mlp(10, (8, 6), 4)
    acc, loss, expect = metrics.GradAccumulator(m), make_loss("ce"), {n: 0.0 for n, _ in m.named_parameters()}
    for step in range(3):
        x, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
        m.zero_grad()
        loss(m, x, y)[0].backward()
        acc.step()
        for n, p in m.named_parameters():
            expect[n] += p.grad.norm().item()  # the norm, summed over steps (not the squared norm)
    assert acc.read() == pytest.approx(expect, rel=1e-5)
    sums = list(acc.acc)
    acc.reset()
    assert all(v == 0 for v in acc.read().values())
    assert all(a is b for a, b in zip(sums, acc.acc))  # zeroed in place: a captured CUDA graph adds into these


def test_grad_accumulator_of_a_batched_net_is_the_mean_over_copies():
    nets = []
    for s in range(3):
        torch.manual_seed(s)
        nets.append(models.mlp(10, (8,), 4))
    b = BatchedNet(nets)
    acc = metrics.GradAccumulator(b)
    x, y = torch.randn(3, 16, 10), torch.randint(0, 4, (3, 16))
    make_loss("ce")(b, x, y)[0].backward()
    acc.step()
    expect = {}
    for i, net in enumerate(nets):
        net.zero_grad()
        make_loss("ce")(net, x[i], y[i])[0].backward()
        for n, p in net.named_parameters():
            expect[n] = expect.get(n, 0.0) + p.grad.norm().item() / 3
    assert acc.read() == pytest.approx(expect, rel=1e-4)


def test_mean_std_against_numpy():
    recs = [{"a": 1.0, "xs": [0.0, 2.0], "d": {"l": 1.0}, "task": 0}, {"a": 2.0, "xs": [1.0, 2.0], "d": {"l": 3.0}, "task": 0},
            {"a": 6.0, "xs": [5.0, 2.0], "d": {"l": 5.0}, "task": 0}]
    m = metrics.mean_std(recs)
    assert m["a"] == pytest.approx(3.0) and m["a_std"] == pytest.approx(np.std([1.0, 2.0, 6.0]))
    assert m["xs"] == pytest.approx([2.0, 2.0]) and m["xs_std"] == pytest.approx([np.std([0, 1, 5]), 0.0])
    assert m["d"] == {"l": 3.0} and m["task"] == 0 and "task_std" not in m


def test_savings_formula():
    assert metrics.savings(100, 25) == 0.75
    assert metrics.savings(10, 30) == -2.0  # relearning took longer than first learning
    assert metrics.savings(0, 1) == 0.0     # a task learned in no step: no division by zero


def test_loss_along_line_against_plain_interpolation():
    torch.manual_seed(0)
    a, b = models.mlp(5, (7,), 3), models.mlp(5, (7,), 3)
    x, y = torch.randn(40, 5), torch.randint(0, 3, (40,))
    w0, w1 = a.state_dict(), b.state_dict()
    out = metrics.loss_along_line(models.mlp(5, (7,), 3), w0, w1, {"s": (x, y)}, steps=5)
    assert out["alpha"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for i, al in enumerate(out["alpha"]):
        ref = models.mlp(5, (7,), 3)
        ref.load_state_dict({n: (1 - al) * w0[n] + al * w1[n] for n in w0})
        z = ref(x)
        assert out["s"]["loss"][i] == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-5)
        assert out["s"]["acc"][i] == pytest.approx((z.argmax(1) == y).float().mean().item())


def test_merge_histories_averages_and_recomputes_forgetting():
    h1 = {"matrix": [[1.0, 0.0], [0.2, 0.9]], "curve": [{"acc_seen": 0.5, "task": 0}],
          "tasks": [{"acc_tasks": [1.0, 0.0], "task": 0}, {"acc_tasks": [0.2, 0.9], "task": 1}],
          "per_seed": [{"final accuracy": 0.55}]}
    h2 = {"matrix": [[0.8, 0.0], [0.4, 0.7]], "curve": [{"acc_seen": 0.7, "task": 0}],
          "tasks": [{"acc_tasks": [0.8, 0.0], "task": 0}, {"acc_tasks": [0.4, 0.7], "task": 1}],
          "per_seed": [{"final accuracy": 0.6}]}
    m = metrics.merge_histories([h1, h2])
    assert np.allclose(m["matrix"], [[0.9, 0.0], [0.3, 0.8]])
    assert m["forgetting"] == pytest.approx([0.6]) and m["curve"][0]["acc_seen"] == pytest.approx(0.6)
    assert m["per_seed"] == [{"final accuracy": 0.55}, {"final accuracy": 0.6}]  # each seed's own, in order
