"""Metrics: accuracy per task, forgetting, population sparsity, gradient accumulation, savings."""
from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def forward_all(model, x, chunk=None):
    """Logits and latent features for a whole split, in eval mode, in chunks; of a BatchedNet,
    (copies, samples, ...) from one pass of all copies. Small chunks keep a CNN's activations in
    a CPU's cache (10k CIFAR images: 2.4 s in chunks of 256, 5.7 s in chunks of 4096; the MLP on
    MNIST does not mind: 35 ms either way); a GPU wants few, large launches."""
    chunk = chunk or (256 if x.device.type == "cpu" else 8192)
    dim = 1 if model.batched else 0
    was = model.training
    model.eval()
    zs, hs = zip(*(model(x[i:i + chunk], return_latent=True) for i in range(0, len(x), chunk)))
    model.train(was)
    return torch.cat(zs, dim), torch.cat(hs, dim)


def forward_copies(model, x, chunk=None):
    """`forward_all` with the copies axis always there: (copies, samples, ...), one copy of a
    plain Net. Every per-copy measure (evaluation, probes) takes this, and gives a list."""
    z, h = forward_all(model, x, chunk)
    return (z, h) if model.batched else (z[None], h[None])


def accuracy(logits, y) -> float:
    return (logits.argmax(1) == y).float().mean().item() if len(y) else float("nan")


class ClassStats:
    """Per-class correct predictions, samples and summed cross-entropy of one pass over a split:
    every accuracy and loss over any set of classes is then a sum of a few numbers (one sync)."""

    def __init__(self, logits, y, num_classes: int):
        self.right, self.count, self.loss = _class_sums(logits[None], y, num_classes)[0]

    @classmethod
    def per_copy(cls, logits, y, num_classes: int) -> list["ClassStats"]:
        """One ClassStats per copy of (copies, samples, classes) logits on the same labels, one sync."""
        out = []
        for sums in _class_sums(logits, y, num_classes):
            st = cls.__new__(cls)
            st.right, st.count, st.loss = sums
            out.append(st)
        return out

    def _mean(self, values, classes) -> float:
        n = sum(self.count[c] for c in classes)
        return sum(values[c] for c in classes) / n if n else float("nan")

    def acc(self, classes) -> float:
        return self._mean(self.right, classes)

    def loss_on(self, classes) -> float:
        return self._mean(self.loss, classes)


def _class_sums(logits, y, num_classes):
    """[copy][right | count | loss][class] of (copies, samples, classes) logits: one bincount
    each over copy * num_classes + label, one copy to the host."""
    n, c = logits.shape[0], logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, c), y.repeat(n), reduction="none")
    right = (logits.argmax(-1) == y).reshape(-1).to(ce.dtype)
    bins = (torch.arange(n, device=y.device)[:, None] * num_classes + y).reshape(-1)
    sums = torch.stack([torch.bincount(bins, w, n * num_classes).to(ce.dtype) for w in (right, None, ce)])
    return sums.reshape(3, n, num_classes).transpose(0, 1).tolist()


def acc_on(logits, y, classes) -> float:
    m = torch.isin(y, torch.as_tensor(list(classes), device=y.device))
    return accuracy(logits[m], y[m])


def sparsity(h) -> list:
    """Population sparsity, per copy: the fraction of latent activations that are exactly zero,
    of (copies, samples, units) features (forward_copies)."""
    return (h == 0).float().mean((1, 2)).tolist()


def merge_histories(hists):
    """The histories of several seeds' runs as one, in the shape a BatchedNet run reports."""
    if len(hists) == 1:
        return hists[0]
    curve = [mean_std(rows) for rows in zip(*(h["curve"] for h in hists))]
    tasks = [mean_std(recs) for recs in zip(*(h["tasks"] for h in hists))]
    matrix = [t["acc_tasks"] for t in tasks]
    return {"matrix": matrix, "curve": curve, "tasks": tasks, "forgetting": forgetting(matrix),
            "per_seed": [s for h in hists for s in h["per_seed"]]}


def lenses(records) -> dict:
    """What a comparison reads of one seed's run (clviz/compare.py), from its per-task records:
    each number of its own, so that a verdict can weigh seeds against seeds, not means."""
    m = [r["acc_tasks"] for r in records]
    out = {"final accuracy": records[-1]["acc_seen"], "newest task": m[-1][-1],
           "forgetting of task 1": forgetting(m)[0] if len(m) > 1 else 0.0,
           "BWT": sum(m[-1][j] - m[j][j] for j in range(len(m) - 1)) / max(len(m) - 1, 1),
           "sparsity after the last task": records[-1]["sparsity"]}
    if "probe_all" in records[-1]:
        out["probe on all classes"] = records[-1]["probe_all"]
    if "task_il" in records[-1]:  # the head's choice between tasks taken away (clviz/lenses.py)
        out["task-IL accuracy"] = sum(records[-1]["task_il"]) / len(records[-1]["task_il"])
    return out


def forgetting(matrix):
    """Per task: best accuracy it ever had minus its final accuracy (matrix[i][j]: after task i, on task j)."""
    T = len(matrix)
    return [max(matrix[i][j] for i in range(j, T)) - matrix[-1][j] for j in range(T - 1)]


class GradAccumulator:
    """Sums the L2 norm of each parameter tensor's gradient (a layer's weight, its bias) over the
    steps of a task; for a BatchedNet (copy index in dimension 0) per copy, read as the mean.

    Two fused kernels a step (`_foreach_norm`, `_foreach_add_`) and no sync: the norms stay on
    the device until `read` at the end of the task, so the hot loop pays ~30 us, not ~180 us.
    """

    def __init__(self, model):
        self.named = list(model.named_parameters())
        self.batched, self.copies = model.batched, model.n_copies
        self.acc = [torch.zeros(self.copies if self.batched else (), device=p.device) for _, p in self.named]

    def reset(self):
        torch._foreach_zero_(self.acc)  # in place: a captured CUDA graph of the step adds into these very tensors

    def step(self):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for _, p in self.named]
        if self.batched:
            norms = [g.reshape(self.copies, -1).norm(dim=1) for g in grads]
        else:
            norms = torch._foreach_norm(grads)
        torch._foreach_add_(self.acc, norms)

    def read(self):
        return dict(zip((n for n, _ in self.named), torch.stack([a.mean() for a in self.acc]).tolist()))


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


@torch.no_grad()
def loss_along_line(model, w0: dict, w1: dict, splits: dict, steps: int = 11):
    """Loss and accuracy of `model` with the weights (1 - a) w0 + a w1, for `steps` values of a
    from 0 to 1, on each (x, y) of `splits` ({name: (x, y)}). Integer buffers (BatchNorm's
    counter) are taken from w1. Returns {"alpha": [...], name: {"loss": [...], "acc": [...]}}."""
    alphas = torch.linspace(0, 1, steps).tolist()
    out = {"alpha": [round(a, 4) for a in alphas], **{name: {"loss": [], "acc": []} for name in splits}}
    for a in alphas:
        model.load_state_dict({n: torch.lerp(w0[n], w1[n], a) if w1[n].is_floating_point() else w1[n] for n in w1})
        for name, (x, y) in splits.items():
            z, _ = forward_all(model, x)
            out[name]["loss"].append(F.cross_entropy(z, y).item())
            out[name]["acc"].append(accuracy(z, y))
    return out


def savings(steps_first, steps_relearn) -> float:
    """1 - relearn/first: 1 means nothing to relearn, 0 means relearning costs as much as learning."""
    return 1.0 - steps_relearn / max(steps_first, 1)
