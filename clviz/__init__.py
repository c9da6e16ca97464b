"""clviz: see catastrophic forgetting in class-incremental learning.

    from clviz import experiments
    result = experiments.run(experiments.make("probe", epochs=3))

The package imports nothing on its own (`python -m clviz --help` answers without torch); its
modules load when they are named, `clviz.experiments` too.
"""
import importlib

__version__ = "0.2.0"


def __getattr__(name):  # `import clviz; clviz.experiments` as before, loaded on first use
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":  # a module of ours that misses a dependency says which
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
