"""Mutation testing, by hand (not in CI): do the tests fail when the code is wrong?

    pip install mutmut==3.8.1 && python bench/mutation.py [--max-children 2]

mutmut (settings in pyproject.toml) changes metrics.py, losses.py, probe.py, train.py and
store.py one small edit at a time (a + for a -, 1 for 0, a dropped argument ...), runs the tests
that reach the changed function, and counts the mutants the tests kill. This script runs it and
prints the score per file; `mutmut results` lists the survivors and `mutmut show NAME` shows one.
A surviving mutant is either a missing test or an equivalent mutant (a change that cannot alter
any result); the README names the equivalent ones. The score is in the README under Testing.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--max-children", type=int, default=2)
    args = a.parse_args()
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)], cwd=REPO)
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=REPO,
                         capture_output=True, text=True).stdout
    by_file = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith("clviz."):
            by_file[name.split(".")[1]][status] += 1
    print(f"{'file':<10} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    total = collections.Counter()
    for f, c in sorted(by_file.items()):
        total.update(c)
        n = sum(c.values())
        print(f"{f:<10} {n:>8} {c['killed']:>7} {c['survived']:>9} {c['no tests']:>9} {c['killed'] / n:>7.1%}")
    n = sum(total.values())
    print(f"{'all':<10} {n:>8} {total['killed']:>7} {total['survived']:>9} {total['no tests']:>9} {total['killed'] / n:>7.1%}")


if __name__ == "__main__":
    main()
