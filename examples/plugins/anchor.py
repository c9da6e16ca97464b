"""A remedy of your own, with one knob: after each task, every weight is pulled back towards its
value at the end of that task with strength `strength` / 2 * |theta - theta*|^2 (EWC with every
weight equally important). At strength 0 it is fine-tuning, bit for bit.

    python -m clviz --plugins examples/plugins run remedies --methods finetune,ewc,anchor --anchor-strength 1
"""
from dataclasses import dataclass

from clviz import plugin
from clviz.knobs import knob
from clviz.remedies import Method


@dataclass(frozen=True)
class Knobs:
    strength: float = knob(1.0, lo=0.0, hi=1e9, widget="log")  # pull of every weight towards its value after the last task


@plugin.method("anchor", label="L2 anchor", knobs=Knobs)
class Anchor(Method):
    anchor = None

    def loss(self, model, x, y, base):
        loss, z, h = base(model, x, y)
        if self.anchor is not None and self.knobs.strength > 0:
            drift = sum(((p - self.anchor[n]) ** 2).sum() for n, p in model.named_parameters())
            loss = loss + 0.5 * self.knobs.strength * drift
        return loss, z, h

    def after_task(self, model, k, x, y):
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
