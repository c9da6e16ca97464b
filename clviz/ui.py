"""The Streamlit helpers: the shared sidebar, common controls, the run panel, downloads, and the
views several pages share. Training itself runs in worker processes (clviz/jobs.py).

A press on Train submits the config to the server's one job queue (or joins the job of the same
config, from any session). The page remembers the key of its last job, and a fragment polls it
a couple of times a second: its place in the queue while it waits, then the live charts,
redrawn in place. So touching a widget mid-run neither loses the run nor starts a second one,
and a finished run lands in the results store, from where it comes back instantly after a
rerun or a restart.
"""
from __future__ import annotations

import collections
import itertools
import json
import threading
import time

import pandas as pd
import streamlit as st

from dataclasses import fields

from . import charts, cost, experiments, figures, jobs, plugin, store, takeaways
from . import config as C
from . import data as D
from . import device as dev
from . import knobs as K

POLL_S = 0.5  # live redraws: at most twice a second
# a queued page asks for its place every 2 s: 30 waiting sessions polling twice a second would
# cost the server 60 fragment runs a second, slowing everyone's pages for a number that rarely changes
POLL_QUEUED_S = 2.0
# until a started job has something to draw, its page asks ten times a second: the first chart
# then lands within a tenth of a second of the first epoch (at POLL_S it waited 0.25 s on average,
# up to 0.5); for FIRST_S at most (a run whose first epoch takes longer waits at the live pace)
POLL_FIRST_S, FIRST_S = 0.1, 2.0


_queue: list[jobs.JobQueue] = []  # the server's one queue, made by the first session that needs it
_queue_lock = threading.Lock()


def queue() -> jobs.JobQueue:
    """The server's one job queue, shared by every session; its forkserver started at once."""
    with _queue_lock:
        if not _queue:
            workers, threads = jobs.default_workers(dev.resolve("auto")[0])
            dev.SIDE_BY_SIDE = jobs.side_by_side(workers)  # the server sizes its jobs as its workers run them
            _queue.append(jobs.JobQueue(workers, threads, max_job_s=cost.cap_s()))
            _queue[0].start_warm_up()  # the forkserver, and the estimates' constants measured in a worker
        return _queue[0]


def session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# ---------------------------------------------------------------- the URL: a link reproduces a view

_run = threading.local()  # one script run happens on one thread: app.py and the page share it


def _linked() -> dict:
    if getattr(_run, "linked", None) is None:
        _run.linked = {}
    return _run.linked


def link(key: str, default, options=None, lo=None, hi=None):
    """Tie widget `key` to the URL (?key=value), called just before the widget is drawn. A value in
    the link that this session has not seen yet (a pasted link) seeds the widget; `sync_url` writes
    the widget's value back (when it is not the default), so the address bar always reproduces the view.
    A link's value that cannot be the widget's gets a message like the widget's own, and is ignored."""
    _linked()[key] = default
    applied = st.session_state.setdefault("_url_applied", {})  # what the URL said when we last read or wrote it
    if key not in st.query_params or st.query_params[key] == applied.get(key):
        kept = st.session_state.get("_kept", {})
        if key not in st.session_state and key in kept:  # back from another page, whose run dropped this
            st.session_state[key] = kept[key]            # widget's state: the value it had, not its default
        return  # no value in the link, or one this session already holds: the widget's own state rules
    text = applied[key] = st.query_params[key]  # a new value from outside: a pasted link (even if the
    try:                                        # browser's first run came before its query string)
        st.session_state[key] = _parse(text, default, options, lo, hi)
    except ValueError as e:
        st.error(f"The link sets {key} to '{_short(text)}': {_short(str(e), 160)}. Using {K.show(default)} instead.")


def _short(text: str, n: int = 40) -> str:
    """A value from outside, echoed at a readable length (a 5000-digit link value is not repeated whole)."""
    return text if len(text) <= n else f"{text[:n // 2]}…{text[-8:]} ({len(text)} characters)"


def _parse(text, default, options, lo, hi):
    if isinstance(default, list):  # a multiselect: comma-separated options
        if not options:
            raise ValueError("there is nothing to choose from here")
        vals = [t for t in text.split(",") if t]
        return [_parse(t, options[0], options, None, None) for t in vals]
    if options is not None:
        by_text = {K.show(o): o for o in options}
        if text not in by_text:
            raise ValueError(f"it must be one of {', '.join(by_text)}")
        return by_text[text]
    if isinstance(default, bool):
        if text not in ("true", "false"):
            raise ValueError("it must be true or false")
        return text == "true"
    if isinstance(default, (int, float)):
        try:
            v = type(default)(text)
        except ValueError:
            raise ValueError("it is not a whole number" if isinstance(default, int) else "it is not a number") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"it must be between {lo} and {hi}")
        return v
    return text


