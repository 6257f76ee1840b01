"""fabricsim: how much model throughput does this GPU-cluster fabric cost us?

Build a fabric (``leaf_spine``, ``fat_tree``, ``rail_optimized``, ``edge_sites`` or your own
``networkx`` graph), compile it with :meth:`Fabric.from_networkx`, and run traffic through the
Rust core's max-min fair flow engine.

The package is layered; each layer imports only the ones above it in this list:

* :mod:`fabricsim.exceptions`, :mod:`fabricsim._validate` (argument checks) and
  :mod:`fabricsim._engine` (the only module that talks to the Rust extension);
* :mod:`fabricsim.fabric`: schema, builders, hardware profiles, :class:`Fabric`;
* :mod:`fabricsim.traffic`: flows, background load, collectives;
* :mod:`fabricsim.analysis`: tail latency, queueing, edge, failures, training, comparison,
  facilities and the site scorecard;
* :mod:`fabricsim.cli`: the scenario format and the ``fabricsim`` command;
* :mod:`fabricsim.testing`: the reference oracle and Hypothesis strategies.
"""

import sys as _sys

from fabricsim import _aliases, exceptions
from fabricsim._engine import __version__
from fabricsim._memory import set_memory_limit
from fabricsim.analysis import edge, facility, failures, queueing, training
from fabricsim.analysis.comparison import Comparison, Design, compare
from fabricsim.analysis.edge import EdgeReport, edge_latency
from fabricsim.analysis.facility import Facility, SiteStep, site_step
from fabricsim.analysis.failures import bisection_gbps, fail, fail_random, failure_impact
from fabricsim.analysis.queueing import LatencyResult, link_utilization, message_latency
from fabricsim.analysis.scorecard import Scorecard, scorecard
from fabricsim.analysis.sweep import Sweep, SweepPoint, run_sweep
from fabricsim.analysis.tail import TailLatencyResult, tail_latency
from fabricsim.analysis.training import (
    ErosionResult,
    StepResult,
    TrainingJob,
    erosion,
    ideal_fabric,
    plot_erosion,
    step,
    sweep_oversubscription,
    sweep_routing,
)
from fabricsim.cli.scenario import Scenario, load_scenario, run_scenario
from fabricsim.exceptions import (
    DependencyCycleError,
    EmptyFabricError,
    FabricError,
    InputFileNotFoundError,
    InternalError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidGraphError,
    InvalidTypeError,
    MissingAttributeError,
    OverloadError,
    OverloadWarning,
    ParallelEdgeError,
    ResourceError,
    ScenarioError,
    ScenarioNotFoundError,
    SelfLoopError,
    UnknownNameError,
    UnknownRoleError,
    UnreachableError,
)
from fabricsim.fabric import builders, profiles, schema
from fabricsim.fabric.builders import edge_sites, fat_tree, leaf_spine, rail_optimized, torus
from fabricsim.fabric.compiled import Fabric, Route
from fabricsim.fabric.io import read_cable_list
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

#: ``fs.topology`` was the builders' module before 0.2; it stays as an alias for one release.
topology = builders
_aliases.install()

_IMPORTED = True  # the Hypothesis entry point (_fabricsim_hypothesis) checks this
if "hypothesis.strategies" in _sys.modules:  # Hypothesis came first: st.from_type works now
    from fabricsim.testing._hypothesis import register_types as _register_types

    _register_types()

__all__ = [
    "__version__",
    "exceptions",
    "schema",
    "topology",
    "builders",
    "training",
    "Fabric",
    "Route",
    "FlowSet",
    "SimulationResult",
    "simulate",
    "Collective",
    "CollectiveResult",
    "PhaseTiming",
    "SizeSweep",
    "collective",
    "sweep_sizes",
    "edge",
    "failures",
    "profiles",
    "queueing",
    "EdgeReport",
    "edge_latency",
    "bisection_gbps",
    "fail",
    "fail_random",
    "failure_impact",
    "LatencyResult",
    "link_utilization",
    "message_latency",
    "facility",
    "Facility",
    "SiteStep",
    "site_step",
    "Scorecard",
    "scorecard",
    "Comparison",
    "Design",
    "compare",
    "Scenario",
    "load_scenario",
    "run_scenario",
    "Sweep",
    "SweepPoint",
    "run_sweep",
    "TrainingJob",
    "StepResult",
    "ErosionResult",
    "step",
    "erosion",
    "ideal_fabric",
    "plot_erosion",
    "sweep_oversubscription",
    "sweep_routing",
    "Background",
    "SIZE_DISTRIBUTIONS",
    "tail_latency",
    "TailLatencyResult",
    "leaf_spine",
    "fat_tree",
    "rail_optimized",
    "torus",
    "edge_sites",
    "read_cable_list",
    "FabricError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "UnknownNameError",
    "InvalidGraphError",
    "EmptyFabricError",
    "MissingAttributeError",
    "InvalidAttributeError",
    "UnknownRoleError",
    "SelfLoopError",
    "ParallelEdgeError",
    "UnreachableError",
    "DependencyCycleError",
    "ScenarioError",
    "ScenarioNotFoundError",
    "InputFileNotFoundError",
    "OverloadError",
    "OverloadWarning",
    "ResourceError",
    "InternalError",
    "set_memory_limit",
]
