"""Command line: the experiments headless.

    python -m clviz run EXPERIMENT [--dataset NAME] [--data-dir PATH] [--tasks "1,2;3,4;..."]
                       [--epochs N] [--seed N] [--seeds N] [--device auto|cpu|cuda|mps] [--json OUT] [--no-cache]
    python -m clviz reproduce [--dataset NAME] [--data-dir PATH] [--out REPORT.md]

Bad input: one line on stderr, exit code 2. A run that fails (diverged, out of memory): exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import config, experiments, report
from .data import DataError
from .device import DEVICES, resolve
from .train import TrainingError


class Progress:
    """A one-line progress bar on stderr, fed by the engine's events."""

    def __init__(self, label, stream=sys.stderr):
        self.label, self.stream, self.t0, self.last = label, stream, time.perf_counter(), 0.0

    def __call__(self, ev):
        now = time.perf_counter()
        if ev["event"] != "done" and now - self.last < 0.2:
            return
        self.last = now
        p = ev.get("progress", 0.0)
        bar = "#" * int(30 * p)
        what = f"{ev.get('run', '')} task {ev['task'] + 1}" if "task" in ev else ""
        self.stream.write(f"\r{self.label:<10} [{bar:<30}] {100 * p:5.1f}% {now - self.t0:6.1f}s {what:<24}")
        if ev["event"] == "done":
            self.stream.write("\n")
        self.stream.flush()


def _number(kind):
    def parse(s):
        try:
            return kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not a{'n integer' if kind is int else ' number'}") from None
    return parse


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit code 2, like every other bad input
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser():
    p = Parser(prog="python -m clviz", description="See catastrophic forgetting, headless.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    def common(s):
        s.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist", "cifar100"])
        s.add_argument("--data-dir", help="a torchvision root (holding MNIST/raw/..., cifar-100-python/...)")
        s.add_argument("--device", default="auto", choices=DEVICES)
        s.add_argument("--no-cache", action="store_true", help="recompute even if a finished result is stored")
        s.add_argument("--epochs", type=_number(int), help="epochs per task")
        s.add_argument("--seed", type=_number(int))
        s.add_argument("--seeds", type=_number(int), help="train N copies (seeds seed..seed+N-1) at once: mean and sd")

    r = sub.add_parser("run", help="run one experiment and print its tables")
    r.add_argument("experiment", choices=list(config.CONFIGS))
    common(r)
    r.add_argument("--tasks", help='task split, e.g. "1,2;3,4;5,6;7,8;9,0"')
    r.add_argument("--lr", type=_number(float))
    r.add_argument("--batch-size", type=_number(int))
    r.add_argument("--optimizer")
    r.add_argument("--per-class", type=_number(int), help="cap on training samples per class (0: all)")
    r.add_argument("--json", help="write the result as JSON to this file")

    q = sub.add_parser("reproduce", help="the notes' tables beside their reference figures")
    common(q)
    q.add_argument("--out", help="also write the report as Markdown to this file")
    return p


def _cfg(experiment, a, **extra):
    kw = {"dataset": a.dataset, "data_dir": a.data_dir, "epochs": a.epochs, "seed": a.seed, "seeds": a.seeds, **extra}
    return config.make(experiment, **kw)


def _run(cfg, a):
    return experiments.run(cfg, device=a.device, on_event=Progress(cfg.experiment), use_cache=not a.no_cache)


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        _, notice = resolve(a.device)
        if notice:
            print(f"notice: {notice}", file=sys.stderr)
        if a.cmd == "run":
            cfg = _cfg(a.experiment, a, tasks=a.tasks, lr=a.lr, batch_size=a.batch_size, optimizer=a.optimizer,
                       per_class=a.per_class)
            result = _run(cfg, a)
            print(report.render(result))
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(result, f)
            return 0
        exps = ["cifar"] if a.dataset == "cifar100" else ["sparsity", "probe", "losses", "savings"]
        parts = [report.render(_run(_cfg(e, a), a)) for e in exps]
        text = "\n\n".join(parts)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(f"# clviz reproduce ({a.dataset or 'digits'})\n\n```\n{text}\n```\n")
        return 0
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
