"""A loss of your own: the squared-error reading of the notes' `sigmoid_l2`.

Only the true class's sigmoid is trained, as in the built-in `correct_only`, but towards 1 by
its squared miss, (1 - sigmoid(z_y))^2, not by -log sigmoid(z_y). Its gradient,
-2 (1 - s) s (1 - s), vanishes as s saturates: one more candidate for why the notes' MNIST run
did not saturate where clviz's does.

    python -m clviz --plugins examples/plugins run losses --losses ce,correct_only,sigmoid_sq
"""
from dataclasses import dataclass

import torch

from clviz import plugin


@dataclass(frozen=True)
class Knobs:
    power: float = 2.0  # exponent of the miss: 2 is the squared error, 1 the plain miss


@plugin.loss("sigmoid_sq", label="sigmoid, squared miss", knobs=Knobs)
def sigmoid_sq(z, y, knobs):
    """z: logits (..., classes), y: targets (...); per-sample losses shaped like y."""
    true_logit = z.gather(-1, y[..., None]).squeeze(-1)
    return (1 - torch.sigmoid(true_logit)) ** knobs.power
