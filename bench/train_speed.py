"""How fast is clviz's trainer, against the floor and against the textbook way? Run by hand:

    python bench/train_speed.py [--epochs 2] [--repeats 3] [--batch-size 64] [--seeds 1,4,8] [--device cuda]

The same work three ways, in one process, alternating, several repeats (medians and ratios):
  1. clviz     run_sequential with all instrumentation on: per-epoch evaluation (accuracy per
               task, sparsity), a linear probe on seen and on all classes after each task,
               gradient accumulation per layer, events to a callback; at clviz's thread count
               (device.THREADS, as the app and the CLI train), its measurements aside on a
               free core (device.Aside), as in every run;
  2. bare      a hand-written loop over preloaded tensors with randperm index slicing, nothing else
               (the floor for this hardware), at clviz's thread count and at every core;
  3. textbook  torchvision dataset + ToTensor/Normalize transforms + DataLoader(shuffle=True);
and, to show where the time goes, clviz's loop with the instrumentation off. The bare loop uses the
same fused optimizer as clviz (the best simple alternative, not a slow one). Wall and CPU time
(all the process's threads) are reported: the measurements aside cost CPU, not wall time.
On `--device cuda` the data lives on the GPU and two more ways run: clviz's loop with the step
eager (no CUDA graph), and the bare loop with its step captured as one CUDA graph and replayed
(the floor on a GPU, as ../shared/gpu/floor.py). Times include a synchronise at the end.
Work: Split-MNIST-shaped data (60,000 x 28 x 28, 5 tasks of 2 classes), the default MLP
(784-256-256-10), Adam 1e-3. Real Fashion-MNIST files when found (Debian's dataset-fashion-mnist
has MNIST's shape), otherwise synthetic data of that shape written as IDX files, so that the
textbook path reads real torchvision files either way.

Then several seeds: the cost of N = 1, 4, 8 copies trained at once (BatchedNet), against N
separate runs, with the instrumentation (measured on every copy) and for the training loop alone.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clviz import data as D  # noqa: E402
from clviz import models  # noqa: E402
from clviz.device import THREADS  # noqa: E402
from clviz.ensemble import BatchedNet  # noqa: E402
from clviz.experiments import make  # noqa: E402
from clviz.experiments.common import probes  # noqa: E402
from clviz.losses import make_loss  # noqa: E402
from clviz.train import generators, make_optimizer, run_sequential, train_task  # noqa: E402

TASKS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 0))


def write_synthetic_idx(root: Path):
    """Synthetic MNIST-shaped data written as IDX files (so torchvision's reader is used)."""
    syn = D.synthetic(60000, 10000)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, x, y in (("train", syn.x_train, syn.y_train), ("t10k", syn.x_test, syn.y_test)):
        img = ((x - x.min()) / (x.max() - x.min()) * 255).to(torch.uint8).reshape(len(x), 28, 28)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, len(x), 28, 28) + img.numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, len(y)) + y.to(torch.uint8).numpy().tobytes())
    return root


DEVICE = "cpu"  # set by --device


def build(seed=0):
    torch.manual_seed(seed)
    return models.mlp(784, (256, 256), 10).to(DEVICE)


def build_seeds(seeds):
    """The model of `seeds` copies: one MLP, or a BatchedNet of copies initialised as seeds 0..N-1."""
    return BatchedNet([build(i) for i in range(seeds)]) if seeds > 1 else build()


def adam(params, **kw):
    """Adam with the fused kernel where the device has one (as clviz's make_optimizer)."""
    try:
        return torch.optim.Adam(params, lr=1e-3, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=1e-3, **kw)


def way_clviz(data, args, seeds=1):
    extra = lambda m, k, test: probes(make("probe"), m, data, TASKS, k, test)  # the probe experiment's: on seen and on all classes
    events = []
    model = build_seeds(seeds)
    run_sequential(model, data, TASKS, make_loss("ce"), optimizer="adam", lr=1e-3, epochs=args.epochs,
                   batch_size=args.batch_size, seed=0, on_event=events.append, extra=extra)
    assert sum(e["event"] == "task_end" for e in events) == len(TASKS)


