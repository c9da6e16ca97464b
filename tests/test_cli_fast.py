"""The CLI answers `--help` and bad options from its saved option table, without importing torch
(clviz/clispec.py), with the same words the engine would have said."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clviz import __main__ as cli
from clviz import data as D
from clviz import experiments

REPO = Path(__file__).resolve().parent.parent
# runs the CLI as `python -m clviz` does, then says on stderr whether torch was imported
PROBE = ("import runpy, sys\nsys.argv = ['clviz'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('clviz', run_name='__main__', alter_sys=True)\n"
         "except SystemExit as e:\n    code = e.code\n"
         "print(f'\\nTORCH={\"torch\" in sys.modules} CODE={code}', file=sys.stderr)\n")


def cli_run(tmp_path, *args):
    env = {**os.environ, "CLVIZ_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("CLVIZ_PLUGINS", None)
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    err, _, tail = p.stderr.rpartition("\nTORCH=")
    torch_loaded, code = tail.split()
    return p.stdout, err, torch_loaded == "True", int(code.removeprefix("CODE="))


def test_help_is_read_from_the_saved_table_without_torch(tmp_path):
    first = cli_run(tmp_path, "run", "savings", "--help")  # no table yet: built from the engine, and saved
    again = cli_run(tmp_path, "run", "savings", "--help")
    assert first[2] is True and again[2] is False  # the second call never imported torch
    assert again[0] == first[0] and again[3] == first[3] == 0
    assert "--max-steps VALUE" in again[0] and "default: 3000" in again[0]
    assert (tmp_path / "cache" / "cli").is_dir() and len(list((tmp_path / "cache" / "cli").glob("*.json"))) == 1


@pytest.mark.parametrize("args, knob", [(["--epochs", "0"], "epochs"), (["--optimizer", "foo"], "optimizer"),
                                        (["--lr", "-1"], "lr"), (["--epochs", "100000"], "epochs")])
def test_a_bad_value_is_refused_in_the_engines_words(tmp_path, args, knob):
    cli_run(tmp_path, "--help")  # the table
    out, err, torch_loaded, code = cli_run(tmp_path, "run", "probe", *args)
    value = cli.parse_value(getattr(experiments.make("probe"), knob), args[1])
    with pytest.raises(D.DataError) as engine:  # what the engine's own validation says of the same value
        experiments.run(experiments.make("probe", **{knob: value}), device="cpu", use_cache=False)
    assert code == 2 and err == f"error: {engine.value}\n"
    # the device's epoch cap is the engine's to check (it knows the device): only then is torch imported
    assert torch_loaded is (args == ["--epochs", "100000"])


def test_a_malformed_option_exits_2_without_torch(tmp_path):
    cli_run(tmp_path, "--help")
    out, err, torch_loaded, code = cli_run(tmp_path, "run", "probe", "--epochs", "x")
    assert code == 2 and not torch_loaded and "'x' is not an integer" in err
    out, err, torch_loaded, code = cli_run(tmp_path, "run", "nosuch")
    assert code == 2 and not torch_loaded and "invalid choice: 'nosuch'" in err


def test_an_edited_plugin_is_a_new_table(tmp_path, examples):
    plugins = str(examples)
    before = cli_run(tmp_path, "--plugins", plugins, "run", "losses", "--help")[0]
    assert "--sigmoid-sq-power" in before
    f = examples / "sigmoid_sq.py"
    f.write_text(f.read_text().replace("power: float = 2.0", "exponent: float = 2.0").replace("knobs.power", "knobs.exponent"))
    after = cli_run(tmp_path, "--plugins", plugins, "run", "losses", "--help")
    assert "--sigmoid-sq-exponent" in after[0] and "--sigmoid-sq-power" not in after[0] and after[2] is True
    assert len(list((tmp_path / "cache" / "cli").glob("*.json"))) == 1  # the old table is gone
