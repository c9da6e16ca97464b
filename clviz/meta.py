"""What the server knows of a dataset without loading it: classes, samples per class, shape.

The Streamlit server validates a config before it queues it (a task with no samples, a batch
larger than a task), but it never trains, so it must not hold the data: loading Fashion-MNIST
as float tensors costs ~0.4 GB, CIFAR-100 ~1.2 GB, kept per process by `data.load`'s cache.
Here only the small parts of the files are read: an IDX file's 16-byte header and the label
file (60 kB for 60k samples); CIFAR-100's label list, walked out of its pickle with the pixel
array skipped over by a seek. The worker that trains loads the data (data.load) and checks it
in full; what is read here is the same files, through the same look-up (data.find_root).
"""
from __future__ import annotations

import os
import pickle
import pickletools
import struct
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import data as D

SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar100": (3, 32, 32), "digits": (64,)}


@dataclass(frozen=True)
class Meta:
    name: str
    num_classes: int
    shape: tuple          # one sample's shape
    train_counts: dict    # class -> training samples
    n_test: int
    source: str

    @property
    def n_train(self) -> int:
        return sum(self.train_counts.values())


def describe(name: str, data_dir=None, download: bool = True) -> Meta | None:
    """The dataset's metadata, reading no pixels. None when it is not on disk but training may
    still download it (the worker then does, and validates against the real data); DataError
    when it is missing and cannot be downloaded, or when its files disagree."""
    if name not in D.DATASETS:
        raise D.DataError(f"Unknown dataset '{name}'. Choose one of: {', '.join(D.DATASETS)}.")
    if name == "digits":  # bundled and tiny (1797 x 64): its real loader is the cheapest reader
        d = D.load("digits")
        return Meta(name, d.num_classes, d.shape, dict(Counter(d.y_train.tolist())), len(d.y_test), d.source)
    root = D.find_root(name, data_dir)
    if root is None:
        if download and not os.environ.get("CLVIZ_OFFLINE"):
            return None
        raise D.DataError(D.missing_message(name, data_dir))
    files = [root / "cifar-100-python" / f for f in ("train", "test")] if name == "cifar100" else \
        [root / D._TV[name][0] / "raw" / f for f in D._TV[name][1]]
    stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _read(name, root, stamp)


@lru_cache(maxsize=16)
def _read(name, root: Path, stamp):
    """`describe`'s reading, once per version of the files (`stamp`: their sizes and times): a page
    sizes its config at every rerun, and CIFAR's walk takes a tenth of a second."""
    try:
        return _cifar(root) if name == "cifar100" else _idx(name, root)
    except D.DataError:
        raise
    except Exception as e:  # the same words as the loader's: the worker would fail the same way
        raise D.DataError(f"Dataset '{name}' under {root} could not be read ({type(e).__name__}: {e}). "
                          f"The files may be truncated or of another dataset.") from None


def standard(name: str) -> Meta:
    """The published sizes of a dataset not on disk yet (the worker will download it): what a job
    on it is sized by until the files are there."""
    n, per, test = {"mnist": (10, 6000, 10_000), "fashion-mnist": (10, 6000, 10_000), "cifar100": (100, 500, 10_000)}[name]
    return Meta(name, n, SHAPES[name], dict.fromkeys(range(n), per), test, "(not on disk yet)")


def _idx(name, root: Path) -> Meta:
    raw = root / D._TV[name][0] / "raw"
    n, counts = {}, None
    for split in ("train", "t10k"):
        with open(raw / f"{split}-images-idx3-ubyte", "rb") as f:
            magic, n_img, rows, cols = struct.unpack(">iiii", f.read(16))
        with open(raw / f"{split}-labels-idx1-ubyte", "rb") as f:
            lmagic, n_lab = struct.unpack(">ii", f.read(8))
            labels = f.read(n_lab) if split == "train" else b""
        if (magic, lmagic) != (2051, 2049) or n_img != n_lab or (rows, cols) != (28, 28) or len(labels) != (n_lab if split == "train" else 0):
            raise D.DataError(f"Dataset '{name}' under {root} has inconsistent files (images and labels disagree).")
        n[split] = n_img
        if split == "train":
            counts = Counter(labels)
    if not n["train"] or max(counts) >= 10:
        raise D.DataError(f"Dataset '{name}' under {root} has inconsistent files (images and labels disagree).")
    return Meta(name, 10, SHAPES[name], dict(sorted(counts.items())), n["t10k"], str(root))


