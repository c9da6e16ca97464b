"""Two fixes of the head alone, which test the notes' "shallow forgetting" directly: if the
features keep the old classes, fixing only the last layer should bring them back.
- Weight aligning (Zhao et al. 2020): after each task, the new classes' head rows are rescaled
  so that their mean norm equals the old classes' (the new rows grow larger and win every argmax).
- Head retraining: after each task, only the head is retrained on a class-balanced memory of
  all seen classes (the body frozen)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import metrics, plugin
from ..knobs import knob
from .base import Method
from .memory import Memory


def align_weights(head, old, new):
    """Scale the rows `new` of head.weight so their mean L2 norm equals that of the rows `old`."""
    with torch.no_grad():
        norms = head.weight.norm(dim=1)
        gamma = norms[old].mean() / norms[new].mean()
        head.weight[new] *= gamma
    return gamma.item()


@plugin.method("wa", label="weight aligning")
class WeightAlign(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.seen, self.gammas = [], []

    def after_task(self, model, k, x, y):
        new = torch.unique(y).tolist()
        if self.seen:
            self.gammas.append(align_weights(model.head, self.seen, new))
        self.seen = sorted(set(self.seen) | set(new))


@dataclass(frozen=True)
class Knobs:
    epochs: int = knob(20, lo=0, hi=1000, label="Head retraining: epochs", where="more")  # epochs over the memory after each task
    lr: float = knob(1e-3, lo=1e-6, hi=10.0, widget="log", label="Head retraining: learning rate", where="more")  # Adam's learning rate


@plugin.method("head", label="head retrained", knobs=Knobs)
class HeadRetrain(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.memory = Memory(cfg.memory, self.gen)

    def after_task(self, model, k, x, y):
        self.memory.add(x, y)
        h = metrics.forward_all(model, self.memory.x)[1]  # the frozen body's features of the memory
        opt = torch.optim.Adam(model.head.parameters(), lr=self.knobs.lr)
        n, bs = len(h), self.cfg.batch_size
        for _ in range(self.knobs.epochs):
            for idx in torch.randperm(n, generator=self.gen).to(h.device).split(bs):
                opt.zero_grad()
                F.cross_entropy(model.head(h[idx]), self.memory.y[idx]).backward()
                opt.step()

    def memory_size(self):
        return len(self.memory)
