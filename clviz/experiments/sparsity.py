"""Sparsity: the latent layer goes quiet as tasks arrive, unless BatchNorm holds it.

An MLP trained class-incrementally, with and without BatchNorm. Per task: validation loss,
population sparsity of the latent layer, a latent heatmap (test samples x units) and the hidden
biases (the notes blame a bias shift).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import report
from ..config import Config
from ..knobs import knob
from .common import SEQ_KEYS, Experiment, heatmap, per_task, sequential_phase

VARIANTS = (("no_bn", False), ("bn", True))


@dataclass(frozen=True)
class SparsityConfig(Config):
    heatmap_per_class: int = knob(10, lo=1, hi=1000, where="more", label="Heatmap samples per class")  # test samples per class in the latent heatmaps


def run(cfg: SparsityConfig, data, tasks, rep):
    extra = lambda m, k, test: heatmap(m, data, tasks, cfg.heatmap_per_class)
    hists = rep.run([sequential_phase(name, cfg, data, tasks, bn=bn, extra=extra) for name, bn in VARIANTS])
    return {name: {**per_task(h, *SEQ_KEYS, "heatmap", "heatmap_labels", "bias"), "matrix": h["matrix"],
                   "curve": h["curve"]} for (name, _), h in zip(VARIANTS, hists)}


def table(r) -> str:
    v = report.cell
    rows = [(k + 1, *(v(r[b], m, k) for b in ("no_bn", "bn") for m in ("val_loss", "sparsity")))
            for k in range(len(r["tasks"]))]
    out = "Sparsity of the latent layer after each task (fraction of zero activations)\n"
    out += report.table(["task", "val loss (no BN)", "sparsity (no BN)", "val loss (BN)", "sparsity (BN)"], rows)
    ref, name = report.reference(r)
    n, b = ref.get("sparsity_no_bn"), ref.get("sparsity_bn")
    if n:
        out += (f"\nnotes ({name}): no BN {n[0]} -> {n[1]} after task 2, BN {b[0]} -> {b[1]};"
                f" here: no BN {r['no_bn']['sparsity'][0]:.4f} -> {r['no_bn']['sparsity'][1]:.4f},"
                f" BN {r['bn']['sparsity'][0]:.4f} -> {r['bn']['sparsity'][1]:.4f}")
    return out


EXPERIMENT = Experiment("sparsity", SparsityConfig, run, table, "Sparsity", ":material/grain:")
