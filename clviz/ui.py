"""The only Streamlit helpers: the shared sidebar, background training jobs, the live panel, downloads.

A press on Train starts a *job*: a thread running `experiments.run` for one config, registered
process-wide under the config's cache key. The page remembers the key of its last job, and a
fragment polls the job a couple of times a second and redraws the live charts in place. So
touching a widget mid-run neither loses the run nor starts a second one (the same config pressed
again, from any session, joins the running job), and a finished run lands in the results store,
from where it comes back instantly after a rerun or a restart.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import threading
import time
import traceback
import zipfile
from dataclasses import replace

import pandas as pd
import streamlit as st
import torch

from . import config as C
from . import data as D
from . import device as dev
from . import charts, experiments, store
from .train import OPTIMIZERS, Cancelled, TrainingError

POLL_S = 0.5  # live redraws: at most twice a second


# ---------------------------------------------------------------- jobs

class Job:
    def __init__(self, cfg, device):
        self.cfg, self.device = cfg, device
        self.rows, self.events = [], []         # epoch_end events; task_end and tick events
        self.progress, self.label = 0.0, "starting"
        self.status, self.result, self.error = "running", None, None
        self.started, self.first_update = time.perf_counter(), None
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"clviz-{store.key(cfg)}")
        self.thread.start()

    def _on_event(self, ev):
        if self.cancel.is_set():
            raise Cancelled()
        with self.lock:
            self.progress = ev.get("progress", self.progress)
            if "task" in ev and "run" in ev:
                self.label = f"{charts.label(ev['run'])}: task {ev['task'] + 1}"
            if ev["event"] == "epoch_end":
                self.rows.append(ev)
                if self.first_update is None:
                    self.first_update = time.perf_counter() - self.started
            elif ev["event"] in ("task_end", "tick"):
                self.events.append(ev)

    def _run(self):
        # Leave one core to the server and the browser, which redraw the live charts: on 2 cores
        # the probe on Fashion-MNIST took 42.8 s in the app on both, 36.5 s on one (one run each).
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        try:
            self.result = experiments.run(self.cfg, device=self.device, on_event=self._on_event)
            self.status = "done"
        except Cancelled:
            self.status = "cancelled"
        except (D.DataError, TrainingError, ValueError) as e:
            self.error, self.status = str(e), "error"
        except torch.OutOfMemoryError:
            self.error, self.status = (f"Out of memory on {self.device}: choose the CPU in the sidebar "
                                       f"or a smaller batch size."), "error"
        except Exception as e:  # never a traceback in the page: say what happened, keep the app usable
            traceback.print_exc()
            self.error, self.status = f"The run failed: {type(e).__name__}: {e}", "error"

    def snapshot(self):
        with self.lock:
            return list(self.rows), list(self.events), self.progress, self.label


@st.cache_resource
def _jobs() -> dict:
    return {}


@st.cache_resource
def warm_up():
    """Once per server, in the background, what the first run would otherwise wait for: the
    first optimizer a process builds imports torch._dynamo (1.0 s here), and the bundled
    digits import scikit-learn (0.9 s). Pressing Train then shows a chart within a second."""
    def work():
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        D.load("digits", device=dev.resolve("auto")[0])
    threading.Thread(target=work, daemon=True, name="clviz-warm-up").start()


def start(cfg, device) -> Job:
    """Start (or join) the job for `cfg`; at most one job per config in the whole process."""
    jobs, k = _jobs(), f"{store.key(cfg)}@{device}"
    job = jobs.get(k)
    if job is None or job.status in ("cancelled", "error") or (job.status == "done" and store.load(cfg) is None):
        job = jobs[k] = Job(cfg, device)
    return job


# ---------------------------------------------------------------- sidebar

def sidebar():
    """Shared settings: dataset and data folder, device, seed, cache. Returns them as a dict."""
    sb = st.sidebar
    sb.markdown("### Settings")
    dataset = sb.selectbox("Dataset", D.DATASETS, key="dataset",
                           help="digits is bundled with scikit-learn and always works offline.")
    data_dir = sb.text_input("Data folder (optional)", key="data_dir",
                             help="A torchvision root: the folder holding MNIST/raw/..., FashionMNIST/raw/... "
                                  "or cifar-100-python/. Empty: $CLVIZ_DATA_DIR, cache/data, system folders.")
    found = dataset_status(dataset, data_dir)
    have = dev.available()
    device = sb.selectbox("Device", dev.DEVICES, key="device",
                          help=f"Found: {', '.join(have)}. 'auto' picks the fastest.")
    resolved, notice = dev.resolve(device)
    if notice:
        sb.warning(notice)
    sb.caption(f"Running on **{resolved}** ({dev.describe()})")
    seed = sb.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1, key="seed")
    seeds = sb.number_input("Seeds at once", min_value=1, max_value=16, value=1, step=1, key="seeds",
                            help="Train N independent copies (seeds seed … seed+N-1) in one batched computation; "
                                 "curves and tables show the mean and a band of ± one standard deviation.")
    n, size = store.size()
    sb.caption(f"Results cache: {n} run(s), {size / 1e6:.1f} MB")
    if sb.button("Clear cache", key="clear_cache"):
        store.clear()
        sb.success("Cache cleared.")
    return {"dataset": dataset, "data_dir": data_dir.strip(), "device": resolved, "seed": int(seed),
            "seeds": int(seeds), "dataset_ok": found}


def dataset_status(dataset, data_dir, where=None) -> bool:
    """Say (in the sidebar, or `where`) whether the dataset is on disk, and what to do if not."""
    box = where or st.sidebar
    if dataset == "digits":
        return True
    try:
        root = D.find_root(dataset, data_dir.strip() or None)
    except D.DataError as e:
        box.error(str(e))
        return False
    if root is None:
        box.warning(D.missing_message(dataset, data_dir or None, tried_download=False)
                    + f" Training will try to download it ({D.DOWNLOAD_TIMEOUT_S} s time-out).")
        if where is None:
            box.button("Use digits instead", key="use_digits", on_click=lambda: st.session_state.update(dataset="digits"))
        return False
    box.caption(f"{dataset}: found under `{root}`")
    return True


# ---------------------------------------------------------------- common controls

def parse_float(label, text, container=st):
    try:
        v = float(text)
    except ValueError:
        container.error(f"{label} must be a number, got '{text}'.")
        return None
    if not v > 0:
        container.error(f"{label} must be greater than 0, got {text}.")
        return None
    return v


def training_controls(page: str, defaults: C.Config, num_classes: int = 10, tasks=True, lr=True, epochs=True):
    """Task split, epochs, batch size, learning rate, optimizer, samples per class (the task
    split, epochs and learning rate with optimizer can be left out), laid out left to right in
    three columns. Returns the values (None where an input is invalid: the message stands next
    to the widget)."""
    cols = itertools.cycle(st.columns(3))
    out = {}
    if tasks:
        c = next(cols)
        text = c.text_input("Tasks (classes by ',', tasks by ';')",
                            value=defaults.tasks or D.DEFAULT_TASKS.get(num_classes, ""), key=f"{page}_tasks")
        try:
            D.parse_tasks(text, num_classes)
            out["tasks"] = text
        except D.DataError as e:
            c.error(str(e))
            out["tasks"] = None
    if epochs:
        out["epochs"] = int(next(cols).number_input("Epochs per task", 1, 500, defaults.epochs, key=f"{page}_epochs"))
    out["batch_size"] = int(next(cols).number_input("Batch size", 2, 4096, defaults.batch_size, key=f"{page}_bs"))
    if lr:
        c = next(cols)
        out["lr"] = parse_float("Learning rate", c.text_input("Learning rate", f"{defaults.lr:g}", key=f"{page}_lr"), c)
        out["optimizer"] = next(cols).selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(defaults.optimizer),
                                                key=f"{page}_opt")
    out["per_class"] = int(next(cols).number_input("Training samples per class (0: all)", 0, 10_000,
                                                   defaults.per_class, key=f"{page}_pc",
                                                   help="A cap for quick runs on the large datasets."))
    return out


def make_config(experiment, settings, **kw):
    """A config from the sidebar and page values, or None (with the message shown) if invalid."""
    if any(v is None for v in kw.values()):
        return None
    base = {k: settings[k] for k in ("dataset", "data_dir", "seed", "seeds")}
    try:
        return C.make(experiment, **{**base, **kw})
    except D.DataError as e:
        st.error(str(e))
        return None


# ---------------------------------------------------------------- the run panel

def run_panel(page: str, cfg, device, live_view, result_view, train_label="Train"):
    """Train / Cancel buttons, then the live view of the running job, or the finished result.

    live_view(rows, events, cfg) draws the charts that grow during training (rows: epoch_end
    events; events: task_end and tick events);
    result_view(result) draws the page's figures once the result is there, and returns the charts
    worth downloading ({name: chart}) or None.
    """
    slot = f"{page}_job"
    b1, b2, _ = st.columns([1, 1, 4])
    job = _jobs().get(st.session_state.get(slot, ""))
    running = job is not None and job.status == "running"
    if b1.button(train_label, type="primary", disabled=cfg is None or running, key=f"{page}_train"):
        try:  # check the settings against the data first, so the message stands by the button
            experiments.prepare(cfg, device)
        except (D.DataError, ValueError) as e:
            st.error(str(e))
            return
        job = start(cfg, device)
        st.session_state[slot] = f"{store.key(cfg)}@{device}"
        running = job.status == "running"
    if running and b2.button("Cancel", key=f"{page}_cancel"):
        job.cancel.set()

    stored = None if running or cfg is None or (job is not None and job.cfg == cfg) else store.load(cfg)
    if stored is not None:  # a finished run of these very settings: back instantly, no training
        st.caption(f"Stored result for these settings (computed in {stored['seconds']:.1f} s on "
                   f"{stored['device']}). Change a setting and press {train_label} for a new run.")
        downloads(page, stored, result_view(stored))
    elif job is not None:
        if cfg is not None and job.cfg != cfg:
            st.caption(f"Showing the run of earlier settings; press {train_label} to run the current ones.")
        _job_view(job, live_view, result_view, page)
    else:
        st.info(f"Set the knobs and press **{train_label}**.")


def _job_view(job, live_view, result_view, page):
    @st.fragment(run_every=POLL_S if job.status == "running" else None)
    def poll():
        if job.status == "running":
            rows, events, progress, label = job.snapshot()
            st.progress(progress, text=f"Training… {label} ({100 * progress:.0f}%)")
            live_view(rows, events, job.cfg)
            return
        if st.session_state.get(f"{page}_shown") != job.started:  # finished: leave the fragment, redraw the page
            st.session_state[f"{page}_shown"] = job.started
            st.rerun()
        if job.status == "error":
            st.error(job.error)
        elif job.status == "cancelled":
            st.warning("Run cancelled.")
        else:
            r = job.result
            note = "cached result" if r.get("cached") else f"trained in {r['seconds']:.1f} s on {r['device']}"
            if job.first_update is not None and not r.get("cached"):
                note += f"; first chart update after {job.first_update:.2f} s"
            st.success(note)
            if r.get("notice"):
                st.info(r["notice"])
            downloads(page, r, result_view(r))
    poll()


# ---------------------------------------------------------------- downloads

def flat_tables(result) -> dict:
    """The result's per-task lists as CSV-ready tables (one per run), for the downloads."""
    tables = {}
    for name, part in [("", result), *((k, v) for k, v in result.items() if isinstance(v, dict))]:
        cols = {k: v for k, v in part.items() if isinstance(v, list) and v and isinstance(v[0], (int, float))
                and len(v) == len(result.get("tasks", []))}
        if cols:
            tables[name or "summary"] = pd.DataFrame({"task": range(1, len(next(iter(cols.values()))) + 1), **cols})
        if isinstance(part.get("curve"), list) and part["curve"]:
            curve = pd.DataFrame(part["curve"])
            acc = pd.DataFrame(curve.pop("acc_tasks").tolist()).add_prefix("acc_task_")
            tables[f"{name or 'run'}_curve"] = pd.concat([curve, acc], axis=1)
    if isinstance(result.get("rows"), list):
        tables["rows"] = pd.DataFrame(result["rows"])
    return tables


