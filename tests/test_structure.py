"""The shape of the code: imports run one way, the engine runs without Streamlit, one registry
record per experiment reaches the CLI, the app and the store, and progress is the work done."""
import ast
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from clviz import __main__ as cli
from clviz import clispec, experiments, store
from clviz.config import Config
from clviz.experiments.common import Experiment, Phase
from clviz.train import STATELESS

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "clviz"


def imports_of(path: Path) -> set[str]:
    """The clviz modules a file imports, anywhere in it (function-local imports included)."""
    mod = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            if base.startswith("clviz"):
                for a in node.names:  # `from . import data` names a module; `from .data import X` does not
                    sub = f"{base}.{a.name}"
                    out.add(sub if (REPO / Path(*sub.split("."))).with_suffix(".py").exists()
                            or (REPO / Path(*sub.split("."))).is_dir() else base)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("clviz")}
    return out - {mod}


def graph():
    return {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): imports_of(p)
            for p in ENGINE.rglob("*.py")}


def find_cycle(g):
    """A chain of imports that leads back to its start, or None (depth-first search)."""
    state = {}

    def visit(m, path):
        if state.get(m) == "open":
            return path[path.index(m):] + [m]
        if state.get(m) == "done":
            return None
        state[m] = "open"
        for n in g.get(m, ()):
            if n != "clviz" and not m.startswith(n + "."):  # a package's own __init__ runs first anyway
                if cycle := visit(n, path + [m]):
                    return cycle
        state[m] = "done"
        return None

    return next((c for m in g if (c := visit(m, [])) is not None), None)


