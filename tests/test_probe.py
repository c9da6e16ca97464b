"""The torch probe against a reference answer (scikit-learn's logistic regression), and batched
copies against each copy alone. Features carry the copies axis first: one copy is h[None].
(Its speed is measured by hand in bench/, not asserted here: a busy machine fails a clock.)"""
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from clviz import probe


def blobs(n, d=32, k=5, seed=0):
    centers = torch.randn(k, d, generator=torch.Generator().manual_seed(42)) * 0.3  # shared by train and test
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    return torch.relu(centers[y] + torch.randn(n, d, generator=g)), y


def test_matches_sklearn_logistic_regression():
    htr, ytr = blobs(3000)
    hte, yte = blobs(1000, seed=1)
    ours, = probe.probe_accuracy(htr[None], ytr, hte[None], yte)
    sc = StandardScaler().fit(htr.numpy())
    ref = LogisticRegression(max_iter=1000).fit(sc.transform(htr.numpy()), ytr.numpy()).score(sc.transform(hte.numpy()), yte.numpy())
    assert 0.5 < ref < 0.99  # a problem that is neither trivial nor hopeless
    assert abs(ours - ref) < 0.02


def sklearn_probabilities(h, y, l2):
    """scikit-learn's converged multinomial logistic regression with the probe's objective: mean
    cross-entropy + l2/2 |W|^2 (bias free) on standardised features is C = 1 / (l2 n)."""
    x = StandardScaler().fit_transform(h.numpy())
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=10000).fit(x, y.numpy())
    return torch.tensor(ref.predict_proba(x)).float()


@pytest.mark.parametrize("n, d, k", [(3000, 32, 5), (5000, 256, 10)])
def test_reaches_the_optimum_of_sklearn(n, d, k):
    h, y = blobs(n, d, k)
    ref = sklearn_probabilities(h, y, l2=1e-4)
    start = torch.softmax(probe.fit(h[None], y, k, steps=0)(h[None])[0], 1)  # the ridge start alone is far off
    ours = torch.softmax(probe.fit(h[None], y, k)(h[None])[0], 1)
    assert (start - ref).abs().max() > 0.3
    assert (ours - ref).abs().max() < 0.01


def test_batched_copies_are_fitted_as_if_alone():
    """Three copies' features at once, one with a unit that is dead (constant) in it alone: each
    copy's probe is the one it gets fitted alone, the dead unit has no say."""
    (h0, y), (h1, _), (h2, _) = (blobs(2000, seed=0), blobs(2000, seed=1), blobs(2000, seed=2))
    h2[:, 5] = 0.5
    h = torch.stack([h0, h1, h2])
    f = torch.stack([h0[:300], h1[:300], h2[:300]])
    # probabilities: float32 leaves the optimum's flat directions a few 1e-3 of play in the logits
    together = probe.fit(h, y, 5)(f).softmax(-1)
    alone = torch.cat([probe.fit(h[i:i + 1], y, 5)(f[i:i + 1]) for i in range(3)]).softmax(-1)
    assert torch.allclose(together, alone, atol=2e-3)
    without = probe.fit(torch.cat([h2[:, :5], h2[:, 6:]], 1)[None], y, 5)
    assert torch.allclose(alone[2], without(torch.cat([f[2:, :, :5], f[2:, :, 6:]], 2))[0].softmax(-1), atol=2e-3)
    for classes in (None, [3, 1]):  # (as on a GPU: a CPU fits the copies one by one)
        accs = probe.probe_accuracy(h, y, f, y[:300], classes, batched=True)
        alone = [probe.probe_accuracy(h[i:i + 1], y, f[i:i + 1], y[:300], classes)[0] for i in range(3)]
        assert accs == pytest.approx(alone, abs=1.01 / 300)


def test_seen_classes_are_relabelled():
    htr, ytr = blobs(2000)
    hte, yte = blobs(500, seed=1)
    two, = probe.probe_accuracy(htr[None], ytr, hte[None], yte, classes=[3, 1])
    assert two > probe.probe_accuracy(htr[None], ytr, hte[None], yte)[0]  # two classes are easier than five


def test_a_shifted_and_scaled_unit_is_the_same_probe():
    """The probe standardises each unit, so features a + b h (b > 0) are h to it: the same test
    predictions. A unit with a large mean and a small spread (1000 + 0.01 h) is where a one-pass
    variance, E[h^2] - mean^2, cancels in float32 (it scored 0.795 against 0.841 here)."""
    g = torch.Generator().manual_seed(0)
    n, k, d = 3000, 5, 16
    y = torch.randint(0, k, (n,), generator=g)
    h = (torch.randn(k, d, generator=g)[y] + 1.5 * torch.randn(n, d, generator=g)).clamp_min(0)
    s = 1000 + 0.01 * h
    a = probe.probe_correct(h[None, :2000], y[:2000], h[None, 2000:], y[2000:], batched=True)
    b = probe.probe_correct(s[None, :2000], y[:2000], s[None, 2000:], y[2000:], batched=True)
    assert (a == b).float().mean() >= 0.99 and abs(a.float().mean() - b.float().mean()) <= 0.005


def test_experiment_probes_fit_once_after_the_last_task_and_skip_unshown_seen_probes():
    """common.probes: after the last task the seen classes are all classes, and its one fit gives
    both figures, equal to a seen-classes fit of their own; with seen=False (Remedies, whose page
    shows the last one only) no seen-classes probe before it."""
    from clviz import data as D, metrics
    from clviz.experiments import common, make
    cfg = make("probe", per_class=40)
    data, tasks = D.load("digits"), [(1, 2), (3, 4), (5, 6), (7, 8), (9, 0)]
    torch.manual_seed(0)
    model = common.new_net(cfg, data, 0)
    test = metrics.forward_copies(model, data.x_test)
    sub = probe.fit_subset(len(data.y_train), cfg.probe_fit_n, data.device)
    htr = metrics.forward_copies(model, data.x_train[sub])[1]
    for k in (1, 4):
        own = probe.probe_accuracy(htr, data.y_train[sub], test[1], data.y_test, common.all_classes(tasks[:k + 1]))
        [rec] = common.probes(cfg, model, data, tasks, k, test)
        assert rec["probe_seen"] == own[0]
        [lean] = common.probes(cfg, model, data, tasks, k, test, seen=False)
        assert lean["probe_all"] == rec["probe_all"] and lean["probe_seen"] == (own[0] if k == 4 else None)
