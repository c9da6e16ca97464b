"""clviz: see catastrophic forgetting in class-incremental learning.

    from clviz import experiments
    result = experiments.run(experiments.make("probe", epochs=3))
"""
from . import config, experiments  # noqa: F401

__version__ = "0.2.0"
