"""Command line: the experiments headless.

    python -m clviz [--plugins DIR] run EXPERIMENT [--dataset NAME] [--data-dir PATH] [--device auto|cpu|cuda|mps]
                       [--json OUT] [--export DIR] [--no-cache] [--KNOB VALUE for every field of the experiment's config]
    python -m clviz reproduce [--dataset NAME] [--data-dir PATH] [--epochs N] [--seed N] [--seeds N] [--out REPORT.md]
    python -m clviz compare EXPERIMENT --vary KNOB=v1,v2 [--vary ...] [--set KNOB=V] [--seeds N] [--json OUT]
                       [--backend local|ray]       variants x seeds, a verdict per lens (clviz/compare.py)
    python -m clviz tune ewc|si|lwf [--dataset NAME] [--seeds N] [--validation 0.2]
                                                   a remedy's strength on a validation split (clviz/tune.py)

Every knob of an experiment's config is an option (`python -m clviz run savings --help` lists
them, with the comment from the config class as help). `--plugins DIR` (any number of times, and
$CLVIZ_PLUGINS=DIR[:DIR...]) imports the users' losses and remedies before the options are built,
so their knobs are options too. Bad input, a broken plugin included: one line on stderr, exit code
2. A run that fails (diverged, out of memory): exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import clispec, knobs  # neither imports torch: the engine is imported once the arguments are read


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


def parse_value(default, text: str):
    """A knob's value from its text, typed like its default (clviz.knobs.parse)."""
    try:
        return knobs.parse(default, text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit code 2, like every other bad input
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _where(s, spec):
    s.add_argument("--data-dir", dest="data_dir", help="a torchvision root (holding MNIST/raw/..., cifar-100-python/...)")
    s.add_argument("--device", default="auto", choices=spec["devices"])
    s.add_argument("--no-cache", action="store_true", help="recompute even if a finished result is stored")


def parser(spec: dict):
    """The parser, from the option table (clviz/clispec.py: read from the engine, or saved)."""
    p = Parser(prog="python -m clviz", description="See catastrophic forgetting, headless.")
    p.add_argument("--plugins", action="append", metavar="DIR",
                   help="import every .py file in DIR: your own losses and remedies (also $CLVIZ_PLUGINS)")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    r = sub.add_parser("run", help="run one experiment and print its tables")
    names = list(spec["experiments"])
    exps = r.add_subparsers(dest="experiment", required=True, parser_class=Parser, metavar="EXPERIMENT",
                            help=", ".join(names))
    for name, exp in spec["experiments"].items():
        e = exps.add_parser(name, help=exp["title"],
                            description=f"{exp['title']}: every knob of {exp['config']}, with its default.")
        _where(e, spec)
        e.add_argument("--json", help="write the result as JSON to this file")
        e.add_argument("--max-job-s", dest="max_job_s", type=float, metavar="S",
                       help="refuse the run if its estimate is over S seconds (default: no cap; the app's server "
                            "caps at $CLVIZ_MAX_JOB_S, 120 unless set)")
        e.add_argument("--export", metavar="DIR", help="write the tables as CSV and the charts as PNG, SVG and "
                       "offline HTML under DIR, as the page's zip (needs altair and vl-convert-python)")
        for k in exp["knobs"]:
            f = clispec.field(k)
            opts = {"choices": spec["datasets"]} if f.name == "dataset" else {}
            among = k.get("shown") if isinstance(f.default, tuple) else None
            e.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, metavar=None if opts else "VALUE",
                           type=(lambda t, d=f.default: parse_value(d, t)) if not opts else None,
                           help=f"{k['help']} (default: {knobs.show(f.default)}"
                                f"{'; from: ' + ', '.join(among) if among else ''})", **opts)

    c = sub.add_parser("compare", help="variants x seeds in one command: a verdict per lens",
                       description="Every combination of the --vary values (the first of each is the baseline), "
                                   "--seeds seeds each; each variant against the baseline, per lens, by Welch's t.")
    c.add_argument("experiment", choices=names, metavar="EXPERIMENT", help=", ".join(names))
    c.add_argument("--vary", action="append", metavar="KNOB=v1,v2", help="a knob and its values (repeat for a grid); "
                   "a list knob's value joins names with '+' (methods=finetune,replay+ewc)")
    c.add_argument("--set", action="append", metavar="KNOB=VALUE", help="a knob of every cell (the baseline's settings)")
    c.add_argument("--seeds", type=lambda t: parse_value(0, t), help=f"seeds per cell (default: {spec['compare_seeds']})")
    c.add_argument("--dataset", choices=spec["datasets"])
    c.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: one cell after the other here; ray: each cell a Ray task ($RAY_ADDRESS, or a local Ray)")
    c.add_argument("--json", help="write the cells and the verdicts as JSON to this file")
    _where(c, spec)

    t = sub.add_parser("tune", help="a remedy's strength chosen on a validation split (never the test set)")
    t.add_argument("tune_method", metavar="method", choices=("ewc", "si", "lwf"))  # (not "method": depth's knob)
    t.add_argument("--dataset", choices=spec["datasets"])
    t.add_argument("--seeds", type=lambda v: parse_value(0, v), default=1, help="seeds per grid point (default: 1)")
    t.add_argument("--validation", dest="holdout", type=lambda v: parse_value(0.0, v), default=0.2,
                   help="share of each class's training samples held out (default: 0.2)")
    _where(t, spec)

    q = sub.add_parser("reproduce", help="the notes' tables beside their reference figures")
    _where(q, spec)
    q.add_argument("--dataset", choices=spec["datasets"])
    for knob, text in spec["reproduce"].items():
        q.add_argument(f"--{knob}", type=lambda t: parse_value(0, t), help=text)
    q.add_argument("--out", help="also write the report as Markdown to this file")
    return p