def sync_url():
    """Write the linked widgets' values into the URL: those that differ from their defaults."""
    linked, _run.linked = _linked(), None
    applied = st.session_state.setdefault("_url_applied", {})
    kept = st.session_state.setdefault("_kept", {})  # every page's values, kept across navigation (link)
    for key, default in linked.items():
        v = kept[key] = st.session_state.get(key, default)
        if K.show(v) == K.show(default):
            applied.pop(key, None)
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != K.show(v):
            st.query_params[key] = applied[key] = K.show(v)


# ---------------------------------------------------------------- sidebar

def sidebar():
    """Shared settings: dataset and data folder, device, seed, cache. Returns them as a dict."""
    sb = st.sidebar
    for e in plugin.ERRORS:  # a broken plugin file: said, and everything else keeps working
        sb.error(f"{e} Everything else works; fix the file and restart the server to load it.")
    link("present", False)  # in the URL as every setting: a link opens the room's view
    sb.toggle("Present", key="present", help="For a projector: hides the knobs, the links and the downloads, "
                                             "draws the charts taller with larger fonts. Train and what to see stay.")
    sb.markdown("### Settings")
    link("dataset", D.DATASETS[0], D.DATASETS)
    dataset = sb.selectbox("Dataset", D.DATASETS, key="dataset",
                           help="digits is bundled with scikit-learn and always works offline.")
    link("data_dir", "")
    data_dir = sb.text_input("Data folder (optional)", key="data_dir",
                             help="A torchvision root: the folder holding MNIST/raw/..., FashionMNIST/raw/... "
                                  "or cifar-100-python/. Empty: $CLVIZ_DATA_DIR, cache/data, system folders.")
    found = dataset_status(dataset, data_dir)
    have = dev.available()
    link("device", dev.DEVICES[0], dev.DEVICES)
    device = sb.selectbox("Device", dev.DEVICES, key="device",
                          help=f"Found: {', '.join(have)}. 'auto' picks the fastest.")
    resolved, notice = dev.resolve(device)
    if notice:
        sb.warning(notice)
    sb.caption(f"Running on **{resolved}** ({dev.describe()})")
    shared = {f.name: f for f in fields(C.Config)}
    seed = knob_widget("seed", shared["seed"], sb, resolved)
    seeds = knob_widget("seeds", shared["seeds"], sb, resolved,
                        help_="Train N independent copies (seeds seed … seed+N-1) in one batched computation; "
                              "curves and tables show the mean and a band of ± one standard deviation.")
    n, size = store.size()
    bound = store.max_bytes()
    sb.caption(f"Results cache: {n} run(s), {size / 1e6:.1f} MB"
               + (f" of {bound / 1e6:g} MB (the least recently used go first)" if bound else ""))
    if sb.button("Clear cache", key="clear_cache"):
        store.clear()
        sb.success("Cache cleared.")
    return {"dataset": dataset, "data_dir": data_dir.strip(), "device": resolved, "seed": int(seed),
            "seeds": int(seeds), "dataset_ok": found, "present": presenting()}


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

SIDEBAR = ("dataset", "data_dir", "seed", "seeds")  # the knobs the shared sidebar sets for every page