def way_clviz_plain(data, args, seeds=1, graph=None):
    """clviz's training loop alone (train_task, fused optimizer), no instrumentation; on CUDA its
    step is a CUDA graph unless graph=False."""
    model = build_seeds(seeds)
    opt = make_optimizer("adam", model.parameters(), 1e-3)
    gen = generators(0, seeds if seeds > 1 else 0)
    loss = make_loss("ce")
    for t in TASKS:
        x, y = data.subset(t)
        train_task(model, opt, x, y, loss, batch_size=args.batch_size, gen=gen, epochs=args.epochs, graph=graph)
    return model


def way_bare(data, args):
    model = build()
    opt = adam(model.parameters())
    g = torch.Generator().manual_seed(0)
    for t in TASKS:
        x, y = data.subset(t)
        for _ in range(args.epochs):
            idx = torch.randperm(len(x), generator=g).to(x.device)
            for i in range(len(x) // args.batch_size):
                j = idx[i * args.batch_size:(i + 1) * args.batch_size]
                loss = F.cross_entropy(model(x[j]), y[j])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return model


def way_bare_graph(data, args):
    """The bare loop with its step captured as one CUDA graph (static batch buffers, as the
    PyTorch documentation's whole-network capture): the floor on a GPU."""
    model, bs = build(), args.batch_size
    opt = adam(model.parameters(), capturable=True)
    sx = torch.zeros(bs, 784, device=DEVICE)
    sy = torch.zeros(bs, dtype=torch.long, device=DEVICE)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(sx), sy).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        F.cross_entropy(model(sx), sy).backward()
        opt.step()
    g = torch.Generator().manual_seed(0)
    for t in TASKS:
        x, y = data.subset(t)
        x = x.reshape(len(x), -1)
        for _ in range(args.epochs):
            idx = torch.randperm(len(x), generator=g).to(x.device)
            xs, ys = x[idx], y[idx]
            for i in range(len(x) // bs):
                sx.copy_(xs[i * bs:(i + 1) * bs])
                sy.copy_(ys[i * bs:(i + 1) * bs])
                graph.replay()
    return model


def way_textbook(root, args, cls, mean, std):
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean / 255,), (std / 255,))])
    ds = cls(str(root), train=True, transform=tf)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for t in TASKS:
        idx = torch.isin(ds.targets, torch.tensor(t)).nonzero().flatten().tolist()
        loader = DataLoader(Subset(ds, idx), batch_size=args.batch_size, shuffle=True, drop_last=True)
        for _ in range(args.epochs):
            for xb, yb in loader:
                xb, yb = xb.to(DEVICE, non_blocking=True), yb.to(DEVICE, non_blocking=True)
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


