"""Ready for a projector (issue 20): names a person reads, tables that fit, one line per chart of
what to see, and the Present mode's charts. Pure functions against hand-made results: every
expected string and number is written out."""
import pytest

from clviz import charts, names, tables, takeaways


# ---------------------------------------------------------------- names: labels on screen, names typed

def test_a_name_reads_as_its_label():
    assert names.label("ce") == "cross-entropy" and names.label("ncm") == "nearest mean (iCaRL)"
    assert names.label("momentum") == "SGD + momentum" and names.label("no_bn") == "no BN"
    assert names.label("adadelta_reset") == "Adadelta, state reset"
    assert names.label("something_else") == "something_else"  # nobody labelled it: as it is
    assert names.setting("adam", False) == "Adam, state kept" and names.setting("sgd", None) == "SGD"
    assert names.with_label("wa") == "wa (weight aligning)" and names.with_label("joint") == "joint"


def test_parameters_read_as_layers():
    order = ["body.1.weight", "body.1.bias", "body.3.weight", "body.3.bias", "head.weight", "head.bias"]
    assert [names.param(n, order) for n in order] == ["hidden 1 weights", "hidden 1 bias", "hidden 2 weights",
                                                      "hidden 2 bias", "head weights", "head bias"]


def test_the_clis_help_names_each_choice_beside_its_label(capsys):
    from clviz import clispec
    from clviz.__main__ import parser
    with pytest.raises(SystemExit):
        parser(clispec.from_engine()).parse_args(["run", "losses", "--help"])
    assert "from: ce (cross-entropy), correct_only (correct logit only), latent_only (latent-only negatives))" in \
        " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- savings: two tables, whole at 1280 px

def row(opt, reset, savings, **kw):
    return {"optimizer": opt, "lr": 0.01, "reset": reset, "steps_first": [40.0, 30.0], "steps_relearn": 10.0,
            "savings": savings, "savings_std": 0.05, "clear_of_noise": True, "steps_joint_after": 120.0,
            "steps_joint_scratch": 200.0, "hit_max_steps": False, **kw}


SAVINGS = {"config": {"dataset": "digits", "seeds": 3},
           "rows": [row("adam", False, -0.5, clear_of_noise=False), row("adam", True, 0.25),
                    row("adadelta", True, 0.75, hit_max_steps=True, steps_relearn=4.0), row("sgd", None, 0.6)],
           "task2_curves": {"adam": {"weight_change": [0.1, 1.5]}, "adam_reset": {"weight_change": [0.2, 0.4]},
                            "sgd": {"weight_change": [0.3, 0.9]}}}


def test_savings_tables_name_settings_and_leave_blanks_not_none():
    relearn, joint = tables.savings(SAVINGS)
    assert relearn.to_dict("records")[0] == {"setting": "Adam, state kept", "lr": 0.01, "steps first": 40.0,
                                             "steps relearn": 10.0, "savings": -0.5, "± sd": 0.05,
                                             "clear of noise": "no", "notes": "-0.74"}
    assert list(relearn["setting"]) == ["Adam, state kept", "Adam, state reset", "Adadelta, state reset", "SGD"]
    assert list(relearn["notes"]) == ["-0.74", "0.13", "", "0.59"]  # Adadelta: not in the notes; SGD's one row
    assert list(joint.columns) == ["setting", "after sequential", "from scratch", "hit the step limit"]
    assert list(joint["hit the step limit"]) == ["", "", "yes", ""]
    # the engine's rows of an optimizer without state: both settings, the same run, marked no_state
    twins = {**SAVINGS, "rows": [row("sgd", False, 0.6, no_state=True), row("sgd", True, 0.6, no_state=True)]}
    assert tables.savings(twins)[0].to_dict("records") == [{**relearn.to_dict("records")[3], "steps first": 40.0}]
    one_run = {**SAVINGS, "rows": [{k: v for k, v in x.items() if k != "savings_std"} for x in SAVINGS["rows"]]}
    assert "± sd" not in tables.savings(one_run)[0]


# ---------------------------------------------------------------- what to see, from the result's numbers

def test_savings_takeaways():
    assert takeaways.savings(SAVINGS["rows"]) == (
        "Highest savings: Adadelta, state reset, 0.75; lowest: Adam, state kept, -0.50. "
        "Resetting the state at task boundaries moves Adam most: -0.50 → 0.25.")
    assert takeaways.convergence(SAVINGS["rows"]) == (
        "Fastest back to the criterion on task 1: Adadelta, state reset, 4 steps, against 40 to learn it first.")
    assert takeaways.drift(SAVINGS["task2_curves"]) == (
        "By the time task 2 is learned the weights moved furthest with Adam (1.50), least with Adam, state reset (0.40).")


