"""Remedies for forgetting, one small module each, each registered with `@plugin.method` (as a
user's own remedy in a plugin file is): `plugin.METHODS` maps a name to its Spec. The imports'
order is the order the app lists them in."""
from .. import plugin
from .base import Method
from . import replay, ewc, si, lwf, ncm, head  # noqa: F401,E402  (registered on import)

__all__ = ["Method", "BUILTIN"]

BUILTIN = plugin.names("method")  # the built-ins, in their order: the remedies experiment's default
