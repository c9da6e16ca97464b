"""Loss variants: which part of cross-entropy does the forgetting? Cross-entropy,
correct-logit-only (sigmoid on the true logit, optional L2) and latent-only negatives, and any
loss a plugin adds (clviz/plugin.py), side by side: forgetting curves, one test image's
per-class sigmoid probabilities after each task, probes, and the accumulated gradient norm per
layer. Each loss's own knobs (correct_only_l2, ...) come from its plugin record."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import plugin, report
from ..config import Config
from ..knobs import knob, override
from ..losses import BUILTIN
from .common import SEQ_KEYS, Experiment, all_classes, merge, per_task, probes, sequential_phase


@dataclass(frozen=True)
class LossesConfig(Config):
    # SGD, not Adam: under Adam the correct-logit-only sigmoids saturate at 1.000 within task 1 and
    # later tasks are never learned; under SGD the notes' picture comes back (bench/correct_only_sweep.py)
    optimizer: str = override(Config, "optimizer", "sgd")  # sgd | momentum | adam | rmsprop | adadelta
    lr: float = override(Config, "lr", 0.01)  # learning rate
    losses: tuple = knob(BUILTIN, choices=lambda: plugin.names("loss"), label="Losses")  # the losses compared (any registered loss, plugins' too)
    examples_per_class: int = knob(2, lo=1, hi=100, where="more", label="Tracked test images per class")  # test images per class whose sigmoid probabilities are tracked


def run(cfg: LossesConfig, data, tasks, rep):
    idx = torch.cat([(data.y_test == c).nonzero().flatten()[:cfg.examples_per_class] for c in all_classes(tasks)])

    def extra(m, k, test):
        z = test[0][0]  # the test pass's logits, of the first copy
        sig = torch.sigmoid(z[idx]).cpu().numpy().round(4).tolist()
        return merge(probes(cfg, m, data, tasks, k, test), {"example_sigmoid": sig})

    hists = rep.run([sequential_phase(name, cfg, data, tasks, loss=name, extra=extra) for name in cfg.losses])
    out = {"examples": {"index": idx.tolist(), "label": data.y_test[idx].tolist()}}
    for name, hist in zip(cfg.losses, hists):
        out[name] = {"final_acc": hist["tasks"][-1]["acc_seen"], "matrix": hist["matrix"], "curve": hist["curve"],
                     "forgetting": hist["forgetting"],
                     **per_task(hist, "probe_seen", "probe_all", "example_sigmoid", *SEQ_KEYS)}
    return out


def notes_beside(r) -> list[tuple]:
    """The correct-logit-only run beside the notes' figures (Split MNIST): (what, here, notes)."""
    ref, _ = report.reference(r)
    notes, co = ref.get("correct_only"), r.get("correct_only")
    if not notes or not co:
        return []
    own = [co["matrix"][k][k] for k in range(len(co["matrix"]))]
    sig = co["example_sigmoid"][-1][0]
    return [("final accuracy, all classes", co["final_acc"], notes["final_acc"]),
            ("each task right after it was learned (mean)", sum(own) / len(own), notes["current_task"]),
            ("one test image's sigmoids after the last task", f"{min(sig):.3f} to {max(sig):.4f}",
             f"{notes['sigmoid_range'][0]} to {notes['sigmoid_range'][1]}"),
            *((f"probe (seen) after task {k + 1}", p, n) for k, (p, n) in enumerate(zip(co["probe_seen"], notes["probe_seen"])))]


def table(r) -> str:
    names = r["config"]["losses"]
    rows = [(plugin.label(n) or n, report.cell(r[n], "final_acc"), r[n]["forgetting"][0], report.cell(r[n], "probe_seen", -1))
            for n in names]
    out = "Loss variants\n" + report.table(["loss", "final acc (all seen)", "forgetting of task 1", "probe (seen)"], rows)
    _, name = report.reference(r)
    if beside := notes_beside(r):
        out += f"\n\nCorrect logit only, beside the notes ({name})\n" + report.table(["", "here", "notes"], beside)
    ex = r["examples"]
    out += f"\n\nSigmoid probabilities of test image #{ex['index'][0]} (label {ex['label'][0]}) after each task, per loss\n"
    for n in names:
        p = [per_ex[0] for per_ex in r[n]["example_sigmoid"]]
        out += f"{plugin.label(n) or n}:\n" + report.table(["task", *map(str, range(len(p[0])))], [(k + 1, *row) for k, row in enumerate(p)]) + "\n"
    return out.rstrip()


EXPERIMENT = Experiment("losses", LossesConfig, run, table, "Loss Variants", ":material/functions:", plugins="loss")
