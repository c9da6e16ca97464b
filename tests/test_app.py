"""Every page through Streamlit's AppTest: small settings, press Train, check the numbers and charts."""
import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from clviz import takeaways

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def train(at, page, timeout=240):
    at.button(key=f"{page}_train").click()
    at.run()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if at.success or at.error or at.exception:
            break
        time.sleep(0.25)
        at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.success, "the run did not finish in time"
    return at


def charts(at):
    return at.get("vega_lite_chart")


def result_of(at, page):
    """The result the page's job brought back from its worker (as the store holds it)."""
    from clviz import ui
    return ui.queue().get(at.session_state[f"{page}_job"]).result


def cells_equal(df, expected: dict):
    """The table's columns are exactly the result's numbers (no range check: the very values)."""
    for col, values in expected.items():
        assert df[col].tolist() == pytest.approx(values), col


def quick(at, page, epochs=1, per_class=40):
    at.number_input(key=f"{page}_epochs").set_value(epochs)
    at.number_input(key=f"{page}_per_class").set_value(per_class)
    at.run()


def test_sparsity_page():
    at = open_page("sparsity")
    quick(at, "sparsity", epochs=2)
    train(at, "sparsity")
    df, r = at.dataframe[0].value, result_of(at, "sparsity")
    assert list(df["task"]) == [1, 2, 3, 4, 5] and list(df["classes"]) == ["1,2", "3,4", "5,6", "7,8", "9,0"]
    cells_equal(df, {"sparsity (no BN)": r["no_bn"]["sparsity"], "sparsity (BN)": r["bn"]["sparsity"],
                     "val loss (BN)": r["bn"]["val_loss"], "acc seen (no BN)": r["no_bn"]["acc_seen"]})
    assert len(charts(at)) >= 7  # sparsity, val loss, 2 heatmaps, 2 bias histograms, curves
    assert [b.label for b in at.get("download_button")] == ["Result (JSON)", "Tables and charts (zip)"]


def test_probe_page_and_cached_rerun():
    at = open_page("probe")
    quick(at, "probe")
    train(at, "probe")
    df, r = at.dataframe[0].value, result_of(at, "probe")
    cells_equal(df, {"network (seen)": r["acc_seen"], "probe (seen)": r["probe_seen"], "probe (all)": r["probe_all"]})
    assert at.metric[0].value == f"{r['probe_all'][-1] / r['joint_acc']:.3f}"
    assert len(charts(at)) >= 4
    # a new session with the same settings finds the stored result without training
    at2 = open_page("probe")
    quick(at2, "probe")
    at2.run()
    assert "probe_job" not in at2.session_state  # nothing was submitted: no training
    assert any("Stored result" in c.value for c in at2.caption)
    assert at2.dataframe[0].value.equals(df)


def test_losses_page():
    at = open_page("losses")
    quick(at, "losses")
    train(at, "losses")
    summary, r = at.dataframe[0].value, result_of(at, "losses")
    assert list(summary["loss"]) == ["cross-entropy", "correct logit only", "latent-only negatives"]
    names = ["ce", "correct_only", "latent_only"]
    cells_equal(summary, {"final acc (all seen)": [r[n]["final_acc"] for n in names],
                          "forgetting of task 1": [r[n]["forgetting"][0] for n in names],
                          "probe (seen), last task": [r[n]["probe_seen"][-1] for n in names]})
    notes = at.dataframe[1].value  # the correct-logit-only run beside the notes' figures
    assert notes.iloc[0].tolist() == ["final accuracy, all classes", str(round(r["correct_only"]["final_acc"], 4)), "0.408"]
    probs = at.dataframe[2].value  # example 0, cross-entropy: row k = after task k, column c = class c
    assert np.allclose(probs.iloc[:, 1:].values, [per_task[0] for per_task in r["ce"]["example_sigmoid"]])
    assert len(at.get("image")) == 1  # the chosen test image beside its table
    at.selectbox(key="losses_example").set_value(3).run()
    assert not at.exception
    assert len(charts(at)) >= 4


