"""Register fabricsim's public types with Hypothesis, lazily.

:func:`register_types` maps ``Fabric``, ``Background``, ``Collective``, ``TrainingJob`` and
``Scenario`` to functions of the type, so ``st.from_type(fs.Fabric)`` works. Nothing is built
and :mod:`fabricsim.testing.strategies` is not imported until ``st.from_type`` resolves one of
them. Run by Hypothesis's entry point (``_fabricsim_hypothesis``) or by ``fabricsim``'s
``__init__`` when Hypothesis was imported first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: type name -> (module of the type, strategy function in fabricsim.testing.strategies)
TYPES: dict[str, tuple[str, str]] = {
    "Fabric": ("fabricsim.fabric.compiled", "fabrics"),
    "Background": ("fabricsim.traffic.background", "backgrounds"),
    "Collective": ("fabricsim.traffic.collectives.api", "collectives"),
    "TrainingJob": ("fabricsim.analysis.training", "training_jobs"),
    "Scenario": ("fabricsim.cli.scenario", "scenarios"),
    "Facility": ("fabricsim.analysis.facility", "facilities"),
}


def _lazy(name: str) -> Callable[[Any], Any]:
    def resolve(_type: Any) -> Any:
        strategies = importlib.import_module("fabricsim.testing.strategies")
        return getattr(strategies, name)()

    return resolve


def register_types() -> None:
    """``st.register_type_strategy`` for every type in :data:`TYPES` (idempotent)."""
    from hypothesis import strategies as st

    for type_name, (module, strategy) in TYPES.items():
        cls = getattr(importlib.import_module(module), type_name)
        st.register_type_strategy(cls, _lazy(strategy))