def knob_widget(key: str, f, container, device: str, help_: str = ""):
    """One knob's widget, made from its field alone (type, default, bounds, choices, label:
    clviz/knobs.py) and its help text, tied to the URL under `key`. Returns its value, or None
    where the input is invalid (the message then stands by the widget)."""
    d, label = f.default, K.label(f)
    lo, hi, among, widget = K.bound(f, "lo", device), K.bound(f, "hi", device), K.choices(f), f.metadata.get("widget")
    if among is not None and isinstance(d, tuple):
        link(key, list(d), among)
        v = tuple(container.multiselect(label, among, default=list(d), key=key, help=help_, format_func=charts.label))
    elif among is not None:
        link(key, d, among)
        # each choice by its label ("fine-tune", "Adam"), as the multiselects show theirs; typed in a link by its name
        if widget == "radio":
            v = container.radio(label, among, index=among.index(d), key=key, help=help_, horizontal=True,
                                format_func=charts.label)
        else:
            v = container.selectbox(label, among, index=among.index(d), key=key, help=help_, format_func=charts.label)
    elif isinstance(d, bool):
        link(key, d)
        v = container.checkbox(label, d, key=key, help=help_)
    elif isinstance(d, int):
        link(key, d, lo=lo, hi=hi)
        v = int(container.number_input(label, lo, hi, d, step=f.metadata.get("step", 1), key=key, help=help_))
    elif isinstance(d, float) and widget == "slider":
        link(key, d, lo=lo, hi=hi)
        v = container.slider(label, lo, hi, d, f.metadata.get("step"), key=key, help=help_)
    else:  # a float typed as text (1e-3 and 100000 alike), a list, a string
        link(key, K.show(d))
        text = container.text_input(label, K.show(d), key=key, help=help_)
        try:
            v = K.parse(d, text)
        except ValueError as e:
            container.error(f"{label} must be {'a number' if isinstance(d, float) else 'like ' + K.show(d)}: {e}.")
            return None
    if (p := K.problem(f, v, device)) is not None:
        container.error(p)
        return None
    return v


def knobs_panel(page: str, settings: dict, dataset: str | None = None):
    """Every knob of experiment `page` as a widget generated from its config's fields, three to
    a row: its own knobs, then those marked "more" behind an expander. The sidebar's settings
    fill the rest. Returns the config, or None where an input is invalid (the message stands by
    the widget). No page writes a default or a bound: they all come from the config."""
    cls = experiments.get(page).config
    helps = K.help_of(cls)
    dataset = dataset or settings["dataset"]
    n_classes = D.NUM_CLASSES.get(dataset, 10)
    shown = [f for f in fields(cls) if f.name not in cls.unused and K.where(f) in ("page", "more")]
    values = {"dataset": dataset}  # (make_config adds the sidebar's other settings)
    boxes = ((w, _Unseen()) for w in ("page", "more")) if presenting() else (
        ("page", st.container()), ("more", st.expander("More knobs")))
    for where, box in boxes:
        group = [f for f in shown if K.where(f) == where]
        for f in (f for f in group if _is_multi(f)):  # a whole row each: every chosen name stays readable
            values[f.name] = knob_widget(f"{page}_{f.name}", f, box, settings["device"], helps.get(f.name, ""))
        cols = itertools.cycle(box.columns(3))
        for f in (f for f in group if not _is_multi(f)):
            if f.name == "tasks":  # the dataset's own default split, written out
                values["tasks"] = tasks_widget(page, f, next(cols), n_classes, helps.get("tasks", ""))
            else:
                values[f.name] = knob_widget(f"{page}_{f.name}", f, next(cols), settings["device"], helps.get(f.name, ""))
    return make_config(page, settings, **values)


class _Unseen:
    """Stands in for a container in Present mode: each widget call answers the value the widget
    holds (its state, which `link` seeds from the URL or from before) without drawing it, and keeps
    that value in the session, so the URL keeps it and the widget has it back when Present is off.
    One path for the knobs, drawn or not: the config is made the same way."""

    def _value(self, key, default):
        st.session_state[key] = v = st.session_state.get(key, default)
        return v

    def columns(self, n):
        return [self] * n

    def multiselect(self, label, options, default=None, key=None, **_):
        return self._value(key, default)

    def selectbox(self, label, options, index=0, key=None, **_):
        return self._value(key, options[index])

    radio = selectbox

    def checkbox(self, label, value=False, key=None, **_):
        return self._value(key, value)

    def number_input(self, label, min_value=None, max_value=None, value=None, step=None, key=None, **_):
        return self._value(key, value)

    def slider(self, label, min_value=None, max_value=None, value=None, step=None, key=None, **_):
        return self._value(key, value)

    def text_input(self, label, value="", key=None, **_):
        return self._value(key, value)

    def error(self, message):  # an invalid setting is still said: Train waits for it
        st.error(message)


def presenting() -> bool:
    """Present mode (the sidebar's toggle): the room's view."""
    return bool(st.session_state.get("present", False))


def _is_multi(f) -> bool:
    return isinstance(f.default, tuple) and K.choices(f) is not None


def tasks_widget(page, f, container, num_classes, help_):
    text = f.default or D.DEFAULT_TASKS.get(num_classes, "")
    link(f"{page}_tasks", text)
    text = container.text_input(K.label(f), text, key=f"{page}_tasks", help=help_)
    try:
        D.parse_tasks(text, num_classes)
        return text
    except D.DataError as e:
        container.error(str(e))
        return None


