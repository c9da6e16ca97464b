"""The lenses of where and when forgetting happens (clviz/lenses.py) on a method's run: what the
`depth` experiment shows of one method and the Remedies page of each. A `Recorder` rides along a
run (run_sequential's `extra` and `watch`); `method_phase` runs a method with one, every seed at
once where it can; `lens_result` turns the copies' records into the result's keys."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from .. import lenses, metrics, plugin, probe
from ..config import Config
from ..knobs import knob
from ..losses import make_loss
from ..train import live_subset, run_sequential
from .common import Phase, merge, new_model, views


@dataclass(frozen=True)
class LensConfig(Config):
    """The knobs of the lenses every method's run carries (the depth and remedies experiments)."""
    gap_every: int = knob(3, lo=1, hi=10_000, where="more", label="Stability gap: steps between evaluations")  # after a task switch, evaluate on the live test samples every this many steps
    gap_steps: int = knob(30, lo=0, hi=1_000_000, where="more", label="Stability gap: steps watched after a switch")  # ... for this many steps of each task after the first (0: at epoch ends only)
    cka_n: int = knob(500, lo=10, hi=100_000, where="more", label="CKA's test samples")  # fixed test samples behind the layers' CKA
    memory: int = knob(50, lo=1, hi=5000, label="Memory (samples per class)")  # samples per class kept by replay, ncm and head (retraining)


class Recorder:
    """What one run (all its copies) keeps for the lenses: task-IL accuracy after each task, the
    weights and each layer's features on a fixed test batch after each task (rollback, CKA), and
    the live evaluations (stability gap, forgetting events) through its `watch`."""

    def __init__(self, cfg: LensConfig, data, tasks, path=()):
        self.cfg, self.data, self.tasks = cfg, data, tasks
        self.live = live_subset(data, cfg.live_eval_n)
        self.watch = lenses.Watch(data.y_test[self.live], tasks, cfg.gap_every, cfg.gap_steps, path)
        self.batch = probe.fit_subset(len(data.y_test), cfg.cka_n, data.device)
        self.saved, self.feats, self.layers = [], [], None

    def extra(self, m, k, test):
        nets = views(m)
        self.layers, self.batched = self.layers or lenses.layers(nets[0]), m.batched
        self.saved.append({n: p.detach().clone() for n, p in m.named_parameters()})
        self.feats.append([lenses.features(v, self.data.x_test[self.batch], self.layers) for v in nets])
        return [{"task_il": t} for t in lenses.task_il(test[0], self.data.y_test, self.tasks)]

    def first(self, k) -> dict:
        """Copy 0's weights after task k."""
        return {n: t[0] if self.batched else t for n, t in self.saved[k].items()}

    def finish(self, model, forward=metrics.forward_copies) -> list[dict]:
        """Per copy: rollback, CKA, min-ACC, WC-ACC and the forgetting events' counts."""
        tests = [self.data.subset(t, "test") for t in self.tasks]
        roll = lenses.rollback(model, self.saved, self.layers, tests, forward)
        last = self.feats[-1]
        self.gap = self.watch.gap()
        gap = self.gap["per_copy"]
        counts = self.watch.counts()
        def cka(c, name):  # each task's features against the last's: the last's part computed once
            to_last = lenses.cka_against(last[c][name])
            return [to_last(f[c][name]) for f in self.feats]
        return [{"rollback": r, "cka": {name: cka(c, name) for name, _ in self.layers}, **g, "events": e}
                for c, (r, g, e) in enumerate(zip(roll, gap, counts))]


