"""Where and when forgetting happens: the measures behind the `depth` experiment and the
Remedies page's per-method lenses. Pure tensor functions, each tested against a reference answer
(tests/test_lenses.py), and `Watch`, which collects what a run shows between its tasks.

- task-IL vs class-IL (van de Ven & Tolias 2019): accuracy with the logits masked to the task's
  own classes beside the plain one; the gap is the head choosing between tasks.
- layer rollback (Ramasesh et al., ICLR 2021) and linear CKA (Kornblith et al. 2019): which
  layer lost a task, and how far each layer's features moved.
- the stability gap (De Lange et al., ICLR 2023): min-ACC and WC-ACC from dense evaluations.
- forgetting events (Toneva et al., ICLR 2019): correct-to-incorrect transitions per test example.
- the loss plane through three weight vectors, in filter-normalised units (Li et al. 2018).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from . import metrics


# ---------------------------------------------------------------- task-IL vs class-IL

def task_il(z, y, tasks) -> list[list[float]]:
    """Per copy, per task: accuracy on the task's test samples with the logits masked to the task's
    own classes (task-incremental: the task is known at test time). z: (copies, samples, classes)."""
    out = []
    for t in tasks:
        cls = torch.as_tensor(list(t), device=y.device)
        m = torch.isin(y, cls)
        pred = cls[z[:, m][..., cls].argmax(-1)]  # the best of the task's own logits, as a class
        out.append((pred == y[m]).float().mean(-1) if m.any() else torch.full((len(z),), math.nan, device=y.device))
    return torch.stack(out, 1).tolist()


# ---------------------------------------------------------------- layers: rollback and CKA

def layers(net) -> list[tuple[str, str]]:
    """(name shown, module path) of each layer with weights, in forward order: "hidden 1", ...,
    "head" (a CNN's convolutions are "conv 1", ...)."""
    out, n = [], {nn.Linear: 0, nn.Conv2d: 0}
    for path, m in net.named_modules():
        if type(m) in n and path.startswith("body."):
            n[type(m)] += 1
            out.append((f"{'hidden' if type(m) is nn.Linear else 'conv'} {n[type(m)]}", path))
    return out + [("head", "head")]


def _of(path: str, names) -> list[str]:
    return [n for n in names if n.rsplit(".", 1)[0] == path]


@torch.no_grad()
def rollback(model, saved: list[dict], net_layers, tests, forward=metrics.forward_copies) -> list[dict]:
    """Per copy, {layer: [accuracy on task k's test data (x, y) = tests[k] with that layer's weights
    put back to saved[k] (the weights after task k), every other layer as it is now]}. The model
    is left as it was."""
    params = dict(model.named_parameters())
    now = {n: p.clone() for n, p in params.items()}
    out = [{} for _ in range(model.n_copies)]
    for name, path in net_layers:
        accs = []
        for k, (x, y) in enumerate(tests):
            for n in _of(path, params):
                params[n].copy_(saved[k][n])
            accs.append((forward(model, x)[0].argmax(-1) == y).float().mean(-1))
            for n in _of(path, params):
                params[n].copy_(now[n])
        for c, row in enumerate(torch.stack(accs, 1).tolist()):
            out[c][name] = row
    return out


@torch.no_grad()
def features(net, x, net_layers) -> dict:
    """The output of each layer of a plain Net (after its activation and pooling, flattened;
    the head's logits) on x: {layer: (samples, units)}."""
    was = net.training
    net.eval()
    outs, h = {}, x
    for name, m in net.body.named_children():
        h = outs[f"body.{name}"] = m(h)
    outs["head"] = net.head(h)
    net.train(was)
    order = list(outs)
    feats = {}
    for i, (name, path) in enumerate(net_layers):  # a layer's features: the last output before the next layer
        end = order.index(net_layers[i + 1][1]) - 1 if i + 1 < len(net_layers) else len(order) - 1
        feats[name] = outs[order[end]].flatten(1)
    return feats


def linear_cka(x, y) -> float:
    """Linear CKA of two feature matrices of the same samples (samples, units):
    |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F), Xc and Yc centred per unit (Kornblith et al. 2019).
    1 for features equal up to an orthogonal transform and an isotropic scaling."""
    return cka_against(y)(x)


def cka_against(y):
    """linear_cka(., y) for many x against one y: y centred and its Gram norm computed once (the
    same arithmetic as one call each)."""
    y = y.double() - y.double().mean(0)
    gy = (y.T @ y).norm()

    def cka(x) -> float:
        x = x.double() - x.double().mean(0)
        den = (x.T @ x).norm() * gy
        return ((y.T @ x).norm() ** 2 / den).item() if den > 0 else math.nan
    return cka


# ---------------------------------------------------------------- the stability gap

def min_acc(series, T: int) -> float:
    """min-ACC (De Lange et al. 2023): over the tasks learned before the last, the mean of each
    task's lowest accuracy at any evaluation after its own training ended. `series`: (task being
    trained, [accuracy on each task]) per evaluation, in order."""
    lows = [min(acc[j] for k, acc in series if k > j) for j in range(T - 1)]
    return sum(lows) / len(lows)


def wc_acc(series, T: int) -> float:
    """WC-ACC (De Lange et al. 2023): 1/T of the last task's final accuracy plus (1 - 1/T) of min-ACC."""
    return series[-1][1][T - 1] / T + (1 - 1 / T) * min_acc(series, T)


# ---------------------------------------------------------------- forgetting events

def forgetting_events(correct) -> torch.Tensor:
    """Per example, the transitions from correct to incorrect between consecutive evaluations.
    correct: (evaluations, examples) booleans."""
    c = correct.to(torch.int8)
    return ((c[:-1] == 1) & (c[1:] == 0)).sum(0)


# ---------------------------------------------------------------- the loss plane

def flat(weights: dict, names) -> torch.Tensor:
    return torch.cat([weights[n].reshape(-1).double() for n in names])


def filters(weights: dict, names) -> list[tuple[int, int, int]]:
    """(start, rows, row length) of each parameter in the flat vector: a weight's filters are its
    rows (a unit's incoming weights, a convolution's output channel); a bias is one filter."""
    out, at = [], 0
    for n in names:
        w = weights[n]
        rows = w.shape[0] if w.dim() > 1 else 1
        out.append((at, rows, w.numel() // rows))
        at += w.numel()
    return out


def filter_scale(d, theta, spans) -> float:
    """How far a step along d moves the filters, relative to their own norm (Li et al. 2018's
    filter normalisation), as one number: the root mean square over filters of |d_f| / |theta_f|."""
    ratios = [(d[a:a + r * n].view(r, n).norm(dim=1) / theta[a:a + r * n].view(r, n).norm(dim=1).clamp_min(1e-12))
              for a, r, n in spans]
    return torch.cat(ratios).pow(2).mean().sqrt().item()


def plane_axes(w0, w1, w2, spans):
    """Axes of the plane through three flat weight vectors: e1 along w1 - w0, e2 the part of
    w2 - w0 orthogonal to it (Garipov et al. 2018), each scaled so that a unit step moves the
    filters of w0 by their own norm (root mean square). Li et al. rescale each filter on its
    own; that would bend the plane off the three points, so here each axis has one factor.
    Returns (e1, e2) and the points' coordinates [(0, 0), (a1, 0), (a2, b2)]."""
    u = w1 - w0
    v = (w2 - w0) - ((w2 - w0) @ u) / (u @ u) * u
    e1, e2 = u / filter_scale(u, w0, spans), v / filter_scale(v, w0, spans)
    return (e1, e2), [coords(w, w0, e1, e2) for w in (w0, w1, w2)]


def coords(w, w0, e1, e2):
    """The plane coordinates of w's projection (e1 and e2 are orthogonal)."""
    return [((w - w0) @ e1 / (e1 @ e1)).item(), ((w - w0) @ e2 / (e2 @ e2)).item()]


@torch.no_grad()
def plane_losses(net, names, w0, e1, e2, a, b, splits: dict, chunk=16) -> dict:
    """Loss and accuracy of `net` (a plain Net) at w0 + a_i e1 + b_j e2 for every grid point, on
    each (x, y) of `splits`, evaluated in chunks of grid points at once (vmap over the weights):
    {split: {"loss": [[...] per b] per a, "acc": ...}}."""
    shapes = [(n, dict(net.named_parameters())[n].shape) for n in names]
    A, B = torch.meshgrid(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), indexing="ij")
    A, B = A.reshape(-1, 1).to(w0.device), B.reshape(-1, 1).to(w0.device)
    was = net.training
    net.eval()
    f = vmap(lambda p, x: functional_call(net, p, (x,)), in_dims=(0, None))
    out = {s: {"loss": [], "acc": []} for s in splits}
    for i in range(0, len(A), chunk):  # the points of a chunk only: a whole grid of weights would not fit
        flatp = (w0[None] + A[i:i + chunk] * e1 + B[i:i + chunk] * e2).float()
        params, at = {}, 0
        for n, shape in shapes:
            k = math.prod(shape)
            params[n] = flatp[:, at:at + k].reshape(len(flatp), *shape)
            at += k
        for s, (x, y) in splits.items():
            z = f(params, x)  # (points, samples, classes)
            out[s]["loss"] += F.cross_entropy(z.transpose(1, 2), y.expand(len(z), -1), reduction="none").mean(1).tolist()
            out[s]["acc"] += (z.argmax(-1) == y).float().mean(1).tolist()
    net.train(was)
    n_b = len(b)
    return {s: {m: [v[j:j + n_b] for j in range(0, len(v), n_b)] for m, v in d.items()} for s, d in out.items()}


def plane_grid(points, n: int, margin=0.25):
    """n values along each axis, spanning the points' coordinates with a margin either side."""
    axes = []
    for d in (0, 1):
        lo, hi = min(p[d] for p in points), max(p[d] for p in points)
        pad = margin * (hi - lo or 1.0)
        axes.append(torch.linspace(lo - pad, hi + pad, n).tolist())
    return axes


# ---------------------------------------------------------------- what a run shows between its tasks

class Watch:
    """Sees the live test pass of a run (train.run_sequential's `watch`) at every epoch's end and,
    every `every` steps, in the first `first` steps of each task after the first. Keeps, per
    copy, the accuracy on each task at each evaluation (the stability gap) and each live test
    example's correctness (forgetting events); during the tasks in `path`, copy 0's weights
    (the loss plane's path). Nothing is read back before the run ends."""

    def __init__(self, y_live, tasks, every: int, first: int, path=()):
        self.y, self.tasks, self.every, self.first, self.path = y_live, tasks, every, first, set(path)
        task_of = torch.full((int(y_live.max()) + 1,), -1, dtype=torch.long)
        for k, t in enumerate(tasks):
            task_of[list(t)] = k
        t = task_of.to(y_live.device)[y_live]
        self.masks = [t == j for j in range(len(tasks))]
        self.evals, self.right, self.weights = [], [], []  # per evaluation

    def __call__(self, model, k, step, z):
        ok = z.argmax(-1) == self.y  # (copies, samples)
        self.right.append(ok)
        self.evals.append((k, step, torch.stack([ok[:, m].float().mean(1) for m in self.masks], 1)))
        if k in self.path:
            params = model.named_parameters()
            self.weights.append((k, step, {n: (p[0] if model.batched else p).detach().clone() for n, p in params}))

    def gap(self) -> dict:
        """The evaluations as rows (the mean over copies, with the spread), and each copy's min-ACC and WC-ACC."""
        accs = torch.stack([a for _, _, a in self.evals]).tolist()  # (evaluations, copies, tasks): one read
        rows = [{"task": k, "step": s, **metrics.mean_std([{"acc_tasks": c} for c in a])}
                for (k, s, _), a in zip(self.evals, accs)]
        T = len(self.tasks)
        per_copy = [[(k, a[c]) for (k, _, _), a in zip(self.evals, accs)] for c in range(len(accs[0]))]
        return {"rows": rows, "per_copy": [{"min_acc": min_acc(s, T), "wc_acc": wc_acc(s, T)} for s in per_copy]}

    def counts(self):
        """Per copy, each live test example's forgetting events over the evaluations (numpy)."""
        R = torch.stack(self.right)  # (evaluations, copies, samples)
        return forgetting_events(R.flatten(1)).view(R.shape[1:]).cpu().numpy()
