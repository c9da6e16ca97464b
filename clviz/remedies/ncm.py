"""Nearest class mean (iCaRL's classifier, Rebuffi et al. 2017): the network trains as in
fine-tuning, but classifies a sample by the nearest mean of the L2-normalised latent features of
each seen class's samples in a class-balanced memory."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import metrics
from .. import plugin
from .base import Method
from .memory import Memory

FAR = 1e4  # the "logit" of a class with no mean yet: far below any real one


def class_means(h, y, num_classes):
    """(num_classes, d) means of the normalised features per class; NaN rows for absent classes."""
    h = F.normalize(h, dim=1)
    means = torch.full((num_classes, h.shape[1]), float("nan"), device=h.device)
    for c in torch.unique(y).tolist():
        means[c] = F.normalize(h[y == c].mean(0), dim=0)
    return means


def nearest_mean_logits(h, means):
    """Minus the squared distance of each normalised feature vector to each class mean."""
    d = torch.cdist(F.normalize(h, dim=1), torch.nan_to_num(means, nan=0.0)) ** 2
    return torch.where(torch.isnan(means[:, 0])[None, :], torch.full_like(d, -FAR), -d)


@plugin.method("ncm", label="nearest mean (iCaRL)")
class NCM(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.memory, self.means = Memory(cfg.memory, self.gen), None

    def after_task(self, model, k, x, y):
        self.memory.add(x, y)
        self.means = class_means(metrics.forward_all(model, self.memory.x)[1], self.memory.y, self.num_classes)

    def forward(self, model, x):  # one copy (a remedy trains each seed's network on its own)
        z, h = metrics.forward_copies(model, x)
        return (nearest_mean_logits(h[0], self.means)[None] if self.means is not None else z), h

    def memory_size(self):
        return len(self.memory)