def downloads(page, result, charts: dict | None = None):
    """JSON of the whole result, and a zip with CSV tables and the charts as HTML. Both are built
    only when clicked (callables), not on every rerun: chart HTML with heatmaps runs to megabytes."""
    def zipped():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, df in flat_tables(result).items():
                z.writestr(f"{name}.csv", df.to_csv(index=False))
            for name, ch in (charts or {}).items():
                z.writestr(f"charts/{name}.html", ch.to_html())
        return buf.getvalue()

    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("Result (JSON)", lambda: json.dumps(result), f"clviz-{page}.json", "application/json",
                       key=f"{page}_dl_json", on_click="ignore")
    c2.download_button("Tables and charts (zip)", zipped, f"clviz-{page}.zip", "application/zip",
                       key=f"{page}_dl_zip", on_click="ignore")


def chart(ch, key=None):
    st.altair_chart(ch, width="stretch", key=key)


__all__ = ["sidebar", "training_controls", "make_config", "run_panel", "downloads", "chart", "replace"]


# ---------------------------------------------------------------- views shared by the pages

_run = threading.local()  # one script run happens on one thread: app.py and the page share it


def shared_sidebar():
    """Called by app.py before the page: draw the sidebar once for this script run."""
    _run.settings = sidebar()


def settings() -> dict:
    """The sidebar's settings for this script run. app.py draws the sidebar before the page; a
    page run on its own (AppTest, or Streamlit's plain pages/ mode) draws it itself."""
    s, _run.settings = getattr(_run, "settings", None), None
    return s if s is not None else sidebar()


