"""Live in seconds: every page's default run, the first chart after Train, and the CLI's start-up.

    python bench/live_speed.py [--runs 3] [--parts engine,cli,chart] [--check]

engine  each page's default experiment (digits) as `python -m clviz run EXP --no-cache`, in a
        process of its own: the result's `seconds` (engine time) and the process's wall time.
        The experiments alternate within each round, so a busy spell hits all of them alike.
cli     `python -m clviz --help`, a bad value (`run probe --epochs 0`) and a cached result
        (`run boundaries`, stored first), each the wall time of a whole process, the option
        table saved (clviz/clispec.py) as it is after the first call on a machine.
chart   one `streamlit run app.py` on a loopback port, a fresh results store; each page opened
        in headless Chromium, Train pressed, and the seconds until its first chart is drawn
        (a chart or table more than the page showed before Train); then the seconds until the run
        is done and shown, and the CPU seconds the server process spent meanwhile (its polls and
        charts: the workers are not counted). Pages alternate within each round.
Goals (issue 22): engine <= 5 s per page, first chart <= 1 s, --help and a bad value <= 1 s, a
cached result <= 1.5 s; `--check` exits 1 when a median misses one. Medians and minimums over
--runs; the machine, torch version and run count are printed with the table (these machines are
noisy: run it on a quiet one, and more than once).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PAGES = ("sparsity", "probe", "losses", "savings", "cifar", "boundaries", "remedies", "depth")
# what a page draws from a run: a chart, or a table (Savings' live view lists each run's steps)
DRAWN = "[data-testid=stVegaLiteChart], [data-testid=stDataFrame]"
# CIFAR-100 is rarely on a laptop: its page then offers the same experiment on the sidebar's dataset
ARGS = {"cifar": ["--dataset", "digits"]}
GOALS = {"engine": 5.0, "chart": 1.0, "--help": 1.0, "bad value": 1.0, "cached result": 1.5}


def clviz(env, *args, out=None):
    """Wall seconds of `python -m clviz ARGS` in a fresh process, and its exit code."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "clviz", *args], cwd=REPO, env=env, stdout=out or subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, p.returncode


def engine(env, runs, pages):
    rows = {p: {"engine": [], "wall": []} for p in pages}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(runs):
            for p in pages:
                f = Path(d) / f"{p}.json"
                wall, rc = clviz(env, "run", p, *ARGS.get(p, []), "--no-cache", "--json", str(f))
                if rc != 0:
                    raise SystemExit(f"{p}: exit {rc}")
                rows[p]["engine"].append(json.loads(f.read_text())["seconds"])
                rows[p]["wall"].append(wall)
    return rows


def cli(env, runs):
    clviz(env, "--help")  # the option table, as after the first call on a machine
    clviz(env, "run", "boundaries")  # a stored result to answer from
    calls = {"--help": ["--help"], "bad value": ["run", "probe", "--epochs", "0"], "cached result": ["run", "boundaries"]}
    out = {k: [] for k in calls}
    for _ in range(runs):
        for k, args in calls.items():
            out[k].append(clviz(env, *args)[0])
    return out


def first_chart(cache: Path, runs, pages):
    from playwright.sync_api import sync_playwright

    from bench.seminar import CHROMIUM, FLAGS, Server, cpu_s
    server = Server(cache, cache / "server.log").start()
    out, live, server_cpu = ({p: [] for p in pages} for _ in range(3))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            # untimed: the server's first job waits for its forkserver to import torch (a server is
            # started before the seminar, not at its first Train)
            page = browser.new_page()
            page.goto(f"{server.url}/boundaries?seed=99", timeout=120_000)
            page.get_by_role("button", name="Train", exact=True).click(timeout=120_000)
            page.get_by_text("trained in").wait_for(timeout=300_000)
            page.close()
            for r in range(runs):
                for p in pages:
                    page = browser.new_page(viewport={"width": 1280, "height": 720})
                    page.goto(f"{server.url}/{p}?seed={100 + r}", timeout=120_000)  # a seed of its own: never stored
                    train = page.get_by_role("button", name="Train", exact=True)
                    train.wait_for(timeout=120_000)
                    charts = page.locator(DRAWN)
                    before = charts.count()
                    t, cpu0 = time.perf_counter(), cpu_s(server.proc.pid)
                    train.click()
                    page.wait_for_function(f"document.querySelectorAll('{DRAWN}').length > {before}",
                                           timeout=120_000, polling=20)
                    out[p].append(time.perf_counter() - t)
                    page.get_by_text("trained in").wait_for(timeout=300_000)  # the live view polled to the end
                    live[p].append(time.perf_counter() - t)
                    server_cpu[p].append(cpu_s(server.proc.pid) - cpu0)
                    page.close()
            browser.close()
    finally:
        server.stop()
    return out, live, server_cpu


def line(name, xs, goal=None):
    med = statistics.median(xs)
    mark = "" if goal is None else (" ok" if med <= goal else f" MISSES {goal:g} s")
    return f"| {name} | {med:.2f} | {min(xs):.2f} | {len(xs)} |{mark}", goal is not None and med > goal


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--parts", default="engine,cli,chart")
    a.add_argument("--pages", default=",".join(PAGES), help="the chart part leaves out cifar (its page asks first)")
    a.add_argument("--check", action="store_true", help="exit 1 when a median misses its goal")
    args = a.parse_args(argv)
    parts, pages = args.parts.split(","), args.pages.split(",")
    import torch
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.runs} runs each, "
          f"{time.strftime('%Y-%m-%d')}")
    missed = []
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "CLVIZ_CACHE_DIR": d, "CLVIZ_OFFLINE": "1"}
        print("| what | median s | min s | runs | goal |\n|---|---|---|---|---|")
        if "engine" in parts:
            for p, r in engine(env, args.runs, pages).items():
                for k in ("engine", "wall"):
                    text, miss = line(f"{p}: {k}", r[k], GOALS["engine"] if k == "engine" else None)
                    print(text, flush=True)
                    missed += [f"{p} engine"] * miss
        if "cli" in parts:
            for k, xs in cli(env, args.runs).items():
                text, miss = line(f"cli: {k}", xs, GOALS[k])
                print(text, flush=True)
                missed += [k] * miss
        if "chart" in parts:
            first, live, server_cpu = first_chart(Path(d), args.runs, [p for p in pages if p != "cifar"])
            for p, xs in first.items():
                text, miss = line(f"{p}: first chart after Train", xs, GOALS["chart"])
                print(text, flush=True)
                missed += [f"{p} first chart"] * miss
                print(line(f"{p}: Train to 'trained in' (live view)", live[p])[0])
                print(line(f"{p}: the server's CPU over that run", server_cpu[p])[0], flush=True)
    if missed:
        print("missed: " + ", ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
