"""Plugins: a loss and a remedy in one file each, seen by the CLI, the store and the engine; the
built-ins through the same registry; each broken plugin told with its file and line. (The
pages' side: tests/test_app.py, test_plugin_*_page.)"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from clviz import __main__ as cli
from clviz import experiments, models, plugin, store
from clviz.losses import make_loss

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean(registry):
    """Each test loads its plugins into a registry that is put back afterwards (conftest)."""


def run_cli(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- the built-ins are plugins too

def test_the_builtins_pass_through_the_registry():
    assert plugin.names("loss")[:3] == ("ce", "correct_only", "latent_only")
    assert plugin.names("method") == ("finetune", "joint", "replay", "ewc", "si", "lwf", "ncm", "wa", "head")
    assert all(s.builtin for reg in plugin.REGISTRY.values() for s in reg.values())
    from clviz.remedies.ewc import OnlineEWC
    assert plugin.METHODS["ewc"].obj is OnlineEWC and plugin.METHODS["ewc"].label == "online EWC"
    # a built-in's knobs are config keys like any plugin's, with their defaults and help
    cfg = experiments.make("remedies", ewc_lambda=7.0)
    ewc = plugin.METHODS["ewc"].obj(cfg, 10)
    assert ewc.knobs.lambda_ == 7.0 and ewc.knobs.fisher_n == 300 and cfg.si_c == 1e3
    assert experiments.make("losses").correct_only_l2 == 1e-3
    # the losses against plain PyTorch
    torch.manual_seed(0)
    m = models.mlp(6, (8,), 4)
    x, y = torch.randn(9, 6), torch.randint(0, 4, (9,))
    loss, z, _ = make_loss("ce")(m, x, y)
    assert torch.allclose(loss, F.cross_entropy(m(x), y))
    loss, z, _ = make_loss("correct_only", l2=0.0)(m, x, y)
    assert torch.allclose(loss, -F.logsigmoid(m(x)[torch.arange(9), y]).mean())


# ---------------------------------------------------------------- a loss plugin

def test_a_loss_plugin_runs_through_the_cli_with_its_knob(examples, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, text, err = run_cli(["--plugins", str(examples), "run", "losses", "--losses", "ce,sigmoid_sq",
                               "--sigmoid-sq-power", "1.5", "--epochs", "1", "--per-class", "30", "--json", str(out)],
                              capsys)
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["config"]["losses"] == ["ce", "sigmoid_sq"] and r["config"]["sigmoid_sq_power"] == 1.5
    assert set(r) >= {"ce", "sigmoid_sq"} and len(r["sigmoid_sq"]["probe_seen"]) == 5
    assert r["labels"]["sigmoid_sq"] == "sigmoid, squared miss"
    digest = hashlib.sha256((examples / "sigmoid_sq.py").read_bytes()).hexdigest()[:16]
    assert r["plugins"] == [{"kind": "loss", "name": "sigmoid_sq", "label": "sigmoid, squared miss",
                             "file": plugin.LOSSES["sigmoid_sq"].file, "sha256": digest}]
    assert "sigmoid, squared miss" in text  # the table names it by its label
    # its value against a hand computation, through the same make_loss the run used
    torch.manual_seed(0)
    m = models.mlp(6, (8,), 4)
    x, y = torch.randn(9, 6), torch.randint(0, 4, (9,))
    loss, _, _ = make_loss("sigmoid_sq", power=1.5)(m, x, y)
    s = torch.sigmoid(m(x)[torch.arange(9), y])
    assert torch.allclose(loss, ((1 - s) ** 1.5).mean())


def test_a_plugin_knob_is_a_cli_option_with_its_help(examples, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--plugins", str(examples), "run", "losses", "--help"])
    text = capsys.readouterr().out
    assert "--sigmoid-sq-power" in text and "exponent of the miss" in text
    options = text.split("\n  --losses VALUE")[1].split("\n  --")[0]  # the --losses option's own help
    assert ("from: ce (cross-entropy), correct_only (correct logit only), latent_only (latent-only negatives), "
            "sigmoid_sq (sigmoid, squared miss)") in " ".join(options.split())  # each name beside its label


def test_a_batched_run_gives_each_copy_its_own_loss(examples):
    """The logits form sees (copies, batch, classes): two seeds at once equal each seed alone."""
    assert plugin.load([examples]) == []
    kw = dict(losses=("sigmoid_sq",), epochs=1, per_class=30)
    both = experiments.run(experiments.make("losses", seeds=2, **kw), device="cpu", use_cache=False)
    alone = [experiments.run(experiments.make("losses", seed=s, **kw), device="cpu", use_cache=False)
             for s in (0, 1)]
    assert both["sigmoid_sq"]["final_acc"] == pytest.approx(sum(a["sigmoid_sq"]["final_acc"] for a in alone) / 2,
                                                            abs=1e-6)


# ---------------------------------------------------------------- a remedy plugin

def test_a_remedy_plugin_at_strength_zero_is_fine_tuning_bit_for_bit(examples, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, _, err = run_cli(["--plugins", str(examples), "run", "remedies", "--methods", "finetune,anchor",
                            "--anchor-strength", "0", "--epochs", "2", "--per-class", "60", "--json", str(out)], capsys)
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["anchor"]["matrix"] == r["finetune"]["matrix"] and r["anchor"]["probe_all"] == r["finetune"]["probe_all"]
    # at strength 100 the pull changes what is learned: the run is not fine-tuning any more
    strong = experiments.run(experiments.make("remedies", methods=("anchor",), anchor_strength=100.0, epochs=2,
                                              per_class=60), device="cpu", use_cache=False)
    assert strong["anchor"]["matrix"] != r["finetune"]["matrix"]
    assert strong["anchor"]["matrix"][-1][0] > r["finetune"]["matrix"][-1][0]  # task 1 kept better


# ---------------------------------------------------------------- the store knows the plugin

def test_editing_a_plugin_file_changes_the_key(examples):
    assert plugin.load([examples]) == []
    cfg = experiments.make("losses", losses=("ce", "sigmoid_sq"))
    k1 = store.key(cfg)
    assert store.key(experiments.make("losses", losses=("ce", "sigmoid_sq"))) == k1  # stable
    f = examples / "sigmoid_sq.py"
    f.write_text(f.read_text().replace("** knobs.power", "** knobs.power * 1.0"))
    assert plugin.load([examples]) == []
    k2 = store.key(experiments.make("losses", losses=("ce", "sigmoid_sq")))
    assert k2 != k1
    # a run that does not use the plugin keeps its key whatever the plugin's file says
    assert store.key(experiments.make("losses")) == store.key(experiments.make("losses", sigmoid_sq_power=3.0))


def test_a_stored_run_of_a_plugin_is_a_cache_hit(examples):
    assert plugin.load([examples]) == []
    cfg = experiments.make("remedies", methods=("anchor",), epochs=1, per_class=30)
    first = experiments.run(cfg, device="cpu")
    again = experiments.run(experiments.make("remedies", methods=("anchor",), epochs=1, per_class=30), device="cpu")
    assert not first["cached"] and again["cached"] and again["anchor"] == first["anchor"]


# ---------------------------------------------------------------- broken plugins

BROKEN = [
    ("syntax.py", "def f(:\n    pass\n", "syntax.py:1: syntax error"),
    ("raises.py", "x = 1\nraise RuntimeError('no GPU here')\n", "raises.py:2: RuntimeError at import: no GPU here"),
    ("signature.py", "from clviz import plugin\n\n@plugin.loss('bad')\ndef bad(z):\n    return z\n",
     "signature.py:3: loss 'bad' must take (z, y), but it takes 1 argument(s)"),
    ("notamethod.py", "from clviz import plugin\n\n\n@plugin.method('m')\nclass M:\n    pass\n",
     "notamethod.py:4: method 'm' must be a subclass of clviz.remedies.Method"),
    ("reserved.py", "from clviz import plugin\n\n\n@plugin.loss('config')\ndef config(z, y):\n    return z[..., 0]\n",
     "reserved.py:4: 'config' is a name clviz uses itself"),
    ("knobs.py", "from dataclasses import dataclass\nfrom clviz import plugin\n\n\n@dataclass\nclass K:\n    a: int = 1\n\n\n"
     "@plugin.loss('k', knobs=K)\ndef k(z, y, knobs):\n    return z[..., 0]\n", "knobs.py:10: knobs must be a frozen dataclass"),
]


@pytest.mark.parametrize("name,body,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_plugin_is_told_with_its_file_and_line(name, body, message, tmp_path, capsys):
    (tmp_path / name).write_text(body)
    before = {k: dict(v) for k, v in plugin.REGISTRY.items()}
    errors = plugin.load([tmp_path])
    assert len(errors) == 1 and message in errors[0], errors
    assert {k: dict(v) for k, v in plugin.REGISTRY.items()} == before  # it registered nothing
    code, _, err = run_cli(["--plugins", str(tmp_path), "run", "probe", "--epochs", "1"], capsys)
    assert code == 2 and err.strip().splitlines() == [f"error: {errors[0]}"]


def test_a_file_that_fails_after_registering_leaves_nothing_behind(tmp_path):
    (tmp_path / "half.py").write_text("from clviz import plugin\n\n@plugin.loss('half')\ndef half(z, y):\n"
                                      "    return z[..., 0]\n\nraise ValueError('oops')\n")
    errors = plugin.load([tmp_path])
    assert "half.py:7: ValueError at import: oops" in errors[0] and "half" not in plugin.LOSSES


@pytest.mark.parametrize("body,message", [
    ("return z", "returned (32, 10): it must return per-sample losses shaped like y, (32,)"),
    ("return z[..., 0] * float('nan')", "returned nan on the first batch"),
])
def test_a_loss_that_returns_the_wrong_thing_is_told_at_its_first_batch(body, message, tmp_path, capsys):
    (tmp_path / "wrong.py").write_text(f"from clviz import plugin\n\n\n@plugin.loss('wrong')\ndef wrong(z, y):\n"
                                       f"    {body}\n")
    code, _, err = run_cli(["--plugins", str(tmp_path), "run", "losses", "--losses", "wrong", "--epochs", "1",
                            "--no-cache"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: Plugin loss 'wrong' (") and "wrong.py:4)" in lines[-1]
    assert message in lines[-1], lines


def test_a_missing_plugin_folder_is_told(capsys):
    code, _, err = run_cli(["--plugins", "/no/such/plugins", "run", "probe"], capsys)
    assert code == 2 and "Plugin folder '/no/such/plugins' does not exist" in err


def test_clviz_plugins_is_read_by_a_fresh_process(examples, tmp_path):
    """$CLVIZ_PLUGINS, as the app and the CLI read it at start (a process of its own: the env is read once)."""
    env = {"CLVIZ_PLUGINS": str(examples), "CLVIZ_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    code = ("from clviz import experiments, plugin; print(plugin.names('loss')[-1], plugin.names('method')[-1], "
            "experiments.make('remedies').anchor_strength)")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stdout.split() == ["sigmoid_sq", "anchor", "1.0"], p.stderr


def test_a_knob_that_would_be_an_existing_setting_sets_its_plugin_aside(tmp_path, capsys):
    (tmp_path / "per.py").write_text("from dataclasses import dataclass\nfrom clviz import plugin\nfrom clviz.remedies "
                                     "import Method\n\n\n@dataclass(frozen=True)\nclass K:\n    class_: int = 1\n\n\n"
                                     "@plugin.method('per', knobs=K)\nclass Per(Method):\n    pass\n")
    code, _, err = run_cli(["--plugins", str(tmp_path), "run", "remedies", "--epochs", "1"], capsys)
    assert code == 2 and "its knob would be the setting per_class" in err and "'per' is not loaded" in err
    assert "per" not in plugin.METHODS and experiments.make("remedies").per_class == 0  # the rest works
