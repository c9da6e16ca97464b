"""Loading through torchvision's real parsers, on small files written in the real formats."""
import numpy as np
import pytest
import torch

from clviz import data as D
from conftest import write_cifar100_root, write_mnist_root


def test_mnist_idx_torchvision_root(tmp_path):
    (xtr, ytr), (xte, yte) = write_mnist_root(tmp_path)
    d = D.load("mnist", tmp_path)
    assert d.x_train.shape == (300, 1, 28, 28) and d.x_test.shape == (100, 1, 28, 28)
    assert d.y_train.tolist() == ytr.tolist() and d.y_test.tolist() == yte.tolist()
    assert d.x_train.dtype == torch.float32
    assert abs(d.x_train.mean().item()) < 1e-4 and abs(d.x_train.std().item() - 1) < 1e-3  # normalised once
    # undoing the normalisation gives back the bytes in the file
    np.testing.assert_allclose(d.image(3) * 255, xte[3], atol=1e-2)


def test_fashion_flat_gz_folder_is_staged(tmp_path, isolated):
    # Debian's dataset-fashion-mnist layout: a flat folder of .gz IDX files
    flat = tmp_path / "fashion"
    (xtr, ytr), _ = write_mnist_root(flat, gz=True, flat=True)
    d = D.load("fashion-mnist", flat)
    assert d.y_train.tolist() == ytr.tolist()
    assert (isolated / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_lookup_order_env_then_system(tmp_path, monkeypatch):
    sys_dir = tmp_path / "sys"
    write_mnist_root(sys_dir, gz=True, flat=True)
    monkeypatch.setattr(D, "SYSTEM_DIRS", {"fashion-mnist": [sys_dir]})
    assert D.load("fashion-mnist").x_train.shape[0] == 300  # found in the system folder
    env = tmp_path / "env"
    write_mnist_root(env, folder="FashionMNIST", n_train=200)
    monkeypatch.setenv("CLVIZ_DATA_DIR", str(env))
    assert D.find_root("fashion-mnist") == env  # $CLVIZ_DATA_DIR comes before cache and system


def test_cifar100_pickle(tmp_path):
    files = write_cifar100_root(tmp_path)
    d = D.load("cifar100", tmp_path)
    assert d.shape == (3, 32, 32) and d.num_classes == 100
    assert d.y_train.tolist() == files["train"][1].tolist()
    np.testing.assert_allclose(d.image(5) * 255, files["test"][0][5].transpose(1, 2, 0), atol=1e-2)


def test_digits_always_there():
    d = D.load("digits")
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64) and d.num_classes == 10


def test_missing_dataset_says_where_to_put_it(tmp_path, isolated):
    with pytest.raises(D.DataError) as e:
        D.load("mnist")
    msg = str(e.value)
    assert str(isolated / "data") in msg and "MNIST/raw/train-images-idx3-ubyte" in msg and "digits" in msg


def test_truncated_file_is_a_clear_error(tmp_path):
    write_mnist_root(tmp_path)
    f = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(D.DataError, match="could not be read"):
        D.load("mnist", tmp_path)


def test_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(D.DataError, match="does not exist"):
        D.load("mnist", tmp_path / "nope")


def test_batches_are_slices_of_one_shuffle():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    xs, ys = D.shuffled(x, y, torch.randperm(10, generator=torch.Generator().manual_seed(0)))
    batches = [D.get_batch(xs, ys, i, 5) for i in range(2)]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    assert all(b[0].data_ptr() == xs[5 * i:].data_ptr() for i, b in enumerate(batches))  # views, no copy
    # one ordering per copy: (copies, batch, ...)
    idx = torch.stack([torch.randperm(10), torch.randperm(10)])
    xb, yb = D.get_batch(*D.shuffled(x, y, idx), 1, 4, batched=True)
    assert xb.shape == (2, 4, 1) and torch.equal(yb, idx[:, 4:8])


@pytest.mark.parametrize("text,expected", [
    ("1,2;3,4", ((1, 2), (3, 4))),
    (" 1 2 ; 3,4 ;5", ((1, 2), (3, 4), (5,))),
])
def test_parse_tasks_ok(text, expected):
    assert D.parse_tasks(text, 10) == expected


@pytest.mark.parametrize("text,match", [
    ("1,2;3,11", "class 11 does not exist"),
    ("1,2;2,3", "Class 2 appears in task 1 and task 2"),
    ("1,2;;3", "Task 2 is empty"),
    ("1,2", "Only one task"),
    ("1,a;3", "'a' is not a class number"),
    ("", "empty"),
    ("1,1;2", "task 1 twice"),
])
def test_parse_tasks_bad(text, match):
    with pytest.raises(D.DataError, match=match):
        D.parse_tasks(text, 10)


def test_batches_gathered_one_by_one_are_the_epochs_slices():
    """On a CPU each batch is gathered on its own (data.batches): the same batches, in the same
    order, as the epoch gathered once and sliced (a GPU's way), for one order and one per copy."""
    x, y = torch.arange(30.0).view(10, 3), torch.arange(10)
    g = torch.Generator().manual_seed(1)
    for idx, batched in ((torch.randperm(10, generator=g), False),
                         (torch.stack([torch.randperm(10, generator=g) for _ in range(2)]), True)):
        ours = list(D.batches(x, y, idx, 4, 2, batched))
        ref = [D.get_batch(*D.shuffled(x, y, idx), i, 4, batched) for i in range(2)]
        assert len(ours) == 2 and all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(ours, ref))
        assert torch.equal(ours[1][1], idx[..., 4:8])  # the labels are the samples' own
