"""The CLI's option table, kept so that `--help` and bad options answer without importing torch.

Every option of `python -m clviz` comes from the engine: the experiments' config fields, their
help comments, choices and bounds (clviz/knobs.py), and the users' plugins' knobs. Reading them
means importing the engine, and with it torch (about 1 s before anything is parsed). So the
table is built from the engine once, saved as JSON under the cache folder, and read back by the
next call when nothing it was made from has changed: its name is a hash of every source file of
the engine and of the plugin files the call names (--plugins, $CLVIZ_PLUGINS). An edited file is
a new table, made on that call. The table is data only: `__main__.parser` builds the argparse
parser from it in one way, whether it was just made or read back.

This module imports nothing heavy; `from_engine` imports the engine when it is called.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

from .paths import CACHE

ROOT = CACHE / "cli"
ENGINE = Path(__file__).resolve().parent
META = ("lo", "hi", "gt", "label")  # a knob's metadata the CLI checks a value against (with its choices)


def key(plugin_dirs) -> str:
    """A hash of what the table is made from: the engine's sources and the plugins' files."""
    h = hashlib.sha256()
    dirs = list(plugin_dirs) + [d for d in os.environ.get("CLVIZ_PLUGINS", "").split(os.pathsep) if d.strip()]
    files = sorted(ENGINE.rglob("*.py")) + [f for d in dirs for f in sorted(Path(d).expanduser().glob("*.py"))]
    for d in dirs:  # a folder that does not exist (yet) is part of the key too
        h.update(f"dir {Path(d).expanduser().resolve()}\n".encode())
    for f in files:
        h.update(f"{f}\n".encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def cached(plugin_dirs) -> dict | None:
    """The saved table for this engine and these plugins, or None."""
    try:
        return json.loads((ROOT / f"{key(plugin_dirs)}.json").read_text())
    except (OSError, ValueError):
        return None


def save(plugin_dirs, spec: dict):
    """Write the table atomically (two CLIs at once both write the same text), dropping older ones."""
    try:
        ROOT.mkdir(parents=True, exist_ok=True)
        name = f"{key(plugin_dirs)}.json"
        with tempfile.NamedTemporaryFile("w", dir=ROOT, suffix=".tmp", delete=False) as f:
            json.dump(spec, f)
        os.replace(f.name, ROOT / name)
        for old in ROOT.glob("*.json"):
            if old.name != name:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache folder: the CLI still works, it only imports the engine each time


def from_engine() -> dict:
    """The table, read from the engine as it is loaded in this process (plugins included)."""
    from dataclasses import fields

    from . import compare, experiments, knobs, names
    from .data import DATASETS
    from .device import DEVICES

    def knob(f, helps):
        meta = {k: f.metadata[k] for k in META if k in f.metadata}
        out = {"name": f.name, "default": repr(f.default), "help": helps.get(f.name, ""), "meta": meta}
        if (among := knobs.choices(f)) is not None:
            meta["choices"] = list(among)
            out["shown"] = [names.with_label(c) for c in among]  # 'ce (cross-entropy)', for --help
        return out

    exps = {}
    for name, exp in experiments.REGISTRY.items():
        helps = knobs.help_of(exp.config)
        exps[name] = {"title": exp.title, "config": exp.config.__name__,
                      "knobs": [knob(f, helps) for f in fields(exp.config) if f.name != "data_dir"]}
    probe_help = knobs.help_of(experiments.REGISTRY["probe"].config)
    return {"datasets": list(DATASETS), "devices": list(DEVICES), "compare_seeds": compare.SEEDS,
            "reproduce": {k: probe_help[k] for k in ("epochs", "seed", "seeds")}, "experiments": exps}


def field(k: dict):
    """A knob of the table as the duck of a dataclass field that clviz.knobs reads (default, metadata)."""
    return SimpleNamespace(name=k["name"], default=ast.literal_eval(k["default"]), metadata=k["meta"])
