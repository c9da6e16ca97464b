"""Bad input, offline use, interrupted writes, concurrent writers, errors inside a run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from clviz import __main__ as cli
from clviz import data as D, experiments, store
from clviz.train import TrainingError

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- bad input through the CLI

BAD_CLI = [
    (["run", "probe", "--tasks", "1,2;3,x"], "'x' is not a class number"),
    (["run", "probe", "--tasks", "1,2;3,12"], "class 12 does not exist"),
    (["run", "probe", "--tasks", "1,2;2,3"], "Class 2 appears in task 1 and task 2"),
    (["run", "probe", "--tasks", "1,2;;3"], "Task 2 is empty"),
    (["run", "probe", "--tasks", "1,2,3"], "Only one task"),
    (["run", "probe", "--tasks", ";"], "Task 1 is empty"),
    (["run", "probe", "--lr", "0"], "Learning rate must be greater than 0"),
    (["run", "probe", "--lr", "-0.1"], "Learning rate must be greater than 0"),
    (["run", "probe", "--lr", "abc"], "'abc' is not a number"),
    (["run", "probe", "--lr", "1e9"], "absurdly large"),
    (["run", "probe", "--epochs", "0"], "Epochs per task must be at least 1"),
    (["run", "probe", "--epochs", "100000"], "Epochs per task must be at most 200 on cpu"),
    (["run", "probe", "--epochs", "two"], "'two' is not an integer"),
    (["run", "probe", "--batch-size", "5000"], "larger than task 1"),
    (["run", "probe", "--batch-size", "1"], "Batch size must be at least 2"),
    (["run", "probe", "--optimizer", "lion"], "Optimizer: unknown 'lion'; choose from sgd, momentum"),
    (["run", "probe", "--per-class", "3", "--batch-size", "10"], "larger than task 1, which has 6"),
    (["run", "probe", "--dataset", "mnist"], "Dataset 'mnist' was not found"),
    (["run", "probe", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["run", "probe", "--dataset", "mnist", "--data-dir", "/no/such/folder"], "does not exist"),
    (["run", "nope"], "invalid choice: 'nope'"),
    (["run", "probe", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["run", "probe", "--seeds", "0"], "Seeds at once must be at least 1, got 0"),
    (["run", "probe", "--seeds", "33"], "Seeds at once must be at most 32, got 33"),
    (["run", "remedies", "--methods", "finetune,magic"], "Methods: unknown 'magic'; choose from finetune, joint"),
    (["run", "losses", "--losses", "ce,nope"], "Losses: unknown 'nope'; choose from ce, correct_only, latent_only"),
    (["run", "losses", "--correct-only-l2", "-1"], "Correct logit only: L2 on the weights must be at least 0"),
    (["run", "probe", "--seeds", "many"], "'many' is not an integer"),
    (["reproduce", "--epochs", "-1"], "Epochs per task must be at least 1"),
]


@pytest.mark.parametrize("args,message", BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_bad_cli_input_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:  # argparse exits itself; main() returns the code otherwise
        sys.exit(cli.main(args))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_wrong_files_in_data_folder(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in D._IDX:
        (raw / f).write_bytes(b"this is not an IDX file")
    assert cli.main(["run", "probe", "--dataset", "mnist", "--data-dir", str(tmp_path), "--device", "cpu"]) == 2
    assert "could not be read" in capsys.readouterr().err


def test_offline_message_lists_the_folders(tmp_path):
    env = {**os.environ, "CLVIZ_CACHE_DIR": str(tmp_path), "CLVIZ_OFFLINE": "1", "CLVIZ_DATA_DIR": str(tmp_path / "d")}
    p = subprocess.run([sys.executable, "-m", "clviz", "run", "sparsity", "--dataset", "mnist"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)  # a hang fails here, not a clock assert
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert str(tmp_path / "d") in msg and str(tmp_path / "data") in msg and "MNIST/raw/" in msg and "digits" in msg


def test_cuda_missing_falls_back_with_notice(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["run", "probe", "--device", "cuda", "--epochs", "1", "--per-class", "20"]) == 0
    assert "not available on this machine; running on the CPU" in capsys.readouterr().err


def test_out_of_memory_is_a_message(monkeypatch):
    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    from dataclasses import replace
    monkeypatch.setitem(experiments.REGISTRY, "probe", replace(experiments.REGISTRY["probe"], run=oom))
    with pytest.raises(TrainingError, match="Out of memory on cpu: choose the CPU or a smaller batch size"):
        experiments.run(experiments.make("probe"), device="cpu", use_cache=False)
    assert store.load(experiments.make("probe")) is None  # nothing stored for a failed run


def test_diverging_run_is_a_message(capsys):
    assert cli.main(["run", "probe", "--lr", "90", "--optimizer", "sgd", "--epochs", "2", "--device", "cpu",
                     "--no-cache"]) == 1
    assert "diverged" in capsys.readouterr().err


# ---------------------------------------------------------------- the task-split parser

classes = st.lists(st.integers(0, 9), min_size=1, max_size=10, unique=True)


@given(st.lists(classes, min_size=2, max_size=5))
def test_parse_roundtrip(groups):
    seen, tasks = set(), []
    for g in groups:  # make the tasks disjoint
        g = [c for c in g if c not in seen]
        if g:
            tasks.append(tuple(g))
            seen |= set(g)
    assume(len(tasks) >= 2)
    text = D.format_tasks(tasks)
    assert D.parse_tasks(text, 10) == tuple(tasks)
    assert D.parse_tasks(text.replace(",", " , ").replace(";", " ; "), 10) == tuple(tasks)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789,; -x\n\t", max_size=30))
def test_parse_never_crashes(text):
    try:
        tasks = D.parse_tasks(text, 10)
    except D.DataError as e:
        assert str(e)  # a message, nothing else
        return
    flat = [c for t in tasks for c in t]
    assert len(tasks) >= 2 and all(tasks) and len(flat) == len(set(flat)) and all(0 <= c < 10 for c in flat)


# ---------------------------------------------------------------- the results store

CHILD = """
import os, sys, time
sys.path.insert(0, {repo!r})
from clviz import experiments, store
from pathlib import Path
store.ROOT = Path({root!r})
cfg = experiments.make("probe", seed=int(sys.argv[1]))
mode = sys.argv[2]
if mode == "hang":  # reach the middle of the write, then wait to be killed
    real = os.fsync
    def fsync(fd):
        real(fd)
        Path({root!r}, "..", "ready").write_text("1")
        time.sleep(60)
    os.fsync = fsync
    store.save(cfg, {{"x": list(range(100000))}})
