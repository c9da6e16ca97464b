"""The base of every remedy: fine-tuning, with a remedy's own state (config, its own knobs,
classes, a seeded generator) on top of the training loop's hooks (train.Hooks, which
run_sequential calls). Each remedy is one small module beside this one (or a plugin file of a
user's), registered with `@plugin.method`, and overrides the hooks it needs."""
from __future__ import annotations

import torch

from .. import plugin
from ..train import Hooks


@plugin.method("finetune", label="fine-tune")
class Method(Hooks):
    """Fine-tuning: train on each task's data as it comes. The baseline every remedy changes one thing of."""
    capturable = False  # the remedies' hooks draw batches and read state on the host: eager steps

    def __init__(self, cfg, num_classes: int):
        self.cfg, self.num_classes = cfg, num_classes
        self.knobs = plugin.get("method", self.name).knobs_of(cfg)  # its own knobs (None if it has none)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # the remedy's own draws (memory, replay batches)

    def memory_size(self) -> int:
        """Training samples the remedy keeps (its cost in memory)."""
        return 0


def params(model) -> dict:
    return {n: p for n, p in model.named_parameters()}


def frozen(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def anchored(model, importance: dict, anchor: dict):
    """sum over the weights of importance * (theta - anchor)^2: EWC's and SI's quadratic penalty."""
    return sum((importance[n] * (p - anchor[n]) ** 2).sum() for n, p in params(model).items())
