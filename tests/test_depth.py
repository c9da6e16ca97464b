"""The depth experiment ("Where forgetting lives") and the lenses on the Remedies page: the
result's keys agree with their definitions, with each other and with runs done another way."""
from __future__ import annotations

import json

import numpy as np
import pytest

from clviz import __main__ as cli
from clviz import data as D
from clviz import experiments as E

QUICK = {"per_class": 40, "epochs": 2, "device": "cpu"}


def depth(**kw):
    kw = {**QUICK, **kw}
    return E.run(E.make("depth", **{k: v for k, v in kw.items() if k != "device"}), device="cpu", use_cache=False)


@pytest.fixture(scope="module")
def result():
    return depth()


def test_the_keys_agree_with_their_definitions(result):
    r, T = result, 5
    m = np.asarray(r["matrix"])  # [after task][task]
    assert np.allclose(r["class_il"], m.T)  # [task][after task]
    assert np.asarray(r["task_il"]).shape == (T, T)
    # masked to its own classes a task can only gain: task-IL >= class-IL everywhere
    assert (np.asarray(r["task_il"]) >= np.asarray(r["class_il"]) - 1e-9).all()
    assert list(r["rollback"]) == list(r["cka"]) == ["hidden 1", "hidden 2", "head"]  # forward order
    for layer in r["rollback"]:  # rolling the last task's layer back to itself changes nothing
        assert r["rollback"][layer][-1] == pytest.approx(r["class_il"][-1][-1], abs=1e-7)
        assert r["cka"][layer][-1] == pytest.approx(1.0, abs=1e-9)
    assert len(r["control_probe"]) == T
    # min-ACC and WC-ACC from the result's own evaluations, by their definitions
    rows = r["gap"]
    lows = [min(x["acc_tasks"][j] for x in rows if x["task"] > j) for j in range(T - 1)]
    assert r["min_acc"] == pytest.approx(sum(lows) / (T - 1))
    assert r["wc_acc"] == pytest.approx(rows[-1]["acc_tasks"][-1] / T + (1 - 1 / T) * r["min_acc"])
    ev = r["forgetting_events"]
    assert len(ev["per_class"]) == 10 and sum(ev["per_class"]) >= sum(ev["top_count"])
    assert ev["top_count"] == sorted(ev["top_count"], reverse=True)
    data = D.load("digits", None, "cpu")
    assert ev["top_class"] == data.y_test[ev["top"]].tolist()
    # kept = (final - control) / (learned - control), from the probe's own per-task figures
    for k in range(T):
        learned, final, ctrl = r["probe_tasks"][k][k], r["probe_tasks"][-1][k], r["control_probe"][k]
        assert (r["probe_learned"][k], r["probe_final"][k]) == (learned, final)
        if learned - ctrl > 1e-9:
            assert r["kept"][k] == pytest.approx((final - ctrl) / (learned - ctrl))
        else:
            assert np.isnan(r["kept"][k])


def test_the_plane_holds_its_three_points_and_the_path_starts_on_it(result):
    pl = result["plane"]
    names = [p["name"] for p in pl["points"]]
    assert names == ["after task 1", "after task 2", "joint"]
    assert len(pl["old"]["loss"]) == len(pl["a"]) == 11 and len(pl["old"]["loss"][0]) == len(pl["b"]) == 11
    for p in pl["points"]:  # inside the grid
        assert pl["a"][0] < p["a"] < pl["a"][-1] and pl["b"][0] <= p["b"] < pl["b"][-1]
    end1 = [x for x in pl["path"] if x["task"] == 0][-1]  # the last evaluation of task 1 is the plane's origin
    assert end1["a"] == pytest.approx(0, abs=1e-6) and end1["off"] == pytest.approx(0, abs=1e-6)
    end2 = pl["path"][-1]
    assert (end2["a"], end2["b"], end2["off"]) == pytest.approx((pl["points"][1]["a"], 0, 0), abs=1e-5)


def test_seeds_batched_equal_each_seed_alone(result):
    both = depth(seeds=2)
    alone = depth(seed=1)
    for lens in ("final accuracy", "task-IL accuracy", "min-ACC", "WC-ACC"):
        assert both["per_seed"][0][lens] == pytest.approx(result["per_seed"][0][lens], abs=1e-5), lens
        assert both["per_seed"][1][lens] == pytest.approx(alone["per_seed"][0][lens], abs=1e-5), lens
    assert both["min_acc"] == pytest.approx((result["min_acc"] + alone["min_acc"]) / 2, abs=1e-5)
    # the controls: copy (k, s) is seed s's network without task k
    assert both["control_probe"] == pytest.approx(
        [(a + b) / 2 for a, b in zip(result["control_probe"], alone["control_probe"])], abs=0.02)


def test_a_remedy_through_the_same_lenses_seed_by_seed():
    r = depth(method="replay")
    assert r["config"]["method"] == "replay" and r["labels"] == {"replay": "replay"}
    rem = E.run(E.make("remedies", methods=("replay",), **{k: v for k, v in QUICK.items() if k != "device"}),
                device="cpu", use_cache=False)["replay"]
    # the same run in both experiments: the same matrices and lenses
    for key in ("task_il", "class_il", "min_acc", "wc_acc"):
        assert np.allclose(rem[key], r[key], atol=1e-6), key
    for key in ("rollback", "cka"):
        assert rem[key].keys() == r[key].keys() and all(np.allclose(rem[key][n], r[key][n], atol=1e-6) for n in r[key])
    assert rem["forgetting_events"]["per_class"] == r["forgetting_events"]["per_class"]


def test_a_plane_after_the_last_task_is_refused():
    with pytest.raises(D.DataError, match="no task after it; choose 1 to 4"):
        depth(plane_task=5)


def test_cli_runs_depth_with_its_knobs(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["run", "depth", "--per-class", "30", "--epochs", "1", "--device", "cpu", "--seeds", "2",
                     "--plane-task", "2", "--gap-every", "2", "--method", "ewc", "--ewc-lambda", "100", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert (r["config"]["method"], r["config"]["ewc_lambda"]) == ("ewc", 100.0)
    assert r["config"]["seeds"] == 2 and r["plane"]["task"] == 1 and len(r["per_seed"]) == 2
    text = capsys.readouterr().out
    assert "Layer rollback" in text and "min-ACC" in text and "after task 3" in text
