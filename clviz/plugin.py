"""Your own idea in one file: losses and remedies as plugins, which the CLI, the app, the store
and every lens pick up. The built-ins (clviz/losses.py, clviz/remedies/) register the same way.

    from dataclasses import dataclass
    import torch
    from clviz import plugin

    @dataclass(frozen=True)
    class Knobs:
        power: float = 2.0   # exponent of the miss (becomes --sigmoid-pow-power, a page widget, a config key)

    @plugin.loss("sigmoid_pow", label="(1 - sigmoid(z_y))^p", knobs=Knobs)
    def sigmoid_pow(z, y, knobs):  # logits (..., classes), targets (...) -> per-sample losses shaped like y
        return (1 - torch.sigmoid(z.gather(-1, y[..., None]).squeeze(-1))) ** knobs.power

A loss in the *logits form* `fn(z, y[, knobs])` sees the logits of any leading dimensions (N
batched copies: (N, B, C)) and returns per-sample losses shaped like `y`; clviz takes each copy's
batch mean. The *model form* (`form="model"`) is `fn(model, x, y[, knobs]) -> (loss, logits,
latent)`, for losses that need the network (latent-only negatives, an L2 on the weights); its
`loss` is the sum over copies of each copy's batch mean. A remedy is a subclass of
clviz.remedies.Method under `@plugin.method(name, label=..., knobs=...)`; it reads its knobs as
`self.knobs`. A plugin's knobs are a frozen dataclass; each field `f` becomes the config key
`<name>_<f>` (a trailing underscore dropped: `lambda_` -> `ewc_lambda`).

Where plugins come from: `python -m clviz ... --plugins DIR`, and `CLVIZ_PLUGINS=DIR[:DIR...]`
for the app and the CLI; every .py file there is imported once, at start. They are files on
the disk of whoever starts the server: a browser can never send code. A file that fails (syntax,
an exception at import, a wrong signature) is reported with its file and line, registers
nothing, and leaves everything else working.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path

from .data import DataError
from .knobs import help_of

ENGINE = Path(__file__).resolve().parent
KINDS = {"loss": "losses", "method": "methods"}  # a kind -> the config field that chooses which run


class PluginError(DataError):
    """A plugin that cannot be used: the message names its file (and line where there is one)."""


@dataclass(frozen=True)
class Spec:
    kind: str          # "loss" | "method"
    name: str          # its key: in a config's `losses` / `methods`, results, links
    label: str         # how a person reads it: legends, tables, downloads
    obj: object        # the loss function or the Method subclass
    knobs: type | None  # its own frozen dataclass of knobs, or None
    form: str          # a loss's form: "logits" | "model"; a method's: "class"
    file: str          # the file that registered it
    line: int
    digest: str        # sha256 (16 hex) of that file as it was imported; "" for the built-ins

    @property
    def builtin(self) -> bool:
        return not self.digest

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def knob_names(self) -> dict:
        """{config key: knob field name} of this plugin's own knobs."""
        return {key_of(self.name, f.name): f.name for f in fields(self.knobs)} if self.knobs else {}

    def knobs_of(self, cfg):
        """This plugin's knobs instance, read from a config's namespaced fields."""
        return self.knobs(**{f: getattr(cfg, k) for k, f in self.knob_names().items()}) if self.knobs else None


REGISTRY: dict[str, dict[str, Spec]] = {"loss": {}, "method": {}}
LOSSES, METHODS = REGISTRY["loss"], REGISTRY["method"]
ERRORS: list[str] = []          # what the plugins loaded from $CLVIZ_PLUGINS said went wrong
LOADED: dict[str, str] = {}     # plugin file -> its digest, of the files that loaded
_loading: list[tuple] = []      # (path, digest) of the user file being imported now


# names a plugin cannot take: a result's own keys and sub-runs, and the page widgets' key parts
RESERVED = {"config", "tasks", "labels", "plugins", "seconds", "device", "data_source", "notice", "cached", "examples",
            "per_seed", "bn", "no_bn", "toy", "latent", "rows", "curve", "matrix", "sweep", "train", "cancel", "job",
            "shown", "dl", "focus", "example", "table", "chart"}


def key_of(name: str, knob: str) -> str:
    return f"{name}_{knob.rstrip('_')}"


def _origin(obj):
    try:
        file, line = inspect.getsourcefile(obj), inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        file, line = "?", 0
    return file or "?", line


def _short(file) -> str:
    p = Path(file)
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _check_knobs(knobs, where):
    if knobs is None:
        return
    if not (dataclasses.is_dataclass(knobs) and isinstance(knobs, type) and knobs.__dataclass_params__.frozen):
        raise PluginError(f"{where}: knobs must be a frozen dataclass (@dataclass(frozen=True)), got {knobs!r}.")
    for f in fields(knobs):
        if f.default is dataclasses.MISSING:
            raise PluginError(f"{where}: knob '{f.name}' needs a default value.")
        if not isinstance(f.default, (bool, int, float, str, tuple)):
            raise PluginError(f"{where}: knob '{f.name}' must be a number, text, true/false or a tuple, "
                              f"got {f.default!r}.")