SPARSITY = {"no_bn": {"sparsity": [0.5, 0.78, 0.7], "val_loss": [0.1, 2.5, 3.25],
                      "heatmap": [[[0, 1, 0], [0, 2, 0]], [[0, 0, 0], [0, 1, 0]]], "bias": [[0.0, 0.2], [-0.1, -0.3]]},
            "bn": {"sparsity": [0.51, 0.49, 0.5], "val_loss": [0.2, 1.0, 1.5],
                   "heatmap": [[[1, 1, 1], [0, 2, 1]], [[1, 0, 1], [0, 1, 1]]], "bias": [[0.1, 0.1], [0.1, 0.3]]}}


def test_sparsity_takeaways():
    assert takeaways.sparsity(SPARSITY) == (
        "Without BatchNorm the latent layer's sparsity goes from 0.50 after task 1 to 0.78 at most (0.70 after the "
        "last); with BatchNorm from 0.51 to 0.51 at most (0.50).")
    assert takeaways.val_loss(SPARSITY) == ("Validation loss on the classes seen so far: 0.10 after task 1, 3.25 after "
                                            "the last without BatchNorm; 0.20 and 1.50 with it.")
    assert takeaways.heatmaps(SPARSITY, 0) == ("After task 1, 2 of 3 latent units never fire on these test images "
                                               "without BatchNorm, 0 with it.")
    assert takeaways.heatmap(SPARSITY["no_bn"]["heatmap"][1], 1, "no_bn") == (
        "After task 2, 2 of 3 latent units never fire on these test images (no BN).")
    assert takeaways.biases(SPARSITY) == ("The latent biases' mean: 0.100 after task 1, -0.200 after the last without "
                                          "BatchNorm; 0.100 and 0.200 with it.")


PROBE = {"joint_acc": 0.9612, "sequential_acc": 0.19, "probe_all": [0.5, 0.94], "probe_seen": [1.0, 0.96],
         "acc_seen": [0.99, 0.487], "matrix": [[0.99, 0.0], [0.004, 0.97]],
         "line": [{"from_task": 0, "alpha": [0.0, 0.5, 1.0], "old": {"acc": [0.99, 0.7, 0.01]},
                   "new": {"acc": [0.0, 0.8, 0.98]}}]}


def test_probe_takeaways():
    assert takeaways.probe_summary(PROBE) == ("A linear probe on the frozen features scores 0.94 on all classes while "
                                              "the network's own accuracy falls to 0.19 (trained on all at once: 0.96).")
    assert takeaways.probe_per_task(PROBE) == ("After the last task the network gets 0.49 of the classes seen so far "
                                               "right; a probe on its features, 0.96.")
    assert takeaways.matrix(PROBE["matrix"]) == "Task 1: 0.99 right after it was learned, 0.00 after task 2; the last task: 0.97."
    assert takeaways.straight_lines(PROBE["line"]) == (
        "From the weights after task 1 to those after task 2, task 1's accuracy falls from 0.99 to 0.01; at a = 0.5 "
        "both tasks score at least 0.70.")


def test_the_curves_takeaway_names_runs_only_when_there_are_several():
    rows = [{"run": "no_bn", "acc_tasks": [0.9, 0.0]}, {"run": "no_bn", "acc_tasks": [0.1, 0.95]},
            {"run": "bn", "acc_tasks": [0.8, 0.0]}, {"run": "bn", "acc_tasks": [0.3, 0.9]}]
    assert takeaways.curves(rows) == ("Task 1's accuracy: no BN 0.90 at best, 0.10 at the end; BN 0.80 at best, 0.30 "
                                      "at the end. Each new task's classes take over the answers.")
    assert takeaways.curves(rows[:2]) == ("Task 1's accuracy: 0.90 at best, 0.10 at the end. Each new task's classes "
                                          "take over the answers.")


LOSSES = {"config": {"losses": ("ce", "correct_only")}, "examples": {"index": [7, 9], "label": [1, 4]},
          "ce": {"final_acc": 0.19, "forgetting": [0.99], "probe_seen": [1.0, 0.97],
                 "example_sigmoid": [[[0.1] * 5, [0.1] * 5], [[0.2, 0.3, 0.1, 0.1, 0.9], [0.1, 0.1, 0.1, 0.1, 0.8]]],
                 "grad_norms": [{"body.1.weight": 1.0, "head.weight": 1.0}, {"body.1.weight": 3.0, "head.weight": 0.5,
                                                                             "head.bias": 0.5}]},
          "correct_only": {"final_acc": 0.34, "forgetting": [0.71], "probe_seen": [1.0, 0.96],
                           "example_sigmoid": [[[0.1] * 5, [0.1] * 5], [[0.9] * 5, [0.9] * 5]],
                           "grad_norms": [{"body.1.weight": 1.0, "head.weight": 1.0},
                                          {"body.1.weight": 1.0, "head.weight": 1.0, "head.bias": 0.0}]}}


