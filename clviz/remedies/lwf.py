"""Learning without forgetting (Li & Hoiem 2017), class-incremental: the network after the last
task is kept frozen, and the loss gets the distillation of its softened outputs on the old
classes (temperature T, scaled by T^2) on the current batch."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import plugin
from ..knobs import knob
from .base import Method


def soft_targets(z, T: float):
    """softmax(z / T): the teacher's softened class probabilities."""
    return torch.softmax(z / T, dim=-1)


def distillation(z_student, z_teacher, T: float):
    """T^2 * cross-entropy of the student's softened outputs against the teacher's (per batch mean)."""
    return -(soft_targets(z_teacher, T) * F.log_softmax(z_student / T, dim=-1)).sum(-1).mean() * T * T


@dataclass(frozen=True)
class Knobs:
    temperature: float = knob(2.0, lo=1e-3, hi=1e3, label="LwF temperature")  # temperature of the distillation
    weight: float = knob(3.0, lo=0.0, hi=1e6, widget="log", label="LwF weight")  # weight of the distillation term, 0: fine-tuning (chosen on a validation split: README)


@plugin.method("lwf", label="LwF", knobs=Knobs)
class LwF(Method):

    def __init__(self, cfg, num_classes):
        super().__init__(cfg, num_classes)
        self.teacher, self.old = None, []

    def loss(self, model, x, y, base):
        loss, z, h = base(model, x, y)
        if self.teacher is not None and self.knobs.weight > 0:  # weight 0: fine-tuning, bit for bit
            with torch.no_grad():
                zt = self.teacher(x)[:, self.old]
            loss = loss + self.knobs.weight * distillation(z[:, self.old], zt, self.knobs.temperature)
        return loss, z, h

    def after_task(self, model, k, x, y):
        self.teacher = copy.deepcopy(model).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.old = sorted(set(self.old) | set(torch.unique(y).tolist()))