def make_config(experiment, settings, **kw):
    """A config from the sidebar and page values, or None (with the message shown) if invalid."""
    if any(v is None for v in kw.values()):
        return None
    base = {k: settings[k] for k in SIDEBAR}
    try:
        return experiments.make(experiment, **{**base, **kw})
    except D.DataError as e:
        st.error(str(e))
        return None


# ---------------------------------------------------------------- the run panel

def run_panel(page: str, cfg, device, live_view, result_view, train_label="Train"):
    """Train / Cancel buttons, then the queued or running job, or the finished result.

    live_view(rows, events, cfg) draws the charts that grow during training (rows: epoch_end
    events; events: task_end and tick events) and returns whether it drew one yet (until then
    the page polls at the fast first pace: Boundaries' epochs come well before its first panel);
    result_view(result) draws the page's figures once the result is there, and returns the charts
    worth downloading ({name: chart}) or None.
    """
    slot, q = f"{page}_job", queue()
    b1, b2, _ = st.columns([1, 1, 4])
    job = q.get(st.session_state.get(slot, ""))
    active = job is not None and job.status in jobs.ACTIVE
    if b1.button(train_label, type="primary", disabled=cfg is None or active, key=f"{page}_train"):
        try:  # the queue checks the settings against the data's metadata: the message stands by the button
            job = q.submit(cfg, device, owner=session_id())
        except (D.DataError, ValueError, jobs.QueueFull) as e:
            st.error(str(e))
            sync_url()
            return
        st.session_state[slot] = job.key
        active = job.status in jobs.ACTIVE
    if active and b2.button("Cancel", key=f"{page}_cancel"):
        q.cancel(job)
        active = False

    if cfg is not None and not presenting():  # this page's settings as a comparison's baseline
        st.page_link("app_pages/compare.py", label="Compare from these settings", icon=":material/compare_arrows:",
                     query_params={"compare_experiment": page, f"compare_set_{page}": compare_settings(cfg)})
    stored = None if active or cfg is None or (job is not None and job.cfg == cfg) else store.load(cfg)
    if cfg is not None and device == "cpu" and not active and stored is None and (job is None or job.cfg != cfg):
        size_line(cfg, q.max_job_s)  # a run that Train would start
    if stored is not None:  # a finished run of these very settings: back instantly, no training
        st.caption(f"Stored result for these settings (computed in {stored['seconds']:.1f} s on "
                   f"{stored['device']}). Change a setting and press {train_label} for a new run.")
        downloads(page, stored, result_view(stored))
    elif job is not None:
        if cfg is not None and job.cfg != cfg:
            st.caption(f"Showing the run of earlier settings; press {train_label} to run the current ones.")
        _job_view(job, live_view, result_view, page)
    elif cfg is None:  # the knob's own message says what to fix; Train waits for it
        st.warning(f"Fix the setting marked above; then **{train_label}** is ready.")
    else:
        st.info(f"Set the knobs and press **{train_label}**.")
    sync_url()


def size_line(cfg, cap):
    """The run's estimated cost, before Train ("about 12 s here"), and, over the server's cap, why
    Train will be refused. Sized from the data's metadata (clviz/cost.py): no data is loaded."""
    try:
        est = queue().size(cfg, wait=False)
    except D.DataError:  # (pressing Train says what is wrong with the data)
        return
    if est is None:  # the server has just started: its worker is measuring this machine
        st.caption("Sizing this run: the server is measuring this machine (a few seconds after it starts).")
        return
    if problem := cost.cap_setting()[1]:  # the server's own setting is wrong: the room should know why
        st.warning(problem)
    if why := queue().refusal(cfg, est):
        st.warning(why)
    else:
        st.caption(f"This run: {est.text()} ({est.steps:,} optimiser steps)"
                   + (f"; this server runs jobs of up to {cap:g} s." if cap else "."))


AT_ONCE = 2  # cells of one session's grid in the queue at a time: a grid never holds the room's queue


