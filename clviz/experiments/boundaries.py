"""Decision boundaries: forgetting you can see.

1. A 2-D toy problem (Gaussian blobs on a ring, or interleaved spiral arms), two classes per
   task, learned class-incrementally by a small MLP: after each task the decision regions over
   a grid show old classes' regions being taken over by the new ones.
2. The real model's latent space: the latent features of test samples projected to 2-D by PCA,
   with the decision regions of the model's own head over that plane (grid points mapped back
   into latent space through the PCA basis).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .. import data as D
from .. import models, report
from ..config import Config
from ..knobs import knob
from ..losses import make_loss
from ..train import run_sequential
from .common import Experiment, Phase, new_model

TOYS = ("blobs", "spirals")


@dataclass(frozen=True)
class BoundariesConfig(Config):
    toy: str = knob("blobs", choices=TOYS, widget="radio", label="Toy problem")  # blobs | spirals: the 2-D problem
    toy_tasks: int = knob(3, lo=2, hi=5, label="Toy tasks (2 classes each)")  # tasks of the 2-D problem, two classes each
    toy_epochs: int = knob(30, lo=1, hi=500, label="Toy epochs per task")  # epochs per task of the 2-D problem
    toy_lr: float = knob(0.01, gt=0, hi=100.0, widget="log", label="Toy learning rate")  # learning rate of the 2-D problem (same optimizer as the real model)
    toy_hidden: tuple = knob((64, 64), where="more", label="Toy hidden widths")  # hidden widths of the 2-D problem's MLP
    toy_per_class: int = knob(200, lo=1, hi=10_000, where="more", label="Toy points per class")  # training points per class of the 2-D problem (test: half as many)
    toy_batch_size: int = knob(32, lo=2, hi=20_000, where="more", label="Toy batch size")  # batch size of the 2-D problem
    grid: int = knob(60, lo=2, hi=400, where="more", label="Grid points a side")  # resolution of the decision-region grids

    def check(self):  # the toy's choices and the bounds: their knob(...) metadata (config.validate)
        if self.toy_batch_size > 2 * self.toy_per_class:
            raise D.DataError(f"The toy batch size must be at most {2 * self.toy_per_class} (one task of the toy problem).")


def toy_data(kind: str, n_classes: int, seed: int, n_train=200, n_test=100) -> D.Data:
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n_classes).repeat_interleave(n)
        if kind == "spirals":
            t = torch.rand(len(y), generator=g) * 3.0 + 0.5  # position along the arm
            a = t + 2 * math.pi * y / n_classes
            x = torch.stack([t * torch.cos(a), t * torch.sin(a)], 1) + 0.15 * torch.randn(len(y), 2, generator=g)
        else:
            a = 2 * math.pi * y / n_classes
            x = 3.0 * torch.stack([torch.cos(a), torch.sin(a)], 1) + 0.7 * torch.randn(len(y), 2, generator=g)
        return x, y

    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    return D.Data(kind, xtr, ytr, xte, yte, n_classes, (2,), 0.0, 1.0, f"toy {kind}")


def grid_of(x, n):
    lo, hi = x.min(0).values - 0.5, x.max(0).values + 0.5
    gx, gy = torch.linspace(lo[0], hi[0], n), torch.linspace(lo[1], hi[1], n)
    g = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
    return g, [lo.tolist(), hi.tolist()]


@torch.no_grad()
def regions(model, g):
    """Predicted class and its probability at each grid point."""
    model.eval()
    p = torch.softmax(model(g), 1)
    model.train()
    conf, cls = p.max(1)
    return {"cls": cls.tolist(), "conf": conf.numpy().round(3).tolist()}


@torch.no_grad()
def latent_plane(model, data, test, n_grid, n_points=400):
    """PCA of the latent test features to 2-D, and the head's decisions over that plane
    (`test`: the logits and latent features of the test set, of the one copy this run trains)."""
    z, h = test[0][0], test[1][0]
    mu = h.mean(0)
    _, _, v = torch.linalg.svd(h - mu, full_matrices=False)
    basis = v[:2]                                   # (2, latent)
    xy = (h - mu) @ basis.T
    g, box = grid_of(xy.cpu(), n_grid)
    logits = model.head(mu + g.to(h.device) @ basis)  # grid point -> latent vector on the plane -> head
    p = torch.softmax(logits, 1)
    conf, cls = p.max(1)
    idx = torch.randperm(len(xy), generator=torch.Generator().manual_seed(0))[:n_points]
    return {"points": xy[idx.to(xy.device)].cpu().numpy().round(3).tolist(), "labels": data.y_test[idx].tolist(),
            "pred": z.argmax(1)[idx].tolist(), "grid": {"cls": cls.tolist(), "conf": conf.cpu().numpy().round(3).tolist()},
            "box": box}


def toy_setup(cfg):
    """The toy problem of a config: data, tasks, grid, and what a chart needs to draw it."""
    n_cls = 2 * cfg.toy_tasks
    toy = toy_data(cfg.toy, n_cls, cfg.seed, cfg.toy_per_class, max(1, cfg.toy_per_class // 2))
    tasks = tuple((2 * k, 2 * k + 1) for k in range(cfg.toy_tasks))
    g, box = grid_of(toy.x_train, cfg.grid)
    meta = {"tasks": [list(t) for t in tasks], "grid_n": cfg.grid, "box": box, "n_classes": n_cls,
            "points": toy.x_test.numpy().round(3).tolist(), "labels": toy.y_test.tolist()}
    return toy, tasks, g, meta


def run(cfg: BoundariesConfig, data, tasks, rep):
    toy, toy_tasks, g, meta = toy_setup(cfg)

    def toy_run(emit):
        torch.manual_seed(cfg.seed)
        net = models.mlp(2, cfg.toy_hidden, meta["n_classes"])
        return run_sequential(net, toy, toy_tasks, make_loss("ce"), optimizer=cfg.optimizer, lr=cfg.toy_lr,
                              epochs=cfg.toy_epochs, batch_size=cfg.toy_batch_size, seed=cfg.seed, on_event=emit,
                              extra=lambda m, k, test: {"regions": regions(m, g)}, grad_norms=False)

    def real_run(emit):  # one seed: the picture is of one network
        return run_sequential(new_model(replace(cfg, seeds=1), data), data, tasks, make_loss("ce"),
                              optimizer=cfg.optimizer, lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size,
                              seed=cfg.seed, on_event=emit, live_eval_n=cfg.live_eval_n, grad_norms=False,
                              extra=lambda m, k, test: {"plane": latent_plane(m, data, test, cfg.grid)})

    hist, hist_real = rep.run([Phase("toy", len(toy_tasks) * cfg.toy_epochs, toy_run),
                               Phase("latent", len(tasks) * cfg.epochs, real_run)])
    return {
        "toy": {**meta, "regions": [t["regions"] for t in hist["tasks"]],
                "acc_seen": [t["acc_seen"] for t in hist["tasks"]], "matrix": hist["matrix"]},
        "latent": {"planes": [t["plane"] for t in hist_real["tasks"]],
                   "acc_seen": [t["acc_seen"] for t in hist_real["tasks"]], "matrix": hist_real["matrix"]},
    }


def table(r) -> str:
    rows = [(k + 1, a, b) for k, (a, b) in enumerate(zip(r["toy"]["acc_seen"], r["latent"]["acc_seen"]))]
    return "Accuracy on the classes seen so far\n" + report.table(["task", "2-D toy", "real model"], rows)


EXPERIMENT = Experiment("boundaries", BoundariesConfig, run, table, "Decision Boundaries", ":material/scatter_plot:",
                        reproduce=())
