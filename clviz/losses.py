"""The three losses the notes compare. Each is `loss(model, x, y) -> (loss, logits, latent)`.

- `ce`            standard softmax cross-entropy.
- `correct_only`  -log sigmoid(z_y): only the true logit gets a gradient; the other logits are
                  untouched (their head rows get no gradient). Optional L2 on all weights.
- `latent_only`   cross-entropy, but the incorrect logits are computed with a detached copy of
                  the head: their gradient flows into the hidden layers (pushing the latent
                  away from wrong classes) but never into the head's weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("ce", "correct_only", "latent_only")


def _ce(z, y):
    """Per-sample cross-entropy for logits with any leading dimensions."""
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), reduction="none").view(y.shape)


def _l2(model):
    return sum((p * p).sum() for n, p in model.named_parameters() if n.endswith("weight"))


def make_loss(name: str, l2: float = 0.0):
    if name not in LOSSES:
        raise ValueError(f"Unknown loss '{name}'. Choose one of: {', '.join(LOSSES)}.")

    def loss(model, x, y):
        h = model.body(x)
        z = model.head(h)
        if name == "ce":
            per_sample = _ce(z, y)
        elif name == "correct_only":
            per_sample = -F.logsigmoid(z.gather(-1, y[..., None]).squeeze(-1))
        else:  # latent_only: true logit through the real head, wrong logits through a frozen copy
            true = F.one_hot(y, z.shape[-1]).bool()
            per_sample = _ce(torch.where(true, z, model.head_frozen(h)), y)
        # the batch mean; for a BatchedNet ((N, B) per-sample losses) the sum of the copies' means,
        # so that each copy's gradient is exactly its own
        out = per_sample.mean(-1).sum()
        if l2 > 0:
            out = out + 0.5 * l2 * _l2(model)
        return out, z, h

    return loss