def live_curves(rows, events, cfg):
    """The live view of most pages: the curves that grow during training."""
    curves_panel(rows, cfg.epochs)


def curves_panel(rows, epochs):
    """Forgetting curves, loss and sparsity per epoch, on axes fixed to the whole run."""
    if not rows:
        st.caption("Waiting for the first epoch…")
        return {}
    n_steps = len(rows[0]["acc_tasks"]) * epochs
    out = {"forgetting curves": charts.forgetting_curves(rows, n_steps, epochs),
           "loss": charts.metric_curve(rows, "loss", "training loss", n_steps),
           "sparsity per epoch": charts.metric_curve(rows, "sparsity", "latent sparsity", n_steps, domain=[0, 1])}
    chart(out["forgetting curves"])
    c1, c2 = st.columns(2)
    with c1:
        chart(out["loss"])
    with c2:
        chart(out["sparsity per epoch"])
    st.caption("Dotted lines: task boundaries; dashed: accuracy on all classes seen so far.")
    return out


def curves_of(result, runs):
    """The epoch rows of several sub-runs of a result, labelled by run (for `live_curves`)."""
    return [{**row, "run": name} for name in runs for row in result[name]["curve"]]


def _spread(cols):
    """{name: list or (part, key)} -> (values, spread): a (part, key) column brings along its
    spread across seeds (part[key + '_std']) where the run had several seeds."""
    values, spread = {}, {}
    for name, v in cols.items():
        if isinstance(v, tuple):
            part, key = v
            values[name] = part[key]
            if f"{key}_std" in part:
                spread[name] = part[f"{key}_std"]
        else:
            values[name] = v
    return values, spread


def task_table(tasks, **cols):
    """A per-task DataFrame: one row per task; '<name> ± sd' columns follow where seeds give a spread."""
    values, spread = _spread(cols)
    out = {}
    for name, v in values.items():
        out[name] = v
        if name in spread:
            out[f"{name} ± sd"] = spread[name]
    return pd.DataFrame({"task": range(1, len(tasks) + 1), "classes": [",".join(map(str, t)) for t in tasks], **out})


def task_lines(title, domain=None, **cols):
    """Lines over tasks, with a band of ± one sd across seeds where there is one."""
    values, spread = _spread(cols)
    return charts.per_task_lines(values, title, domain, spread)
