"""A hypothesis, checked: variants x seeds, and a verdict per lens.

    python -m clviz compare remedies --vary methods=finetune,replay --seeds 3

`grid` makes every combination of the varied knobs (the first value of each is the baseline),
each cell one config of N seeds, which train as batched copies where the experiment batches
seeds. Every sequential run reports each seed's own lenses (`per_seed`: final accuracy, BWT,
forgetting of task 1, sparsity after the last task, the probe on all classes where it ran;
savings: each setting's savings per run); `verdicts` sets each variant's seeds against the
baseline's.

The interval is Welch's t (unequal variances): a remedy can change the spread across seeds a
lot (replay's seeds agree far more than fine-tune's), so the pooled-variance t would be wrong,
and with 3-5 seeds a bootstrap has too few values to resample. A difference is "clear" when its
95% interval excludes 0, else "within noise".
"""
from __future__ import annotations

import itertools
import math
from dataclasses import fields
from pathlib import Path

from . import experiments, knobs, plugin
from .config import MAX_SEEDS, to_dict
from .data import DataError

SEEDS = 3  # seeds per cell unless told: the fewest that give a spread worth an interval
MIN_SEEDS = 2  # a verdict weighs seeds against seeds
MAX_CELLS = 64  # a grid beyond this is a typo on one machine (or a job for --backend ray, see the README)
LEVEL = 0.95


def parse_vary(exp: str, texts: list[str]) -> dict:
    """{knob: [values]} from "knob=v1,v2" texts, typed like the knob's default. A tuple knob's
    value is one or more names joined by '+': methods=finetune,replay+ewc is two variants."""
    if not texts:
        raise DataError("Nothing to compare: give at least one --vary KNOB=v1,v2.")
    cls = experiments.get(exp).config
    by_name = {f.name: f for f in fields(cls)}
    out = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise DataError(f"--vary '{text}': write it as KNOB=v1,v2 (e.g. seed=0,1 or lr=1e-3,1e-2).")
        if name not in by_name:
            raise DataError(f"--vary: {exp} has no knob '{name}'. Its knobs: {', '.join(by_name)}.")
        if name in ("seed", "seeds", "data_dir"):
            raise DataError(f"--vary: '{name}' is not a variant (seeds are the noise a verdict weighs: use --seeds).")
        d = by_name[name].default
        items = [v.strip() for v in values.split(",") if v.strip()]
        try:
            vals = [knobs.parse(d, v.replace("+", ",")) if isinstance(d, tuple) else knobs.parse(d, v) for v in items]
        except ValueError as e:
            raise DataError(f"--vary {name}: {e}.") from None
        if len(vals) < 1 or name in out:
            raise DataError(f"--vary {name}: give it once, with at least one value.")
        out[name] = vals
    return out


def parse_set(exp: str, texts: list[str]) -> dict:
    """{knob: value} of "knob=value" texts, the settings every cell shares: the whole value is the
    knob's (tasks=1,2;3,4 and methods=finetune,replay alike; '+' also joins a list's names), the
    seed included. A text without '=' continues the one before it (the app's "; "-separated box)."""
    by_name = {f.name: f for f in fields(experiments.get(exp).config)}
    merged = []
    for t in texts:
        if "=" in t or not merged:
            merged.append(t)
        else:
            merged[-1] += ";" + t
    out = {}
    for text in merged:
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in by_name:
            raise DataError(f"--set '{text.strip()}': write it as KNOB=VALUE with a knob of {exp} "
                            f"({', '.join(by_name)}).")
        d = by_name[name].default
        try:
            out[name] = knobs.parse(d, value.strip().replace("+", ",") if isinstance(d, tuple) else value.strip())
        except ValueError as e:
            raise DataError(f"--set {name}: {e}.") from None
    return out


def grid(exp: str, vary: dict, seeds: int, base: dict | None = None) -> list:
    """The configs of every combination of the varied values (the baseline first), N seeds each."""
    if not MIN_SEEDS <= seeds <= MAX_SEEDS:
        raise DataError(f"--seeds must be between {MIN_SEEDS} and {MAX_SEEDS} (a verdict weighs seeds against seeds), got {seeds}.")
    combos = list(itertools.product(*vary.values()))
    if len(combos) > MAX_CELLS:
        raise DataError(f"The grid has {len(combos)} cells, over the cap of {MAX_CELLS}: vary fewer values, or run "
                        f"it on a Ray cluster (--backend ray, see the README).")
    return [experiments.make(exp, **{**(base or {}), **dict(zip(vary, c)), "seeds": seeds}) for c in combos]


