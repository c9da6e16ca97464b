"""Where forgetting lives: the lenses that turn "forgetting is shallow" into a picture, on one
method's run (fine-tuning by default, any registered method).

- task-IL beside class-IL accuracy, per task after each task: the gap is the head's choice;
- layer rollback and CKA: which layer lost each task, how far each layer's features moved;
- the probe's control (Hess et al. 2023): the all-class probe on each task, after it was learned,
  after the last task, and on a network trained on every task but that one; what the features
  kept of what learning the task added;
- the stability gap: dense evaluations after each task switch, min-ACC and WC-ACC;
- forgetting events per test example;
- the loss plane through the weights after task k, after task k+1 and after joint training,
  with the training path projected on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .. import data as D
from .. import lenses, metrics, plugin, report
from ..ensemble import BatchedNet
from ..knobs import knob
from ..losses import make_loss
from ..train import make_optimizer, train_task
from .common import Experiment, Phase, joint_phase, new_model, new_net, per_task, probes
from .recorder import LensConfig, lens_result, method_phase


@dataclass(frozen=True)
class DepthConfig(LensConfig):
    method: str = knob("finetune", choices=lambda: plugin.names("method"), label="Method")  # the method whose forgetting is looked into: any registered one
    plane_task: int = knob(1, lo=1, hi=99, label="Loss plane after task")  # the plane through the weights after this task, after the next and after joint training
    plane_points: int = knob(11, lo=3, hi=41, where="more", label="Loss plane: points per axis")  # grid points along each axis of the plane
    plane_eval_n: int = knob(1000, lo=10, hi=100_000, where="more", label="Loss plane: test samples per task")  # test samples of each of the two tasks behind each point of the plane


def run(cfg: DepthConfig, data, tasks, rep):
    T, k0 = len(tasks), cfg.plane_task - 1
    if k0 >= T - 1:
        raise D.DataError(f"Loss plane after task {cfg.plane_task}: there is no task after it; choose 1 to {T - 1}.")
    joint = {}
    seq, control, j = rep.run([
        method_phase(cfg, data, tasks, cfg.method, batched=cfg.method == "finetune", path=(k0, k0 + 1),
                     extra=lambda m, k, test: probes(cfg, m, data, tasks, k, test)),
        control_phase(cfg, data, tasks),
        joint_phase(cfg, data, tasks, keep=lambda m: joint.update(first(m)))])
    hist = seq["hist"]
    p = per_task(hist, "probe_seen", "probe_all", "probe_tasks", "acc_seen")
    out = {**j, **p, **lens_result(seq, data, tasks), **control_result(p["probe_tasks"], control),
           "matrix": hist["matrix"], "curve": hist["curve"], "forgetting": hist["forgetting"],
           "plane": plane(cfg, data, tasks, seq["recorders"][0], joint)}
    return out


def first(model) -> dict:
    """Copy 0's weights."""
    return {n: (p[0] if model.batched else p).detach().clone() for n, p in model.named_parameters()}


# ---------------------------------------------------------------- the probe's control

def control_phase(cfg, data, tasks) -> Phase:
    """The probe's control (Hess et al. 2023, task exclusion): for each task k, a network trained by
    fine-tuning on every task but k, in their order, from the sequential run's initialisation (seed
    s), with its optimizer and epochs. All tasks x seeds of them train at once as copies of one
    BatchedNet (copy k * seeds + s), each on its own data (train_task's `parts`: each epoch draws
    every copy as many samples as the smallest part holds). One unit per epoch of each of the
    T - 1 stages. Its result: [task k][seed] the all-class probe's accuracy on task k's test
    samples, on the final features of the network that never saw task k."""
    T, N = len(tasks), cfg.seeds

    def run(emit):
        model = BatchedNet([new_net(cfg, data, cfg.seed + s) for _ in range(T) for s in range(N)])
        opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
        gens = [torch.Generator().manual_seed(cfg.seed + s) for _ in range(T) for s in range(N)]
        where = [torch.isin(data.y_train, torch.as_tensor(list(t), device=data.device)).nonzero().flatten() for t in tasks]
        order = [[j for j in range(T) if j != k] for k in range(T)]  # copy k's tasks
        for stage in range(T - 1):
            parts = [where[order[k][stage]] for k in range(T) for _ in range(N)]
            train_task(model, opt, data.x_train, data.y_train, make_loss("ce"), batch_size=cfg.batch_size, gen=gens,
                       epochs=cfg.epochs, parts=parts,
                       on_epoch=lambda e, loss: emit({"event": "tick", "epoch": e, "loss": loss / len(gens)}))
        recs = probes(cfg, model, data, tasks, T - 1, metrics.forward_copies(model, data.x_test))
        return [[recs[k * N + s]["probe_tasks"][k] for s in range(N)] for k in range(T)]
    return Phase("control", (T - 1) * cfg.epochs, run)


