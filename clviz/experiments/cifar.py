"""Split CIFAR-100 (10 tasks of 10 classes) with a small CNN: joint vs sequential, sparsity with
and without BatchNorm per task, probes on seen and on all classes."""
from __future__ import annotations

from dataclasses import dataclass

from .. import report
from ..config import Config
from ..knobs import knob, override
from .common import Experiment, heatmap, joint_phase, merge, per_task, probes, sequential_phase, summary


@dataclass(frozen=True)
class CifarConfig(Config):
    dataset: str = override(Config, "dataset", "cifar100")  # digits | mnist | fashion-mnist | cifar100
    epochs: int = override(Config, "epochs", 2)  # epochs per task
    batch_size: int = override(Config, "batch_size", 64)  # samples per optimiser step
    per_class: int = override(Config, "per_class", 100)  # 100 x 100 images: a CPU-sized default; 0 for the full set
    heatmap_per_class: int = knob(2, lo=1, hi=1000, where="more", label="Heatmap samples per class")  # test samples per class in the latent heatmaps


def run(cfg: CifarConfig, data, tasks, rep):
    extra = lambda m, k, test: merge(probes(cfg, m, data, tasks, k, test), heatmap(m, data, tasks, cfg.heatmap_per_class))
    hist, hist_bn, j = rep.run([sequential_phase("no_bn", cfg, data, tasks, extra=extra),
                                sequential_phase("bn", cfg, data, tasks, bn=True), joint_phase(cfg, data, tasks)])
    return {**j, **summary(hist, j["joint_acc"]),
            "no_bn": per_task(hist, "sparsity", "val_loss", "heatmap", "heatmap_labels", "bias"),
            "bn": per_task(hist_bn, "sparsity", "val_loss")}


def table(r) -> str:
    rows = [(k + 1, report.cell(r["no_bn"], "sparsity", k), report.cell(r["bn"], "sparsity", k))
            for k in range(len(r["tasks"]))]
    return report.probe_tables(r) + "\n\nSparsity per task\n" + report.table(["task", "no BN", "BN"], rows)


EXPERIMENT = Experiment("cifar", CifarConfig, run, table, "CIFAR", ":material/image:", reproduce=("cifar100",))
