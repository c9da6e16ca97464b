"""How a knob is described, once: a dataclass field, the comment beside it, and its metadata.

Every knob of an experiment (clviz/config.py, clviz/experiments/) and of a plugin (a loss's or
a remedy's own frozen dataclass) is a field. From the field alone come:
- its type and default (`int`, `float`, `str`, `bool`, a tuple of ints, names or name=number pairs);
- its help text: the comment after it in the class body (or metadata["help"] where there is no
  source to read, as for the fields a plugin adds to a config);
- its bounds, choices and widget: metadata written with `knob(...)`.

The CLI's options (`python -m clviz run EXP --help`), validation and the app's page widgets all
read these, so a default or a bound is written in one place.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from dataclasses import field


def knob(default, *, lo=None, hi=None, gt=None, choices=None, label=None, widget=None, where="page", step=None):
    """A field's default with what a widget and validation need beyond its type.

    lo, hi     bounds, inclusive (hi may be a {device: bound} dict, as the epoch cap is)
    gt         an exclusive lower bound (a learning rate: greater than 0)
    choices    the allowed values: a tuple, or a callable giving them (a registry, read when asked)
    label      the widget's label (default: the field's name in words)
    widget     "slider" | "radio" | "log" (a float typed as text, 1e-3 or 100000 alike) | None (by type)
    where      "page" (the experiment's own knobs), "more" (behind the page's "More knobs"),
               "sidebar" (the shared sidebar draws it) or "none" (no widget: CLI and links only)
    step       a number input's or slider's step
    """
    meta = {k: v for k, v in dict(lo=lo, hi=hi, gt=gt, choices=choices, label=label, widget=widget, where=where,
                                   step=step).items() if v is not None}
    return field(default=default, metadata=meta)


def where(f: dataclasses.Field) -> str:
    """Where a knob's widget is drawn: "page" (the default), "more", "sidebar" or "none"."""
    return f.metadata.get("where", "page")


def choices(f: dataclasses.Field):
    """The allowed values of a field, or None (any value of its type)."""
    c = f.metadata.get("choices")
    return tuple(c() if callable(c) else c) if c is not None else None


def bound(f: dataclasses.Field, which: str, device: str = "cpu"):
    b = f.metadata.get(which)
    return b.get(device, max(b.values())) if isinstance(b, dict) else b


def label(f: dataclasses.Field) -> str:
    return f.metadata.get("label") or f.name.replace("_", " ").capitalize()


def help_of(cls) -> dict:
    """{field: the comment after it in the class body, or its metadata's help}: the one place a
    knob is described. Classes made at run time (a config with plugins' knobs) have no source:
    their fields carry the help in their metadata."""
    with _reading:  # (lru_cache does not keep two threads from the same first read)
        return dict(_help_of(cls))


_reading = threading.Lock()


@functools.lru_cache(maxsize=256)
def _help_of(cls) -> dict:
    """help_of, read once per class: every page run asks for it, and reading a class's source
    parses its module (inspect.getsource), in the server's script threads at once: a room of
    sessions showed a traceback from inside inspect's parse there."""
    out = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            lines = []
        for line in lines:
            name, _, rest = line.strip().partition(":")
            if name.isidentifier() and "#" in rest:
                out[name] = rest.split("#", 1)[1].strip()
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            out[f.name] = f.metadata["help"]
    return out


def parse(default, text: str):
    """A knob's value from its text, typed like its default: int, float, bool, str, a tuple of
    ints ("256,256"), of names ("sgd,adam") or of name=number pairs ("sgd=0.05,adam=1e-3").
    Raises ValueError with what is wrong."""
    def num(kind, s):
        try:
            return kind(s)
        except ValueError:
            raise ValueError(f"'{s}' is not a{'n integer' if kind is int else ' number'}") from None
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"'{text}' is not true or false")
        return text.lower() in ("true", "1", "yes")
    if isinstance(default, (int, float)):
        return num(type(default), text.strip())
    if isinstance(default, tuple):
        items = [s.strip() for s in text.split(",") if s.strip()]
        if default and isinstance(default[0], tuple):  # (name, number) pairs
            pairs = [s.partition("=") for s in items]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError(f"'{text}' is not a list of name=number pairs")
            return tuple((k.strip(), num(float, v)) for k, _, v in pairs)
        if default and isinstance(default[0], int):
            return tuple(num(int, s) for s in items)
        return tuple(items)
    return text


def show(v) -> str:
    """A value as its text, the inverse of `parse` (CLI defaults, links, text widgets)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(f"{p[0]}={show(p[1])}" if isinstance(p, tuple) else show(p) for p in v)
    if isinstance(v, float):  # short where that is exact, else every digit (a link rebuilds the same run)
        return f"{v:g}" if float(f"{v:g}") == v else repr(v)
    return str(v)


def problem(f: dataclasses.Field, v, device: str = "cpu") -> str | None:
    """What is wrong with value `v` of knob `f` (its type, bounds, choices), or None."""
    d = f.default
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        kind = (int, float) if isinstance(d, float) else int
        if isinstance(v, bool) or not isinstance(v, kind):
            return f"{label(f)} must be a{' whole' if kind is int else ''} number, got {v!r}."
        lo, hi, gt = bound(f, "lo", device), bound(f, "hi", device), f.metadata.get("gt")
        if gt is not None and not v > gt:
            return f"{label(f)} must be greater than {show(gt)}, got {show(v)}."
        if lo is not None and v < lo:
            return f"{label(f)} must be at least {show(lo)}, got {show(v)}."
        if hi is not None and v > hi:
            where = f" on {device}" if isinstance(f.metadata.get("hi"), dict) else ""
            return f"{label(f)} must be at most {show(hi)}{where}, got {show(v)}."
    allowed = choices(f)
    if allowed is not None:
        bad = [x for x in (v if isinstance(v, tuple) else (v,)) if x not in allowed]
        if bad:
            return f"{label(f)}: unknown {', '.join(map(repr, bad))}; choose from {', '.join(map(str, allowed))}."
        if isinstance(v, tuple) and not v:
            return f"{label(f)}: choose at least one of {', '.join(map(str, allowed))}."
    return None


def check_bounds(cfg, device: str = "cpu"):
    """Every field against its own type, bounds and choices; raises ValueError naming the knob."""
    for f in dataclasses.fields(cfg):
        if (p := problem(f, getattr(cfg, f.name), device)) is not None:
            raise ValueError(p)


def override(cls, name: str, default, **changes):
    """A subclass's new default for an inherited knob, keeping its bounds, widget and label
    (a plain `epochs: int = 2` in a subclass would drop them)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field(default=default, metadata={**f.metadata, **changes})