def test_savings_page():
    at = open_page("savings")
    at.multiselect(key="savings_optimizers").set_value(["sgd", "adam"])
    at.number_input(key="savings_per_class").set_value(60)
    at.number_input(key="savings_seeds").set_value(3)
    at.run()
    train(at, "savings")
    df, joint, r = at.dataframe[0].value, at.dataframe[1].value, result_of(at, "savings")
    assert r["config"]["seeds"] == 3  # the page's own count of runs, not the sidebar's
    # plain SGD has no state: its reset run is its run (marked no_state in the result), shown once
    sgd = [x for x in r["rows"] if x["optimizer"] == "sgd"]
    assert [x["reset"] for x in sgd] == [False, True] and all(x["no_state"] for x in sgd)
    assert sgd[0]["savings_runs"] == sgd[1]["savings_runs"]
    rows = [sgd[0], *(x for x in r["rows"] if x["optimizer"] == "adam")]
    # one row per setting in a person's words; two tables, each narrow enough for 1280 px
    assert list(df["setting"]) == ["SGD", "Adam, state kept", "Adam, state reset"]
    assert list(df.columns) == ["setting", "lr", "steps first", "steps relearn", "savings", "± sd", "clear of noise",
                                "notes"]
    cells_equal(df, {"savings": [x["savings"] for x in rows], "± sd": [x["savings_std"] for x in rows],
                     "steps relearn": [x["steps_relearn"] for x in rows],
                     "steps first": [x["steps_first"][0] for x in rows]})
    assert df["savings"].tolist() == pytest.approx([np.mean(x["savings_runs"]) for x in rows])
    assert df["notes"].tolist() == ["0.59", "-0.74", "0.13"]
    assert df["clear of noise"].tolist() == [{True: "yes", False: "no"}[x["clear_of_noise"]] for x in rows]
    assert list(joint["setting"]) == list(df["setting"])
    cells_equal(joint, {"after sequential": [x["steps_joint_after"] for x in rows],
                        "from scratch": [x["steps_joint_scratch"] for x in rows]})
    assert joint["hit the step limit"].tolist() == ["yes" if x["hit_max_steps"] else "" for x in rows]
    # every row is clear of the noise, or the page says which are not
    noisy = [{"sgd": "SGD", "adam": "Adam"}[x["optimizer"]] + ("" if x is sgd[0] else f", state {'reset' if x['reset'] else 'kept'}")
             for x in rows if not x["clear_of_noise"]]
    if noisy:
        assert any(", ".join(noisy) in w.value for w in at.warning), [w.value for w in at.warning]
    else:
        assert any("clear of the noise of 3 runs" in c.value for c in at.caption)
    assert len(charts(at)) == 4  # savings, convergence, gradient norm, weight change


def test_remedies_page():
    at = open_page("remedies")
    at.multiselect(key="remedies_methods").set_value(["finetune", "replay", "head"])
    quick(at, "remedies", epochs=1, per_class=60)
    train(at, "remedies")
    df, r = at.dataframe[0].value, result_of(at, "remedies")
    assert list(df["method"]) == ["fine-tune", "replay", "head retrained"]
    names = ["finetune", "replay", "head"]
    cells_equal(df, {"final acc": [r[n]["final_acc"] for n in names], "probe (all)": [r[n]["probe_all"][-1] for n in names],
                     "BWT": [r[n]["bwt"] for n in names], "samples kept": [0, 500, 500]})
    assert df["published %"].tolist() == ["19.90 ± 0.02", "", ""]  # the paper's fine-tune figure, Table 4; a blank, not None
    ref = at.dataframe[1].value  # the paper's methods none of ours is
    assert ref["published %"].tolist() == ["20.01 ± 0.06", "90.79 ± 0.41", "94.57 ± 0.11"]
    lens = at.dataframe[2].value  # where each method forgets: the result's own lenses, on the 4 old tasks
    cells_equal(lens, {"task-IL, old tasks": [np.mean([t[-1] for t in r[n]["task_il"][:4]]) for n in names],
                       "class-IL, old tasks": [np.mean([t[-1] for t in r[n]["class_il"][:4]]) for n in names],
                       "min-ACC": [r[n]["min_acc"] for n in names], "WC-ACC": [r[n]["wc_acc"] for n in names]})
    best = [max(r[n]["rollback"], key=lambda layer: np.mean(r[n]["rollback"][layer][:4])) for n in names]
    assert lens["rollback that recovers most"].tolist() == best
    at.selectbox(key="remedies_focus").set_value("replay").run()
    assert not at.exception and len(charts(at)) >= 9