CLI_ONLY = ("max_job_s", "cmd", "experiment", "device", "no_cache", "json", "export", "out", "plugins", "vary", "set", "backend",
            "tune_method", "holdout")


def plugin_dirs(argv) -> list[str]:
    """The --plugins folders, read before the parser is built (their knobs become its options)."""
    out = []
    for i, a in enumerate(argv):
        if a == "--plugins" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith("--plugins="):
            out.append(a.split("=", 1)[1])
    return [d for d in out if d.strip()]  # an empty one is no folder (not this one)


def _run(cfg, a):
    from . import experiments
    from .data import DataError
    from .device import resolve
    if getattr(a, "max_job_s", None) is not None and resolve(a.device)[0] == "cpu":  # asked for: the server's cap (clviz/cost.py)
        from . import cost
        if why := cost.over_cap(experiments.size(cfg), a.max_job_s or None):
            raise DataError(why)
    result = experiments.run(cfg, device=a.device, on_event=Progress(cfg.experiment), use_cache=not a.no_cache)
    more = result.get("notice", "").replace(resolve(a.device)[1] or "", "").strip()  # the device's: said already
    if more and not result.get("cached"):
        print(f"notice: {more}", file=sys.stderr)
    return result


def _compare(a) -> int:
    from . import compare
    from .device import resolve
    base = compare.parse_set(a.experiment, a.set or [])
    if a.dataset:
        base["dataset"] = a.dataset
    if a.data_dir:
        base["data_dir"] = a.data_dir
    vary = compare.parse_vary(a.experiment, a.vary or [])
    cells = compare.grid(a.experiment, vary, compare.SEEDS if a.seeds is None else a.seeds, base)
    progress = Progress("compare")
    on_cell = lambda i, r: progress({"event": "done" if i + 1 == len(cells) else "tick", "progress": (i + 1) / len(cells)})  # noqa: E731
    run = compare.run_ray if a.backend == "ray" else compare.run_local
    results = run(cells, device=resolve(a.device)[0], use_cache=not a.no_cache, on_cell=on_cell)
    rep = compare.report(a.experiment, cells, results, vary)
    print(compare.table(rep))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f)
    return 0


