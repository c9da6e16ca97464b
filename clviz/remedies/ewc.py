"""Online EWC (Schwarz et al. 2018): after each task, the diagonal of the Fisher information at
the task's solution, F <- gamma F + F_task, anchors the weights: the loss gets
lambda/2 * sum F (theta - theta*)^2. The Fisher is the mean squared per-sample gradient of the
log-likelihood of the true label (the empirical Fisher) over `fisher_n` samples of the task."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from .. import plugin
from ..knobs import knob
from .base import Method, anchored, frozen


def fisher_diagonal(model, x, y) -> dict:
    """{parameter: mean over samples of (d log p(y_i | x_i) / d theta)^2}, per-sample gradients by vmap."""
    p = frozen(model)
    was = model.training
    model.eval()

    def nll(pp, xi, yi):
        return F.cross_entropy(functional_call(model, pp, (xi[None],)), yi[None])

    g = vmap(grad(nll), in_dims=(None, 0, 0))(p, x, y)
    model.train(was)
    return {n: (gn ** 2).mean(0) for n, gn in g.items()}


@dataclass(frozen=True)
class Knobs:
    lambda_: float = knob(1e4, lo=0.0, hi=1e9, widget="log", label="EWC lambda")  # strength of the pull towards the anchor (chosen on a validation split: README)
    gamma: float = knob(1.0, lo=0.0, hi=1.0, label="EWC gamma", where="more")  # weight of older tasks' Fisher (1: none forgotten)
    fisher_n: int = knob(300, lo=1, hi=100_000, label="EWC Fisher samples", where="more")  # samples per task the Fisher is estimated on


@plugin.method("ewc", label="online EWC", knobs=Knobs)
class OnlineEWC(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.fisher = self.anchor = None

    def loss(self, model, x, y, base):
        loss, z, h = base(model, x, y)
        if self.fisher is not None and self.knobs.lambda_ > 0:  # lambda 0: fine-tuning, bit for bit
            loss = loss + 0.5 * self.knobs.lambda_ * anchored(model, self.fisher, self.anchor)
        return loss, z, h

    def after_task(self, model, k, x, y):
        idx = torch.randperm(len(y), generator=self.gen)[:self.knobs.fisher_n].to(y.device)
        new = fisher_diagonal(model, x[idx], y[idx])
        self.fisher = new if self.fisher is None else {n: self.knobs.gamma * self.fisher[n] + new[n] for n in new}
        self.anchor = frozen(model)