def test_depth_page():
    at = open_page("depth")
    quick(at, "depth", epochs=2)
    train(at, "depth")
    r = result_of(at, "depth")
    text = " ".join(m.value for m in at.markdown)
    til = np.mean([t[-1] for t in r["task_il"][:4]])
    cil = np.mean([t[-1] for t in r["class_il"][:4]])
    assert f"still gets **{til:.2f}** of the old tasks right; choosing among all classes, **{cil:.2f}**" in text
    assert f"**min-ACC {r['min_acc']:.2f}**" in text and f"**WC-ACC {r['wc_acc']:.2f}**" in text
    worst = int(np.argmax(r["forgetting_events"]["per_class"]))
    assert f"Class **{worst}** is forgotten most" in text
    assert len(charts(at)) >= 10
    images = at.get("image")[0]  # the most forgotten test images, captioned "class: events"
    ev = r["forgetting_events"]
    assert images.captions == [f"{c}: {n:.0f}" for c, n in zip(ev["top_class"], ev["top_count"])]


def test_boundaries_page():
    at = open_page("boundaries")
    at.number_input(key="boundaries_toy_epochs").set_value(10)
    quick(at, "boundaries")
    train(at, "boundaries")
    assert len(charts(at)) == 3 + 5  # toy regions per task, latent planes per task


def test_cifar_page_on_small_pickle(tmp_path):
    from conftest import write_cifar100_root
    write_cifar100_root(tmp_path, n_train=1000, n_test=300)
    at = open_page("cifar")
    at.sidebar.text_input(key="data_dir").set_value(str(tmp_path)).run()
    at.number_input(key="cifar_epochs").set_value(1)
    at.number_input(key="cifar_per_class").set_value(10)
    at.run()
    assert not at.warning  # the data was found
    train(at, "cifar")
    df, r = at.dataframe[0].value, result_of(at, "cifar")
    assert len(df) == 10
    cells_equal(df, {"network (seen)": r["acc_seen"], "probe (all)": r["probe_all"], "sparsity (BN)": r["bn"]["sparsity"]})


# (widget kind, key, value, message, shown before Train is pressed)
BAD_INPUTS = [
    ("text_input", "probe_tasks", "1,2;2,3", "Class 2 appears in task 1 and task 2", True),
    ("text_input", "probe_tasks", "1,2;3,a", "'a' is not a class number", True),
    ("text_input", "probe_tasks", "1,2;3,10", "class 10 does not exist", True),
    ("text_input", "probe_tasks", "1,2;;3,4", "Task 2 is empty", True),
    ("text_input", "probe_tasks", "1,2,3,4", "Only one task", True),
    ("text_input", "probe_tasks", "", "The task split is empty", True),
    ("text_input", "probe_lr", "fast", "Learning rate must be a number", True),
    ("text_input", "probe_lr", "1e-3x", "'1e-3x' is not a number", True),
    ("text_input", "probe_lr", "0", "Learning rate must be greater than 0", True),
    ("text_input", "probe_lr", "-1e-3", "Learning rate must be greater than 0", True),
    ("text_input", "probe_lr", "5000", "absurdly large", False),
    ("number_input", "probe_batch_size", 1000, "larger than task 1", False),
    ("number_input", "probe_per_class", 3, "larger than task 1, which has 6", False),
    ("text_input", "probe_hidden", "256,x", "'x' is not an integer", True),
    ("sidebar_text", "data_dir", "/no/such/folder", "does not exist", True),
]


@pytest.mark.parametrize("kind,key,value,message,immediate", BAD_INPUTS, ids=[f"{r[1]}={r[2]}" for r in BAD_INPUTS])
def test_bad_input_is_a_message_not_a_traceback(kind, key, value, message, immediate):
    at = open_page("probe")
    if kind == "sidebar_text":
        at.sidebar.selectbox(key="dataset").set_value("mnist")
        at.sidebar.text_input(key=key).set_value(value)
    else:
        getattr(at, kind)(key=key).set_value(value)
    at.run()
    if not immediate:
        at.button(key="probe_train").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(message in e for e in errors), errors
    assert not at.success  # nothing trained


def test_missing_dataset_offers_digits():
    at = open_page("probe")
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    assert any("was not found" in w.value for w in at.sidebar.warning)
    at.sidebar.button(key="use_digits").click().run()
    assert at.sidebar.selectbox(key="dataset").value == "digits" and not at.exception