def matmul_peak(n=2048, reps=5):
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    a @ b
    times = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / min(times) / 1e9


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, threads):
    """(wall s, CPU s of the process, all its threads) of fn at `threads` torch threads."""
    torch.set_num_threads(threads)
    sync()
    t, c = time.perf_counter(), time.process_time()
    fn()
    sync()
    return time.perf_counter() - t, time.process_time() - c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seeds", default="1,4,8")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    from torchvision import datasets

    tmp = None
    root = D.find_root("fashion-mnist")
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root, source = write_synthetic_idx(Path(tmp.name)), "synthetic, MNIST-shaped (IDX files)"
    else:
        source = f"Fashion-MNIST from {root}"
    data = D.load("fashion-mnist", root, device=DEVICE)
    cls = datasets.FashionMNIST
    params = sum(p.numel() for p in build().parameters())
    samples = sum(len(data.subset(t)[0]) // args.batch_size * args.batch_size for t in TASKS) * args.epochs

    card = f", {torch.cuda.get_device_name(0)}" if DEVICE == "cuda" else ""
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads{card}, "
          f"torch {torch.__version__}; device {DEVICE}; data: {source}")
    print(f"work: 5 tasks x {args.epochs} epochs, batch {args.batch_size}, MLP with {params:,} parameters, "
          f"{samples:,} training samples; {args.repeats} repeats, alternating\n")
    # clviz trains at THREADS (the one policy, clviz/device.py: one config, one result), its
    # measurements aside on a core it leaves free (device.Aside); the bare loop runs at THREADS
    # (the same work at the same thread count: what the instrumentation costs) and at every core
    # (the best simple alternative on this machine). The textbook way takes torch's default.
    one, cores = THREADS, os.cpu_count() or 1
    ways = {"clviz (instrumented)": (one, lambda: way_clviz(data, args)), "bare loop": (one, lambda: way_bare(data, args)),
            f"bare loop, {cores} thr.": (cores, lambda: way_bare(data, args)),
            "textbook DataLoader": (cores, lambda: way_textbook(root, args, cls, data.mean, data.std)),
            "clviz loop, no instr.": (one, lambda: way_clviz_plain(data, args))}
    if cores == one:
        ways.pop(f"bare loop, {cores} thr.")
    if DEVICE == "cuda":
        ways["clviz loop, eager"] = (one, lambda: way_clviz_plain(data, args, graph=False))
        ways["bare, CUDA graph"] = (one, lambda: way_bare_graph(data, args))
    times = {k: [] for k in ways}
    cpu = {k: [] for k in ways}
    for _ in range(args.repeats):
        for k, (threads, fn) in ways.items():
            wall, c = timed(fn, threads)
            times[k].append(wall)
            cpu[k].append(c)
    med = {k: statistics.median(v) for k, v in times.items()}
    peak = matmul_peak()
    print(f"{'way':<22}{'threads':>8}{'median s':>10}{'min s':>9}{'CPU s':>8}{'GFLOP/s':>10}{'% of matmul peak':>18}")
    for k, (threads, _) in ways.items():
        gf = 6 * params * samples / med[k] / 1e9
        print(f"{k:<22}{threads:>8}{med[k]:>10.2f}{min(times[k]):>9.2f}{statistics.median(cpu[k]):>8.2f}{gf:>10.1f}"
              f"{100 * gf / peak:>17.1f}%")
    print(f"matmul peak (2048^2 fp32, {torch.get_num_threads()} threads): {peak:.1f} GFLOP/s")
    for name, stat in (("medians", med), ("minimums", {k: min(v) for k, v in times.items()})):
        c, b, t = stat["clviz (instrumented)"], stat["bare loop"], stat["textbook DataLoader"]
        print(f"\nratios of the {name} (a noisy machine moves them: compare both)")
        print(f"clviz / bare, both at {one} thread(s):  {c / b:.2f}x   (the instrumentation's cost, target <= 1.15x)")
        if f"bare loop, {cores} thr." in stat:
            print(f"clviz / bare at {cores} threads:         {c / stat[f'bare loop, {cores} thr.']:.2f}x   "
                  f"(with the thread policy's cost)")
        print(f"textbook / clviz:                 {t / c:.2f}x   (target >= 3x)")
    cc, cb = (statistics.median(cpu[k]) for k in ("clviz (instrumented)", "bare loop"))
    print(f"CPU time, clviz / bare at {one} thread(s): {cc / cb:.2f}x (the measurements aside use a second core)")

    ns = [int(s) for s in args.seeds.split(",")]
    print(f"\nseeds trained at once ({args.repeats} repeats): the whole instrumented run, and the training "
          f"loop alone")
    print(f"{'N':>3}{'instrumented s':>16}{'x N=1':>8}{'vs N separate':>15}{'loop alone s':>14}{'x N=1':>8}"
          f"{'vs N separate':>15}")
    ways = [(n, fn) for n in ns for fn in (way_clviz, way_clviz_plain)]
    seed_times = {w: [] for w in ways}
    for _ in range(args.repeats):  # alternating here too: the machine's speed drifts over minutes
        for n, fn in ways:
            seed_times[n, fn].append(timed(lambda: fn(data, args, seeds=n), THREADS)[0])
    t = {w: statistics.median(v) for w, v in seed_times.items()}
    for n in ns:
        print(f"{n:>3}" + "".join(
            f"{t[n, fn]:>{w}.2f}{t[n, fn] / t[ns[0], fn]:>8.2f}{n * t[ns[0], fn] / t[n, fn]:>14.2f}x"
            for fn, w in ((way_clviz, 16), (way_clviz_plain, 14))))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