def _engine(dirs) -> list[str]:
    """Import the engine and the plugins; what went wrong with the plugins, one line each."""
    from . import experiments, plugin
    errors = plugin.load(dirs)
    for e in experiments.REGISTRY.values():  # a plugin's knob that clashes with a setting is found here
        e.config  # noqa: B018
    return plugin.ERRORS + errors


def _misfit(spec, a) -> str | None:
    """A knob of `run` outside its bounds or choices, said before the engine is imported, in the
    words of the engine's own validation (knobs.problem). A bound that depends on the device (the
    epoch cap) is left to the engine, which knows the device."""
    for k in spec["experiments"][a.experiment]["knobs"] if a.cmd == "run" else ():
        if (v := getattr(a, k["name"], None)) is None:
            continue
        f = clispec.field(k)
        if isinstance(f.metadata.get("hi"), dict):
            f.metadata = {m: b for m, b in f.metadata.items() if m != "hi"}
        if (p := knobs.problem(f, v)) is not None:
            return p
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    dirs = plugin_dirs(argv)
    fresh = "clviz.plugin" not in sys.modules  # nothing of the engine loaded yet: a saved table is read
    spec = clispec.cached(dirs) if fresh else None
    errors = None  # (None: the engine is not imported yet)
    if spec is None:
        errors = _engine(dirs)
        spec = None if errors else clispec.from_engine()
        if fresh and spec:
            clispec.save(dirs, spec)
    if not errors:
        a = parser(spec).parse_args(argv)  # --help and a malformed option end here
        if (p := _misfit(spec, a)) is not None:
            print(f"error: {p}", file=sys.stderr)
            return 2
        if errors is None:
            errors = _engine(dirs)
    if errors:  # a broken plugin: said once each, with its file and line, before anything runs
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return 2
    from . import experiments
    from .data import DataError
    from .device import resolve
    from .train import TrainingError
    knob_values = {k: v for k, v in vars(a).items() if k not in CLI_ONLY and v is not None}
    try:
        _, notice = resolve(a.device)
        if notice:
            print(f"notice: {notice}", file=sys.stderr)
        if a.cmd == "compare":
            return _compare(a)
        if a.cmd == "tune":
            from . import tune
            base = {k: v for k, v in (("dataset", a.dataset), ("data_dir", a.data_dir)) if v}
            c = tune.choose(a.tune_method, validation=a.holdout, device=resolve(a.device)[0], seeds=a.seeds, **base)
            from .report import table
            print(f"[tune {a.tune_method}] {c['knob']} on {c['dataset']}, {c['validation']:g} of the training set held out, "
                  f"{c['seeds']} seed(s): choice {c['choice']:g}\n"
                  + table([c["knob"], "validation final accuracy"], list(zip(c["grid"], c["scores"]))))
            return 0
        if a.cmd == "run":
            if a.export:  # before training: a missing package says so at once, not after the run
                try:
                    from . import export
                    import vl_convert  # noqa: F401
                except ImportError as e:
                    raise ValueError(f"--export needs altair and vl-convert-python ({e.name} is missing): "
                                     "pip install altair vl-convert-python") from None
            result = _run(experiments.make(a.experiment, **knob_values), a)
            print(experiments.render(result))
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(result, f)
            if a.export:
                paths = export.write(a.export, result, export.result_charts(result))
                print(f"exported {len(paths)} files to {a.export}", file=sys.stderr)
            return 0
        names = [n for n, e in experiments.REGISTRY.items() if (a.dataset or "digits") in e.reproduce]
        text = "\n\n".join(experiments.render(_run(experiments.make(n, **knob_values), a)) for n in names)
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