def grid_results(run: dict, device: str):
    """The results of a grid's cells so far (None where not yet), submitting the next cells as
    earlier ones finish (`run`: {"cells", "jobs": {}, "done": {}}, kept in the session); and a
    failed cell's message, or None. Stored cells are answered from the store, not trained."""
    q, out, active, error = queue(), [], 0, None
    for i, cfg in enumerate(run["cells"]):
        if i not in run["done"]:
            job = q.get(run["jobs"].get(i, ""))
            if job is not None and job.status == "done":
                run["done"][i] = job.result
            elif job is not None and job.status in ("error", "cancelled"):
                error = job.error or "A cell was cancelled."
            elif job is not None:
                active += 1
            elif (hit := store.load(cfg)) is not None:
                run["done"][i] = hit
        out.append(run["done"].get(i))
    for i, cfg in enumerate(run["cells"]):
        if error is None and out[i] is None and i not in run["jobs"] and active < AT_ONCE:
            try:
                run["jobs"][i] = q.submit(cfg, device, owner=session_id()).key
                active += 1
            except (jobs.QueueFull, D.DataError) as e:
                error = str(e)
    return out, error


def grid_view(run: dict, device: str, what: str, draw):
    """A grid's progress, polled in a fragment until every cell is in; then `draw(results)`,
    once, by the whole page (the fragment stops polling)."""
    @st.fragment(run_every=None if run.get("shown") else 1.0)
    def poll():
        results, error = grid_results(run, device)
        if error:
            st.error(error)
            return
        done = sum(r is not None for r in results)
        if done < len(results):
            st.progress(done / len(results), text=f"{what}: {done} of {len(results)} runs done (at most {AT_ONCE} "
                                                  f"in the queue at a time). The page stays usable.")
            return
        if not run.get("shown"):
            run["shown"] = True
            st.rerun()  # leave the fragment: the finished grid is drawn once, by the page
        draw(results)
    poll()


def compare_settings(cfg) -> str:
    """A config's knobs that differ from its experiment's defaults, as Compare's settings text."""
    default = type(cfg)()
    return "; ".join(f"{f.name}={K.show(getattr(cfg, f.name))}" for f in fields(cfg)
                     if f.name not in SIDEBAR and getattr(cfg, f.name) != getattr(default, f.name))


def _job_view(job, live_view, result_view, page):
    """A queued or running job in a fragment that polls it; a finished one drawn by the page
    itself, in no fragment. (Drawn in the fragment, a finished result was drawn again at every
    tick of a poll timer that outlived its job: in a room of 30, a server's core went to
    redrawing finished Probe pages, 2,400 of 3,900 samples of a py-spy profile.)"""
    if job.status in jobs.ACTIVE:
        _poll_job(job, live_view, page)
    elif job.status == "error":
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


def _poll_job(job, live_view, page):
    q = queue()
    queued = job.status == "queued"
    drawn = f"{page}_drawn"  # the job whose live view has drawn a chart or table here
    first = (job.status == "running" and st.session_state.get(drawn) != job.submitted
             and time.perf_counter() - job.started < FIRST_S)

    @st.fragment(run_every=POLL_QUEUED_S if queued else POLL_FIRST_S if first else POLL_S)
    def poll():
        if job.status not in jobs.ACTIVE or (queued and job.status != "queued"):
            st.rerun()  # finished, or started (to poll at the live pace): the page again
        if job.status == "queued":
            n = q.position(job)
            st.progress(0.0, text=f"Queued: {ordinal(n)} in line ({len(q.running)} run(s) training, "
                                  f"{q.workers} at a time). It starts by itself; the page stays usable.")
            return
        rows, events, progress, stage = job.snapshot()
        where = f"{charts.label(stage[0])}: task {stage[1] + 1}" if stage else "starting"
        st.progress(progress, text=f"Training… {where} ({100 * progress:.0f}%)")
        if live_view(rows, events, job.cfg):
            st.session_state[drawn] = job.submitted
        if first and (st.session_state.get(drawn) == job.submitted or time.perf_counter() - job.started >= FIRST_S):
            st.rerun()  # the first chart is out (or is slow to come): the page again, at the live pace
    poll()


# ---------------------------------------------------------------- downloads

def downloads(page, result, charts: dict | None = None):
    """JSON of the whole result, and a zip for slides: CSV tables, every chart as PNG, SVG and
    HTML that renders offline (clviz/export.py). Both are built only when clicked (callables), not
    on every rerun: rendering a page's charts takes a second or two. None in Present mode."""
    if presenting():
        return

    def zipped():
        from . import export  # vl-convert: loaded on the first click, not by every page
        return export.zip_bytes(result, charts or {})

    c1, c2, _ = st.columns([1, 2, 3])  # the zip's label whole at 1280 px ("Tables and charts (…" in [1, 1, 3])
    c1.download_button("Result (JSON)", lambda: json.dumps(result), f"clviz-{page}.json", "application/json",
                       key=f"{page}_dl_json", on_click="ignore")
    c2.download_button("Tables and charts (zip)", zipped, f"clviz-{page}.zip", "application/zip",
                       key=f"{page}_dl_zip", on_click="ignore")