def parts(result: dict) -> dict:
    """{prefix: part} of the runs in a result that report per-seed lenses: the result itself
    (prefix ""), and its sub-runs ("<label>: "); one sub-run alone (one method, one loss) is the
    run itself, with no prefix, so that it compares with another method or loss."""
    out = {"": result} if "per_seed" in result else {}
    subs = {name: part for name, part in result.items() if isinstance(part, dict) and "per_seed" in part}
    for name, part in subs.items():
        out["" if len(subs) == 1 and not out else f"{_SUB.get(name) or plugin.label(name) or name}: "] = part
    return out


def lenses(result: dict) -> dict:
    """{lens: [one value per seed]} of a result: its own runs' lenses and those of its sub-runs
    (named "<sub-run>: <lens>", by the sub-run's label), and savings' per-run savings."""
    out = {}
    for prefix, part in parts(result).items():
        for lens in part["per_seed"][0]:
            out[f"{prefix}{lens}"] = [s[lens] for s in part["per_seed"]]
    for row in result.get("rows", []):  # savings: one row per optimizer and reset
        if "savings_runs" in row:
            out[f"savings, {row['optimizer']}{' (reset)' if row['reset'] else ''}"] = row["savings_runs"]
    return out


_SUB = {"no_bn": "no BN", "bn": "BN", "toy": "2-D toy", "latent": "real model"}


def welch(a: list, b: list, level: float = LEVEL):
    """mean(a) - mean(b) and its `level` interval by Welch's t (unequal variances)."""
    from scipy.stats import t
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    diff, se2 = ma - mb, va / na + vb / nb
    if se2 == 0:  # every seed agrees in both: the difference is exact
        return diff, (diff, diff)
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = t.ppf(0.5 + level / 2, df) * math.sqrt(se2)
    return diff, (diff - half, diff + half)


def verdicts(cells: list, results: list, vary: dict) -> list:
    """Each variant against the baseline (cell 0), per lens both have."""
    base_lenses = lenses(results[0])
    base_knobs = {k: _json(getattr(cells[0], k)) for k in vary}
    out = []
    for cfg, r in zip(cells[1:], results[1:]):
        own = lenses(r)
        for lens, vals in own.items():
            # a variant of several sub-runs (methods=replay+ewc) against a baseline of one: each
            # sub-run's lens against the baseline's
            b = base_lenses.get(lens, base_lenses.get(lens.split(": ", 1)[-1]))
            if b is None or any(not math.isfinite(x) for x in vals + b):
                continue
            diff, (lo, hi) = welch(vals, b)
            out.append({"lens": lens, "variant": {k: _json(getattr(cfg, k)) for k in vary}, "baseline": base_knobs,
                        "variant_mean": _mean(vals), "variant_sd": _sd(vals),
                        "baseline_mean": _mean(b), "baseline_sd": _sd(b),
                        "diff": diff, "ci": [lo, hi], "clear": bool(lo > 0 or hi < 0)})
    return out


def _mean(v):
    return sum(v) / len(v)


