"""Remedies at their real strength: the validation split never touches the test set, the choice
is the grid's best, strength 0 is fine-tuning bit for bit, a huge strength freezes the weights,
and the sweep's cells are the single runs at those strengths."""
import pytest
import torch

from clviz import data as D
from clviz import experiments, models, plugin, tune
from clviz.experiments.common import validation_split
from clviz.losses import make_loss
from clviz.train import run_sequential


def rows(x):
    return {tuple(r.tolist()) for r in x}


def test_the_validation_split_is_held_out_training_data_never_the_test_set():
    d = D.load("digits")
    v = validation_split(d, 0.2)
    assert rows(v.x_test) <= rows(d.x_train) and not rows(v.x_test) & rows(v.x_train)  # from train, held out
    assert not rows(v.x_test) & rows(d.x_test)                                         # the test set unseen
    assert len(v.y_train) + len(v.y_test) == len(d.y_train)
    for c in range(10):  # a fifth of every class
        assert int((v.y_test == c).sum()) == round(0.2 * int((d.y_train == c).sum()))
    # a run with validation > 0 scores on exactly those samples
    data, _ = experiments.prepare(experiments.make("remedies", validation=0.2), "cpu")
    assert torch.equal(data.x_test, v.x_test) and torch.equal(data.y_test, v.y_test)


def test_the_choice_is_the_grids_best():
    kw = dict(epochs=1, per_class=40)
    c = tune.choose("si", values=[0.1, 1e3, 1e5], **kw)
    again = [experiments.run(cfg, device="cpu")["si"]["final_acc"] for cfg in tune.grid_configs("si", [0.1, 1e3, 1e5], **kw)]
    assert c["scores"] == again and c["choice"] == [0.1, 1e3, 1e5][again.index(max(again))]
    assert all(cfg.validation == tune.VALIDATION for cfg in tune.grid_configs("si", [1.0]))


def test_strength_zero_is_fine_tuning_bit_for_bit():
    r = experiments.run(experiments.make("remedies", methods=("finetune", "ewc", "si", "lwf"), ewc_lambda=0.0,
                                         si_c=0.0, lwf_weight=0.0, epochs=2, per_class=60), device="cpu")
    for m in ("ewc", "si", "lwf"):
        for k in ("matrix", "head_norm", "head_bias", "probe_all"):  # the head's weights, to the last bit
            assert r[m][k] == r["finetune"][k], (m, k)
    # and at the defaults (chosen on a validation split) none of them answers as fine-tuning does
    d = experiments.run(experiments.make("remedies", methods=("finetune", "ewc", "si", "lwf")), device="cpu")
    assert all(d[m]["matrix"] != d["finetune"]["matrix"] for m in ("ewc", "si", "lwf"))


@pytest.mark.parametrize("method,knob,importance", [("ewc", "ewc_lambda", "fisher"), ("si", "si_c", "omega")])
def test_a_huge_strength_keeps_the_weights_of_task_1(method, knob, importance):
    """Every weight task 1 found important (Fisher or path integral above 0) stays where task 1
    left it; fine-tuning moves the same weights far. (Weights of zero importance, such as a dead
    unit's, are free by design. Adam steps about lr whatever the pull, so EWC dithers around its
    anchor by some lr; SI's own importance grows with the pull and holds tighter.)"""
    d = D.load("digits")
    cfg = experiments.make("remedies", methods=(method,), **{knob: 1e9})
    drift, imp = {}, {}
    for name in (method, "finetune"):
        torch.manual_seed(0)
        m = models.mlp(64, (32,), 10)
        after, remedy = [], plugin.METHODS[name].obj(cfg, 10)

        def weights(mm, k, test, remedy=remedy, name=name):
            after.append({n: p.detach().clone() for n, p in mm.named_parameters()})
            if k == 0 and name == method:
                imp.update({n: v > 0 for n, v in getattr(remedy, importance).items()})
            return {}
        run_sequential(m, d, ((1, 2), (3, 4)), make_loss("ce"), lr=1e-3, epochs=5, batch_size=32, seed=0,
                       method=remedy, grad_norms=False, extra=weights)
        drift[name] = after
    moved = {name: max(((b[n] - a[n]).abs() * imp[n]).max().item() for n in a) for name, (a, b) in drift.items()}
    assert sum(v.float().mean().item() for v in imp.values()) / len(imp) > 0.5  # most weights count
    assert moved[method] < 0.02 and moved["finetune"] > 0.05, moved


def test_the_sweeps_cells_are_single_runs_at_those_strengths():
    base = experiments.make("remedies", epochs=1, per_class=40)
    cells = tune.sweep_cells("ewc", base, 2)
    assert [c.methods for c in cells] == [("finetune",)] + [("ewc",)] * len(tune.GRIDS["ewc"][1])
    assert [c.ewc_lambda for c in cells[1:]] == list(tune.GRIDS["ewc"][1])
    for c in (cells[0], cells[3]):
        alone = experiments.make("remedies", methods=c.methods, ewc_lambda=c.ewc_lambda, seeds=2, epochs=1, per_class=40)
        assert c == alone  # the same config, so the same key and the same stored run
    results = [experiments.run(c, device="cpu") for c in cells[:3]]
    out = tune.sweep_rows("ewc", cells[:3], results)
    assert [r["strength"] for r in out] == [1.0, 10.0]
    assert out[0]["final"] == pytest.approx(results[1]["ewc"]["final_acc"]) and \
        out[0]["finetune_final"] == pytest.approx(results[0]["finetune"]["final_acc"])


def test_the_cli_keeps_validation_and_tune_refuses_the_test_set(capsys, tmp_path):
    import json
    from clviz import __main__ as cli
    out = tmp_path / "r.json"
    assert cli.main(["run", "remedies", "--methods", "finetune", "--validation", "0.2", "--epochs", "1",
                     "--per-class", "30", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["validation"] == 0.2
    capsys.readouterr()
    assert cli.main(["tune", "si", "--validation", "0"]) == 2
    assert "validation share must be above 0" in capsys.readouterr().err
