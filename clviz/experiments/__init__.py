"""The experiments: one module each (its Config, its runner, its tables) and this registry.

Adding an experiment is one module here, with an `EXPERIMENT` record, one line in `REGISTRY`,
and its page app_pages/<name>.py. `run(cfg)` is the one entry for the app, the CLI and the workers:
it validates, loads the data onto the device, answers from the results store when it can, and
otherwise runs the experiment, reporting events with a `progress` in [0, 1] and the name of the
sub-run (`run`: "no_bn", "ce", ...).
"""
from __future__ import annotations

import importlib
import time
import warnings

import torch

from .. import data as D
from .. import cost, meta, plugin, store
from ..config import Config, build, to_dict, validate
from ..device import THREADS, resolve
from ..train import EagerFallback, TrainingError
from . import boundaries, cifar, depth, losses, probe, remedies, savings, sizes, sparsity
from .common import Experiment, Reporter, cap_per_class, validation_split

REGISTRY: dict[str, Experiment] = {e.name: e for e in (
    sparsity.EXPERIMENT,
    probe.EXPERIMENT,
    losses.EXPERIMENT,
    savings.EXPERIMENT,
    cifar.EXPERIMENT,
    boundaries.EXPERIMENT,
    remedies.EXPERIMENT,
    depth.EXPERIMENT,
)}

plugin.from_env()  # $CLVIZ_PLUGINS: the users' losses and remedies, after the built-ins (errors kept in plugin.ERRORS)


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise D.DataError(f"Unknown experiment '{name}'. Choose one of: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def make(name: str, **kw) -> Config:
    """The config of experiment `name` from loose values (CLI, widgets, URLs); unknown keys are an error."""
    return build(get(name).config, **kw)


def check(cfg: Config, device: str):
    """Validate `cfg` as `prepare` does, from the dataset's metadata alone (clviz/meta.py): what the
    server does before it queues a job, holding kilobytes where `prepare` holds the whole dataset.
    Returns the tasks. A dataset not on disk yet, which the worker may download, is checked
    against its classes only; the worker validates it against the data."""
    m = meta.describe(cfg.dataset, cfg.data_dir or None)
    n = m.num_classes if m is not None else D.NUM_CLASSES[cfg.dataset]
    counts = m.train_counts if m is not None else dict.fromkeys(range(n), float("inf"))
    return validate(cfg, n, counts, device)


def size(cfg: Config) -> cost.Estimate:
    """The config's estimated cost on this machine (clviz/cost.py), from its data's metadata: the
    files on disk, or the published sizes of a dataset the worker will download."""
    m = meta.describe(cfg.dataset, cfg.data_dir or None) or meta.standard(cfg.dataset)
    return cost.estimate(cfg, m, sizes.PARTS[cfg.experiment], THREADS)


def prepare(cfg: Config, device: str):
    """Load the data for `cfg` (capped per class if asked) and validate the config against it."""
    data = D.load(cfg.dataset, cfg.data_dir or None, device)
    counts = dict(zip(*[v.tolist() for v in torch.unique(data.y_train, return_counts=True)]))
    tasks = validate(cfg, data.num_classes, counts, device)
    if cfg.per_class:
        data = cap_per_class(data, cfg.per_class)
    if getattr(cfg, "validation", 0):  # figures on held-out training data, for choosing a knob
        data = validation_split(data, cfg.validation)
    return data, tasks


def run(cfg: Config, device: str = "auto", on_event=None, use_cache: bool = True) -> dict:
    """Validate, load, answer from the cache or compute, store. Raises DataError / TrainingError."""
    device, notice = resolve(device)
    if use_cache and (hit := store.load(cfg)) is not None:
        return {**hit, "cached": True}
    if device == "cpu":
        torch.set_num_threads(THREADS)  # the one policy, app and CLI alike (clviz/device.py): one config, one result
    data, tasks = prepare(cfg, device)
    # a process's first optimizer step imports torch._dynamo (1.0-1.4 s on the 2-core VM): a start-up
    # cost, paid here before the clock as the app's workers pay it in their forkserver (jobs.py), so
    # `seconds` is the experiment's own time from the CLI and the page alike
    importlib.import_module("torch._dynamo")
    rep = Reporter(on_event)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:  # a step that ran eagerly says so, once
            warnings.simplefilter("always", EagerFallback)
            out = get(cfg.experiment).run(cfg, data, tasks, rep)
    except torch.OutOfMemoryError:
        raise TrainingError(f"Out of memory on {device}: choose the CPU or a smaller batch size.") from None
    result = {"config": to_dict(cfg), "tasks": [list(t) for t in tasks], **out,
              "labels": {s.name: s.label for s in plugin.used(cfg)}, "plugins": plugin.described(cfg),
              "seconds": round(time.perf_counter() - t0, 3), "device": device, "data_source": data.source}
    for w in caught:
        if not issubclass(w.category, EagerFallback):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)  # not ours: passed on
    notices = [notice] + list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, EagerFallback)))
    if any(notices):
        result["notice"] = " ".join(n for n in notices if n)
    store.save(cfg, result)
    rep.finish()
    return {**result, "cached": False}


def render(result) -> str:
    """A result as the CLI prints it: a header line, then the experiment's tables."""
    exp = result["config"]["experiment"]
    head = (f"[{exp}] dataset={result['config']['dataset']} tasks={result['tasks']} device={result['device']} "
            f"seconds={result['seconds']}{' (cached)' if result.get('cached') else ''}")
    return head + "\n" + get(exp).table(result)