def control_result(probe_tasks, control) -> dict:
    """`control_probe` per task (mean over seeds), the probe on each task right after it was
    learned and after the last task, and `kept`: (final - control) / (learned - control), the share
    of what learning the task added to the features that they still hold (nan where learning it
    added nothing over the control)."""
    learned = [probe_tasks[k][k] for k in range(len(control))]
    final = probe_tasks[-1]
    ctrl = [sum(c) / len(c) for c in control]
    kept = [(f - c) / (l - c) if l - c > 1e-9 else math.nan for l, f, c in zip(learned, final, ctrl)]
    out = {"control_probe": ctrl, "probe_learned": learned, "probe_final": final, "kept": kept}
    if len(control[0]) > 1:
        out["control_probe_std"] = [float(torch.tensor(c).std(unbiased=False)) for c in control]
    return out


# ---------------------------------------------------------------- the loss plane

def plane(cfg, data, tasks, rec, joint) -> dict:
    """The loss of the old task (k) and the new one (k+1) over the plane through copy 0's weights
    after task k, after task k+1 and after joint training (lenses.plane_axes), and the training
    path of tasks k and k+1 projected on it (with each point's distance off the plane, as a
    share of the distance from the first point to the second)."""
    k = cfg.plane_task - 1
    net = new_model(replace(cfg, seeds=1), data)
    names = [n for n, _ in net.named_parameters()]
    w = [lenses.flat(rec.first(k), names), lenses.flat(rec.first(k + 1), names), lenses.flat(joint, names)]
    spans = lenses.filters(dict(net.named_parameters()), names)
    (e1, e2), pts = lenses.plane_axes(*w, spans)
    a, b = lenses.plane_grid(pts, cfg.plane_points)
    splits = {}
    for name, t in (("old", tasks[k]), ("new", tasks[k + 1])):
        x, y = data.subset(t, "test")
        splits[name] = (x[:cfg.plane_eval_n], y[:cfg.plane_eval_n])
    grid = lenses.plane_losses(net, names, w[0], e1, e2, a, b, splits)
    span = (w[1] - w[0]).norm()
    path = []
    for task, step, weights in rec.watch.weights:
        v = lenses.flat(weights, names)
        ca, cb = lenses.coords(v, w[0], e1, e2)
        off = (v - w[0] - ca * e1 - cb * e2).norm() / span
        path.append({"task": task, "step": step, "a": ca, "b": cb, "off": off.item()})
    points = []
    for name, (pa, pb) in zip((f"after task {k + 1}", f"after task {k + 2}", "joint"), pts):
        at = lenses.plane_losses(net, names, w[0], e1, e2, [pa], [pb], splits)  # the point itself, not its cell
        points.append({"name": name, "a": pa, "b": pb, **{f"{s} loss": at[s]["loss"][0][0] for s in splits}})
    return {"task": k, "a": a, "b": b, **grid, "path": path, "points": points}


# ---------------------------------------------------------------- the CLI's tables

def table(r) -> str:
    T = len(r["tasks"])
    lab = plugin.label(r["config"]["method"]) or r["config"]["method"]
    rows = [(k + 1, ",".join(map(str, r["tasks"][k])), r["task_il"][k][-1], r["class_il"][k][-1], r["task_il"][k][k],
             r["probe_learned"][k], r["probe_final"][k], r["control_probe"][k], r["kept"][k]) for k in range(T)]
    out = (f"Where forgetting lives ({lab}): each task after the last one, task-IL (the task's own classes) beside "
           "class-IL (all classes); the all-class probe on the task right after it, after the last task, and on the "
           "control network that never saw it; kept = (final - control) / (learned - control)\n")
    out += report.table(["task", "classes", "task-IL", "class-IL", "task-IL when learned", "probe learned",
                         "probe final", "control", "kept"], rows)
    layers = list(r["rollback"])
    out += ("\n\nLayer rollback: accuracy on task k after putting one layer back to its weights after task k "
            "(the rest as after the last task), beside no rollback\n")
    out += report.table(["task", "none", *layers], [(k + 1, r["class_il"][k][-1], *(r["rollback"][n][k] for n in layers))
                                                    for k in range(T)])
    out += "\n\nLinear CKA of each layer's features after task k against after the last task\n"
    out += report.table(["task", *layers], [(k + 1, *(r["cka"][n][k] for n in layers)) for k in range(T)])
    ev = r["forgetting_events"]
    out += (f"\n\nStability gap: min-ACC {report.cell(r, 'min_acc')}, WC-ACC {report.cell(r, 'wc_acc')}, final "
            f"accuracy {r['acc_seen'][-1]:.4f}\nForgetting events per class ({ev['evaluations']} evaluations of "
            f"{ev['examples']} test samples)\n")
    out += report.table(["class", *map(str, range(len(ev["per_class"])))], [("events", *(f"{c:g}" for c in ev["per_class"]))])
    pl = r["plane"]
    at = {p["name"]: p for p in pl["points"]}
    out += f"\n\nLoss plane through {', '.join(at)} (filter-normalised units)\n"
    out += report.table(["point", "a", "b"], [(n, p["a"], p["b"]) for n, p in at.items()])
    return out


EXPERIMENT = Experiment("depth", DepthConfig, run, table, "Where forgetting lives", ":material/layers:", plugins="method")
