"""Remedies for forgetting, one small module each, and their registry (name -> Method class)."""
from .base import Method
from .ewc import OnlineEWC
from .head import HeadRetrain, WeightAlign
from .lwf import LwF
from .ncm import NCM
from .replay import Joint, Replay
from .si import SI

METHODS = {m.name: m for m in (Method, Joint, Replay, OnlineEWC, SI, LwF, NCM, WeightAlign, HeadRetrain)}