def _sd(v):
    m = _mean(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0


def _json(v):
    return list(v) if isinstance(v, tuple) else v


def report(exp: str, cells: list, results: list, vary: dict) -> dict:
    """The JSON a script reads: the cells with their results, and the verdicts."""
    return {"experiment": exp, "vary": {k: [_json(v) for v in vs] for k, vs in vary.items()},
            "method": f"Welch's t, {LEVEL:.0%} interval of the difference variant - baseline over seeds",
            "cells": [{"knobs": {k: _json(getattr(c, k)) for k in vary}, "seeds": c.seeds, "config": to_dict(c),
                       "result": r} for c, r in zip(cells, results)],
            "verdicts": verdicts(cells, results, vary)}


def variant_name(knobs_: dict) -> str:
    return ", ".join(f"{k}={knobs.show(tuple(v) if isinstance(v, list) else v)}" for k, v in knobs_.items())


def table(rep: dict) -> str:
    """The verdicts as the CLI prints them."""
    from .report import table as tab
    rows = [(v["lens"], variant_name(v["variant"]), f"{v['baseline_mean']:.4f} ± {v['baseline_sd']:.4f}",
             f"{v['variant_mean']:.4f} ± {v['variant_sd']:.4f}", f"{v['diff']:+.4f}",
             f"[{v['ci'][0]:+.4f}, {v['ci'][1]:+.4f}]", "clear" if v["clear"] else "within noise")
            for v in rep["verdicts"]]
    base = variant_name(rep["cells"][0]["knobs"])
    return (f"[compare {rep['experiment']}] baseline {base}, {rep['cells'][0]['seeds']} seeds per cell; "
            f"{rep['method']}\n" + tab(["lens", "variant", "baseline mean ± sd", "variant mean ± sd", "difference",
                                        "95% interval", "verdict"], rows))


def run_local(cells, device="cpu", use_cache=True, on_cell=None):
    """Each cell in this process, one after the other (its seeds batched inside); stored as any run."""
    out = []
    for i, cfg in enumerate(cells):
        out.append(experiments.run(cfg, device=device, use_cache=use_cache))
        if on_cell is not None:
            on_cell(i, out[-1])
    return out


# ---------------------------------------------------------------- past one machine: Ray

REPO = Path(__file__).resolve().parent.parent


def _ray_cell(values: dict, device: str, plugin_sources: dict):
    """One cell on a Ray worker: the user plugins the driver loaded (sent as their sources, so a
    worker on another machine needs none of its files; a folder per version, so a worker that
    runs several cells loads each file once), then the run. Nothing is stored there: the result
    travels back and lands in the driver's store."""
    import tempfile
    from . import experiments as E, plugin as P, store as S
    files = {}
    for name, text in plugin_sources.items():
        digest = P.digest_of(text.encode())
        f = Path(tempfile.gettempdir()) / f"clviz-plugins-{digest}" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        if not f.exists():
            f.write_text(text)
        files[str(f.resolve())] = digest
    if errors := P.ensure(files):
        raise DataError(" ".join(errors))
    S.save = lambda cfg, result: None  # this worker's disk is not the store
    return E.run(E.make(values.pop("experiment"), **values), device=device, use_cache=False)


def _import_ray():
    import ray
    return ray


def _reachable(address: str) -> bool:
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return True
    except (OSError, ValueError):
        return False


def run_ray(cells, device="cpu", use_cache=True, on_cell=None, address=None, num_cpus=None):
    """Each cell as a Ray task on the cluster at `address` ($RAY_ADDRESS), or on a local Ray when
    there is none; the code travels as Ray's working_dir (the checkout, without its cache), and
    every result lands in this machine's store. Cells already stored are answered from it."""
    import os
    from . import store
    try:
        ray = _import_ray()
    except ImportError:
        raise DataError("--backend ray needs Ray on this machine: pip install 'ray[default]'.") from None
    address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto" and not _reachable(address):
        raise DataError(f"The Ray cluster at {address} cannot be reached: start it (ray start --head) or unset RAY_ADDRESS.")
    out = [store.load(c) if use_cache else None for c in cells]
    todo = [i for i, r in enumerate(out) if r is None]
    if todo:
        env = {"working_dir": str(REPO), "excludes": ["cache/", ".git/", "mutants/", "bench/", "*.png"]}
        started = not ray.is_initialized()
        if started:
            ray.init(address=address, runtime_env=env, include_dashboard=False, log_to_driver=False,
                     **({} if address else {"num_cpus": num_cpus, "_node_ip_address": "127.0.0.1"}))
        try:
            sources = {Path(f).name: Path(f).read_text() for f in plugin.LOADED}
            if any(plugin.LOADED[f] != plugin.digest_of(t.encode()) for f, t in zip(plugin.LOADED, sources.values())):
                raise DataError("A plugin file changed on disk since it was loaded: run the command again.")
            task = ray.remote(_ray_cell).options(num_gpus=1 if device == "cuda" else 0)  # Ray hides a GPU not asked for
            refs = {task.remote({k: v for k, v in to_dict(cells[i]).items()}, device, sources): i for i in todo}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = refs[done[0]]
                out[i] = {**ray.get(done[0]), "cached": False}
                store.save(cells[i], {k: v for k, v in out[i].items() if k != "cached"})
                if on_cell is not None:
                    on_cell(i, out[i])
        finally:
            if started:
                ray.shutdown()
    return [{**r, "cached": r.get("cached", True)} if r is not None else r for r in out]


# ---------------------------------------------------------------- stored runs, picked

def stored(exp: str) -> list:
    """The configs of the stored runs of `exp` with at least two seeds (a verdict weighs seeds)
    that this code would compute: [(store key, config)], newest first."""
    import json as _json_mod
    from . import store
    out = []
    for path, _, mtime in sorted(store.entries(), key=lambda e: -e[2]):
        if not path.name.startswith(f"{exp}-"):
            continue
        try:
            values = dict(_json_mod.loads(path.read_text())["result"]["config"])
            values.pop("experiment", None)
            cfg = experiments.make(exp, **values)
        except (ValueError, KeyError, TypeError, OSError, DataError):
            continue  # another code's or a broken entry: store.load says so when it is asked
        if cfg.seeds >= 2 and store.key(cfg) == path.stem:
            out.append((path.stem, cfg))
    return out


def differing(cells: list) -> dict:
    """{knob: [its value in each cell]} of the knobs in which the cells differ (seeds aside)."""
    names = [f.name for f in fields(cells[0]) if f.name not in ("seeds", "data_dir")]
    return {n: [getattr(c, n) for c in cells] for n in names if len({repr(getattr(c, n)) for c in cells}) > 1}