def test_touching_a_widget_mid_run_keeps_the_run():
    at = open_page("probe")
    quick(at, "probe", epochs=3)
    at.button(key="probe_train").click().run()
    at.number_input(key="probe_epochs").set_value(2).run()  # a widget changes while the job runs
    assert not at.exception
    deadline = time.time() + 120
    while not at.success and time.time() < deadline:
        time.sleep(0.25)
        at.run()
    assert at.success and "trained in" in at.success[0].value  # the first run finished and is shown
    assert any("Showing the run of earlier settings" in c.value for c in at.caption)
    from clviz import ui
    assert len([j for j in ui.queue().jobs.values() if j.cfg.epochs == 3 and j.cfg.per_class == 40]) == 1


def test_seeds_show_mean_and_spread():
    at = open_page("probe")
    at.sidebar.number_input(key="seeds").set_value(3)
    quick(at, "probe")
    train(at, "probe")
    df = at.dataframe[0].value
    r = result_of(at, "probe")
    cells_equal(df, {"probe (all) ± sd": r["probe_all_std"], "network (seen) ± sd": r["acc_seen_std"],
                     "probe (all)": r["probe_all"]})
    assert (df["network (seen) ± sd"] > 0).any()  # three seeds do not all agree


def open_link(page, **params):
    """A pasted link: /<page>?key=value&..., as the first run of a fresh session."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_reproduces_a_view():
    at = open_link("probe", seed="3", probe_epochs="2", probe_per_class="40", probe_lr="0.002",
                   probe_optimizer="rmsprop")
    assert at.sidebar.number_input(key="seed").value == 3 and at.number_input(key="probe_epochs").value == 2
    assert at.text_input(key="probe_lr").value == "0.002" and at.selectbox(key="probe_optimizer").value == "rmsprop"
    train(at, "probe")
    r = result_of(at, "probe")
    assert (r["config"]["seed"], r["config"]["epochs"], r["config"]["per_class"], r["config"]["lr"],
            r["config"]["optimizer"]) == (3, 2, 40, 0.002, "rmsprop")
    at.radio(key="probe_line_field").set_value("acc").run()  # a view setting travels too
    link = {k: at.query_params[k] for k in at.query_params}
    assert link == {"seed": "3", "probe_epochs": "2", "probe_per_class": "40", "probe_lr": "0.002",
                    "probe_optimizer": "rmsprop", "probe_line_field": "acc"}
    at.number_input(key="probe_batch_size").set_value(16).run()  # a widget changed: the address bar follows
    assert at.query_params["probe_batch_size"] == "16"
    at.number_input(key="probe_batch_size").set_value(32).run()  # back to the default: out of the address
    assert "probe_batch_size" not in at.query_params
    # the link opened in another browser: the same settings, the stored result at once, no training
    again = open_link("probe", **link)
    assert any("Stored result for these settings" in c.value for c in again.caption)
    assert again.radio(key="probe_line_field").value == "acc"
    assert again.dataframe[0].value.equals(at.dataframe[0].value)


def test_settings_survive_navigation():
    at = open_link("probe", seed="7", probe_epochs="3", probe_lr="0.005")
    at.switch_page("app_pages/remedies.py")
    for k in [k for k in at.query_params if k != "seed"]:  # as the browser's sidebar link: the page's own
        del at.query_params[k]                                # parameters are not in the new address
    at.run()
    assert "probe_epochs" not in at.query_params and at.sidebar.number_input(key="seed").value == 7
    at.switch_page("app_pages/probe.py")
    at.run()
    assert at.number_input(key="probe_epochs").value == 3 and at.text_input(key="probe_lr").value == "0.005"
    assert {k: at.query_params[k] for k in at.query_params} == {"seed": "7", "probe_epochs": "3", "probe_lr": "0.005"}


@pytest.mark.parametrize("params,message", [
    ({"probe_epochs": "abc"}, "The link sets probe_epochs to 'abc': it is not a whole number"),
    ({"probe_epochs": "9999"}, "The link sets probe_epochs to '9999': it must be between 1 and 200"),  # the CPU's cap
    ({"probe_optimizer": "lion"}, "The link sets probe_optimizer to 'lion': it must be one of sgd, momentum, adam"),
    ({"probe_lr": "fast"}, "Learning rate must be a number: 'fast' is not a number"),  # the widget's own message
    ({"probe_tasks": "1,2;2,3"}, "Class 2 appears in task 1 and task 2"),
    ({"dataset": "imagenet"}, "The link sets dataset to 'imagenet': it must be one of digits, mnist"),
    ({"probe_epochs": "9" * 5000}, f"The link sets probe_epochs to '{'9' * 20}…{'9' * 8} (5000 characters)'"),
])
def test_bad_values_in_a_link_get_a_message(params, message):
    at = open_link("probe", **params)
    errors = [e.value for e in at.error]
    assert any(message in e for e in errors), errors
    assert all(len(e) < 400 for e in errors)  # a long value is not echoed whole
    if "probe_tasks" in params:  # Train waits for the fix, and the page says that, not "press Train"
        assert [w.value for w in at.warning] == ["Fix the setting marked above; then **Train** is ready."]
        assert not any("press **Train**" in i.value for i in at.info)


# ---------------------------------------------------------------- every knob written once

def widget_values(at, page):
    """{field: value} of the page's knob widgets (keys `<page>_<field>`), typed like the field."""
    from dataclasses import fields
    from clviz import experiments, knobs
    out = {}
    for f in fields(experiments.get(page).config):
        key = f"{page}_{f.name}"
        for kind in ("number_input", "text_input", "selectbox", "multiselect", "slider", "radio", "checkbox"):
            try:
                w = getattr(at, kind)(key=key)
            except KeyError:
                continue
            v = w.value
            out[f.name] = (tuple(v) if isinstance(v, list) else knobs.parse(f.default, v) if kind == "text_input"
                           and f.name != "tasks" else v)
            break
    return out