def _register(kind, name, label, obj, knobs, form):
    file, line = _origin(obj)
    where = f"{_short(file)}:{line}"
    if not name.isidentifier():
        raise PluginError(f"{where}: the {kind} name '{name}' must be a Python identifier (letters, digits, _).")
    if name in RESERVED:
        raise PluginError(f"{where}: '{name}' is a name clviz uses itself; choose another for your {kind}.")
    _check_knobs(knobs, where)
    if knobs is not None:  # two plugins' knobs would be one setting
        mine = {key_of(name, f.name) for f in fields(knobs)}
        for other in REGISTRY[kind].values():
            if other.name != name and (clash := mine & set(other.knob_names())):
                raise PluginError(f"{where}: the setting {', '.join(sorted(clash))} is {other.where}'s already.")
    in_engine = ENGINE in Path(file).resolve().parents  # a built-in, even if first imported by a plugin
    digest = _loading[-1][1] if _loading and not in_engine else ""
    old = REGISTRY[kind].get(name)
    if old is not None and Path(old.file).resolve() != Path(file).resolve():
        raise PluginError(f"{where}: a {kind} named '{name}' is registered already, by {old.where}.")
    REGISTRY[kind][name] = Spec(kind, name, label or name, obj, knobs, form, _short(file), line, digest)
    return obj


def loss(name: str, label: str | None = None, knobs: type | None = None, form: str = "logits"):
    """Register a loss: `fn(z, y[, knobs])` (form="logits") or `fn(model, x, y[, knobs])` (form="model")."""
    def deco(fn):
        want = {"logits": ("z", "y"), "model": ("model", "x", "y")}.get(form)
        file, line = _origin(fn)
        where = f"{_short(file)}:{line}"
        if want is None:
            raise PluginError(f"{where}: loss '{name}': form must be 'logits' or 'model', got {form!r}.")
        try:
            n = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            raise PluginError(f"{where}: loss '{name}' must be a function, got {fn!r}.") from None
        if n != len(want) + (knobs is not None):
            args = ", ".join(want + (("knobs",) if knobs is not None else ()))
            raise PluginError(f"{where}: loss '{name}' must take ({args}), but it takes {n} argument(s).")
        return _register("loss", name, label, fn, knobs, form)
    return deco


HOOKS = ("before_task", "loss", "after_backward", "after_task", "forward")


def method(name: str, label: str | None = None, knobs: type | None = None):
    """Register a remedy: a subclass of clviz.remedies.Method, overriding the hooks it needs."""
    def deco(cls):
        file, line = _origin(cls)
        if not (isinstance(cls, type) and all(callable(getattr(cls, h, None)) for h in HOOKS)):
            raise PluginError(f"{_short(file)}:{line}: method '{name}' must be a subclass of "
                              f"clviz.remedies.Method, got {cls!r}.")
        cls.name = name
        return _register("method", name, label, cls, knobs, "class")
    return deco


def label(name: str) -> str | None:
    for reg in REGISTRY.values():
        if name in reg:
            return reg[name].label
    return None


def names(kind: str) -> tuple:
    return tuple(REGISTRY[kind])


def get(kind: str, name: str) -> Spec:
    if name not in REGISTRY[kind]:
        raise DataError(f"Unknown {kind} '{name}'. Choose one of: {', '.join(REGISTRY[kind])}.")
    return REGISTRY[kind][name]


# ---------------------------------------------------------------- configs with the plugins' knobs

_extended: dict = {}


def extend(base: type, kind: str) -> type:
    """`base` (an experiment's Config) with every registered `kind` plugin's knobs as fields,
    `<name>_<knob>`, each with its help and bounds in its metadata. The same class object for as
    long as the registry is the same (a config compares equal only to one of its own class)."""
    specs = [s for s in REGISTRY[kind].values() if s.knobs]
    ident = (base, kind, tuple((s.name, s.knobs) for s in specs))
    if ident not in _extended:
        taken = {f.name for f in fields(base)}
        for s in list(specs):  # a knob that would be a setting the experiment has: the plugin is set aside, said once
            clash = sorted(set(s.knob_names()) & taken)
            if clash:
                ERRORS.append(f"Plugin {s.where}: its knob would be the setting {', '.join(clash)}, which "
                              f"{base.__name__} has already: rename the knob; the {kind} '{s.name}' is not loaded.")
                del REGISTRY[kind][s.name]
                return extend(base, kind)
        extra = []
        for s in specs:
            helps = help_of(s.knobs)
            for f in fields(s.knobs):
                k = key_of(s.name, f.name)
                md = {"where": "page", **f.metadata, "help": f"{s.label}: {helps.get(f.name, '')}".rstrip(": "),
                      "plugin": s.name, "label": f.metadata.get("label") or f"{s.label}: {f.name.rstrip('_')}"}
                extra.append((k, f.type, field(default=f.default, metadata=md)))
        _extended[ident] = make_dataclass(base.__name__, extra, bases=(base,), frozen=True,
                                          namespace={"__module__": base.__module__})
    return _extended[ident]


