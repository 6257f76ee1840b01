"""fabricsim.types: each Literal lists exactly the values the run-time checks accept, and the
public functions are annotated with them."""

from __future__ import annotations

import inspect
import typing

import pytest

import fabricsim as fs
from fabricsim import types
from fabricsim.analysis import edge, tail, training
from fabricsim.fabric import compiled
from fabricsim.traffic import background, collectives, flows


@pytest.mark.parametrize(
    "literal, runtime",
    [
        (types.Op, collectives.OPS),
        (types.Algorithm, collectives.ALGORITHMS),
        (types.Routing, compiled.ROUTING_POLICIES),
        (types.Metric, compiled.METRICS),
        (types.Engine, flows.ENGINES),
        (types.Pattern, background.PATTERNS),
        (types.RankOrder, training.RANK_ORDERS),
        (types.JobPlacement, tail.JOB_PLACEMENTS),
        (types.EdgePolicy, edge.POLICIES),
        (types.Datatype, tuple(collectives.DATATYPES)),
    ],
)
def test_literals_match_the_runtime_choices(literal, runtime):
    assert typing.get_args(literal) == tuple(runtime)


@pytest.mark.parametrize(
    "fn, param, literal",
    [
        (fs.collective, "op", "Op"),
        (fs.collective, "algorithm", "Algorithm"),
        (fs.collective, "routing", "Routing"),
        (fs.sweep_sizes, "datatype", "Datatype"),
        (fs.simulate, "metric", "Metric"),
        (fs.simulate, "engine", "Engine"),
        (fs.tail_latency, "placement", "JobPlacement"),
        (fs.erosion, "routing", "Routing"),
        (fs.edge_latency, "policies", "Sequence[EdgePolicy]"),
        (fs.Fabric.route, "policy", "Routing"),
    ],
)
def test_public_functions_use_them(fn, param, literal):
    assert inspect.signature(fn).parameters[param].annotation == literal


def test_run_scenario_is_fully_annotated():
    sig = inspect.signature(fs.run_scenario)
    assert sig.return_annotation == "Comparison"
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())
    hints = typing.get_type_hints(
        fs.run_scenario, vars(fs.cli.scenario) | {"Comparison": fs.Comparison}
    )
    assert hints["return"] is fs.Comparison
