"""compare: a clear effect is called clear, a null is called within noise, the interval against
scipy, each seed's lenses against the seed run alone, bad input, and the Ray backend against the
local one."""
import json
import os
import socket

import pytest
from scipy import stats

from clviz import __main__ as cli
from clviz import compare, experiments, metrics


def run_cli(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_welch_interval_against_scipy():
    a, b = [0.71, 0.70, 0.72, 0.69], [0.20, 0.24, 0.17]
    diff, (lo, hi) = compare.welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(sum(a) / 4 - sum(b) / 3)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)
    # seeds that agree exactly in both: the difference is exact, and zero is within noise
    assert compare.welch([0.5, 0.5], [0.5, 0.5]) == (0.0, (0.0, 0.0))


def test_lenses_of_one_seed_by_hand():
    recs = [{"acc_tasks": [0.9, 0.0, 0.0], "acc_seen": 0.9, "sparsity": 0.4},
            {"acc_tasks": [0.5, 0.95, 0.0], "acc_seen": 0.7, "sparsity": 0.5},
            {"acc_tasks": [0.2, 0.6, 0.99], "acc_seen": 0.6, "sparsity": 0.6, "probe_all": 0.8}]
    assert metrics.lenses(recs) == pytest.approx({
        "final accuracy": 0.6, "newest task": 0.99, "forgetting of task 1": 0.9 - 0.2, "BWT": ((0.2 - 0.9) + (0.6 - 0.95)) / 2,
        "sparsity after the last task": 0.6, "probe on all classes": 0.8})


def test_each_seed_of_a_batched_run_has_the_lenses_of_that_seed_alone():
    kw = dict(epochs=1, per_class=30)
    both = experiments.run(experiments.make("probe", seeds=2, **kw), device="cpu", use_cache=False)
    for i in (0, 1):
        alone = experiments.run(experiments.make("probe", seed=i, **kw), device="cpu", use_cache=False)
        assert both["per_seed"][i] == pytest.approx(alone["per_seed"][0], abs=1.01 / 360)  # a test sample of 360
        assert alone["per_seed"][0]["final accuracy"] == alone["sequential_acc"]


def test_a_clear_effect_is_clear_and_the_json_has_its_shape(tmp_path, capsys):
    out = tmp_path / "c.json"
    code, text, err = run_cli(["compare", "remedies", "--vary", "methods=finetune,replay", "--seeds", "3",
                               "--json", str(out)], capsys)
    assert code == 0, err
    rep = json.loads(out.read_text())
    assert rep["experiment"] == "remedies" and [c["knobs"] for c in rep["cells"]] == [{"methods": ["finetune"]},
                                                                                     {"methods": ["replay"]}]
    assert all(c["seeds"] == 3 and "finetune" in c["result"] or "replay" in c["result"] for c in rep["cells"])
    final = next(v for v in rep["verdicts"] if v["lens"] == "final accuracy")
    assert final["variant"] == {"methods": ["replay"]} and final["baseline"] == {"methods": ["finetune"]}
    assert 0.35 < final["diff"] < 0.65 and final["clear"] and final["ci"][0] > 0
    # the verdict is the interval of the seeds' own numbers
    seeds = [compare.lenses(c["result"])["final accuracy"] for c in rep["cells"]]
    assert final["ci"] == pytest.approx(list(stats.ttest_ind(seeds[1], seeds[0], equal_var=False)
                                             .confidence_interval(0.95)))
    assert "clear" in text and "final accuracy" in text


def test_a_knob_that_does_not_change_training_is_within_noise(capsys):
    code, text, err = run_cli(["compare", "probe", "--vary", "live_eval_n=2000,500", "--seeds", "3",
                               "--set", "epochs=1", "--set", "per_class=40"], capsys)
    assert code == 0, err
    rows = [line for line in text.splitlines() if "live_eval_n=500" in line]
    assert len(rows) == 6 and all(r.endswith("within noise") and "+0.0000" in r for r in rows), rows


@pytest.mark.parametrize("args,message", [
    (["compare", "probe", "--vary", "magic=1,2"], "probe has no knob 'magic'"),
    (["compare", "probe", "--vary", "epochs=1,two"], "--vary epochs: 'two' is not an integer"),
    (["compare", "probe"], "Nothing to compare: give at least one --vary"),
    (["compare", "probe", "--vary", "epochs="], "write it as KNOB=v1,v2"),
    (["compare", "probe", "--vary", "seed=0,1"], "'seed' is not a variant"),
    (["compare", "probe", "--vary", "epochs=1,2", "--seeds", "1"], "--seeds must be between 2 and 32"),
    (["compare", "probe", "--vary", "epochs=" + ",".join(map(str, range(1, 9))), "--vary", "batch_size=" +
      ",".join(map(str, range(2, 12)))], "The grid has 80 cells, over the cap of 64"),
])
def test_bad_compare_input_is_one_line_and_exit_2(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


def test_ray_missing_or_unreachable_is_one_line(monkeypatch, capsys):
    args = ["compare", "probe", "--vary", "epochs=1,2", "--backend", "ray", "--seeds", "2"]
    def missing():
        raise ImportError("No module named 'ray'")
    monkeypatch.setattr(compare, "_import_ray", missing)  # as if not installed
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--backend ray needs Ray on this machine" in err
    monkeypatch.undo()
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port on the loopback that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    code, _, err = run_cli(args, capsys)
    assert code == 2 and f"The Ray cluster at 127.0.0.1:{port} cannot be reached" in err


def test_the_ray_backend_gives_the_local_numbers(monkeypatch):
    """A 2x2 grid on a local Ray started here (2 CPUs, on the loopback only)."""
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    vary = compare.parse_vary("probe", ["epochs=1,2", "lr=1e-3,2e-3"])
    cells = compare.grid("probe", vary, 2, {"per_class": 30})
    local = compare.run_local(cells, use_cache=False)
    from clviz import store
    store.clear()
    remote = compare.run_ray(cells, use_cache=True, num_cpus=2)
    assert [r["cached"] for r in remote] == [False] * 4
    for a, b in zip(local, remote):
        assert compare.lenses(a) == compare.lenses(b)
        assert a["joint_acc"] == b["joint_acc"] and a["matrix"] == b["matrix"]
    assert all(store.load(c) is not None for c in cells)  # their results landed in this machine's store
    assert os.environ.get("RAY_ADDRESS") is None


def test_a_variant_of_several_methods_against_a_baseline_of_one(capsys):
    code, text, err = run_cli(["compare", "remedies", "--vary", "methods=finetune,replay+ewc", "--seeds", "2",
                               "--set", "epochs=1", "--set", "per_class=30"], capsys)
    assert code == 0, err
    lenses = [line.split("  methods=")[0].strip() for line in text.splitlines() if "methods=replay,ewc" in line]
    assert "replay: final accuracy" in lenses and "online EWC: final accuracy" in lenses, text


def test_set_takes_a_whole_value_and_the_seed():
    assert compare.parse_set("probe", ["tasks=1,2;3,4", "seed=3", "hidden=64+64"]) == \
        {"tasks": "1,2;3,4", "seed": 3, "hidden": (64, 64)}
    assert compare.parse_set("remedies", "epochs=2; methods=finetune,replay".split(";")) == \
        {"epochs": 2, "methods": ("finetune", "replay")}
    with pytest.raises(Exception, match="write it as KNOB=VALUE"):
        compare.parse_set("probe", ["magic=1"])