def chart(ch, key=None, width="stretch"):
    """A chart (`width` None: at the size its spec sets); in Present mode taller, with larger fonts
    (charts.present, on its Vega-Lite spec). Drawn from its spec unvalidated: checking a spec
    against the Vega-Lite schema took as long as building the chart, in the server's one Python,
    at every page run; the builders' specs are validated in the tests and by every export."""
    spec = ch.to_dict(validate=False)
    st.vega_lite_chart(spec=charts.present(spec) if presenting() else spec, width=width, key=key)


def takeaway(text: str):
    """What to see in the chart below, in one line from the result's numbers (clviz/takeaways.py)."""
    st.markdown(f"**What to see:** {text}")


# ---------------------------------------------------------------- views shared by the pages

def shared_sidebar():
    """Called by app.py before the page: draw the sidebar once for this script run."""
    _run.linked = None  # a new script run: the widgets tied to the URL register afresh
    _run.settings = sidebar()


def settings() -> dict:
    """The sidebar's settings for this script run. app.py draws the sidebar before the page; a
    page run on its own (AppTest, or Streamlit's plain pages/ mode) draws it itself."""
    s, _run.settings = getattr(_run, "settings", None), None
    return s if s is not None else sidebar()


def live_curves(rows, events, cfg) -> bool:
    """The live view of most pages: the curves that grow during training."""
    curves_panel(rows, cfg.epochs)
    return bool(rows)


def curves_panel(rows, epochs, done=False, built=None):
    """Forgetting curves, loss and sparsity per epoch, on axes fixed to the whole run (`built`: those
    charts, made already by the page's figures); once the run is `done`, what to see in them (not
    mid-run: "at the end" would not be the end yet)."""
    if not rows:
        st.caption("Waiting for the first epoch…")
        return {}
    out, specs = (built, None) if built else _curve_specs(rows, epochs)

    def draw(name):  # a live run's from the spec built once (Present mode enlarges a copy of it)
        spec = specs[name] if specs is not None else out[name].to_dict(validate=False)  # (as ui.chart)
        st.vega_lite_chart(spec=charts.present(spec) if presenting() else spec, width="stretch")
    if done:
        takeaway(takeaways.curves(rows))
    draw("forgetting curves")
    c1, c2 = st.columns(2)
    with c1:
        draw("loss")
    with c2:
        draw("sparsity per epoch")
    st.caption("Dotted lines: task boundaries; dashed: accuracy on all classes seen so far.")
    return out


LIVE_SPECS = 64  # charts kept built: a few polling pages' live curves
_specs: collections.OrderedDict = collections.OrderedDict()
_specs_lock = threading.Lock()


def _curve_specs(rows, epochs):
    """The curves' charts and their Vega-Lite specs, built once per set of rows. A page polls its
    job twice a second and a fragment must draw its charts at every run; they were built and
    validated (Altair's to_dict) afresh at each: 80-150 ms of the server's CPU per poll and
    viewer with 50 epochs in, while an epoch lands every second or so. The key is the rows
    themselves (a job's event dicts live as long as the job; kept here, so their ids stay theirs)."""
    key = (id(rows[0]), id(rows[-1]), len(rows), epochs)
    with _specs_lock:
        if key in _specs:
            _specs.move_to_end(key)
            return _specs[key][1]
    out = charts.curve_charts(rows, epochs)
    built = out, {name: ch.to_dict(validate=False) for name, ch in out.items()}  # (as ui.chart)
    with _specs_lock:
        _specs[key] = ((rows[0], rows[-1]), built)
        while len(_specs) > LIVE_SPECS:
            _specs.popitem(last=False)
    return built


curves_of = figures.curves_of  # the epoch rows of several sub-runs of a result, labelled by run


_spread = charts.spread_of  # (pure: with the chart builders, which need it too)


def task_table(tasks, **cols):
    """A per-task DataFrame: one row per task; '<name> ± sd' columns follow where seeds give a spread."""
    values, spread = _spread(cols)
    out = {}
    for name, v in values.items():
        out[name] = v
        if name in spread:
            out[f"{name} ± sd"] = spread[name]
    return pd.DataFrame({"task": range(1, len(tasks) + 1), "classes": [",".join(map(str, t)) for t in tasks], **out})


task_lines = charts.task_lines
