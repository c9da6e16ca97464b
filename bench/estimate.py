"""Estimate against actual: every experiment's defaults, trained here, beside clviz/cost.py's
estimate of them (the one the page shows before Train and the queue caps).

    python bench/estimate.py [--check] [--data-dir ROOT] [--only probe,savings] [--dataset NAME] [--per-class N]

Runs at the workers' thread count (clviz/device.py), on the CPU, without the results store.
Experiments whose default dataset is not on disk (cifar: CIFAR-100) are skipped with a line.
--check exits 1 when an estimate is off by more than a factor of 2 either way.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from clviz import cost, data as D, experiments, meta, store  # noqa: E402
from clviz.device import THREADS  # noqa: E402
from clviz.experiments.sizes import PARTS  # noqa: E402

FACTOR = 2.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help=f"exit 1 when an estimate is off by more than {FACTOR}x")
    ap.add_argument("--data-dir", default="", help="a torchvision root (for cifar's CIFAR-100)")
    ap.add_argument("--repeat", type=int, default=3, help="runs timed per experiment: the best counts (a shared "
                    "machine's noise only ever adds)")
    ap.add_argument("--dataset", default="", help="every experiment on this dataset instead of its default")
    ap.add_argument("--per-class", type=int, default=None, help="cap on training samples per class instead of the default")
    ap.add_argument("--only", default="", help="experiments, comma-separated (default: all)")
    a = ap.parse_args(argv)
    store.ROOT = Path(tempfile.mkdtemp())  # never a stored result: every run is timed
    torch.set_num_threads(THREADS)
    m = cost.calibrate(THREADS)
    print(f"machine: {THREADS} thread(s); step {m.step_s * 1e6:.0f} us, evaluation {m.eval_s * 1e6:.0f} us, probe "
          f"{m.probe_s * 1e3:.1f} ms, {m.elem_s * 1e9:.2f} ns/weight, {m.mac_per_s / 1e9:.1f} GMAC/s")
    print(f"{'experiment':<12}{'dataset':<10}{'steps':>9}{'estimate s':>12}{'actual s':>10}{'ratio':>7}")
    bad = []
    for name in [n for n in (a.only.split(",") if a.only else experiments.REGISTRY) if n]:
        cfg = experiments.make(name, data_dir=a.data_dir, **({"dataset": a.dataset} if a.dataset else {}),
                               **({"per_class": a.per_class} if a.per_class is not None else {}))
        try:
            info = meta.describe(cfg.dataset, cfg.data_dir or None, download=False)
        except D.DataError:
            print(f"{name:<12}{cfg.dataset:<10}  skipped: its dataset is not on disk (--data-dir)")
            continue
        est = cost.estimate(cfg, info, PARTS[name], THREADS)
        experiments.run(cfg, device="cpu", use_cache=False)  # once to warm up (imports, first allocations)
        store.clear()
        actual = min(experiments.run(cfg, device="cpu", use_cache=False)["seconds"] for _ in range(a.repeat))
        ratio = est.seconds / actual
        print(f"{name:<12}{cfg.dataset:<10}{est.steps:>9}{est.seconds:>12.2f}{actual:>10.2f}{ratio:>7.2f}", flush=True)
        if not 1 / FACTOR <= ratio <= FACTOR:
            bad.append(name)
    if a.check and bad:
        print(f"off by more than {FACTOR}x: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
