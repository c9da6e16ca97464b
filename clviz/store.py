"""Finished results in cache/results/, keyed by the full config plus a hash of the engine's source.

The source hash replaces a hand-bumped version number: any change to a file that computes
results (every module of the engine but the presentation ones in `NOT_IN_HASH`) gives new keys,
so the app never shows an old code's numbers as "stored result for these settings". Code outside
clviz/ that a run uses, a user's plugin file, is in its key by its own hash (`key`).
Writes are atomic (a temp file in the same folder, fsync, `os.replace`), so a reader sees either
nothing or a whole result; a run killed mid-way leaves at most a stray temp file, never an entry.
Reads validate: an entry that does not parse or lacks its marks is ignored (and removed) with a
warning, and the experiment is recomputed. With a size bound (CLVIZ_CACHE_MB), the least
recently used entries are evicted after each write.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

from . import plugin
from .config import Config, to_dict
from .data import CACHE

ROOT = CACHE / "results"
NOT_IN_KEY = ("data_dir",)  # where the files are does not change the result
ENGINE = Path(__file__).resolve().parent
# they only show results, or choose which configs to run (compare, tune): a config's result is not theirs
NOT_IN_HASH = ("ui.py", "charts.py", "jobs.py", "workerinit.py", "__main__.py", "report.py", "compare.py", "tune.py")


@lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of the engine's source: the files that compute results, by path and content."""
    h = hashlib.sha256()
    for f in sorted(ENGINE.rglob("*.py")):
        if f.name not in NOT_IN_HASH:
            h.update(str(f.relative_to(ENGINE)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def key(cfg: Config) -> str:
    """The config (less the knobs of plugins it does not run), the engine's source hash, and the
    source hash of each user plugin it runs: an edited plugin file is a new run."""
    skip = set(NOT_IN_KEY) | plugin.unused_knobs(cfg)
    ident = {k: v for k, v in to_dict(cfg).items() if k not in skip}
    plugins = {f"{s.kind}:{s.name}": s.digest for s in plugin.used(cfg) if not s.builtin}
    blob = json.dumps({"config": ident, "code": code_hash(), **({"plugins": plugins} if plugins else {})},
                      sort_keys=True, default=str)
    return f"{cfg.experiment}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def path(cfg: Config) -> Path:
    return ROOT / f"{key(cfg)}.json"


def save(cfg: Config, result: dict) -> Path:
    ROOT.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"key": key(cfg), "code": code_hash(), "complete": True, "result": result})
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
    if limit := max_bytes():
        evict(limit, keep={path(cfg).name})
    return path(cfg)


def load(cfg: Config):
    """The stored result for `cfg`, or None (missing, or corrupt: then it is removed with a warning)."""
    p = path(cfg)
    try:
        entry = json.loads(p.read_text())
        if entry.get("complete") is True and entry.get("key") == key(cfg) and isinstance(entry.get("result"), dict):
            _touch(p)
            return entry["result"]
        problem = "incomplete or from another config"
    except FileNotFoundError:
        return None
    except (ValueError, OSError, AttributeError) as e:
        problem = f"unreadable ({type(e).__name__})"
    warnings.warn(f"Cached result {p.name} is {problem}; recomputing.", RuntimeWarning, stacklevel=2)
    p.unlink(missing_ok=True)
    return None


def _touch(p: Path):
    """Mark an entry as used now (eviction takes the least recently used first)."""
    try:
        os.utime(p)
    except OSError:  # read-only store, or evicted meanwhile: nothing to mark
        pass


def entries() -> list[tuple[Path, int, float]]:
    """(path, bytes, last used) of each finished entry. Temp files of writes in flight are not
    entries, and a file that vanishes while listed (renamed or evicted by a worker) is skipped."""
    out = []
    for f in (ROOT.glob("*.json") if ROOT.is_dir() else []):
        if f.name.startswith("."):
            continue
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        out.append((f, st.st_size, st.st_mtime))
    return out


def size() -> tuple[int, int]:
    """(number of entries, bytes) in the results store."""
    e = entries()
    return len(e), sum(b for _, b, _ in e)


def max_bytes() -> int:
    """The size bound of the store from $CLVIZ_CACHE_MB (0 or unset: no bound)."""
    try:
        return int(float(os.environ.get("CLVIZ_CACHE_MB") or 0) * 1e6)
    except ValueError:
        return 0


def evict(limit: int, keep=()) -> int:
    """Remove the least recently used entries until the store holds at most `limit` bytes; the
    names in `keep` (the entry just written) stay. Returns how many were removed."""
    listed = sorted(entries(), key=lambda e: e[2])
    total, n = sum(b for _, b, _ in listed), 0
    for f, b, _ in listed:
        if total <= limit:
            break
        if f.name in keep:
            continue
        f.unlink(missing_ok=True)
        total, n = total - b, n + 1
    return n


def clear() -> int:
    """Remove every entry and any stray temp file; returns how many files were removed."""
    n = 0
    for f in (list(ROOT.iterdir()) if ROOT.is_dir() else []):
        if f.suffix == ".json":
            f.unlink(missing_ok=True)
            n += 1
    return n