def chosen(cfg, kind: str) -> tuple:
    """The names of the plugins of `kind` a config runs: its `losses` / `methods`, or the one its
    `loss` / `method` names (the depth experiment looks at one method)."""
    fld = KINDS[kind]
    names = getattr(cfg, fld, None)
    if names is None:
        names = getattr(cfg, fld.removesuffix("es" if fld == "losses" else "s"), ())
    return (names,) if isinstance(names, str) else tuple(names)


def used(cfg) -> list[Spec]:
    """The plugins a config runs: those named in its `losses` / `methods` (or `method`)."""
    return [REGISTRY[kind][n] for kind in KINDS for n in chosen(cfg, kind) if n in REGISTRY[kind]]


def unused_knobs(cfg) -> set:
    """The config keys of the knobs of registered plugins that this config does not run."""
    run = {s.name for s in used(cfg)}
    return {k for reg in REGISTRY.values() for s in reg.values() if s.name not in run for k in s.knob_names()}


def described(cfg) -> list[dict]:
    """The user plugins a run used, as its result lists them: which file, which version."""
    return [{"kind": s.kind, "name": s.name, "label": s.label, "file": s.file, "sha256": s.digest}
            for s in used(cfg) if not s.builtin]


# ---------------------------------------------------------------- loading users' files

def load(dirs) -> list[str]:
    """Import every .py file in each folder (in name order). Returns the errors, one line each,
    naming the file and line; a file that fails registers nothing."""
    errors = []
    for d in dirs:
        d = Path(d).expanduser()
        if not d.is_dir():
            errors.append(f"Plugin folder '{d}' does not exist or is not a folder.")
            continue
        for f in sorted(d.glob("*.py")):
            if (e := load_file(f)) is not None:
                errors.append(e)
    return errors


def digest_of(body: bytes) -> str:
    """A plugin file's version: the first 16 hex digits of its sha256 (in store keys and results)."""
    return hashlib.sha256(body).hexdigest()[:16]


def load_file(path: Path) -> str | None:
    """Import one plugin file; None, or the one-line error (file:line: what went wrong)."""
    path = Path(path).resolve()
    body = path.read_bytes()
    digest = digest_of(body)
    before = {k: dict(reg) for k, reg in REGISTRY.items()}
    mod = f"clviz_plugins.{path.stem}_{digest}"  # a new name per version: an edited file loads afresh
    _loading.append((path, digest))
    try:
        spec = importlib.util.spec_from_file_location(mod, path)
        module = sys.modules[mod] = importlib.util.module_from_spec(spec)  # (inspect finds its source there)
        spec.loader.exec_module(module)
        LOADED[str(path)] = digest
        return None
    except PluginError as e:
        err = str(e)
    except SyntaxError as e:
        err = f"{_short(path)}:{e.lineno}: syntax error: {e.msg}"
    except Exception as e:  # anything a file can raise at import: reported, never a crash of the app
        line = next((fr.lineno for fr in reversed(traceback.extract_tb(e.__traceback__))
                     if Path(fr.filename).resolve() == path), "?")
        err = f"{_short(path)}:{line}: {type(e).__name__} at import: {e}"
    finally:
        _loading.pop()
    sys.modules.pop(mod, None)
    for k in REGISTRY:  # a file that failed leaves the registry as it found it
        REGISTRY[k].clear()
        REGISTRY[k].update(before[k])
    return f"Plugin {err}"


def ensure(files: dict) -> list[str]:
    """Load the files of {file: digest} that this process has not loaded in that version (a
    worker process gets the server's plugins this way, however the server got them). A file
    whose bytes are no longer that version is an error: its runs would be stored under the
    version the server loaded."""
    errors = []
    for f, d in files.items():
        if LOADED.get(f) == d:
            continue
        if (e := load_file(Path(f))) is not None:
            errors.append(e)
        elif LOADED.get(f) != d:
            errors.append(f"Plugin {_short(f)} changed on disk since the server loaded it: restart the server.")
    return errors


def from_env() -> list[str]:
    """The folders in $CLVIZ_PLUGINS (':'-separated), loaded once per process; their errors are
    kept in ERRORS for the app's pages and the CLI to show."""
    dirs = [d for d in os.environ.get("CLVIZ_PLUGINS", "").split(os.pathsep) if d.strip()]
    if dirs and not _env_loaded:
        _env_loaded.append(True)
        ERRORS.extend(load(dirs))
    return ERRORS


_env_loaded: list = []