def test_losses_takeaways():
    assert takeaways.losses_summary(LOSSES) == ("Accuracy on all seen classes at the end: cross-entropy 0.19, correct "
                                                "logit only 0.34; of task 1 they lost 0.99, 0.71.")
    assert takeaways.sigmoids(LOSSES, "ce", 0) == ("After the last task, with cross-entropy, the true class 1 gets "
                                                   "0.300; the highest is class 4, 0.900.")
    assert takeaways.sigmoids(LOSSES, "ce", 1) == ("After the last task, with cross-entropy, the true class 4 gets "
                                                   "0.800; the highest of all classes.")
    assert takeaways.probes(LOSSES) == ("After the last task a probe on the seen classes scores cross-entropy 0.97, "
                                        "correct logit only 0.96; the networks' own answers, 0.19, 0.34.")
    assert takeaways.gradients(LOSSES) == ("The head's share of the gradient in the last task: cross-entropy 25%, "
                                           "correct logit only 50%.")


def test_boundaries_takeaways():
    toy = {"regions": [{"cls": [0, 1, 1]}, {"cls": [3, 2, 3, 3]}], "acc_seen": [0.98, 0.5]}
    assert takeaways.toy_regions(toy) == ("After the last task the plane is split among classes 2, 3 only; accuracy on "
                                          "the classes seen so far goes from 0.98 after task 1 to 0.50.")
    assert takeaways.latent_planes({"acc_seen": [0.97, 0.2]}) == (
        "The real model on its own latent plane: 0.97 of the seen classes after task 1, 0.20 after the last.")


# ---------------------------------------------------------------- charts: names a person reads, Present mode

def test_savings_charts_and_gradients_show_labels_not_internal_names():
    curves = {"adam": {"grad_norm": [1.0, 2.0]}, "adam_reset": {"grad_norm": [1.5, 0.5]}}
    spec = charts.step_curves(curves, "grad_norm", "gradient norm").to_dict()
    data = next(iter(spec["datasets"].values()))
    assert {(d["optimizer"], d["optimizer state"]) for d in data} == {("Adam", "kept"), ("Adam", "reset")}
    spec = charts.grad_bars({"cross-entropy": LOSSES["ce"]["grad_norms"]}).to_dict()
    layers = {d["layer"] for d in next(iter(spec["datasets"].values()))}
    assert layers == {"hidden 1 weights", "head weights", "head bias"}
    bars = charts.savings_bars(SAVINGS["rows"]).to_dict()
    assert [(d["optimizer"], d["reset"]) for d in next(iter(bars["datasets"].values()))] == [
        ("Adam", "state kept"), ("Adam", "state reset"), ("Adadelta", "state reset"), ("SGD", "no state")]


def test_present_enlarges_fonts_and_stretching_charts_only():
    lines = charts.per_task_lines({"a": [0.1, 0.2]}, "x").to_dict()
    shown = charts.present(lines)
    assert shown["height"] == 360 and lines["height"] == 240  # 1.5 times; the original left as it was
    assert shown["config"]["axis"] == {"labelFontSize": 16, "titleFontSize": 18}
    assert shown["config"]["legend"] == {"labelFontSize": 16, "titleFontSize": 17}
    assert shown["config"]["title"] == {"fontSize": 20} and shown["config"]["header"]["labelFontSize"] == 17
    facet = charts.present(charts.convergence({"adam": {"first": [[0, 0.1]], "relearn": [[0, 0.5]]}}).to_dict())
    assert (facet["spec"]["width"], facet["spec"]["height"]) == (200, 170)  # fixed-size panels keep their size
    rows = [{"run": f"r{i}", "step": 1, "task": 0, "acc_tasks": [0.5], "acc_seen": 0.5} for i in range(3)]
    side = charts.present(charts.forgetting_curves(rows, 1, 1).to_dict())
    assert [p["width"] for p in side["hconcat"]] == [162] * 3  # 190 * 0.85, room for the larger labels


@pytest.mark.parametrize("n,width", [(2, 300), (3, 190), (4, 140)])
def test_side_by_side_forgetting_curves_fit_1280(n, width):
    rows = [{"run": f"r{i}", "step": 1, "task": 0, "acc_tasks": [0.5], "acc_seen": 0.5} for i in range(n)]
    spec = charts.forgetting_curves(rows, 1, 1).to_dict()
    assert [p["width"] for p in spec["hconcat"]] == [width] * n


