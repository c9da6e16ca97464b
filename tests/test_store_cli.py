"""Results store (atomic, validated, cache hits) and the CLI end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clviz import __main__ as cli
from clviz import experiments, store


def quick(seed=0):
    return experiments.make("probe", epochs=1, per_class=20, seed=seed)

REPO = Path(__file__).resolve().parent.parent
QUICK = dict(epochs=1, per_class=30)


def test_same_run_again_is_a_cache_hit():
    cfg = experiments.make("probe", **QUICK)
    a = experiments.run(cfg, device="cpu")
    events = []
    b = experiments.run(cfg, device="cpu", on_event=events.append)
    assert a["cached"] is False and b["cached"] is True and events == []
    assert a["probe_all"] == b["probe_all"] and store.path(cfg).is_file()
    assert store.key(cfg) != store.key(experiments.make("probe", epochs=1, per_class=30, seed=1))


def test_corrupt_entry_is_recomputed():
    cfg = experiments.make("probe", **QUICK)
    experiments.run(cfg, device="cpu")
    p = store.path(cfg)
    p.write_text(p.read_text()[: len(p.read_text()) // 2])  # truncated
    with pytest.warns(RuntimeWarning, match="recomputing"):
        r = experiments.run(cfg, device="cpu")
    assert r["cached"] is False and json.loads(p.read_text())["complete"] is True


def test_events_in_order():
    events = []
    experiments.run(experiments.make("probe", **QUICK), device="cpu", on_event=events.append, use_cache=False)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "task_start" and kinds[-1] == "done"
    assert kinds.count("task_start") == kinds.count("task_end") == 5
    # each task_start is followed by that task's one epoch and its task_end, in task order
    seq = [(e["event"], e["task"]) for e in events if e["event"] in ("task_start", "epoch_end", "task_end")]
    assert seq == [(kind, k) for k in range(5) for kind in ("task_start", "epoch_end", "task_end")]
    ep = next(e for e in events if e["event"] == "epoch_end")
    assert {"loss", "acc_tasks", "acc_seen", "sparsity"} <= set(ep) and len(ep["acc_tasks"]) == 5


REQUIRED = {
    "sparsity": lambda r: all(set(r[b]) >= {"val_loss", "sparsity"} for b in ("no_bn", "bn")),
    "probe": lambda r: {"joint_acc", "sequential_acc", "probe_seen", "probe_all"} <= set(r),
    "losses": lambda r: all({"final_acc", "probe_seen"} <= set(r[v]) for v in r["config"]["losses"]) and r["config"]["losses"],
    "savings": lambda r: all({"optimizer", "lr", "reset", "savings"} <= set(x) for x in r["rows"]),
    "remedies": lambda r: all({"final_acc", "probe_all", "probe_seen", "forgetting"} <= set(r[m])
                              and len(r[m]["probe_all"]) == 5 for m in ("finetune", "replay")),
    "depth": lambda r: {"task_il", "class_il", "rollback", "cka", "control_probe", "min_acc", "wc_acc",
                        "forgetting_events", "plane"} <= set(r) and list(r["rollback"]) == ["hidden 1", "hidden 2", "head"],
}


@pytest.mark.parametrize("exp", list(REQUIRED))
def test_cli_json_keys(exp, tmp_path, capsys):
    out = tmp_path / "r.json"
    extra = ["--per-class", "40"] if exp != "savings" else ["--seeds", "1"]
    extra += ["--methods", "finetune,replay"] if exp == "remedies" else []
    rc = cli.main(["run", exp, "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--json", str(out), *extra])
    assert rc == 0
    r = json.loads(out.read_text())
    assert REQUIRED[exp](r) and {"config", "seconds", "device"} <= set(r)
    assert r["config"]["experiment"] == exp and r["device"] == "cpu"
    assert f"[{exp}]" in capsys.readouterr().out


def test_cli_subprocess_bad_tasks_exit_2(tmp_path):
    env = {**os.environ, "CLVIZ_CACHE_DIR": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "clviz", "run", "probe", "--tasks", "1,2;2,3"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == "error: Class 2 appears in task 1 and task 2: each class belongs to one task."
    assert "Traceback" not in p.stderr


def test_reproduce_writes_report(tmp_path, capsys):
    out = tmp_path / "report.md"
    assert cli.main(["reproduce", "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("Sparsity of the latent layer", "Linear probe", "joint (concurrent)", "Loss variants", "Savings"):
        assert heading in text
    assert "0.9646" in text and "0.4987" in text  # the notes' figures beside ours


def test_store_listing_ignores_temp_files_and_vanishing_ones(monkeypatch):
    store.save(quick(0), {"x": 1})
    (store.ROOT / ".tmp-abc.json").write_text("{half")
    assert store.size()[0] == 1
    real = Path.stat

    def vanishing(self, *a, **k):  # the entry is renamed away between listing and stat
        if self.name.startswith("probe-"):
            raise FileNotFoundError(self)
        return real(self, *a, **k)
    monkeypatch.setattr(Path, "stat", vanishing)
    assert store.size() == (0, 0)


def test_eviction_takes_the_least_recently_used(monkeypatch):
    cfgs = [quick(s) for s in range(4)]
    for i, c in enumerate(cfgs):
        store.save(c, {"pad": "x" * 10_000})
        os.utime(store.path(c), (1000 + i, 1000 + i))  # saved in this order
    store.load(cfgs[0])  # used just now: the most recent
    monkeypatch.setenv("CLVIZ_CACHE_MB", "0.045")  # room for four entries of ~10 kB
    store.save(quick(9), {"pad": "x" * 10_000})
    kept = {c.seed for c in cfgs + [quick(9)] if store.path(c).exists()}
    assert kept == {0, 2, 3, 9}  # seed 1 was the least recently used; the new entry stays
    assert store.size()[1] <= 45_000


def test_clear_counts_what_it_removed():
    assert store.clear() == 0  # no store folder yet: nothing to do, no error
    for s in range(3):
        store.save(quick(s), {"x": s})
    (store.ROOT / ".tmp-stray.json").write_text("{")
    (store.ROOT / "notes.txt").write_text("not ours")
    assert store.clear() == 4 and [f.name for f in store.ROOT.iterdir()] == ["notes.txt"]
    assert store.size() == (0, 0)


def test_size_counts_entries_and_bytes():
    store.save(quick(0), {"x": 1})
    store.save(quick(1), {"x": [1] * 100})
    files = [store.path(quick(0)), store.path(quick(1))]
    assert store.size() == (2, sum(f.stat().st_size for f in files))
    assert store.max_bytes() == 0  # no bound unless asked


def test_listing_counts_every_entry_among_temp_files_and_vanishing_ones(monkeypatch):
    for s in range(6):
        store.save(quick(s), {"x": s})
        (store.ROOT / f".tmp-{s}.json").write_text("{half")  # writes in flight, between the entries
    assert store.size()[0] == 6
    gone = store.path(quick(3)).name
    real = Path.stat

    def vanishing(self, *a, **k):  # one entry is renamed away between listing and stat
        if self.name == gone:
            raise FileNotFoundError(self)
        return real(self, *a, **k)
    monkeypatch.setattr(Path, "stat", vanishing)
    assert store.size()[0] == 5


def test_evict_bounds_and_counts():
    cfgs = [quick(s) for s in range(4)]
    for i, c in enumerate(cfgs):
        store.save(c, {"pad": "x" * 1000})
        os.utime(store.path(c), (1000 + i, 1000 + i))
    sizes = [store.path(c).stat().st_size for c in cfgs]
    assert store.evict(sum(sizes)) == 0  # exactly at the bound: nothing to remove
    # the oldest is kept (say, the one just written): the next oldest goes instead
    assert store.evict(sum(sizes) - sizes[0], keep={store.path(cfgs[0]).name}) == 1
    assert [store.path(c).exists() for c in cfgs] == [True, False, True, True]
    assert store.evict(sizes[3]) == 2 and [store.path(c).exists() for c in cfgs] == [False, False, False, True]


def test_evict_and_clear_tolerate_a_file_removed_meanwhile(monkeypatch, tmp_path):
    store.save(quick(0), {"x": 0})
    ghost = store.ROOT / "probe-ghost.json"  # listed, then removed by another process before unlink
    monkeypatch.setattr(store, "entries", lambda: [(ghost, 10**9, 0.0)])
    assert store.evict(0) == 1
    real = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: iter([*real(self), ghost]))
    assert store.clear() == 2
