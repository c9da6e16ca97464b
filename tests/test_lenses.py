"""The lenses of where and when forgetting happens (clviz/lenses.py), each against a reference
answer: a hand computation, numpy, or the same thing done by hand in plain PyTorch."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clviz import lenses, models
from clviz.ensemble import BatchedNet
from clviz.losses import make_loss
from clviz.train import generators, make_optimizer, run_sequential, train_task


def test_task_il_masks_the_logits_to_the_tasks_classes():
    # 4 classes, tasks (0,1) and (2,3); one copy. Hand-computed:
    # sample 0, label 0: logits [1, 0, 5, 0] -> class-IL says 2 (wrong), task-IL picks among 0,1 -> 0 (right)
    # sample 1, label 1: logits [2, 1, 0, 0] -> task-IL 0 (wrong)
    # sample 2, label 3: logits [9, 0, 1, 2] -> task-IL among 2,3 -> 3 (right); class-IL 0 (wrong)
    # sample 3, label 2: logits [0, 0, 3, 1] -> 2 (right)
    z = torch.tensor([[[1., 0, 5, 0], [2, 1, 0, 0], [9, 0, 1, 2], [0, 0, 3, 1]]])
    y = torch.tensor([0, 1, 3, 2])
    assert lenses.task_il(z, y, [(0, 1), (2, 3)]) == [[0.5, 1.0]]
    # a second copy that is right on everything within its task
    z2 = torch.cat([z, torch.tensor([[[1., 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]])])
    assert lenses.task_il(z2, y, [(0, 1), (2, 3)]) == [[0.5, 1.0], [1.0, 1.0]]


def numpy_cka(x, y):
    """Linear CKA, written from the formula of Kornblith et al. 2019 (eq. 5) in numpy."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x, "fro") ** 2 / (np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro"))


def test_linear_cka_against_numpy_and_its_invariances():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 8)), rng.normal(size=(50, 5)) + 0.3 * rng.normal(size=(50, 1))
    y[:, :3] += x[:, :3]  # related features
    ref = numpy_cka(x, y)
    assert lenses.linear_cka(torch.tensor(x), torch.tensor(y)) == pytest.approx(ref, rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))  # an orthogonal transform
    assert lenses.linear_cka(torch.tensor(x @ q * 3.7), torch.tensor(y)) == pytest.approx(ref, rel=1e-9)
    assert lenses.linear_cka(torch.tensor(x), torch.tensor(x @ q)) == pytest.approx(1.0, rel=1e-9)
    assert 0.1 < ref < 0.9  # (the case is not a trivial 0 or 1)


def small_data(n=240, classes=4, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g) + 2.0 * torch.nn.functional.one_hot(y, d)[:, :d].float()
    return x, y


def test_rollback_equals_restoring_saved_weights_by_hand():
    torch.manual_seed(0)
    net = models.mlp(6, (8, 8), 4)
    saved = [{n: p.detach() + 0.3 * torch.randn_like(p) for n, p in net.named_parameters()} for _ in range(2)]
    x, y = small_data()
    tests = [(x[y < 2], y[y < 2]), (x[y >= 2], y[y >= 2])]
    layers = lenses.layers(net)
    assert layers == [("hidden 1", "body.1"), ("hidden 2", "body.3"), ("head", "head")]
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    got = lenses.rollback(net, saved, layers, tests)[0]
    for name, path in layers:
        for k, (xt, yt) in enumerate(tests):
            by_hand = models.mlp(6, (8, 8), 4)
            by_hand.load_state_dict({n: saved[k][n] if n.rsplit(".", 1)[0] == path else before[n] for n in before})
            acc = (by_hand.eval()(xt).argmax(1) == yt).float().mean().item()
            assert got[name][k] == pytest.approx(acc, abs=1e-7), (name, k)
    for n, p in net.named_parameters():  # left as it was
        assert torch.equal(p, before[n])


def test_min_acc_and_wc_acc_follow_their_definitions():
    # 3 tasks; (task being trained, accuracy on each task) per evaluation
    series = [(0, [0.9, 0.0, 0.0]), (0, [0.95, 0.0, 0.0]),
              (1, [0.40, 0.5, 0.0]), (1, [0.60, 0.9, 0.0]),
              (2, [0.50, 0.2, 0.3]), (2, [0.55, 0.7, 0.8])]
    # task 0's lowest after its training: 0.40; task 1's after its training: 0.2
    assert lenses.min_acc(series, 3) == pytest.approx((0.40 + 0.2) / 2)
    # WC-ACC = 1/T acc of the last task at the end + (1 - 1/T) min-ACC = 0.8 / 3 + 2/3 * 0.3
    assert lenses.wc_acc(series, 3) == pytest.approx(0.8 / 3 + 2 / 3 * 0.3)


def test_forgetting_events_on_a_hand_built_sequence():
    # rows: evaluations; columns: examples
    correct = torch.tensor([[1, 0, 1, 1],
                            [0, 0, 1, 1],
                            [1, 1, 1, 0],
                            [0, 1, 0, 0],
                            [1, 0, 0, 1]], dtype=torch.bool)
    # example 0: 1->0, 1->0: 2; example 1: 0 0 1 1 0: 1; example 2: 1 1 1 0 0: 1; example 3: 1 1 0 0 1: 1
    assert lenses.forgetting_events(correct).tolist() == [2, 1, 1, 1]