@pytest.mark.parametrize("page", ["sparsity", "probe", "losses", "savings", "boundaries", "remedies", "cifar", "depth"])
def test_every_widget_starts_at_its_configs_default_and_train_runs_the_clis_default(page):
    from dataclasses import fields
    from clviz import experiments, knobs, ui
    at = open_page(page)
    cls = experiments.get(page).config
    shown = widget_values(at, page)
    expected = {f.name: f.default for f in fields(cls) if f.name in shown}
    expected.pop("tasks", None)  # shown written out ("1,2;3,4;..."), the default split: checked below
    assert {k: v for k, v in shown.items() if k != "tasks"} == expected
    # every knob the experiment reads has a widget, but those the sidebar sets for every page
    assert set(shown) == {f.name for f in fields(cls) if f.name not in cls.unused
                          and knobs.where(f) in ("page", "more")}
    if page == "cifar":  # its default dataset is not on this machine: nothing to press
        return
    at.button(key=f"{page}_train").click().run()
    job = ui.queue().get(at.session_state[f"{page}_job"])
    ui.queue().cancel(job)
    assert job.cfg == experiments.make(page)  # the app runs exactly what `python -m clviz run PAGE` runs


# ---------------------------------------------------------------- plugins on the pages

def test_a_loss_plugin_on_its_page(registry, examples):
    assert registry.load([examples]) == []  # as the server does at start from $CLVIZ_PLUGINS
    at = open_page("losses")
    assert at.text_input(key="losses_sigmoid_sq_power").value == "2"  # its knob, from its dataclass
    at.multiselect(key="losses_losses").set_value(["ce", "sigmoid_sq"])
    quick(at, "losses")
    train(at, "losses")  # in a worker process, which loaded the plugin file as the server had
    summary, r = at.dataframe[0].value, result_of(at, "losses")
    assert list(summary["loss"]) == ["cross-entropy", "sigmoid, squared miss"]
    cells_equal(summary, {"final acc (all seen)": [r[n]["final_acc"] for n in ("ce", "sigmoid_sq")]})
    assert r["plugins"][0]["name"] == "sigmoid_sq" and not any("beside the notes" in s.value for s in at.subheader)


def test_a_remedy_plugin_on_its_page(registry, examples):
    assert registry.load([examples]) == []
    at = open_page("remedies")
    at.multiselect(key="remedies_methods").set_value(["finetune", "anchor"])
    at.text_input(key="remedies_anchor_strength").set_value("0")
    quick(at, "remedies", epochs=1, per_class=60)
    train(at, "remedies")
    df, r = at.dataframe[0].value, result_of(at, "remedies")
    assert list(df["method"]) == ["fine-tune", "L2 anchor"]
    assert r["anchor"]["matrix"] == r["finetune"]["matrix"]  # strength 0: fine-tuning, through the page too
    assert r["config"]["anchor_strength"] == 0.0


