"""The losses, registered as plugins like anyone's (clviz/plugin.py), and `make_loss`, which turns
one into the training loop's `loss(model, x, y) -> (loss, logits, latent)`.

The three the notes compare:
- `ce`            standard softmax cross-entropy.
- `correct_only`  -log sigmoid(z_y): only the true logit gets a gradient; the other logits are
                  untouched (their head rows get no gradient). Optional L2 on all weights.
- `latent_only`   cross-entropy, but the incorrect logits are computed with a detached copy of
                  the head: their gradient flows into the hidden layers (pushing the latent
                  away from wrong classes) but never into the head's weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import plugin
from .knobs import knob


def _ce(z, y):
    """Per-sample cross-entropy for logits with any leading dimensions."""
    if z.dim() == 2:  # one copy: no reshapes (each is a node of the backward pass, at every step)
        return F.cross_entropy(z, y, reduction="none")
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), reduction="none").view(y.shape)


def _l2(model):
    return sum((p * p).sum() for n, p in model.named_parameters() if n.endswith("weight"))


def _true_logit(z, y):
    return z.gather(-1, y[..., None]).squeeze(-1)


@plugin.loss("ce", label="cross-entropy")
def ce(z, y):
    return _ce(z, y)


@dataclass(frozen=True)
class CorrectOnlyKnobs:
    l2: float = knob(1e-3, lo=0.0, hi=1.0, widget="log", label="Correct logit only: L2 on the weights")  # L2 on all weights (the notes' "sigmoid_l2"); 0: none


@plugin.loss("correct_only", label="correct logit only", knobs=CorrectOnlyKnobs, form="model")
def correct_only(model, x, y, knobs):
    h = model.body(x)
    z = model.head(h)
    out = (-F.logsigmoid(_true_logit(z, y))).mean(-1).sum()
    if knobs.l2 > 0:
        out = out + 0.5 * knobs.l2 * _l2(model)
    return out, z, h


@plugin.loss("latent_only", label="latent-only negatives", form="model")
def latent_only(model, x, y):
    """True logit through the real head, wrong logits through a frozen copy of it."""
    h = model.body(x)
    z = model.head(h)
    true = F.one_hot(y, z.shape[-1]).bool()
    return _ce(torch.where(true, z, model.head_frozen(h)), y).mean(-1).sum(), z, h


BUILTIN = ("ce", "correct_only", "latent_only")  # the notes' three: the losses experiment's default


def make_loss(name: str, knobs=None, **values):
    """The loss `name` as `loss(model, x, y) -> (loss, logits, latent)`, with its knobs (an
    instance of its knobs class, or their values by name; the defaults otherwise). The loss is
    the batch mean; of a BatchedNet ((N, B) per-sample losses) the sum of the copies' means, so
    that each copy's gradient is exactly its own. Its first call checks what the plugin returns
    (shape, finiteness): a wrong one is a PluginError naming the plugin's file and line."""
    spec = plugin.get("loss", name)
    if spec.knobs is not None:
        knobs = knobs if knobs is not None else spec.knobs(**values)
    elif values or knobs is not None:
        raise ValueError(f"The loss '{name}' has no knobs, got {sorted(values) or knobs}.")
    args = (knobs,) if spec.knobs is not None else ()
    fn, checked = spec.obj, []

    def wrong(what):
        return plugin.PluginError(f"Plugin loss '{name}' ({spec.where}) {what}.")

    def first(out, y):  # one host read, on the first call only: later steps stay free of syncs
        if spec.form == "logits":
            if not isinstance(out, torch.Tensor) or out.shape != y.shape:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise wrong(f"returned {shape}: it must return per-sample losses shaped like y, {tuple(y.shape)}")
            value = out.mean().item()
        else:
            if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], torch.Tensor) and out[0].dim() == 0):
                raise wrong("must return (loss, logits, latent) with a 0-dim loss")
            value = out[0].item()
        if not math.isfinite(value):
            raise wrong(f"returned {value} on the first batch")
        checked.append(True)

    if spec.form == "model":
        def loss(model, x, y):
            out = fn(model, x, y, *args)
            if not checked:
                first(out, y)
            return out
    else:
        def loss(model, x, y):
            h = model.body(x)
            z = model.head(h)
            per_sample = fn(z, y, *args)
            if not checked:
                first(per_sample, y)
            mean = per_sample.mean(-1)  # of a BatchedNet one mean per copy, summed
            return (mean.sum() if mean.dim() else mean), z, h
    return loss
