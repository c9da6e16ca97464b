"""Every page through Streamlit's AppTest: small settings, press Train, check the numbers and charts."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py")
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


def accuracies_ok(df, cols):
    for c in cols:
        assert df[c].between(0, 1).all(), (c, df[c].tolist())


def quick(at, page, epochs=1, per_class=40):
    at.number_input(key=f"{page}_epochs").set_value(epochs)
    at.number_input(key=f"{page}_pc").set_value(per_class)
    at.run()


def test_sparsity_page():
    at = open_page("sparsity")
    quick(at, "sparsity", epochs=2)
    train(at, "sparsity")
    df = at.dataframe[0].value
    assert len(df) == 5 and list(df["task"]) == [1, 2, 3, 4, 5]
    accuracies_ok(df, ["sparsity (no BN)", "sparsity (BN)", "acc seen (no BN)", "acc seen (BN)"])
    assert len(charts(at)) >= 7  # sparsity, val loss, 2 heatmaps, 2 bias histograms, curves
    assert [b.label for b in at.get("download_button")] == ["Result (JSON)", "Tables and charts (zip)"]


def test_probe_page_and_cached_rerun():
    at = open_page("probe")
    quick(at, "probe")
    train(at, "probe")
    df = at.dataframe[0].value
    assert len(df) == 5
    accuracies_ok(df, ["network (seen)", "probe (seen)", "probe (all)"])
    assert 0 < float(at.metric[0].value) < 1.5
    assert len(charts(at)) >= 4
    # a new session with the same settings finds the stored result without training
    at2 = open_page("probe")
    quick(at2, "probe")
    t = time.perf_counter()
    at2.run()
    assert time.perf_counter() - t < 5
    assert any("Stored result" in c.value for c in at2.caption)
    assert at2.dataframe[0].value.equals(df)


def test_losses_page():
    at = open_page("losses")
    quick(at, "losses")
    train(at, "losses")
    summary = at.dataframe[0].value
    assert list(summary["loss"]) == ["cross-entropy", "correct logit only", "latent-only negatives"]
    accuracies_ok(summary, ["final acc (all seen)", "probe (seen), last task"])
    probs = at.dataframe[1].value
    assert len(probs) == 5 and probs.iloc[:, 2:].stack().between(0, 1).all()
    assert len(at.get("image")) == 1  # the chosen test image beside its table
    at.selectbox(key="losses_example").set_value(3).run()
    assert not at.exception
    assert len(charts(at)) >= 4


def test_savings_page():
    at = open_page("savings")
    at.multiselect(key="savings_opts").set_value(["sgd", "adam"])
    at.number_input(key="savings_pc").set_value(60)
    at.run()
    train(at, "savings")
    df = at.dataframe[0].value
    assert list(df["optimizer"]) == ["sgd", "sgd", "adam", "adam"] and list(df["reset"]) == [False, True] * 2
    assert (df["savings"] <= 1).all()
    assert (df["steps relearn"] >= 1).all() and (df["steps first (task 1)"] >= 1).all()
    assert len(charts(at)) == 4  # savings, convergence, gradient norm, weight change


def test_boundaries_page():
    at = open_page("boundaries")
    at.number_input(key="bnd_epochs").set_value(10)
    quick(at, "boundaries")
    train(at, "boundaries")
    assert len(charts(at)) == 3 + 5  # toy regions per task, latent planes per task


def test_cifar_page_on_small_pickle(tmp_path):
    from conftest import write_cifar100_root
    write_cifar100_root(tmp_path, n_train=1000, n_test=300)
    at = open_page("cifar")
    at.sidebar.text_input(key="data_dir").set_value(str(tmp_path)).run()
    at.number_input(key="cifar_epochs").set_value(1)
    at.number_input(key="cifar_pc").set_value(10)
    at.run()
    assert not at.warning  # the data was found
    train(at, "cifar")
    df = at.dataframe[0].value
    assert len(df) == 10
    accuracies_ok(df, ["network (seen)", "probe (seen)", "probe (all)", "sparsity (no BN)", "sparsity (BN)"])


# (widget kind, key, value, message, shown before Train is pressed)
BAD_INPUTS = [
    ("text_input", "probe_tasks", "1,2;2,3", "Class 2 appears in task 1 and task 2", True),
    ("text_input", "probe_tasks", "1,2;3,a", "'a' is not a class number", True),
    ("text_input", "probe_tasks", "1,2;3,10", "class 10 does not exist", True),
    ("text_input", "probe_tasks", "1,2;;3,4", "Task 2 is empty", True),
    ("text_input", "probe_tasks", "1,2,3,4", "Only one task", True),
    ("text_input", "probe_tasks", "", "The task split is empty", True),
    ("text_input", "probe_lr", "fast", "Learning rate must be a number", True),
    ("text_input", "probe_lr", "0", "Learning rate must be greater than 0", True),
    ("text_input", "probe_lr", "-1e-3", "Learning rate must be greater than 0", True),
    ("text_input", "probe_lr", "5000", "absurdly large", False),
    ("number_input", "probe_epochs", 400, "too many on", False),
    ("number_input", "probe_bs", 1000, "larger than task 1", False),
    ("number_input", "probe_pc", 3, "larger than task 1, which has 6", False),
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
    assert {"probe (all) ± sd", "network (seen) ± sd"} <= set(df.columns)
    assert (df["probe (all) ± sd"] >= 0).all() and (df["network (seen) ± sd"] > 0).any()
