"""Linear probe on frozen latent features, solved in torch on the features' device.

A ridge least-squares fit to one-hot targets in closed form on all samples (one d x d solve,
d = latent width) gives a good start; L-BFGS steps on softmax cross-entropy then polish it into
a logistic-regression probe. The polish reads the features once per step, so it runs on a fixed
subsample of at most `polish_n` samples: on Fashion-MNIST features (60k x 256) that is 0.25 s
instead of 0.65 s for the whole set, at the same accuracy (0.735 vs 0.730; sklearn's converged
LogisticRegression: 0.748 in 10 s).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def fit(h, y, num_classes: int, l2: float = 1e-4, steps: int = 30, polish_n: int = 10_000):
    """Returns a function features -> logits (over `num_classes` labels 0..num_classes-1)."""
    mu, sd = h.mean(0), h.std(0) + 1e-6  # standardise: dead units get sd=eps, weight ~0
    X = torch.cat([(h - mu) / sd, torch.ones(len(h), 1, device=h.device)], 1)
    Y = F.one_hot(y, num_classes).to(X.dtype)
    A = (X.T @ X).double() + l2 * len(X) * torch.eye(X.shape[1], device=h.device, dtype=torch.float64)
    W = (torch.linalg.solve(A, (X.T @ Y).double()).to(X.dtype) * 10.0).contiguous()  # ridge scores are ~0..1: sharpen into logits
    if steps:
        if len(X) > polish_n:
            keep = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))[:polish_n].to(X.device)
            X, y = X[keep], y[keep]
        W.requires_grad_(True)
        opt = torch.optim.LBFGS([W], lr=1, max_iter=steps, history_size=10, line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(X @ W, y) + 0.5 * l2 * (W[:-1] ** 2).sum()
            loss.backward()
            return loss
        with torch.enable_grad():
            opt.step(closure)
        W = W.detach()
    return lambda f: torch.cat([(f - mu) / sd, torch.ones(len(f), 1, device=f.device)], 1) @ W


def probe_accuracy(h_tr, y_tr, h_te, y_te, classes=None, **kw) -> float:
    """Fit on the train features of `classes` (all if None), score on their test features."""
    if classes is not None:
        cls = torch.as_tensor(sorted(classes), device=y_tr.device)
        mtr, mte = torch.isin(y_tr, cls), torch.isin(y_te, cls)
        h_tr, h_te = h_tr[mtr], h_te[mte]
        y_tr, y_te = torch.searchsorted(cls, y_tr[mtr]), torch.searchsorted(cls, y_te[mte])  # relabel 0..k-1
        k = len(cls)
    else:
        k = int(max(y_tr.max(), y_te.max())) + 1
    with torch.no_grad():
        predict = fit(h_tr.float(), y_tr, k, **kw)
        return (predict(h_te.float()).argmax(1) == y_te).float().mean().item()
