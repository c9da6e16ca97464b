"""Linear probe on frozen latent features, solved in torch on the features' device, for one
network or for all copies of a batched run at once.

A multinomial logistic regression per copy, fitted in two moves: a ridge least-squares fit to
one-hot targets in closed form (one d x d solve, d = live latent units + 1) gives the start, and
a fixed number of L-BFGS steps on the regularised softmax cross-entropy (gradient written out,
no autograd) polishes it. The L-BFGS is batched and reads nothing back: every copy takes its
own direction and, along it, the best of a fixed ladder of step lengths (the logits along a line
are Z + t D^T X, so trying a length costs no matmul). torch's L-BFGS, which this replaces, ran
a Wolfe line search with host reads at every step, one network at a time: on a GPU a probe was
then latency, and 8 seeds meant 8 times as many fits.
Callers fit on a fixed subsample of training samples (`fit_subset`, Config.probe_fit_n).
Measured on a 2-core CPU: 60k x 256 features in 1.06 s (torch's L-BFGS: 0.95 s); the
probabilities within 0.01 of scikit-learn's converged fit (tests/test_probe.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Step lengths tried along each L-BFGS direction (0 first: a copy keeps its weights where no
# length lowers its loss). L-BFGS's own length is 1; the longer ones let the first step (along
# the normalised gradient) and badly scaled directions go further, the shorter ones back off.
LENGTHS = (0.0, 2.0, 1.0, 0.5, 0.25, 1 / 16)
HISTORY = 10  # curvature pairs L-BFGS keeps
# On a CPU, copies fitted on at most this many samples are fitted at once: there each fit is a
# few small ops per step, and one batched fit beats N (2-core CPU, 256 units, 5 copies of 1400
# samples, the digits: 0.07 s at once against 0.13 s one by one; the probe experiment with 5
# seeds 2.1 s against 2.5 s). On more samples the arithmetic dominates and each copy dropping
# its own dead units wins (12000 x 5: 0.50 s one by one against 0.70 s; Fashion-MNIST's 5000
# of 8 real copies: 0.59 against 0.72 s).
CPU_BATCH_UP_TO = 2000


def fit_subset(n: int, size: int, device=None):
    """A fixed random subset of at most `size` of n training indices (the same for every probe)."""
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size].sort().values
    return idx.to(device) if device is not None else idx


def _dot(a, b):
    """Per copy: the inner product of (copies, ...) tensors."""
    return (a * b).flatten(1).sum(1)


def fit(h, y, num_classes: int, l2: float = 1e-4, steps: int = 30):
    """A probe per copy: features -> logits over labels 0..num_classes-1. `h` is (copies,
    samples, units), with labels `y` (samples,) shared by all; the predictor maps (copies,
    samples, units) to (copies, samples, classes)."""
    n = h.shape[1]
    lo, hi = torch.aminmax(h, dim=1)
    varies = hi > lo  # (copies, units); a dead unit (constant: half of them after Split training) carries nothing
    live = varies.any(0)
    if not bool(live.all()):  # units dead in every copy are left out: they would cost without counting
        live = live.nonzero().flatten()
        h, varies = h[:, :, live], varies[:, live]
    else:
        live = slice(None)
    mu = h.mean(1, keepdim=True)
    # two passes: E[h^2] - mu^2 cancels in float32 for a unit with a large mean and a small spread
    # (1000 + 0.01 h: its variance came out 0 or negative, and the unit then read 100x too large)
    sd = (h - mu).square().mean(1, keepdim=True).sqrt() + 1e-6
    mask = varies[:, None, :].to(h.dtype)  # a copy's dead unit reads 0, so its weight stays exactly 0

    def features(g):  # of live units: standardised, with a constant column for the bias, feature-major
        ones = torch.ones(len(g), 1, g.shape[1], device=g.device, dtype=g.dtype)
        return torch.cat([((g - mu) / sd * mask).transpose(1, 2), ones], 1)

    # X^T, contiguous: both products of an L-BFGS step are then plain matmuls (60k x 257 features:
    # W^T X^T and X^T R take 10 + 9 ms, where X @ W and X.T @ R on the sample-major X took 17 + 43 ms)
    XT = features(h).contiguous()
    YT = F.one_hot(y, num_classes).to(XT.dtype).T.contiguous()  # (classes, samples)
    eye = torch.eye(XT.shape[1], device=h.device, dtype=torch.float64)
    A = (XT @ XT.transpose(1, 2)).double() + l2 * n * eye
    # A is symmetric positive definite: Cholesky, without its error check (a read back on a GPU).
    # (The batched LU of torch.linalg.solve fails on this CPU build once torch.set_num_threads has
    # been called: MKL's "Parameter 6 was incorrect on entry to DLASWP".)
    L = torch.linalg.cholesky_ex(A).L
    W = torch.cholesky_solve((XT @ YT.T).double(), L).to(XT.dtype) * 10.0  # ridge scores ~0..1 -> logits
    W = _lbfgs(W, XT, YT, l2, steps)

    def predict(f):
        return (W.transpose(1, 2) @ features(f[:, :, live])).transpose(1, 2)  # (copies, samples, classes)
    return predict


def probe_accuracy(h_tr, y_tr, h_te, y_te, classes=None, batched=None, **kw):
    """Fit on the train features of `classes` (all if None), score on their test features, of
    (copies, samples, units) features: a list, one accuracy per copy. The copies are fitted at
    once where `batched` (default: on a GPU, which waits on launches and reads, not on
    arithmetic, and on a CPU for small fits, CPU_BATCH_UP_TO); else one by one, each without
    its own dead units."""
    if classes is not None:
        cls = torch.as_tensor(sorted(classes), device=y_tr.device)
        mtr, mte = torch.isin(y_tr, cls), torch.isin(y_te, cls)
        h_tr, h_te = h_tr[..., mtr, :], h_te[..., mte, :]
        y_tr, y_te = torch.searchsorted(cls, y_tr[mtr]), torch.searchsorted(cls, y_te[mte])  # relabel 0..k-1
    return probe_correct(h_tr, y_tr, h_te, y_te, batched, **kw).float().mean(-1).tolist()


def probe_correct(h_tr, y_tr, h_te, y_te, batched=None, **kw):
    """Per copy and test sample: is the probe fitted on (h_tr, y_tr) right? (copies, test samples)
    booleans, for scores on any part of the test set (each task's, for the probe's control)."""
    if batched is None:  # a GPU waits on launches; a CPU on small fits too (each of 30 steps is a few ops)
        batched = h_tr.is_cuda or h_tr.shape[1] <= CPU_BATCH_UP_TO
    if len(h_tr) > 1 and not batched:
        return torch.cat([probe_correct(a[None], y_tr, b[None], y_te, batched, **kw) for a, b in zip(h_tr, h_te)])
    k = int(max(y_tr.max(), y_te.max())) + 1
    with torch.no_grad():
        predict = fit(h_tr.float(), y_tr, k, **kw)
        return predict(h_te.float()).argmax(-1) == y_te


def _lbfgs(W, XT, YT, l2: float, steps: int):
    """`steps` L-BFGS steps on each copy's mean cross-entropy + l2/2 |weights|^2 (not the bias
    row), from W (copies, features + 1, classes); XT (copies, features + 1, samples), YT one-hot
    (classes, samples). Copies never mix: each has its own directions, lengths and history."""
    n = XT.shape[2]
    reg = torch.ones_like(W[:1])
    reg[:, -1] = 0  # the bias row is not penalised
    lengths = torch.tensor(LENGTHS, device=W.device, dtype=W.dtype)

    def grad(Z, W):  # X^T (softmax - Y) / n + l2 W
        return XT @ (torch.softmax(Z, 1) - YT).transpose(1, 2) / n + l2 * reg * W

    Z = W.transpose(1, 2) @ XT  # (copies, classes, samples) logits
    G = grad(Z, W)
    gamma = 1 / G.flatten(1).norm(dim=1).clamp_min(1e-12)  # the first step: along the normalised gradient
    pairs = []  # (s, y, 1 / y.s) of the last HISTORY steps; 1 / y.s = 0 marks a pair without curvature
    for _ in range(steps):
        q, alphas = -G, []
        for s, yv, rho in reversed(pairs):  # the two-loop recursion, per copy
            a = rho * _dot(s, q)
            q = q - a[:, None, None] * yv
            alphas.append(a)
        r = gamma[:, None, None] * q
        for (s, yv, rho), a in zip(pairs, reversed(alphas)):
            r = r + (a - rho * _dot(yv, r))[:, None, None] * s
        ZD = r.transpose(1, 2) @ XT
        # the loss at each length t, every copy: logits Z + t ZD; the penalty is quadratic in t
        Zt = Z + lengths[:, None, None, None] * ZD  # (lengths, copies, classes, samples)
        right = _dot(Z, YT[None]) + lengths[:, None] * _dot(ZD, YT[None])  # the true classes' logits, summed
        ce = (torch.logsumexp(Zt, 2).sum(2) - right) / n
        Wr, Dr = W * reg, r * reg
        pen = 0.5 * l2 * (_dot(Wr, Wr) + 2 * lengths[:, None] * _dot(Wr, Dr) + lengths[:, None] ** 2 * _dot(Dr, Dr))
        t = lengths[(ce + pen).argmin(0)]  # (copies,): the first of equal losses, so 0 keeps the weights
        s = t[:, None, None] * r
        W, Z = W + s, Z + t[:, None, None] * ZD
        G, previous = grad(Z, W), G
        yv = G - previous
        ys = _dot(yv, s)
        curved = ys > 1e-10  # a step of length 0 (or a flat one) teaches L-BFGS nothing
        pairs = (pairs + [(s, yv, torch.where(curved, 1 / ys, 0))])[-HISTORY:]
        gamma = torch.where(curved, ys / _dot(yv, yv).clamp_min(1e-30), gamma)
    return W