def _cifar(root: Path) -> Meta:
    base = root / "cifar-100-python"
    train, test = pickle_ints(base / "train", "fine_labels"), pickle_ints(base / "test", "fine_labels")
    if not train or max(train) >= 100 or min(train) < 0:
        raise D.DataError(f"Dataset 'cifar100' under {root} has inconsistent files (images and labels disagree).")
    return Meta("cifar100", 100, SHAPES["cifar100"], dict(sorted(Counter(train).items())), len(test), str(root))


@lru_cache(maxsize=64)
def test_image(name: str, data_dir, i: int):
    """Test image i as a (H, W) or (H, W, 3) float array in [0, 1], as `data.Data.image` draws it,
    read from the file alone (784 bytes of an IDX file; CIFAR's test pickle, 30 MB, for a moment):
    a page that shows one image must not load the dataset into the server."""
    if name == "digits":
        return D.load("digits").image(i)
    root = D.find_root(name, data_dir)
    if root is None:
        raise D.DataError(D.missing_message(name, data_dir, tried_download=False))
    if name == "cifar100":
        with open(root / "cifar-100-python" / "test", "rb") as f:
            x = np.asarray(pickle.load(f, encoding="latin1")["data"][i]).reshape(3, 32, 32).transpose(1, 2, 0)
    else:
        with open(root / D._TV[name][0] / "raw" / "t10k-images-idx3-ubyte", "rb") as f:
            f.seek(16 + i * 28 * 28)
            x = np.frombuffer(f.read(28 * 28), np.uint8).reshape(28, 28)
    return x.astype(np.float32) / 255.0


# ---------------------------------------------------------------- a list out of a pickle, pixels unread

_OPS = {op.code.encode("latin1"): op for op in pickletools.opcodes}
_LEN = {pickletools.TAKEN_FROM_ARGUMENT1: ("<B", 1), pickletools.TAKEN_FROM_ARGUMENT4: ("<i", 4),
        pickletools.TAKEN_FROM_ARGUMENT4U: ("<I", 4), pickletools.TAKEN_FROM_ARGUMENT8U: ("<Q", 8)}
_INTS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG"}
_BETWEEN = {"MARK", "APPEND", "APPENDS", "BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE", "FRAME"}  # inside a list of ints
SMALL = 256  # byte strings up to this length are read (dict keys); longer ones (pixels) are skipped


def pickle_ints(path: Path, key: str) -> list[int]:
    """The list of ints under `key` in a pickled dict (CIFAR's 'fine_labels'), found by walking the
    pickle's opcodes without building it: every long byte string (the 150 MB pixel array) is
    passed over with a seek, so the walk holds kilobytes. A file this walk cannot follow is read
    with pickle itself (correct, but it holds the whole file for a moment)."""
    try:
        found = _walk(path, key)
    except (ValueError, struct.error):
        found = None
    if found is None:
        with open(path, "rb") as f:
            found = list(pickle.load(f, encoding="latin1")[key])
    return found


def _walk(path, key):
    armed, out = False, None
    with open(path, "rb") as f:
        while (code := f.read(1)) and code != b".":  # "." is STOP
            op = _OPS.get(code)
            if op is None:
                raise ValueError(f"opcode {code!r}")
            val = _arg(f, op)
            if out is not None:  # inside the list under `key`
                if op.name in _INTS:
                    out.append(int(val))
                elif op.name not in _BETWEEN:
                    return out
            elif armed and op.name == "EMPTY_LIST":
                out = []
            elif op.name not in ("BINPUT", "LONG_BINPUT", "MEMOIZE", "FRAME"):
                armed = isinstance(val, (str, bytes)) and (val if isinstance(val, str) else val.decode("latin1")) == key
    return out


def _arg(f, op):
    a = op.arg
    if a is None:
        return None
    if a.n in _LEN:  # length-prefixed: read when short, else seek past
        fmt, size = _LEN[a.n]
        start = f.tell()
        (length,) = struct.unpack(fmt, f.read(size))
        if length > SMALL and op.name not in ("LONG1", "LONG4"):
            f.seek(length, 1)
            return None
        f.seek(start)
    return a.reader(f)
