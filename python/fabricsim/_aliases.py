"""Old module paths (fabricsim 0.1, a flat package) as aliases of their new homes.

``import fabricsim.topology`` or ``from fabricsim.flows import FlowSet`` keep working for one
release and warn with a :class:`DeprecationWarning` naming the new path. ``fabricsim.compare``
is not aliased: it is the :func:`fabricsim.compare` function (the module it shadowed is now
:mod:`fabricsim.analysis.comparison`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

#: old module path -> new module path
MOVED = {
    "fabricsim.schema": "fabricsim.fabric.schema",
    "fabricsim.topology": "fabricsim.fabric.builders",
    "fabricsim.profiles": "fabricsim.fabric.profiles",
    "fabricsim.flows": "fabricsim.traffic.flows",
    "fabricsim.background": "fabricsim.traffic.background",
    "fabricsim.collectives": "fabricsim.traffic.collectives",
    "fabricsim.tail": "fabricsim.analysis.tail",
    "fabricsim.queueing": "fabricsim.analysis.queueing",
    "fabricsim.edge": "fabricsim.analysis.edge",
    "fabricsim.failures": "fabricsim.analysis.failures",
    "fabricsim.training": "fabricsim.analysis.training",
    "fabricsim.scenario": "fabricsim.cli.scenario",
    "fabricsim.demo": "fabricsim.cli.demo",
    "fabricsim.reference": "fabricsim.testing.reference",
    "fabricsim.strategies": "fabricsim.testing.strategies",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: Any) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; the old path goes away in fabricsim 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
