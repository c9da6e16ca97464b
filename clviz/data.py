"""Datasets -> preloaded, normalised tensors on the device, and class-incremental task splits.

Everything is loaded once through torchvision's own dataset classes (so the real IDX and
CIFAR pickle parsers are used), normalised once, and kept as one float tensor on the device.
Batches are `randperm` index slices (see `get_batch`): no DataLoader, no PIL in the hot loop.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .paths import CACHE

CACHE_DATA = CACHE / "data"
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar100")
NUM_CLASSES = {"digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar100": 100}
DOWNLOAD_TIMEOUT_S = 30  # per socket operation; CLVIZ_OFFLINE=1 skips downloading altogether

# torchvision class name (= its folder under the root) and the files it needs in <root>/<folder>/raw
_IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
_TV = {"mnist": ("MNIST", _IDX), "fashion-mnist": ("FashionMNIST", _IDX)}


class DataError(ValueError):
    """Bad or missing data; the message says what to do about it."""


@dataclass(frozen=True, eq=False)
class Data:
    name: str
    x_train: torch.Tensor  # (N, *shape) float32, normalised, on the device
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    shape: tuple  # one sample's shape: (64,) for digits, (1, 28, 28), (3, 32, 32)
    mean: float  # to undo the normalisation for display
    std: float
    source: str  # where it came from, for the sidebar and the report

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def subset(self, classes, split="train"):
        """(x, y) restricted to `classes` (kept on the device)."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        mask = torch.isin(y, torch.as_tensor(list(classes), device=y.device))
        return x[mask], y[mask]

    def image(self, i: int, split="test"):
        """One sample as a (H, W) or (H, W, 3) float array in [0, 1] for st.image."""
        x = (self.x_test if split == "test" else self.x_train)[i].detach().cpu()
        x = x * self.std + self.mean
        if self.name == "digits":  # 8x8 pixels in 0..16
            x = x.reshape(8, 8) / 16.0
        else:  # bytes 0..255, as (H, W) or (H, W, 3)
            x = (x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)) / 255.0
        return x.clamp(0, 1).numpy()


def shuffled(x, y, idx):
    """One epoch's data in `randperm` order, gathered once (airbench-style): every batch of the
    epoch is then a contiguous slice, with no gather per step. With one ordering per copy
    (idx of shape (N, n)) the result is (N, n, ...), one ordering per copy."""
    return x[idx], y[idx]


def get_batch(xs, ys, i, batch_size, batched=False):
    """The i-th batch of an epoch's shuffled data: a view, no copy. `batched`: the data of N
    copies, (N, n, ...) with one order per copy, sliced along the samples behind the copies."""
    d = 1 if batched else 0
    return xs.narrow(d, i * batch_size, batch_size), ys.narrow(d, i * batch_size, batch_size)


def batches(x, y, idx, batch_size, n_batches, batched=False):
    """The epoch's first `n_batches` batches in the order `idx` ((n,), or (N, n) one order per copy).
    On a GPU the epoch is gathered once and sliced (one launch, not one a batch); on a CPU each
    batch is gathered on its own, right before its step reads it from the cache: a whole epoch
    gathered first writes and then reads again 37 MB (Split MNIST's task) and made the step 7.5%
    slower (2-core VM, 1 and 2 threads, 9 alternating runs each)."""
    if x.device.type != "cpu":
        xs, ys = shuffled(x, y, idx)
        for i in range(n_batches):
            yield get_batch(xs, ys, i, batch_size, batched)
        return
    for i in range(n_batches):
        j = idx.narrow(-1, i * batch_size, batch_size)
        yield x[j], y[j]


# ---------------------------------------------------------------- task splits

DEFAULT_TASKS = {10: "1,2;3,4;5,6;7,8;9,0", 100: ";".join(",".join(str(10 * t + c) for c in range(10)) for t in range(10))}


