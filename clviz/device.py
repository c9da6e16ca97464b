"""Which torch device to run on, with a notice when the one asked for is not there."""
from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def available() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def resolve(name: str = "auto") -> tuple[str, str | None]:
    """(device, notice): 'auto' picks the best one; an absent one falls back to CPU with a notice."""
    if name not in DEVICES:
        raise ValueError(f"Unknown device '{name}'. Choose one of: {', '.join(DEVICES)}.")
    have = available()
    if name == "auto":
        return have[-1] if len(have) > 1 else "cpu", None
    if name in have:
        return name, None
    return "cpu", f"Device '{name}' is not available on this machine; running on the CPU instead."


def describe() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return "cpu" + (" (mps available)" if "mps" in available() else f", {torch.get_num_threads()} threads")