def test_a_broken_plugin_is_a_message_and_the_app_works(registry, tmp_path):
    (tmp_path / "oops.py").write_text("import clviz\nclviz.no_such_thing()\n")
    registry.ERRORS.extend(registry.load([tmp_path]))
    at = open_page("probe")
    errors = [e.value for e in at.sidebar.error]
    assert any("oops.py:2: AttributeError at import" in e for e in errors), errors
    quick(at, "probe")
    at.button(key="probe_train").click().run()
    deadline = time.time() + 120
    while not at.success and time.time() < deadline:
        time.sleep(0.25)
        at.run()
    assert at.success and not at.exception  # everything else works
    assert [e.value for e in at.error] == errors  # the plugin's message is the only one

# ---------------------------------------------------------------- compare

def test_the_compare_page_shows_the_verdicts_of_its_cells():
    from clviz import compare, experiments
    at = open_page("compare")
    at.text_input(key="compare_set_remedies").set_value("per_class=100")
    at.run()
    at.button(key="compare_train").click().run()
    deadline = time.time() + 240
    while not at.success and time.time() < deadline and not at.exception and not at.error:
        time.sleep(0.25)
        at.run()
    assert not at.exception and not at.error and at.success, [e.value for e in at.error]
    # the same comparison, computed here from the stored cells: the page shows exactly its verdicts
    vary = compare.parse_vary("remedies", ["methods=finetune,replay"])
    cells = compare.grid("remedies", vary, 3, {"per_class": 100})
    from clviz import store
    rep = compare.report("remedies", cells, [store.load(c) for c in cells], vary)
    df = at.dataframe[0].value
    assert list(df["lens"]) == [v["lens"] for v in rep["verdicts"]] and set(df["variant"]) == {"methods=replay"}
    cells_equal(df, {"difference": [v["diff"] for v in rep["verdicts"]], "95% low": [v["ci"][0] for v in rep["verdicts"]],
                     "95% high": [v["ci"][1] for v in rep["verdicts"]]})
    assert list(df["baseline ± sd"]) == [f"{v['baseline_mean']:.4f} ± {v['baseline_sd']:.4f}" for v in rep["verdicts"]]
    assert list(df["variant ± sd"]) == [f"{v['variant_mean']:.4f} ± {v['variant_sd']:.4f}" for v in rep["verdicts"]]
    assert list(df["verdict"]) == ["clear" if v["clear"] else "within noise" for v in rep["verdicts"]]
    assert df.loc[df["lens"] == "final accuracy", "verdict"].item() == "clear"
    assert len(charts(at)) == 3  # accuracy curves, probe and sparsity per task: one line per variant
    assert experiments.get("remedies")  # (the grid's experiment)
    # a fresh session on the same link: every cell is stored, the comparison is there at once
    again = open_link("compare", compare_set_remedies="per_class=100")
    assert any("Stored results for every cell" in c.value for c in again.caption)
    assert again.dataframe[0].value.equals(df)


def test_a_page_sends_its_settings_to_compare():
    at = open_page("probe")
    quick(at, "probe", epochs=2)
    link = next(p for p in at.get("page_link") if p.proto.label == "Compare from these settings")
    assert link.proto.query_string in ("compare_experiment=probe&compare_set_probe=epochs%3D2%3B+per_class%3D40",
                                       "compare_experiment=probe&compare_set_probe=epochs%3D2%3B%20per_class%3D40")


def test_stored_runs_picked_on_the_compare_page():
    from clviz import compare, experiments
    a, b = (experiments.make("probe", optimizer=o, seeds=2, epochs=1, per_class=30) for o in ("adam", "sgd"))
    for c in (a, b):
        experiments.run(c, device="cpu")
    at = open_page("compare")
    at.selectbox(key="compare_experiment").set_value("probe").run()
    keys = at.multiselect(key="compare_pick").options
    assert sorted(keys) == ["optimizer=adam (2 seeds)", "optimizer=sgd (2 seeds)"]
    from clviz import store
    at.multiselect(key="compare_pick").set_value([store.key(a), store.key(b)]).run()
    assert not at.exception
    rep = compare.report("probe", [a, b], [store.load(a), store.load(b)], {"optimizer": ["adam", "sgd"]})
    df = at.dataframe[0].value
    assert list(df["lens"]) == [v["lens"] for v in rep["verdicts"]] and set(df["variant"]) == {"optimizer=sgd"}
    cells_equal(df, {"difference": [v["diff"] for v in rep["verdicts"]], "95% low": [v["ci"][0] for v in rep["verdicts"]]})
    assert "compare_train" not in [b.key for b in at.button]  # nothing to train: the picked runs answer