def test_the_plane_passes_through_its_three_points_with_filter_normalised_axes():
    torch.manual_seed(1)
    net = models.mlp(6, (8,), 4)
    names = [n for n, _ in net.named_parameters()]
    ws = [{n: p.detach() + s * torch.randn_like(p) for n, p in net.named_parameters()} for s in (0.0, 0.5, 0.7)]
    w0, w1, w2 = (lenses.flat(w, names) for w in ws)
    spans = lenses.filters(ws[0], names)
    assert [(r, n) for _, r, n in spans] == [(8, 6), (1, 8), (4, 8), (1, 4)]  # rows of weights; a bias is one filter
    (e1, e2), pts = lenses.plane_axes(w0, w1, w2, spans)
    assert abs(float(e1 @ e2)) < 1e-9 * float(e1.norm() * e2.norm())
    for w, (a, b) in zip((w0, w1, w2), pts):  # each point is exactly where its coordinates say
        assert torch.allclose(w0 + a * e1 + b * e2, w, atol=1e-9)
    assert pts[0] == [0.0, 0.0] and abs(pts[1][1]) < 1e-9
    for e in (e1, e2):  # a unit step moves the filters by their own norm, in root mean square
        ratios = []
        for at, rows, n in spans:
            d, t = e[at:at + rows * n].view(rows, n), w0[at:at + rows * n].view(rows, n)
            ratios += (d.norm(dim=1) / t.norm(dim=1)).tolist()
        assert math.sqrt(np.mean(np.square(ratios))) == pytest.approx(1.0, rel=1e-9)


def test_plane_losses_equal_the_loss_at_each_point_by_hand():
    torch.manual_seed(2)
    net = models.mlp(6, (8,), 4)
    names = [n for n, _ in net.named_parameters()]
    w0 = lenses.flat(dict(net.named_parameters()), names).detach()
    e1, e2 = torch.randn_like(w0) * 0.1, torch.randn_like(w0) * 0.1
    x, y = small_data(40)
    got = lenses.plane_losses(net, names, w0, e1, e2, [-1.0, 0.5], [0.0, 2.0, 3.0], {"old": (x, y)}, chunk=4)
    for i, a in enumerate([-1.0, 0.5]):
        for j, b in enumerate([0.0, 2.0, 3.0]):
            w, by_hand, at = (w0 + a * e1 + b * e2).float(), models.mlp(6, (8,), 4), 0
            with torch.no_grad():
                for p in by_hand.parameters():
                    p.copy_(w[at:at + p.numel()].view_as(p))
                    at += p.numel()
            z = by_hand.eval()(x)
            assert got["old"]["loss"][i][j] == pytest.approx(torch.nn.functional.cross_entropy(z, y).item(), rel=1e-5)
            assert got["old"]["acc"][i][j] == pytest.approx((z.argmax(1) == y).float().mean().item())


def test_copies_with_their_own_parts_train_as_on_their_own():
    """train_task's `parts`: each copy of a BatchedNet on its own samples equals that net trained
    alone on them (the smallest part: every epoch draws all of it)."""
    x, y = small_data(200)
    parts = [(y < 2).nonzero().flatten(), (y >= 2).nonzero().flatten()]
    nets = []
    for s in range(2):
        torch.manual_seed(s)
        nets.append(models.mlp(6, (8,), 4))
    batched = BatchedNet(nets)
    opt = make_optimizer("adam", batched.parameters(), 1e-2)
    train_task(batched, opt, x, y, make_loss("ce"), batch_size=10, gen=generators(0, 2), epochs=2, parts=parts)
    for s in range(2):
        alone = nets[s]
        o = make_optimizer("adam", alone.parameters(), 1e-2)
        train_task(alone, o, x[parts[s]], y[parts[s]], make_loss("ce"), batch_size=10, gen=generators(s), epochs=2)
        for (n, p), q in zip(batched.copy(s).named_parameters(), alone.parameters()):
            assert torch.allclose(p, q, atol=1e-6), n


def test_the_watch_sees_the_first_steps_of_each_new_task(tmp_path):
    """Dense evaluations every `every` steps for the first `first` steps of each task after the
    first, beside every epoch's end, at the run's own step count."""
    from clviz import data as D
    x, y = small_data(240)
    data = D.Data("t", x[:160], y[:160], x[160:], y[160:], 4, (6,), 0.0, 1.0, "test")
    seen = []

    class Count(lenses.Watch):
        def __call__(self, model, k, step, z):
            seen.append((k, step))
            super().__call__(model, k, step, z)
    w = Count(data.y_test, [(0, 1), (2, 3)], every=3, first=7)
    torch.manual_seed(0)
    run_sequential(models.mlp(6, (8,), 4), data, [(0, 1), (2, 3)], make_loss("ce"), epochs=2, batch_size=8, watch=w)
    # 80 samples a task, batch 8: 10 steps an epoch. Task 0: epoch ends 10, 20; task 1: dense 23, 26, then 30, 40
    assert seen == [(0, 10), (0, 20), (1, 23), (1, 26), (1, 30), (1, 40)]
    gap = w.gap()
    assert [r["step"] for r in gap["rows"]] == [10, 20, 23, 26, 30, 40]
    accs = [r["acc_tasks"] for r in gap["rows"]]
    assert gap["per_copy"][0]["min_acc"] == pytest.approx(min(a[0] for a in accs[2:]))
