"""Models: a body that maps an input to the latent layer, and one linear head on top.

Keeping `body` and `head` apart is what the experiments need: the probe reads the latent
features, sparsity is measured on them, and the latent-only loss routes the incorrect logits'
gradient into the body but not into the head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    # The copies axis, said and never guessed from a shape: a plain Net is one copy, unbatched
    # (its tensors have no copy dimension); clviz.ensemble.BatchedNet holds N, batched.
    n_copies, batched = 1, False

    def __init__(self, body: nn.Module, latent_dim: int, num_classes: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(latent_dim, num_classes)

    def forward(self, x, return_latent=False):
        h = self.body(x)
        z = self.head(h)
        return (z, h) if return_latent else z

    def head_frozen(self, h):
        """The head with its weights detached: gradients reach `h` but not the head."""
        return F.linear(h, self.head.weight.detach(), self.head.bias.detach())

    @property
    def latent_bias(self) -> torch.Tensor:
        """Bias of the last hidden Linear layer (the notes blame a shift in it for sparsity)."""
        return [m for m in self.body.modules() if isinstance(m, nn.Linear)][-1].bias


def mlp(in_dim: int, hidden=(256, 256), num_classes=10, bn=False) -> Net:
    layers, d = [nn.Flatten()], in_dim
    for h in hidden:
        layers += [nn.Linear(d, h)] + ([nn.BatchNorm1d(h)] if bn else []) + [nn.ReLU()]
        d = h
    return Net(nn.Sequential(*layers), d, num_classes)


def cnn(in_ch=3, num_classes=100, width=32, latent=256, bn=False) -> Net:
    """A small CIFAR CNN: two conv blocks and one hidden Linear layer (the latent layer)."""
    norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
    body = nn.Sequential(
        nn.Conv2d(in_ch, width, 3, padding=1), norm(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), norm(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 8 * 8, latent), *( [nn.BatchNorm1d(latent)] if bn else []), nn.ReLU(),
    )
    # channels-last weights (and images, see data.py) take oneDNN's fast convolutions on a CPU:
    # a training step 21.6 instead of 30.9 ms, 10k test images 1.1 instead of 2.4 s
    return Net(body, latent, num_classes).to(memory_format=torch.channels_last)


def build(shape, num_classes, hidden=(256, 256), bn=False) -> Net:
    """The default model for a data shape: a CNN for colour images, an MLP otherwise."""
    if len(shape) == 3 and shape[0] == 3:
        return cnn(shape[0], num_classes, latent=hidden[-1], bn=bn)
    return mlp(int(torch.tensor(shape).prod()), hidden, num_classes, bn)
