"""Synaptic intelligence (Zenke et al. 2017): during a task each weight's contribution to the
drop in loss is summed along the path, w += -g * delta theta; after the task its importance
grows by w / (total change^2 + xi), and the loss gets c * sum Omega (theta - theta*)^2."""
from __future__ import annotations

from dataclasses import dataclass

from .. import plugin
from ..knobs import knob
from .base import Method, anchored, frozen, params


@dataclass(frozen=True)
class Knobs:
    c: float = knob(1e3, lo=0.0, hi=1e9, widget="log", label="SI c")  # strength of the pull towards the anchor (chosen on a validation split: README)
    xi: float = knob(0.1, gt=0, hi=1e6, widget="log", label="SI xi", where="more")  # damping of the importance


@plugin.method("si", label="SI", knobs=Knobs)
class SI(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.omega = self.anchor = self.model = None
        self.w = self.start = self.prev = self.grad = None

    def before_task(self, model, k, x, y):
        self.model, self.start = model, frozen(model)
        self.w = {n: p.detach() * 0 for n, p in params(model).items()}
        self.prev = self.grad = None
        return x, y

    def loss(self, model, x, y, base):
        loss, z, h = base(model, x, y)
        if self.omega is not None and self.knobs.c > 0:  # c 0: fine-tuning, bit for bit
            loss = loss + self.knobs.c * anchored(model, self.omega, self.anchor)
        return loss, z, h

    def _step_done(self):
        """Add the previous step's -g * delta theta (its gradient, and the change the optimiser made)."""
        now = frozen(self.model)
        if self.prev is not None:
            for n in self.w:
                self.w[n] -= self.grad[n] * (now[n] - self.prev[n])
        return now

    def after_backward(self):
        now = self._step_done()
        self.prev = now
        self.grad = {n: p.grad.detach().clone() for n, p in params(self.model).items()}

    def after_task(self, model, k, x, y):
        self._step_done()
        end = frozen(model)
        new = {n: self.w[n] / ((end[n] - self.start[n]) ** 2 + self.knobs.xi) for n in end}
        self.omega = new if self.omega is None else {n: self.omega[n] + new[n] for n in new}
        self.anchor = end