def method_phase(cfg, data, tasks, name, *, batched=False, extra=None, path=()) -> Phase:
    """Method `name`'s class-incremental run with a Recorder: every seed at once where `batched`
    (plain fine-tuning: copies of one BatchedNet), else one seed after another (a remedy's state
    is per network). One unit per epoch. Its result: {"hist", "copies" (each copy's lenses, in
    seed order), "recorders", "seconds" (per seed), "memory" (samples the method keeps)}.
    `extra(model, k, test)` measures more after each task."""
    seeds = [cfg.seed] if batched else [cfg.seed + i for i in range(cfg.seeds)]

    def run(emit):
        hists, copies, recorders, seconds, kept = [], [], [], [], 0
        for seed in seeds:
            c = cfg if batched else replace(cfg, seed=seed, seeds=1)
            method = plugin.get("method", name).obj(c, data.num_classes)
            rec = Recorder(c, data, tasks, path)
            t0 = time.perf_counter()
            model = new_model(c, data)
            hists.append(run_sequential(
                model, data, tasks, make_loss("ce"), optimizer=cfg.optimizer, lr=cfg.lr, epochs=cfg.epochs,
                batch_size=cfg.batch_size, seed=seed, on_event=emit, method=method, live_eval_n=cfg.live_eval_n,
                grad_norms=False, watch=rec.watch,
                extra=lambda m, k, test: merge(rec.extra(m, k, test), *([extra(m, k, test)] if extra else []))))
            copies += rec.finish(model, method.forward)
            seconds.append(time.perf_counter() - t0)
            recorders.append(rec)
            kept = method.memory_size()
        return {"hist": metrics.merge_histories(hists), "copies": copies, "recorders": recorders,
                "seconds": seconds, "memory": kept}
    return Phase(name, len(seeds) * len(tasks) * cfg.epochs, run)


def _mean(values):
    a = np.asarray(values, dtype=float)
    return a.mean(0).tolist(), a.std(0).tolist()


def lens_result(run: dict, data, tasks, top=16) -> dict:
    """The lenses' keys of a result from a method_phase's run: `task_il` and `class_il` [task][after
    task], `rollback` and `cka` {layer: [per task]}, `min_acc`, `wc_acc`, `gap` (the evaluations),
    `forgetting_events`; each mean over seeds with its spread under `<key>_std`. Each seed's own
    lenses (`per_seed`, which already hold task-IL accuracy) gain min-ACC and WC-ACC."""
    hist, copies = run["hist"], run["copies"]
    out = {"class_il": np.asarray(hist["matrix"]).T.tolist(),
           "task_il": np.asarray([t["task_il"] for t in hist["tasks"]]).T.tolist()}
    if "task_il_std" in hist["tasks"][0]:
        out["task_il_std"] = np.asarray([t["task_il_std"] for t in hist["tasks"]]).T.tolist()
    for key in ("rollback", "cka"):
        layers = list(copies[0][key])
        means = {n: _mean([c[key][n] for c in copies]) for n in layers}
        out[key] = {n: m for n, (m, _) in means.items()}
        if len(copies) > 1:
            out[f"{key}_std"] = {n: s for n, (_, s) in means.items()}
    for key in ("min_acc", "wc_acc"):
        out.update(metrics.mean_std([{key: c[key]} for c in copies]))
    out["gap"] = gap_rows(run["recorders"])
    out["forgetting_events"] = events(run, data, top)
    out["per_seed"] = [{**s, "min-ACC": c["min_acc"], "WC-ACC": c["wc_acc"]} for s, c in zip(hist["per_seed"], copies)]
    return out


def gap_rows(recorders) -> list[dict]:
    """The evaluations behind the stability gap: one row each (task being trained, step, accuracy
    on each task), the mean over seeds (their runs evaluate at the same steps)."""
    per = [r.gap["rows"] for r in recorders]
    if len(per) == 1:
        return per[0]
    return [{**rows[0], **metrics.mean_std([{"acc_tasks": r["acc_tasks"]} for r in rows])} for rows in zip(*per)]


def events(run, data, top) -> dict:
    """Forgetting events of the live test samples, over every copy (the counts' mean): per class,
    and the most forgotten examples with their test index, class, count and image."""
    live = run["recorders"][0].live
    counts = np.mean([c["events"] for c in run["copies"]], 0)
    y = data.y_test[live].cpu().numpy()
    per_class = np.bincount(y, counts, data.num_classes).tolist()
    order = np.argsort(-counts, kind="stable")[:top]
    return {"per_class": per_class, "top": [int(live[i]) for i in order], "top_count": counts[order].tolist(),
            "top_class": y[order].tolist(), "images": [data.image(int(live[i])).round(3).tolist() for i in order],
            "evaluations": len(run["recorders"][0].watch.right), "examples": len(live)}
