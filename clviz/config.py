"""One frozen config dataclass per experiment, and their validation.

A config is the full identity of a run: its hash (plus the code version) is the cache key.
Defaults show the phenomenon within seconds on a CPU with the bundled digits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .data import DEFAULT_TASKS, DataError, parse_tasks
from .losses import LOSSES
from .train import OPTIMIZERS

MAX_EPOCHS = {"cpu": 200, "cuda": 2000, "mps": 500}  # beyond this a run would take hours: surely a typo


@dataclass(frozen=True)
class Config:
    dataset: str = "digits"     # digits | mnist | fashion-mnist | cifar100
    data_dir: str = ""          # a torchvision root; empty: the design's look-up order
    tasks: str = ""             # "1,2;3,4;..."; empty: the dataset's default split
    epochs: int = 5             # epochs per task
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    hidden: tuple = (256, 256)  # MLP hidden widths; the last one is the latent layer
    per_class: int = 0          # cap on training samples per class (0: all) for quick runs
    seed: int = 0
    seeds: int = 1              # independent copies trained at once (mean and band)

    @property
    def experiment(self) -> str:
        return type(self).__name__.removesuffix("Config").lower()


@dataclass(frozen=True)
class SparsityConfig(Config):
    heatmap_per_class: int = 10  # test samples per class in the latent heatmaps


@dataclass(frozen=True)
class ProbeConfig(Config):
    pass


@dataclass(frozen=True)
class LossesConfig(Config):
    l2: float = 0.0              # optional L2 on the weights for the correct-logit-only loss
    examples_per_class: int = 2  # test images per class whose sigmoid probabilities are tracked


@dataclass(frozen=True)
class SavingsConfig(Config):
    criterion: float = 0.97      # train accuracy on a task that counts as "learned"
    joint_criterion: float = 0.85  # train accuracy on all classes that counts as the joint solution
    max_steps: int = 3000        # give up on reaching the criterion after this many steps per phase
    optimizers: tuple = ("sgd", "momentum", "adam", "rmsprop", "adadelta")
    lrs: tuple = (("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("rmsprop", 1e-3), ("adadelta", 1.0))


@dataclass(frozen=True)
class CifarConfig(Config):
    dataset: str = "cifar100"
    epochs: int = 2
    batch_size: int = 64
    per_class: int = 100         # 100 x 100 images: a CPU-sized default; 0 for the full set
    heatmap_per_class: int = 2


@dataclass(frozen=True)
class BoundariesConfig(Config):
    toy: str = "blobs"           # blobs | moons-ish spirals for the 2-D problem
    toy_tasks: int = 3           # two classes per task
    toy_epochs: int = 30
    toy_lr: float = 0.01
    grid: int = 60               # resolution of the decision-region grid


CONFIGS = {c.__name__.removesuffix("Config").lower(): c for c in
           (SparsityConfig, ProbeConfig, LossesConfig, SavingsConfig, CifarConfig, BoundariesConfig)}


def make(experiment: str, **kw) -> Config:
    """Build a config from loose values (CLI, widgets); unknown keys are an error."""
    if experiment not in CONFIGS:
        raise DataError(f"Unknown experiment '{experiment}'. Choose one of: {', '.join(CONFIGS)}.")
    cls = CONFIGS[experiment]
    names = {f.name for f in fields(cls)}
    bad = set(kw) - names
    if bad:
        raise DataError(f"Unknown setting(s) for {experiment}: {', '.join(sorted(bad))}.")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if v is not None}
    return cls(**kw)


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
    if cfg.seeds < 1 or cfg.seeds > 32:
        raise DataError(f"Seeds must be between 1 and 32, got {cfg.seeds}.")
    if any(not isinstance(h, int) or h < 1 for h in cfg.hidden) or not cfg.hidden:
        raise DataError(f"Hidden widths must be positive integers, got {cfg.hidden}.")
    if cfg.optimizer not in OPTIMIZERS:
        raise DataError(f"Unknown optimizer '{cfg.optimizer}'. Choose one of: {', '.join(OPTIMIZERS)}.")
    tasks = tasks_of(cfg, num_classes)
    cap = cfg.per_class or float("inf")
    for k, t in enumerate(tasks, 1):
        n = sum(min(class_counts.get(c, 0), cap) for c in t)
        if n == 0:
            raise DataError(f"Task {k} ({','.join(map(str, t))}) has no training samples in this dataset.")
        if cfg.batch_size > n:
            raise DataError(f"Batch size {cfg.batch_size} is larger than task {k}, which has {n} training "
                            f"samples: choose a batch size of at most {n}.")
    if isinstance(cfg, LossesConfig) and cfg.l2 < 0:
        raise DataError(f"L2 must be 0 or more, got {cfg.l2}.")
    if isinstance(cfg, SavingsConfig):
        if not (0 < cfg.criterion <= 1 and 0 < cfg.joint_criterion <= 1):
            raise DataError(f"Criteria must be accuracies in (0, 1], got {cfg.criterion} and {cfg.joint_criterion}.")
        unknown = [o for o in cfg.optimizers if o not in OPTIMIZERS]
        if unknown or not cfg.optimizers:
            raise DataError(f"Unknown optimizer(s) {unknown}: choose from {', '.join(OPTIMIZERS)}.")
    return tasks


__all__ = ["Config", "CONFIGS", "make", "validate", "to_dict", "tasks_of", "replace", "LOSSES"]
