"""Several seeds in one batched computation must equal the same seeds run one by one."""
import json

import pytest
import torch

from clviz import __main__ as cli
from clviz import data as D, experiments, metrics, models
from clviz.ensemble import BatchedNet
from clviz.losses import make_loss
from clviz.train import run_sequential

TASKS = ((1, 2), (3, 4), (5, 6))


def net(seed):
    torch.manual_seed(seed)
    return models.mlp(64, (32, 32), 10)


@pytest.mark.parametrize("loss,opt", [("ce", "adam"), ("correct_only", "momentum"), ("latent_only", "rmsprop")])
def test_batched_equals_separate_runs(loss, opt):
    data = D.load("digits")
    kw = dict(optimizer=opt, lr=1e-3 if opt != "momentum" else 0.01, epochs=2, batch_size=32)
    separate = [(m := net(10 + i), run_sequential(m, data, TASKS, make_loss(loss), seed=10 + i, **kw)) for i in range(3)]
    batched = BatchedNet([net(10 + i) for i in range(3)])
    hist = run_sequential(batched, data, TASKS, make_loss(loss), seed=10, **kw)
    for i, (m, _) in enumerate(separate):
        for (name, a), (_, b) in zip(m.named_parameters(), batched.copy(i).named_parameters()):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (loss, opt, i, name, (a - b).abs().max())
    # the live curve: all copies evaluated in one pass, each copy's figures as its own run's
    for row, *rows in zip(hist["curve"], *(h["curve"] for _, h in separate)):
        for key in ("acc_seen", "acc_all", "sparsity"):
            assert row[key] == pytest.approx(sum(r[key] for r in rows) / 3, abs=1e-6), (key, row["step"])
            assert row[f"{key}_std"] == pytest.approx(torch.tensor([r[key] for r in rows]).std(unbiased=False).item(),
                                                      abs=1e-6)
    accs = [h["tasks"][-1]["acc_seen"] for _, h in separate]
    assert hist["tasks"][-1]["acc_seen"] == pytest.approx(sum(accs) / 3, abs=1e-6)
    assert hist["tasks"][-1]["acc_seen_std"] == pytest.approx(torch.tensor(accs).std(unbiased=False).item(), abs=1e-6)
    grads = [h["tasks"][0]["grad_norms"] for _, h in separate]
    for layer, v in hist["tasks"][0]["grad_norms"].items():
        assert v == pytest.approx(sum(g[layer] for g in grads) / 3, rel=1e-4)


def test_batchnorm_cannot_be_batched():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="BatchNorm"):
        BatchedNet([models.mlp(64, (8,), 10, bn=True) for _ in range(2)])


def test_experiment_with_seeds_reports_mean_and_spread():
    one = [experiments.run(experiments.make("probe", epochs=1, per_class=40, seed=s), device="cpu") for s in (0, 1)]
    both = experiments.run(experiments.make("probe", epochs=1, per_class=40, seeds=2), device="cpu")
    assert both["sequential_acc"] == pytest.approx((one[0]["sequential_acc"] + one[1]["sequential_acc"]) / 2, abs=1e-5)
    assert both["joint_acc"] == pytest.approx((one[0]["joint_acc"] + one[1]["joint_acc"]) / 2, abs=1e-5)
    assert len(both["probe_all_std"]) == 5 and all(s >= 0 for s in both["probe_all_std"])
    # the copies' probes are fitted at once, each as if alone: the same accuracies but for the odd
    # test sample (of 360) at the edge, where float32 rounding differs
    for key in ("probe_seen", "probe_all"):
        assert both[key] == pytest.approx([(a + b) / 2 for a, b in zip(one[0][key], one[1][key])], abs=2 / 360)
    assert "acc_seen_std" in both["curve"][0]


def test_mean_std_keeps_per_unit_values_of_first_seed():
    m = metrics.mean_std([{"a": 1.0, "bias": [1.0, 2.0], "xs": [0.0, 2.0]}, {"a": 3.0, "bias": [5.0, 6.0], "xs": [2.0, 2.0]}])
    assert m == {"a": 2.0, "a_std": 1.0, "bias": [1.0, 2.0], "xs": [1.0, 2.0], "xs_std": [1.0, 0.0]}


def test_cli_seeds_print_mean_and_sd(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["run", "probe", "--seeds", "2", "--epochs", "1", "--per-class", "30", "--device", "cpu",
                     "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["seeds"] == 2 and len(r["probe_all_std"]) == 5 and "joint_acc_std" in r
    table = capsys.readouterr().out
    assert table.count(" ± ") >= 3 * 5 + 3  # per task: network, probe seen, probe all; then the summary
    one = experiments.run(experiments.make("probe", epochs=1, per_class=30), device="cpu")
    assert "joint_acc_std" not in one and "sequential_acc_std" not in one  # one seed: no spread
