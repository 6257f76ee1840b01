"""fabricsim: how much model throughput does this GPU-cluster fabric cost us?

Build a fabric (``leaf_spine``, ``fat_tree``, ``rail_optimized``, ``edge_sites`` or your own
``networkx`` graph), compile it with :meth:`Fabric.from_networkx`, and run traffic through the
Rust core's max-min fair flow engine.
"""

from fabricsim import edge, exceptions, failures, profiles, queueing, schema, topology
from fabricsim._core import __version__
from fabricsim.background import SIZE_DISTRIBUTIONS, Background
from fabricsim.collectives import (
    Collective,
    CollectiveResult,
    PhaseTiming,
    collective,
    sweep_sizes,
)
from fabricsim.compare import Comparison, Design, compare
from fabricsim.edge import EdgeReport, edge_latency
from fabricsim.exceptions import (
    DependencyCycleError,
    EmptyFabricError,
    FabricError,
    InternalError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidGraphError,
    InvalidTypeError,
    MissingAttributeError,
    OverloadWarning,
    ParallelEdgeError,
    ScenarioError,
    SelfLoopError,
    UnknownNameError,
    UnknownRoleError,
    UnreachableError,
)
from fabricsim.fabric import Fabric, Route
from fabricsim.failures import bisection_gbps, fail, fail_random, failure_impact
from fabricsim.flows import FlowSet, SimulationResult, simulate
from fabricsim.queueing import LatencyResult, link_utilization, message_latency
from fabricsim.scenario import Scenario, load_scenario, run_scenario
from fabricsim.tail import TailLatencyResult, tail_latency
from fabricsim.topology import edge_sites, fat_tree, leaf_spine, rail_optimized
from fabricsim.training import (
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

__all__ = [
    "__version__",
    "exceptions",
    "schema",
    "topology",
    "Fabric",
    "Route",
    "FlowSet",
    "SimulationResult",
    "simulate",
    "Collective",
    "CollectiveResult",
    "PhaseTiming",
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
    "Comparison",
    "Design",
    "compare",
    "Scenario",
    "load_scenario",
    "run_scenario",
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
    "edge_sites",
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
    "OverloadWarning",
    "InternalError",
]