def test_a_link_to_stored_runs_that_are_not_there_is_a_message():
    at = open_link("compare", compare_pick="probe-0123456789abcdef,probe-fedcba9876543210")
    assert not at.exception
    assert any("The link sets compare_pick" in e.value for e in at.error), [e.value for e in at.error]


def test_the_remedies_sweep_on_its_page():
    from clviz import experiments, store, tune
    at = open_page("remedies")
    quick(at, "remedies", epochs=1, per_class=40)
    at.button(key="remedies_sweep_train").click().run()
    deadline = time.time() + 300
    while time.time() < deadline and not at.exception and not any("verdict" in d.value for d in at.dataframe):
        time.sleep(0.25)
        at.run()
    assert not at.exception
    df = next(d.value for d in at.dataframe if "verdict" in d.value)
    cells = tune.sweep_cells("si", experiments.make("remedies", epochs=1, per_class=40), 2)
    rows = tune.sweep_rows("si", cells, [store.load(c) for c in cells])
    assert df["si_c"].tolist() == list(tune.GRIDS["si"][1])
    cells_equal(df, {"final acc": [r["final"] for r in rows], "newest task": [r["newest"] for r in rows],
                     "vs fine-tune": [r["diff"] for r in rows]})
    assert list(df["verdict"]) == ["clear" if r["clear"] else "within noise" for r in rows]


def test_home_explains_the_notes_once_with_their_figures():
    from clviz import experiments, report
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()  # the root: Home
    assert not at.exception and at.title[0].value == "Catastrophic forgetting, live"
    ref = report.REFERENCE["mnist"]
    text = " ".join(m.value for m in at.markdown)
    for v in (ref["joint_acc"], ref["sequential_acc"], ref["probe_final"], *ref["sparsity_no_bn"]):
        assert f"{v:.2f}" in text
    assert "digits" in at.info[0].value and "Fashion-MNIST" in at.info[0].value
    pages = at.dataframe[0].value
    assert list(pages["page"]) == [e.title for e in experiments.REGISTRY.values()] + ["Compare"]
    assert all(pages["asks"].str.len() > 10)  # every page has its question


def test_present_hides_the_knobs_and_keeps_train_and_what_to_see():
    """Present mode (the sidebar's toggle, in the URL): no knob is drawn, yet the link's settings make
    the config; Train and the takeaway lines stay; the charts' fonts are the projector's; turned off,
    the knobs come back holding the same values."""
    from clviz import charts as C
    at = open_link("probe", present="true", probe_epochs="1", probe_per_class="40")
    knobs = [w for kind in ("number_input", "text_input", "selectbox", "multiselect", "slider", "checkbox", "radio")
             for w in at.main.get(kind) if (w.key or "").startswith("probe_")]
    assert knobs == [] and not at.main.get("expander")  # nor the "More knobs" expander
    assert at.button(key="probe_train").label == "Train"
    train(at, "probe")
    r = result_of(at, "probe")
    assert (r["config"]["epochs"], r["config"]["per_class"]) == (1, 40)  # the link's values, though no widget is drawn
    lines = [m.value for m in at.markdown if m.value.startswith("**What to see:**")]
    assert f"**What to see:** {takeaways.probe_summary(r)}" in lines and len(lines) == 5, lines
    specs = [json.loads(c.proto.spec) for c in charts(at)]
    assert specs and all(s["config"]["axis"] == C.PRESENT_FONTS["axis"] for s in specs)
    assert not at.get("download_button")  # nothing to click for the room
    assert {k: at.query_params[k] for k in at.query_params} == {"present": "true", "probe_epochs": "1",
                                                                "probe_per_class": "40"}
    at.sidebar.toggle(key="present").set_value(False).run()
    assert at.number_input(key="probe_epochs").value == 1 and at.number_input(key="probe_per_class").value == 40
    specs = [json.loads(c.proto.spec) for c in charts(at)]
    assert specs and all(s.get("config", {}).get("axis", {}).get("labelFontSize") != 16 for s in specs)