def parse_tasks(text, num_classes: int):
    """'1,2;3,4' -> ((1, 2), (3, 4)), validated against the dataset's classes.

    Raises DataError with a message a person can act on: bad numbers, unknown classes, a class
    in two tasks, an empty task, fewer than two tasks (nothing to forget).
    """
    if isinstance(text, (list, tuple)):
        tasks = tuple(tuple(int(c) for c in t) for t in text)
    else:
        text = (text or "").strip()
        if not text:
            raise DataError("The task split is empty: write tasks like '1,2;3,4' (classes separated by ',', tasks by ';').")
        tasks = []
        for k, part in enumerate(text.split(";"), 1):
            items = part.replace(",", " ").split()  # commas and/or whitespace between classes
            if not items:
                raise DataError(f"Task {k} is empty: every task needs at least one class (e.g. '1,2;3,4').")
            task = []
            for item in items:
                try:
                    task.append(int(item))
                except ValueError:
                    raise DataError(f"Task {k}: '{item}' is not a class number (write tasks like '1,2;3,4').") from None
            tasks.append(tuple(task))
        tasks = tuple(tasks)
    seen = {}
    for k, t in enumerate(tasks, 1):
        if not t:
            raise DataError(f"Task {k} is empty: every task needs at least one class.")
        for c in t:
            if not 0 <= c < num_classes:
                raise DataError(f"Task {k}: class {c} does not exist (this dataset has classes 0..{num_classes - 1}).")
            if c in seen:
                where = f"task {seen[c]} and task {k}" if seen[c] != k else f"task {k} twice"
                raise DataError(f"Class {c} appears in {where}: each class belongs to one task.")
            seen[c] = k
    if len(tasks) < 2:
        raise DataError("Only one task: class-incremental learning needs at least two tasks to show forgetting.")
    return tasks


def format_tasks(tasks) -> str:
    return ";".join(",".join(str(c) for c in t) for t in tasks)


# ---------------------------------------------------------------- finding files

def search_dirs(name: str, data_dir=None) -> list[Path]:
    """The look-up order of DESIGN.md: explicit path, $CLVIZ_DATA_DIR, cache/data, system folders."""
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    if os.environ.get("CLVIZ_DATA_DIR"):
        dirs.append(Path(os.environ["CLVIZ_DATA_DIR"]).expanduser())
    dirs.append(CACHE_DATA)
    dirs += SYSTEM_DIRS.get(name, [])
    return dirs


def _find_idx(name: str, d: Path):
    """A torchvision root for MNIST-like data in `d`, or None.

    Accepts `d` as a torchvision root (d/MNIST/raw/...) or as a flat folder of the IDX files
    (Debian's layout), plain or .gz. torchvision wants plain files under <root>/<Class>/raw, so
    flat or gzipped files are unpacked once into cache/data (the system folder is read-only).
    """
    folder, files = _TV[name]
    for raw in (d / folder / "raw", d):
        if all((raw / f).is_file() for f in files):
            return raw.parent.parent if raw != d else _stage(name, raw)
        if all((raw / f).is_file() or (raw / (f + ".gz")).is_file() for f in files):
            return _stage(name, raw)
    return None


def _stage(name: str, src: Path) -> Path:
    folder, files = _TV[name]
    dst = CACHE_DATA / folder / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        if (dst / f).is_file():
            continue
        tmp = dst / (f + ".part")
        if (src / f).is_file():
            shutil.copyfile(src / f, tmp)
        else:
            with gzip.open(src / (f + ".gz"), "rb") as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        os.replace(tmp, dst / f)  # never leave a half-written file under the real name
    return CACHE_DATA


def _find_cifar(d: Path):
    base = d / "cifar-100-python"
    return d if all((base / f).is_file() for f in ("train", "test", "meta")) else None


def find_root(name: str, data_dir=None):
    """The first torchvision root holding `name`, or None."""
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise DataError(f"Data folder '{data_dir}' does not exist.")
    for d in search_dirs(name, data_dir):
        if d.is_dir():
            root = _find_cifar(d) if name == "cifar100" else _find_idx(name, d)
            if root is not None:
                return root
    return None


def missing_message(name: str, data_dir, tried_download=True) -> str:
    """What to tell a person whose dataset is not on disk: where we looked, what to put where."""
    tried = ", ".join(str(d) for d in search_dirs(name, data_dir))
    layout = ("cifar-100-python/{train,test,meta}" if name == "cifar100"
              else f"{_TV[name][0]}/raw/train-images-idx3-ubyte (and the other three IDX files, .gz is fine)")
    hint = " On Debian, `apt install dataset-fashion-mnist` provides it." if name == "fashion-mnist" else ""
    return (f"Dataset '{name}' was not found{' and could not be downloaded' if tried_download else ''}. Searched: {tried}. "
            f"Put the files as <folder>/{layout} in one of those folders, or name your folder (the Data folder "
            f"field in the app, --data-dir on the command line).{hint} "
            f"The bundled 'digits' dataset always works offline.")


# ---------------------------------------------------------------- loading

