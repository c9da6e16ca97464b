"""The seminar room, short: one server, three headless browsers press Train at once through
links with their own seeds, while a bystander opens another page (bench/seminar.py has the
full room of 30 and the kill -9 and restart scenarios)."""
import importlib.util
import shutil
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on this machine")

spec = importlib.util.spec_from_file_location("seminar", Path(__file__).resolve().parent.parent / "bench" / "seminar.py")
seminar = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seminar)


def test_three_browsers_press_train_at_once(tmp_path):
    out = seminar.main(["--sessions", "3", "--epochs", "1", "--json", str(tmp_path / "r.json")])
    assert out["results stored"] == 3 and out["results shown in their tabs"] == 3
    assert out["stored"] == 3 and out["missing"] == []
    assert out["recomputed equal"] == [True, True, True]  # the workers' numbers are the engine's numbers
    assert out["tracebacks"] == [] and out["pages without a result (their last words)"] == {}
    assert out["bystander error"] is None and out["bystander visits while the queue drained"] >= 1
    assert out["peak server RSS (MB)"] < 1000  # the bound the README states (30 sessions: 740 MB)
