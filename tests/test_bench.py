"""The short version of bench/train_speed.py: its ways run, and they do the same work, so that
its ratios compare like with like (the bare loop and clviz's loop end at the same weights)."""
import importlib.util
from argparse import Namespace
from pathlib import Path

import torch

from clviz import data as D

spec = importlib.util.spec_from_file_location("train_speed", Path(__file__).resolve().parent.parent / "bench" / "train_speed.py")
train_speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_speed)


def test_the_bare_loop_and_clviz_do_the_same_work():
    data = D.synthetic(400, 100)
    args = Namespace(epochs=2, batch_size=32)
    bare, ours = train_speed.way_bare(data, args), train_speed.way_clviz_plain(data, args)
    for (name, a), (_, b) in zip(bare.named_parameters(), ours.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    train_speed.way_clviz(data, args)  # instrumented, one model and two seeds batched
    train_speed.way_clviz(data, args, seeds=2)
