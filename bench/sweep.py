"""The stability-plasticity sweep of a remedy, headless (what the Remedies page draws).

    python bench/sweep.py si [--dataset fashion-mnist] [--seeds 2]

Fine-tuning, then the method at each strength of its grid (clviz/tune.py), each cell with
--seeds seeds: final accuracy on all classes and on the newest task per strength, and the
final accuracy's verdict against fine-tuning (Welch's t, 95%).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clviz import compare, experiments, tune  # noqa: E402
from clviz.report import table  # noqa: E402


def main():
    a = argparse.ArgumentParser()
    a.add_argument("method", choices=list(tune.GRIDS))
    a.add_argument("--dataset", default="digits")
    a.add_argument("--seeds", type=int, default=2)
    args = a.parse_args()
    cells = tune.sweep_cells(args.method, experiments.make("remedies", dataset=args.dataset), args.seeds)
    rows = tune.sweep_rows(args.method, cells, compare.run_local(cells))
    knob = tune.GRIDS[args.method][0]
    print(f"{args.method} on {args.dataset}, {args.seeds} seeds; fine-tune: final {rows[0]['finetune_final']:.4f}, "
          f"newest task {rows[0]['finetune_newest']:.4f}")
    print(table([knob, "final acc", "± sd", "newest task", "vs fine-tune", "95% interval", "verdict"],
                [(r["strength"], r["final"], r["final_sd"], r["newest"], r["diff"],
                  f"[{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]", "clear" if r["clear"] else "within noise") for r in rows]))


if __name__ == "__main__":
    main()
