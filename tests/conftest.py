"""Shared fixtures: small datasets written in the real file formats, and a private cache."""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from clviz import data as D
from clviz import store


def write_idx(folder, prefix, images, labels, gz=False):
    """Write MNIST's IDX format: big-endian magic 2051/2049, counts, dims, then uint8 bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    n, r, c = images.shape
    img = struct.pack(">iiii", 2051, n, r, c) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">ii", 2049, n) + labels.astype(np.uint8).tobytes()
    for name, body in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(body)
        else:
            (folder / name).write_bytes(body)


def fake_images(n, classes=10, side=28, seed=0):
    """Images whose class is visible (a bright bar at a class-dependent row), so models can learn them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, size=(n, side, side))
    for i, c in enumerate(y):
        x[i, 2 + 2 * (c % (side // 2 - 2)), :] = 255
    return x.astype(np.uint8), y


def write_mnist_root(root, folder="MNIST", n_train=300, n_test=100, gz=False, flat=False):
    raw = root if flat else root / folder / "raw"
    xtr, ytr = fake_images(n_train, seed=1)
    xte, yte = fake_images(n_test, seed=2)
    write_idx(raw, "train", xtr, ytr, gz)
    write_idx(raw, "t10k", xte, yte, gz)
    return (xtr, ytr), (xte, yte)


def write_cifar100_root(root, n_train=400, n_test=200):
    """The CIFAR-100 python pickle: dicts with 'data' (N x 3072 uint8, CHW) and 'fine_labels'."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n, seed in (("train", n_train, 3), ("test", n_test, 4)):
        rng = np.random.default_rng(seed)
        y = np.arange(n) % 100
        x = rng.integers(0, 255, size=(n, 3, 32, 32), dtype=np.uint8)
        x[np.arange(n), y % 3, (y // 3) % 32, :] = 255  # a class-dependent bright line
        with open(base / split, "wb") as f:
            pickle.dump({"data": x.reshape(n, -1), "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist(),
                         "filenames": [f"{i}.png" for i in range(n)], "batch_label": split}, f)
        out[split] = (x, y)
    with open(base / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{i}" for i in range(100)],
                     "coarse_label_names": [f"super{i}" for i in range(20)]}, f)
    return out


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and data folders, no $CLVIZ_DATA_DIR and no system folders,
    and a fresh in-process dataset cache; downloads are refused (no network in tests)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setattr(store, "ROOT", cache / "results")
    monkeypatch.setattr(D, "CACHE_DATA", cache / "data")
    monkeypatch.setattr(D, "SYSTEM_DIRS", {})
    monkeypatch.delenv("CLVIZ_DATA_DIR", raising=False)
    monkeypatch.setattr(D, "_download", _no_download)
    monkeypatch.setenv("CLVIZ_OFFLINE", "1")  # the same for the app's worker processes, which do not see the patch
    D._load.cache_clear()
    threads = torch.get_num_threads()  # an app job leaves a core to the UI, process-wide: not for the next test
    yield cache
    D._load.cache_clear()
    torch.set_num_threads(threads)


@pytest.fixture
def registry():
    """The plugin registry as it was before the test, put back after it (tests load plugins)."""
    from clviz import plugin
    saved = {k: dict(v) for k, v in plugin.REGISTRY.items()}
    loaded, errors = dict(plugin.LOADED), list(plugin.ERRORS)
    yield plugin
    for k, v in saved.items():
        plugin.REGISTRY[k].clear()
        plugin.REGISTRY[k].update(v)
    plugin.LOADED.clear(), plugin.LOADED.update(loaded)
    plugin.ERRORS[:] = errors


@pytest.fixture
def examples(tmp_path):
    """The README's two example plugins (examples/plugins/), copied to a folder of the test's own."""
    import shutil
    from pathlib import Path
    d = tmp_path / "plugins"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "plugins", d)
    return d


def _no_download(name, data_dir):
    raise D.DataError(D.missing_message(name, data_dir) + " (download failed: offline in tests)")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped without one, with the reason")
