"""What a comparison costs against its cells run one seed at a time (issue: <= 0.6x).

    python bench/compare_cost.py [--experiment probe] [--vary lr=1e-3,2e-3,5e-4] [--seeds 5] [--repeats 3]

In one process, alternating: the compare grid (each cell's seeds batched as copies, the way
`python -m clviz compare` runs it) and the same variants x seeds as separate single-seed runs.
No cache: every run trains. Prints each repeat's seconds and the ratio of the medians, with the
CPU, torch version and thread count (these machines are noisy: read the spread, not one run).
"""
import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from clviz import compare, experiments  # noqa: E402


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--experiment", default="probe")
    a.add_argument("--vary", default="lr=1e-3,2e-3,5e-4")
    a.add_argument("--seeds", type=int, default=5)
    a.add_argument("--repeats", type=int, default=5)
    args = a.parse_args()
    vary = compare.parse_vary(args.experiment, [args.vary])
    cells = compare.grid(args.experiment, vary, args.seeds)
    singles = [experiments.make(args.experiment, **{**c.__dict__, "seed": c.seed + i, "seeds": 1})
               for c in cells for i in range(args.seeds)]

    def batched():
        compare.run_local(cells, use_cache=False)

    def separate():
        for c in singles:
            experiments.run(c, device="cpu", use_cache=False)

    experiments.run(singles[0], device="cpu", use_cache=False)  # warm-up: imports and first-call costs, for neither way
    compare.run_local(cells[:1], use_cache=False)
    times = {"compare": [], "separate": []}
    for r in range(args.repeats):
        for name, fn in ((("compare", batched), ("separate", separate)) if r % 2 == 0 else
                         (("separate", separate), ("compare", batched))):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
            print(f"repeat {r + 1}: {name} {times[name][-1]:.1f} s", flush=True)
    ratio = statistics.median(times["compare"]) / statistics.median(times["separate"])
    print(f"{args.experiment} --vary {args.vary} --seeds {args.seeds} ({len(cells)} cells): compare / separate = "
          f"{ratio:.2f} (medians of {args.repeats}; min ratio {min(times['compare']) / min(times['separate']):.2f}); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
