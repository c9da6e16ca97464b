"""The one home of what a person reads for the engine's names (no Streamlit, no Altair).

The rule: on screen (the app, the CLI's tables, exported charts) a thing is called by its label
("cross-entropy", "SGD + momentum", "hidden 1 weights"); where a person types it (a CLI option,
a link's ?key=value) by its name ("ce", "momentum"). The CLI's --help lists each name with its
label, the bridge between the two.
"""
from __future__ import annotations

import re

from . import losses, plugin, remedies  # noqa: F401  (the built-ins register their labels on import)

# Sub-runs and optimizers; the losses and remedies bring their own labels (their plugin records).
LABELS = {"no_bn": "no BN", "bn": "BN",
          "sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "rmsprop": "RMSProp", "adadelta": "Adadelta"}
RESET = "_reset"  # savings' sub-runs that reset the optimizer's state at task boundaries: "<optimizer>_reset"


def label(name: str) -> str:
    """A name as a person reads it; a name nobody labelled, as it is."""
    if name.endswith(RESET) and name[:-len(RESET)] in LABELS:
        return setting(name[:-len(RESET)], True)
    return LABELS.get(name) or plugin.label(name) or name


def with_label(name: str) -> str:
    """'ce (cross-entropy)': a name beside its label, for the CLI's help; the name alone where they agree."""
    lab = label(name)
    return name if lab == name else f"{name} ({lab})"


def setting(optimizer: str, reset) -> str:
    """A savings setting: 'Adam, state reset' / 'Adam, state kept'; the optimizer alone where the
    reset makes no difference (reset None: one row for both, as SGD, which has no state)."""
    if reset is None:
        return label(optimizer)
    return f"{label(optimizer)}, state {'reset' if reset else 'kept'}"


def param(name: str, order: list[str]) -> str:
    """A parameter's name ('body.3.weight', 'head.bias') as a person reads it ('hidden 2 weights',
    'head bias'), given every parameter's name in forward order: the k-th module of the body with
    weights is hidden layer k (the MLPs whose gradients are shown: Linear layers only, no BatchNorm)."""
    path, _, kind = name.rpartition(".")
    what = {"weight": "weights", "bias": "bias"}.get(kind, kind)
    if path == "head":
        return f"head {what}"
    body = list(dict.fromkeys(p.rpartition(".")[0] for p in order if re.match(r"body\.\d+\.", p)))
    if path in body:
        return f"hidden {body.index(path) + 1} {what}"
    return name
