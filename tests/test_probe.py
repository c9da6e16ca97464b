"""The torch probe against a reference answer (scikit-learn's logistic regression), and its speed."""
import time

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
    ours = probe.probe_accuracy(htr, ytr, hte, yte)
    sc = StandardScaler().fit(htr.numpy())
    ref = LogisticRegression(max_iter=1000).fit(sc.transform(htr.numpy()), ytr.numpy()).score(sc.transform(hte.numpy()), yte.numpy())
    assert 0.5 < ref < 0.99  # a problem that is neither trivial nor hopeless
    assert abs(ours - ref) < 0.02


def test_seen_classes_are_relabelled():
    htr, ytr = blobs(2000)
    hte, yte = blobs(500, seed=1)
    two = probe.probe_accuracy(htr, ytr, hte, yte, classes=[3, 1])
    assert two > probe.probe_accuracy(htr, ytr, hte, yte)  # two classes are easier than five


def test_60k_by_256_is_fast():
    h, y = blobs(60000, d=256, k=10)
    probe.probe_accuracy(h[:1000], y[:1000], h[:100], y[:100])  # warm-up
    times = []
    for _ in range(3):  # the best of three: a time, not the machine's other load, is what is tested
        t = time.perf_counter()
        probe.probe_accuracy(h, y, h[:10000], y[:10000])
        times.append(time.perf_counter() - t)
    # 1.0 s on an idle 2-core CPU for these dense features (0.4 s on real latent features, which
    # have dead units); the bound leaves room for a busy CI machine
    assert min(times) < 3.0
