"""Traffic: what runs on a fabric.

:mod:`~fabricsim.traffic.flows` (any traffic matrix as a :class:`FlowSet` and
:func:`simulate`), :mod:`~fabricsim.traffic.background` (other tenants' load) and
:mod:`~fabricsim.traffic.collectives` (NCCL-style collectives decomposed into flow DAGs).
"""

from fabricsim.traffic import background, collectives, flows
from fabricsim.traffic.background import SIZE_DISTRIBUTIONS, Background
from fabricsim.traffic.collectives import (
    Collective,
    CollectiveResult,
    PhaseTiming,
    SizeSweep,
    collective,
    sweep_sizes,
)
from fabricsim.traffic.flows import FlowSet, SimulationResult, simulate

__all__ = [
    "SIZE_DISTRIBUTIONS",
    "Background",
    "Collective",
    "CollectiveResult",
    "FlowSet",
    "PhaseTiming",
    "SimulationResult",
    "SizeSweep",
    "background",
    "collective",
    "collectives",
    "flows",
    "simulate",
    "sweep_sizes",
]
