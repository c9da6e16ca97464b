"""clviz: see catastrophic forgetting in class-incremental learning.

    from clviz import config, experiments
    result = experiments.run(config.make("probe", epochs=3))
"""
from . import config, experiments  # noqa: F401

__version__ = "0.1.0"
