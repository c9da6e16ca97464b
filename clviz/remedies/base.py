"""The interface every remedy implements: fine-tuning, and the hooks through which a remedy
changes it (train.run_sequential calls them). Each remedy is one small module beside this one."""
from __future__ import annotations

import torch

from .. import metrics


class Method:
    """Fine-tuning: train on each task's data as it comes. The baseline every remedy changes one thing of."""
    name = "finetune"

    def __init__(self, cfg, num_classes: int):
        self.cfg, self.num_classes = cfg, num_classes
        self.gen = torch.Generator().manual_seed(cfg.seed)  # the remedy's own draws (memory, replay batches)

    def before_task(self, model, k, x, y):
        """The data task k trains on (x, y: the task's own)."""
        return x, y

    def loss(self, model, x, y, base):
        """The loss of a batch; `base(model, x, y) -> (loss, logits, latent)` is the run's loss."""
        return base(model, x, y)

    def after_backward(self):
        """After each backward pass, before the optimiser step (p.grad holds this step's gradient)."""

    def after_task(self, model, k, x, y):
        """After training task k, before it is evaluated."""

    def forward(self, model, x):
        """Logits and latent features for evaluation."""
        return metrics.forward_all(model, x)

    def memory_size(self) -> int:
        """Training samples the remedy keeps (its cost in memory)."""
        return 0


def params(model) -> dict:
    return {n: p for n, p in model.named_parameters()}


def frozen(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}