def test_savings_charts_show_a_stateless_optimizer_once():
    """Plain SGD's reset run is its run (the engine marks both rows no_state): one bar, one relearning
    line, one line during task 2, as its tables show it once."""
    from clviz import figures
    trace = {"first": [[0, 0.1], [5, 0.9]], "relearn": [[0, 0.2], [2, 0.95]]}
    steps = {"grad_norm": [1.0, 0.5], "weight_change": [0.1, 0.3]}
    r = {"config": {"dataset": "digits", "seeds": 3},
         "rows": [row("sgd", False, 0.6, no_state=True), row("sgd", True, 0.6, no_state=True), row("adam", False, -0.5),
                  row("adam", True, 0.25)],
         "convergence": {"sgd": trace, "sgd_reset": trace, "adam": trace, "adam_reset": trace},
         "task2_curves": {"sgd": steps, "sgd_reset": steps, "adam": steps, "adam_reset": steps}}
    out = figures.savings(r)
    bars = out["savings"].data
    assert list(zip(bars["optimizer"], bars["reset"])) == [("SGD", "no state"), ("Adam", "state kept"), ("Adam", "state reset")]
    conv = out["convergence"].data
    assert sorted(set(conv[conv["optimizer"] == "SGD"]["phase"])) == ["first learning", "relearn, state kept"]
    assert sorted(set(conv[conv["optimizer"] == "Adam"]["phase"])) == ["first learning", "relearn, state kept",
                                                                       "relearn, state reset"]
    moved = out["weight_change"].data
    assert set(moved[moved["optimizer"] == "SGD"]["optimizer state"]) == {"kept"}


# ---------------------------------------------------------------- remedies: the paper's figures, checked

def test_published_figures_are_table_4_beside_the_same_method_only():
    from clviz.experiments import remedies as R
    assert "Table 4" in R.PUBLISHED_SOURCE
    assert R.published("finetune") == "19.90 ± 0.02" and R.published("si") == "19.99 ± 0.06"
    assert R.published("ewc") == "19.96 ± 0.07"  # ours is online EWC: its row, not EWC's 20.01
    assert R.published("lwf") == "23.85 ± 0.44" and R.published("joint") == "97.9"
    assert R.published("ncm") == "" and R.published("replay") == ""  # nearest mean is not iCaRL
    assert R.published_only() == [("EWC", "20.01 ± 0.06"), ("DGR", "90.79 ± 0.41"), ("iCaRL, 2000 kept", "94.57 ± 0.11")]


def method(final, memory=0):
    return {"final_acc": final, "probe_all": [0.5, 0.9], "probe_seen": [1.0, 0.95], "bwt": -0.4, "seconds": 1.5,
            "memory": memory}


REMEDIES = {"config": {"experiment": "remedies", "methods": ["finetune", "ncm", "ewc"]},
            "finetune": method(0.19), "ncm": method(0.78, 500), "ewc": method(0.2)}


def test_remedies_table_names_methods_and_leaves_blanks_not_none():
    table, reference = tables.remedies(REMEDIES)
    assert table.to_dict("records")[1] == {"method": "nearest mean (iCaRL)", "final acc": 0.78, "probe (all)": 0.9,
                                           "probe (seen)": 0.95, "BWT": -0.4, "seconds": 1.5, "samples kept": 500,
                                           "published %": ""}
    assert list(table["published %"]) == ["19.90 ± 0.02", "", "19.96 ± 0.07"]
    assert reference.values.tolist() == [["EWC", "20.01 ± 0.06"], ["DGR", "90.79 ± 0.41"],
                                         ["iCaRL, 2000 kept", "94.57 ± 0.11"]]
    assert tables.of(REMEDIES).keys() == {"methods", "published only"}


def test_the_clis_remedies_table_cites_table_4_and_its_reference_rows():
    from clviz.experiments import remedies as R
    text = R.table(REMEDIES)
    lines = text.splitlines()  # a title, the header, a rule, a row per method, the reference rows, the source
    assert lines[3].rstrip().endswith("19.90 ± 0.02")
    assert lines[4].split()[:2] == ["nearest", "mean"] and lines[4].rstrip().endswith("500")  # a blank published cell
    assert lines[5].rstrip().endswith("19.96 ± 0.07") and "None" not in text
    assert [line.strip().split("  ")[0] for line in lines[6:9]] == [
        "EWC (published only)", "DGR (published only)", "iCaRL, 2000 kept (published only)"]
    assert "Table 4" in lines[-1] and "recalled" not in text.lower()
