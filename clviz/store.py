"""Finished results in cache/results/, keyed by the hash of the full config plus a code version.

Writes are atomic (a temp file in the same folder, fsync, `os.replace`), so a reader sees either
nothing or a whole result; a run killed mid-way leaves at most a stray temp file, never an entry.
Reads validate: an entry that does not parse or lacks its marks is ignored (and removed) with a
warning, and the experiment is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

from .config import Config, to_dict
from .data import CACHE

CODE_VERSION = "4"  # bump when a change to the engine changes results, to invalidate old entries
ROOT = CACHE / "results"
NOT_IN_KEY = ("data_dir",)  # where the files are does not change the result


def key(cfg: Config) -> str:
    ident = {k: v for k, v in to_dict(cfg).items() if k not in NOT_IN_KEY}
    blob = json.dumps({"config": ident, "code": CODE_VERSION}, sort_keys=True, default=str)
    return f"{cfg.experiment}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def path(cfg: Config) -> Path:
    return ROOT / f"{key(cfg)}.json"


def save(cfg: Config, result: dict) -> Path:
    ROOT.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"key": key(cfg), "code": CODE_VERSION, "complete": True, "result": result})
    fd, tmp = tempfile.mkstemp(dir=ROOT, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path(cfg))  # atomic: two writers of one key both end with one whole entry
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path(cfg)


def load(cfg: Config):
    """The stored result for `cfg`, or None (missing, or corrupt: then it is removed with a warning)."""
    p = path(cfg)
    try:
        entry = json.loads(p.read_text())
        if entry.get("complete") is True and entry.get("key") == key(cfg) and isinstance(entry.get("result"), dict):
            return entry["result"]
        problem = "incomplete or from another config"
    except FileNotFoundError:
        return None
    except (ValueError, OSError, AttributeError) as e:
        problem = f"unreadable ({type(e).__name__})"
    warnings.warn(f"Cached result {p.name} is {problem}; recomputing.", RuntimeWarning, stacklevel=2)
    p.unlink(missing_ok=True)
    return None


def size() -> tuple[int, int]:
    """(number of entries, bytes) in the results store."""
    files = list(ROOT.glob("*.json")) if ROOT.is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)


def clear() -> int:
    n = 0
    if ROOT.is_dir():
        for f in ROOT.iterdir():
            if f.suffix == ".json":
                f.unlink(missing_ok=True)
                n += 1
    return n
