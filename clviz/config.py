"""The knobs every experiment shares, as one frozen dataclass, and their validation.

Each experiment subclasses `Config` in its own module (clviz/experiments/) with its own knobs.
A config is the full identity of a run: the store keys results by it (plus a hash of the
engine's source). Defaults show the phenomenon within seconds on a CPU with the bundled digits.
The comment after each field is its help text, in the CLI (`--help`) and in the docs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields

from .data import DEFAULT_TASKS, NUM_CLASSES, DataError, format_tasks, parse_tasks
from .train import OPTIMIZERS

MAX_EPOCHS = {"cpu": 200, "cuda": 2000, "mps": 500}  # beyond this a run would take hours: surely a typo
MAX_SEEDS = 32  # copies trained at once; more would not fit a batch of 32 x 256 units per copy in memory


@dataclass(frozen=True)
class Config:
    dataset: str = "digits"     # digits | mnist | fashion-mnist | cifar100
    data_dir: str = ""          # a torchvision root; empty: the design's look-up order
    tasks: str = ""             # "1,2;3,4;..."; empty: the dataset's default split
    epochs: int = 5             # epochs per task
    batch_size: int = 32        # samples per optimiser step
    lr: float = 1e-3            # learning rate
    optimizer: str = "adam"     # sgd | momentum | adam | rmsprop | adadelta
    hidden: tuple = (256, 256)  # MLP hidden widths; the last one is the latent layer
    per_class: int = 0          # cap on training samples per class (0: all) for quick runs
    seed: int = 0               # initialisation and data order
    seeds: int = 1              # independent copies trained at once (seed .. seed+N-1): mean and band
    live_eval_n: int = 2000     # test samples behind each live (per-epoch) point; per-task figures use all
    probe_fit_n: int = 5000     # training samples (a fixed subsample) the linear probes are fitted on

    @property
    def experiment(self) -> str:
        return type(self).__name__.removesuffix("Config").lower()

    def check(self):
        """The experiment's own checks of its knobs (subclasses); raises DataError."""


def help_of(cls) -> dict:
    """{field: the comment after it in the class body}: the one place a knob is described."""
    import inspect
    out = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        for line in inspect.getsource(klass).splitlines():
            name, _, rest = line.strip().partition(":")
            if name.isidentifier() and "#" in rest:
                out[name] = rest.split("#", 1)[1].strip()
    return out


def build(cls, **kw) -> Config:
    """A config of class `cls` from loose values (CLI, widgets, URLs); unknown keys are an error."""
    bad = set(kw) - {f.name for f in fields(cls)}
    if bad:
        raise DataError(f"Unknown setting(s) for {cls().experiment}: {', '.join(sorted(bad))}.")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if v is not None}
    cfg = cls(**kw)
    return dataclasses.replace(cfg, tasks=canonical_tasks(cfg.tasks, cfg.dataset))


def canonical_tasks(text: str, dataset: str) -> str:
    """One spelling per split, so that one run has one key: the dataset's default split is "",
    any other is written "1,2;3,4" (no spaces). Text that does not parse is kept for `validate`
    to report."""
    n = NUM_CLASSES.get(dataset)
    if not text or n is None:
        return text
    try:
        canon = format_tasks(parse_tasks(text, n))
    except DataError:
        return text
    return "" if canon == DEFAULT_TASKS.get(n) else canon


def to_dict(cfg: Config) -> dict:
    return {"experiment": cfg.experiment, **asdict(cfg)}


def tasks_of(cfg: Config, num_classes: int):
    return parse_tasks(cfg.tasks or DEFAULT_TASKS.get(num_classes, ""), num_classes)


def _number(name, v, kind):
    if isinstance(v, bool) or not isinstance(v, kind):
        raise DataError(f"{name} must be a number, got {v!r}.")


def validate(cfg: Config, num_classes: int, class_counts: dict, device: str = "cpu"):
    """Check a config against the data it will run on. Raises DataError with a clear message."""
    _number("Learning rate", cfg.lr, (int, float))
    _number("Epochs", cfg.epochs, int)
    _number("Batch size", cfg.batch_size, int)
    if not cfg.lr > 0:
        raise DataError(f"Learning rate must be greater than 0, got {cfg.lr}.")
    if cfg.lr > 100:
        raise DataError(f"Learning rate {cfg.lr} is absurdly large: try 1e-3 for Adam or 0.05 for SGD.")
    top = MAX_EPOCHS.get(device, 200)
    if cfg.epochs < 1:
        raise DataError(f"Epochs per task must be at least 1, got {cfg.epochs}.")
    if cfg.epochs > top:
        raise DataError(f"{cfg.epochs} epochs per task is too many on {device} (at most {top}).")
    if cfg.batch_size < 2:
        raise DataError(f"Batch size must be at least 2, got {cfg.batch_size}.")
    if not 1 <= cfg.seeds <= MAX_SEEDS:
        raise DataError(f"Seeds must be between 1 and {MAX_SEEDS}, got {cfg.seeds}.")
    if any(not isinstance(h, int) or h < 1 for h in cfg.hidden) or not cfg.hidden:
        raise DataError(f"Hidden widths must be positive integers, got {cfg.hidden}.")
    if cfg.optimizer not in OPTIMIZERS:
        raise DataError(f"Unknown optimizer '{cfg.optimizer}'. Choose one of: {', '.join(OPTIMIZERS)}.")
    if cfg.live_eval_n < 1 or cfg.probe_fit_n < 10:
        raise DataError(f"live_eval_n must be at least 1 and probe_fit_n at least 10, got {cfg.live_eval_n} "
                        f"and {cfg.probe_fit_n}.")
    cfg.check()
    tasks = tasks_of(cfg, num_classes)
    cap = cfg.per_class or float("inf")
    for k, t in enumerate(tasks, 1):
        n = sum(min(class_counts.get(c, 0), cap) for c in t)
        if n == 0:
            raise DataError(f"Task {k} ({','.join(map(str, t))}) has no training samples in this dataset.")
        if cfg.batch_size > n:
            raise DataError(f"Batch size {cfg.batch_size} is larger than task {k}, which has {n} training "
                            f"samples: choose a batch size of at most {n}.")
    return tasks