else:
    for i in range(int(sys.argv[3])):
        store.save(cfg, {{"writer": mode, "i": i, "pad": list(range(20000))}})
"""


def child(tmp_path, *args):
    script = CHILD.format(repo=str(REPO), root=str(tmp_path / "results"))
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)])


def test_killed_mid_write_leaves_no_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "ROOT", tmp_path / "results")
    p = child(tmp_path, 0, "hang")
    deadline = time.time() + 60
    while not (tmp_path / "ready").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "ready").exists()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    cfg = experiments.make("probe", seed=0)
    assert store.load(cfg) is None and not store.path(cfg).exists()
    assert any(f.name.startswith(".tmp-") for f in (tmp_path / "results").iterdir())  # the half-written file ...
    assert store.clear() >= 1 and not list((tmp_path / "results").iterdir())  # ... is swept by clear


def test_two_writers_same_key_one_good_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "ROOT", tmp_path / "results")
    procs = [child(tmp_path, 7, name, 30) for name in ("a", "b")]
    assert [p.wait(120) for p in procs] == [0, 0]
    cfg = experiments.make("probe", seed=7)
    entry = store.load(cfg)
    assert entry["writer"] in ("a", "b") and entry["i"] == 29 and len(entry["pad"]) == 20000
    assert [f.name for f in (tmp_path / "results").iterdir()] == [store.path(cfg).name]  # no stray temp files


def test_entry_from_other_config_is_ignored():
    cfg = experiments.make("probe", seed=3)
    store.save(cfg, {"x": 1})
    body = json.loads(store.path(cfg).read_text())
    body["key"] = "something-else"
    store.path(cfg).write_text(json.dumps(body))
    with pytest.warns(RuntimeWarning):
        assert store.load(cfg) is None