def _cifar100_class():
    from torchvision.datasets import CIFAR100

    class CIFAR100Files(CIFAR100):
        # torchvision checks the md5 of the full archive files; we accept any file that parses
        # as the CIFAR-100 pickle (the shape check in `load` follows), so trimmed subsets and
        # the tests' small files go through the very same parser as the real data.
        train_list = [["train", None]]
        test_list = [["test", None]]
        meta = {**CIFAR100.meta, "md5": None}

    return CIFAR100Files


def _download(name: str, data_dir):
    from torchvision import datasets
    CACHE_DATA.mkdir(parents=True, exist_ok=True)
    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar100": datasets.CIFAR100}[name]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # offline must fail fast, not hang the app
    try:
        for train in (True, False):
            cls(str(CACHE_DATA), train=train, download=True)
    except Exception as e:  # any network / integrity failure means: not available
        raise DataError(missing_message(name, data_dir) + f" (download failed: {type(e).__name__})") from None
    finally:
        socket.setdefaulttimeout(old)
    return CACHE_DATA


def _raw(name: str, data_dir, download: bool):
    """uint8/float arrays as torch tensors: (x_train, y_train, x_test, y_test, num_classes, source)."""
    if name == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        x, y = torch.tensor(d.data, dtype=torch.float32), torch.tensor(d.target)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))  # fixed split
        te, tr = perm[:360], perm[360:]
        return x[tr], y[tr], x[te], y[te], 10, "scikit-learn load_digits (bundled)"
    root = find_root(name, data_dir)
    if root is None:
        if not download or os.environ.get("CLVIZ_OFFLINE"):
            raise DataError(missing_message(name, data_dir))
        root = _download(name, data_dir)
    from torchvision import datasets
    try:
        if name == "cifar100":
            cls = _cifar100_class()
            tr, te = cls(str(root), train=True), cls(str(root), train=False)
            conv = lambda ds: (torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets))
            n = 100
        else:
            cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
            tr, te = cls(str(root), train=True), cls(str(root), train=False)
            conv = lambda ds: (ds.data.unsqueeze(1), ds.targets)
            n = 10
        (xtr, ytr), (xte, yte) = conv(tr), conv(te)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"Dataset '{name}' under {root} could not be read ({type(e).__name__}: {e}). "
                        f"The files may be truncated or of another dataset.") from None
    if len(xtr) == 0 or len(xtr) != len(ytr) or len(xte) != len(yte) or int(ytr.max()) >= n:
        raise DataError(f"Dataset '{name}' under {root} has inconsistent files (images and labels disagree).")
    return xtr, ytr, xte, yte, n, str(root)


@lru_cache(maxsize=4)
def _load(name: str, data_dir, device: str, download: bool) -> Data:
    xtr, ytr, xte, yte, n, source = _raw(name, data_dir, download)
    xtr, xte = xtr.float(), xte.float()
    mean, std = xtr.mean().item(), xtr.std().item()  # one global normalisation, computed once
    dev = torch.device(device)
    # colour images channels-last, as the CNN's weights (models.cnn); gathers keep the layout
    layout = torch.channels_last if xtr.dim() == 4 and xtr.shape[1] == 3 else torch.contiguous_format
    norm = lambda x: ((x - mean) / std).to(dev).contiguous(memory_format=layout)
    return Data(name, norm(xtr), ytr.long().to(dev), norm(xte), yte.long().to(dev), n,
                tuple(xtr.shape[1:]), mean, std, source)


def load(name: str, data_dir=None, device="cpu", download: bool = True) -> Data:
    """Load a dataset once per process (cached) as normalised tensors on `device`."""
    if name not in DATASETS:
        raise DataError(f"Unknown dataset '{name}'. Choose one of: {', '.join(DATASETS)}.")
    data_dir = str(Path(data_dir).expanduser().resolve()) if data_dir else None
    return _load(name, data_dir, str(device), download)


def synthetic(n_train=60000, n_test=10000, shape=(1, 28, 28), num_classes=10, seed=0, device="cpu") -> Data:
    """Data of a real dataset's shape with learnable class structure (for benchmarks without files)."""
    g = torch.Generator().manual_seed(seed)
    d = int(torch.tensor(shape).prod())
    protos = torch.randn(num_classes, d, generator=g)
    def make(n):
        y = torch.randint(0, num_classes, (n,), generator=g)
        return (protos[y] + 2.0 * torch.randn(n, d, generator=g)).reshape(n, *shape).to(device), y.to(device)
    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    return Data("synthetic", xtr, ytr, xte, yte, num_classes, tuple(shape), 0.0, 1.0, "synthetic")