def test_no_module_imports_one_that_imports_it_back():
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_a_function_local_cycle(tmp_path, monkeypatch):
    (tmp_path / "clviz").mkdir()
    (tmp_path / "clviz" / "a.py").write_text("from . import b\n")
    (tmp_path / "clviz" / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    g = {m: imports_of(tmp_path / "clviz" / f"{m[-1]}.py") for m in ("clviz.a", "clviz.b")}
    assert g == {"clviz.a": {"clviz.b"}, "clviz.b": {"clviz.a"}}
    assert find_cycle(g) == ["clviz.a", "clviz.b", "clviz.a"]


def test_layers_run_one_way():
    """data -> knobs -> plugin -> models -> losses/metrics -> train -> config -> store -> experiments -> jobs -> ui."""
    g = graph()
    low_to_high = ["clviz.data", "clviz.knobs", "clviz.plugin", "clviz.models", "clviz.losses", "clviz.metrics", "clviz.train", "clviz.probe",
                   "clviz.ensemble", "clviz.lenses", "clviz.config", "clviz.store", "clviz.experiments", "clviz.jobs", "clviz.export", "clviz.ui"]
    rank = {m: i for i, m in enumerate(low_to_high)}
    level = lambda m: next((rank[k] for k in sorted(rank, key=len, reverse=True) if m == k or m.startswith(k + ".")), None)
    for m, deps in g.items():
        for d in deps:
            if level(m) is not None and level(d) is not None and not m.startswith(d + "."):
                assert level(d) <= level(m), f"{m} imports {d}, which sits above it"


def test_engine_jobs_and_cli_import_without_streamlit_or_altair():
    code = ("import sys; sys.modules['streamlit'] = None; sys.modules['altair'] = None\n"
            "import clviz, clviz.jobs, clviz.__main__\n"
            "from clviz import experiments; r = experiments.run(experiments.make('probe', epochs=1, per_class=20), "
            "device='cpu', use_cache=False); print('ok', round(r['joint_acc'], 3))")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr


def test_every_experiment_has_page_cli_and_table():
    for name, e in experiments.REGISTRY.items():
        assert e.name == name == e.config().experiment
        assert (REPO / "app_pages" / f"{name}.py").is_file()
        assert callable(e.table) and callable(e.run)
    # not pages/: a deep link (/probe?seed=3) opening a fresh session would run pages/probe.py in
    # Streamlit's old automatic mode, without app.py's navigation (tests/test_browser.py)
    assert not (REPO / "pages").exists()


def test_cli_reaches_every_config_field_and_refuses_unknown(capsys):
    p = cli.parser(clispec.from_engine())  # the table read from the engine, as the CLI builds it
    for name, e in experiments.REGISTRY.items():
        sub = p._subparsers._group_actions[0].choices["run"]._subparsers._group_actions[0].choices[name]
        dests = {a.dest for a in sub._actions}
        assert {f.name for f in fields(e.config)} <= dests, name
    with pytest.raises(SystemExit) as ex:
        cli.main(["run", "probe", "--no-such-knob", "1"])
    assert ex.value.code == 2 and "unrecognized arguments: --no-such-knob" in capsys.readouterr().err


def test_cli_knobs_of_every_type_land_in_the_config(tmp_path):
    import json
    out = tmp_path / "r.json"
    assert cli.main(["run", "savings", "--per-class", "40", "--optimizers", "sgd,adam", "--lrs", "sgd=0.1,adam=0.002",
                     "--criterion", "0.9", "--max-steps", "500", "--check-n", "100", "--hidden", "32,16",
                     "--device", "cpu", "--json", str(out)]) == 0
    c = json.loads(out.read_text())["config"]
    assert c["optimizers"] == ["sgd", "adam"] and c["lrs"] == [["sgd", 0.1], ["adam", 0.002]]
    assert c["criterion"] == 0.9 and c["max_steps"] == 500 and c["check_n"] == 100 and c["hidden"] == [32, 16]


def test_an_experiment_is_one_record(monkeypatch, capsys):
    """A new experiment: its Config, its runner (phases), its table, one registry entry."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class TinyConfig(Config):
        rounds: int = 3  # ticks to emit

    def run(cfg, data, tasks, rep):
        def work(emit):
            for i in range(cfg.rounds):
                emit({"event": "tick", "i": i})
            return len(tasks)
        return {"n_tasks": rep.run([Phase("only", cfg.rounds, work)])[0]}

    tiny = Experiment("tiny", TinyConfig, run, lambda r: f"tasks: {r['n_tasks']}", "Tiny", ":material/star:")
    monkeypatch.setitem(experiments.REGISTRY, "tiny", tiny)
    assert cli.main(["run", "tiny", "--rounds", "4", "--device", "cpu"]) == 0
    assert "tasks: 5" in capsys.readouterr().out
    assert store.load(experiments.make("tiny", rounds=4))["n_tasks"] == 5


CASES = [("sparsity", {}), ("sparsity", {"seeds": 2}), ("probe", {}), ("probe", {"seeds": 3, "epochs": 2}),
         ("losses", {}), ("savings", {"optimizers": ("sgd", "adam")}), ("savings", {"optimizers": ("adam",), "seeds": 2}),
         ("boundaries", {"toy_tasks": 2, "toy_epochs": 3, "grid": 10}),
         ("remedies", {"methods": ("finetune", "ewc", "head"), "seeds": 2}),
         ("depth", {"seeds": 2}), ("depth", {"method": "ewc", "seeds": 2})]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_progress_is_the_work_done(name, kw):
    """One progress unit per epoch (or criterion phase) that actually ran: the k-th of n reads k/n,
    so the bar never reaches 100% early nor jumps at the end."""
    events = []
    cfg = experiments.make(name, **{"epochs": 1, "per_class": 30, "tasks": "1,2;3,4;5,6", **kw})
    experiments.run(cfg, device="cpu", on_event=events.append, use_cache=False)
    units = [e for e in events if e["event"] in ("epoch_end", "tick")]
    n = len(units)
    assert [e["progress"] for e in units] == pytest.approx([(k + 1) / n for k in range(n)])
    assert events[-1] == {"event": "done", "progress": 1.0}
    T, E, S = 3, cfg.epochs, cfg.seeds
    epochs = len([e for e in events if e["event"] == "epoch_end"])  # every epoch of every sequential run, by hand:
    if name == "sparsity":    # no BN: the seeds batched in one run; BN: one run per seed
        assert epochs == T * E * (1 + S) == n
    elif name == "probe":     # then joint training: one tick per epoch
        assert epochs == T * E and n == T * E + E
    elif name == "losses":    # each loss it compares
        assert epochs == n == len(cfg.losses) * T * E
    elif name == "boundaries":  # the toy problem, then the real model
        assert epochs == n == cfg.toy_tasks * cfg.toy_epochs + T * E
    elif name == "remedies":  # each method, each seed
        assert epochs == n == len(cfg.methods) * S * T * E
    elif name == "depth":     # the method (fine-tuning batched, a remedy seed by seed), the controls' T - 1 stages, joint
        assert epochs == (T * E if cfg.method == "finetune" else S * T * E) and n == epochs + (T - 1) * E + E
    else:                     # per seed and optimizer: from scratch, then (3 tasks, relearn, joint) x (no reset, reset),
        stateful = [o for o in cfg.optimizers if o not in STATELESS]  # but once for plain SGD (resetting no state)
        assert n == S * (len(cfg.optimizers) * (1 + T + 2) + len(stateful) * (T + 2))


def test_a_phase_that_misreports_its_size_fails():
    from clviz.experiments.common import Reporter
    rep = Reporter()
    with pytest.raises(AssertionError, match="announced 2 units, emitted 1"):
        rep.run([Phase("x", 2, lambda emit: emit({"event": "tick"}))])


def test_results_are_keyed_by_the_engine_source(monkeypatch, tmp_path):
    cfg = experiments.make("probe")
    k = store.key(cfg)
    store.code_hash.cache_clear()
    fake = tmp_path / "clviz"
    fake.mkdir()
    (fake / "train.py").write_text("x = 1\n")
    monkeypatch.setattr(store, "ENGINE", fake)
    k1 = store.key(cfg)
    (fake / "train.py").write_text("x = 2\n")
    store.code_hash.cache_clear()
    k2 = store.key(cfg)
    (fake / "ui.py").write_text("shown differently\n")  # presentation does not change results
    store.code_hash.cache_clear()
    assert k != k1 != k2 == store.key(cfg)
    store.code_hash.cache_clear()


def test_one_run_one_key_however_its_split_is_written():
    a = experiments.make("probe")
    b = experiments.make("probe", tasks="1, 2; 3,4;5 ,6;7,8;9,0")  # the default split, as the page's box writes it
    c = experiments.make("probe", tasks="3,4;1,2")
    assert store.key(a) == store.key(b) and c.tasks == "3,4;1,2" and store.key(c) != store.key(a)
    assert experiments.make("probe", tasks="1,2;x").tasks == "1,2;x"  # left for validation to report


def test_a_knobs_text_rebuilds_its_value_exactly():
    """Links and Compare's settings are text: every float must come back as itself, and an int
    in a float knob is the same run as the float (one key)."""
    from clviz import knobs
    for v in (1e-3, 0.0123456789, 1 / 3, 100.0, 2e-7):
        assert knobs.parse(1.0, knobs.show(v)) == v
    assert knobs.show(1e-3) == "0.001" and knobs.show(100.0) == "100"
    a, b = experiments.make("remedies", ewc_lambda=10000), experiments.make("remedies", ewc_lambda=1e4)
    assert a == b and store.key(a) == store.key(b)
