"""Metrics: accuracy per task, forgetting, population sparsity, gradient accumulation, savings."""
from __future__ import annotations

import torch


@torch.no_grad()
def forward_all(model, x, chunk=4096):
    """Logits and latent features for a whole split, in eval mode, in chunks (CNNs on CIFAR)."""
    was = model.training
    model.eval()
    zs, hs = zip(*(model(x[i:i + chunk], return_latent=True) for i in range(0, len(x), chunk)))
    model.train(was)
    return torch.cat(zs), torch.cat(hs)


def accuracy(logits, y) -> float:
    return (logits.argmax(1) == y).float().mean().item() if len(y) else float("nan")


def acc_per_task(logits, y, tasks):
    """Accuracy on each task's test samples, predicting over all classes (class-incremental)."""
    pred = logits.argmax(1)
    out = []
    for t in tasks:
        m = torch.isin(y, torch.as_tensor(t, device=y.device))
        out.append((pred[m] == y[m]).float().mean().item() if m.any() else float("nan"))
    return out


def acc_on(logits, y, classes) -> float:
    m = torch.isin(y, torch.as_tensor(list(classes), device=y.device))
    return accuracy(logits[m], y[m])


def sparsity(h) -> float:
    """Population sparsity: the fraction of latent activations that are exactly zero."""
    return (h == 0).float().mean().item()


def merge_histories(hists):
    """The histories of several seeds' runs as one, in the shape a BatchedNet run reports."""
    if len(hists) == 1:
        return hists[0]
    curve = [mean_std(rows) for rows in zip(*(h["curve"] for h in hists))]
    tasks = [mean_std(recs) for recs in zip(*(h["tasks"] for h in hists))]
    matrix = [t["acc_tasks"] for t in tasks]
    return {"matrix": matrix, "curve": curve, "tasks": tasks, "forgetting": forgetting(matrix)}


def forgetting(matrix):
    """Per task: best accuracy it ever had minus its final accuracy (matrix[i][j]: after task i, on task j)."""
    T = len(matrix)
    return [max(matrix[i][j] for i in range(j, T)) - matrix[-1][j] for j in range(T - 1)]


def layer_params(model):
    """Layer name -> its parameters, for layers with weights (Linear, Conv, BatchNorm)."""
    layers = {}
    for n, p in model.named_parameters():
        layers.setdefault(n.rsplit(".", 1)[0], []).append(p)
    return layers


class GradAccumulator:
    """Sums the L2 norm of each layer's gradient over the steps of a task (per copy for a
    BatchedNet, whose parameters carry the copy index as dimension 0; the mean over copies is read).

    Norms are accumulated on the device and read once per task, so the hot loop has no sync.
    """

    def __init__(self, model):
        self.layers = layer_params(model)
        self.copies = getattr(model, "n_copies", 1)
        self.reset()

    def reset(self):
        self.acc = None

    def step(self):
        sq = lambda p: p.grad.detach().reshape(self.copies, -1).pow(2).sum(1)
        norms = torch.stack([torch.sqrt(sum(sq(p) for p in ps if p.grad is not None)) for ps in self.layers.values()])
        self.acc = norms if self.acc is None else self.acc + norms

    def read(self):
        vals = self.acc.mean(1).tolist() if self.acc is not None else [0.0] * len(self.layers)
        return dict(zip(self.layers, vals))


# Per-unit values: unit i of one seed has nothing to do with unit i of another, so no mean.
FIRST_SEED_ONLY = ("bias", "heatmap", "heatmap_labels", "classes", "task", "epoch", "step", "lr")


def mean_std(records):
    """Merge the per-seed records (dicts) of one moment: numbers and lists of numbers become their
    mean, with the spread across seeds under `<key>_std`; dicts of numbers are averaged; anything
    else (heatmaps, labels, per-unit values) is taken from the first seed. One record is returned as it is."""
    if len(records) == 1:
        return records[0]
    out = {}
    for k, v in records[0].items():
        vals = [r[k] for r in records]
        if k in FIRST_SEED_ONLY:
            out[k] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            t = torch.tensor(vals, dtype=torch.float64)
            out[k], out[f"{k}_std"] = t.mean().item(), t.std(unbiased=False).item()
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            t = torch.tensor(vals, dtype=torch.float64)
            out[k], out[f"{k}_std"] = t.mean(0).tolist(), t.std(0, unbiased=False).tolist()
        elif isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            out[k] = {kk: sum(r[k][kk] for r in records) / len(records) for kk in v}
        else:
            out[k] = v
    return out


def savings(steps_first, steps_relearn) -> float:
    """1 - relearn/first: 1 means nothing to relearn, 0 means relearning costs as much as learning."""
    return 1.0 - steps_relearn / max(steps_first, 1)
