"""The knobs every experiment shares, as one frozen dataclass, and their validation.

Each experiment subclasses `Config` in its own module (clviz/experiments/) with its own knobs.
A config is the full identity of a run: the store keys results by it (plus a hash of the
engine's source). Defaults show the phenomenon within seconds on a CPU with the bundled digits.
The comment after each field is its help text, in the CLI (`--help`), the page's widget and the
docs; its `knob(...)` metadata gives its bounds, choices and widget (clviz/knobs.py), which the
CLI, validation and the pages all read.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from .data import DATASETS, DEFAULT_TASKS, NUM_CLASSES, DataError, format_tasks, parse_tasks
from .knobs import check_bounds, knob
from .train import OPTIMIZERS

MAX_EPOCHS = {"cpu": 200, "cuda": 2000, "mps": 500}  # beyond this a run would take hours: surely a typo
MAX_SEEDS = 32  # copies trained at once; more would not fit a batch of 32 x 256 units per copy in memory


@dataclass(frozen=True)
class Config:
    dataset: str = knob("digits", choices=DATASETS, where="sidebar")  # digits | mnist | fashion-mnist | cifar100
    data_dir: str = knob("", where="sidebar")  # a torchvision root; empty: the design's look-up order
    tasks: str = knob("", label="Tasks (classes by ',', tasks by ';')")  # "1,2;3,4;..."; empty: the dataset's default split
    epochs: int = knob(5, lo=1, hi=MAX_EPOCHS, label="Epochs per task")  # epochs per task
    batch_size: int = knob(32, lo=2)  # samples per optimiser step
    lr: float = knob(1e-3, gt=0, widget="log", label="Learning rate")  # learning rate
    optimizer: str = knob("adam", choices=OPTIMIZERS)  # sgd | momentum | adam | rmsprop | adadelta
    per_class: int = knob(0, lo=0, hi=100_000, label="Training samples per class (0: all)")  # cap on training samples per class (0: all) for quick runs
    hidden: tuple = knob((256, 256), where="more", label="Hidden widths")  # MLP hidden widths; the last one is the latent layer
    seed: int = knob(0, lo=0, hi=10_000, where="sidebar")  # initialisation and data order
    seeds: int = knob(1, lo=1, hi=MAX_SEEDS, where="sidebar", label="Seeds at once")  # independent copies trained at once (seed .. seed+N-1): mean and band
    live_eval_n: int = knob(2000, lo=1, hi=1_000_000, where="more", label="Test samples per live point")  # test samples behind each live (per-epoch) point; per-task figures use all
    probe_fit_n: int = knob(5000, lo=10, hi=1_000_000, where="more", label="Probe's training samples")  # training samples (a fixed subsample) the linear probes are fitted on

    # the knobs of the shared Config that this experiment does not read (no widget on its page)
    unused: ClassVar[tuple] = ()

    @property
    def experiment(self) -> str:
        return type(self).__name__.removesuffix("Config").lower()

    def check(self):
        """The experiment's own checks of its knobs (subclasses); raises DataError."""


def build(cls, **kw) -> Config:
    """A config of class `cls` from loose values (CLI, widgets, URLs); unknown keys are an error."""
    bad = set(kw) - {f.name for f in fields(cls)}
    if bad:
        raise DataError(f"Unknown setting(s) for {cls().experiment}: {', '.join(sorted(bad))}.")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if v is not None}
    floats = {f.name for f in fields(cls) if isinstance(f.default, float)}
    kw = {k: float(v) if k in floats and isinstance(v, int) and not isinstance(v, bool) else v for k, v in kw.items()}
    cfg = cls(**kw)  # (an int in a float knob made a float: 10000 and 1e4 are one run, one key)
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


def validate(cfg: Config, num_classes: int, class_counts: dict, device: str = "cpu"):
    """Check a config against the data it will run on. Raises DataError with a clear message."""
    try:  # every knob against its own type, bounds and choices: those the page's widgets use
        check_bounds(cfg, device)
    except ValueError as e:
        raise DataError(str(e)) from None
    if cfg.lr > 100:  # no bound of its own (a plain SGD's lr can be large), but this is a typo
        raise DataError(f"Learning rate {cfg.lr} is absurdly large: try 1e-3 for Adam or 0.05 for SGD.")
    if any(not isinstance(h, int) or h < 1 for h in cfg.hidden) or not cfg.hidden:
        raise DataError(f"Hidden widths must be positive integers, got {cfg.hidden}.")
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
