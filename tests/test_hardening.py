"""Bad input never gets past the API: it raises a specific fabricsim exception whose message
names the culprit, never a Rust panic (InternalError), a crash, a hang or a silent answer.

``test_bad_input`` runs one case per bad-input class; docs/errors.md lists the same classes
(each row names its case id, and ``test_docs_list_every_case`` keeps the two in step).
The fuzz tests then push thousands of generated inputs, valid and invalid, through the public
API and accept only fabricsim's own exceptions (FabricError subclasses, never InternalError).
"""

import importlib.util
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim import exceptions as ex
from fabricsim.testing import strategies as fst

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ fixtures


def two_gpus(**edge: object) -> nx.Graph:
    """gpu 'a' and gpu 'b' on switch 's'; ``edge`` overrides attributes of edge (a, s)."""
    G = nx.Graph()
    G.add_node("a", role="gpu")
    G.add_node("b", role="gpu")
    G.add_node("s", role="leaf")
    G.add_edge("a", "s", capacity_gbps=100.0, latency_us=1.0)
    G.add_edge("b", "s", capacity_gbps=100.0, latency_us=1.0)
    for k, v in edge.items():
        if v is _DELETE:
            del G.edges["a", "s"][k]
        else:
            G.edges["a", "s"][k] = v
    return G


_DELETE = object()


def changed(fn: Callable[[nx.Graph], object], G: nx.Graph | None = None) -> nx.Graph:
    G = two_gpus() if G is None else G
    fn(G)
    return G


def chain(n: int, latency_us: float) -> nx.Graph:
    """Two GPUs at the ends of a chain of ``n`` switches, every link ``latency_us``."""
    G = nx.Graph()
    for i in range(n):
        G.add_node(f"s{i}", role="leaf")
    for i in range(n - 1):
        G.add_edge(f"s{i}", f"s{i + 1}", capacity_gbps=100.0, latency_us=latency_us)
    G.add_node("a", role="gpu")
    G.add_node("b", role="gpu")
    G.add_edge("a", "s0", capacity_gbps=100.0, latency_us=latency_us)
    G.add_edge("b", f"s{n - 1}", capacity_gbps=100.0, latency_us=latency_us)
    return G


def multigraph() -> nx.MultiGraph:
    M = nx.MultiGraph(two_gpus())
    M.add_edge("a", "s", capacity_gbps=100.0, latency_us=1.0)
    return M


FAB = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2))
A, B, C = FAB.gpus[:3]  # A and B share a host (NVLink), C is on the other leaf
JOB = fs.Collective("all_reduce", 1 << 20, [A, B], algorithm="ring")
EDGE = fs.Fabric.from_networkx(
    fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[{"name": "telco", "capacity_gbps": 100.0, "availability": 0.99}],
        sites=[
            {"name": "lyon", "carriers": ["telco"], "distance_km": 400.0, "capacity_gbps": 10.0}
        ],
    )
)
LONELY_SITE = changed(lambda G: G.add_node("site", role="edge_site"))


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], object]
    exc: type
    needles: tuple[str, ...]


def case(id: str, call: Callable[[], object], exc: type, *needles: str) -> Case:
    return Case(id, call, exc, needles)


F = fs.Fabric.from_networkx
NAN, INF = math.nan, math.inf

CASES = [
    # -- the graph -------------------------------------------------------------------------
    case("graph-not-a-graph", lambda: F({"a": "s"}), ex.InvalidTypeError, "G:", "dict"),
    case("graph-none", lambda: F(None), ex.InvalidTypeError, "G:", "NoneType"),
    case("graph-directed", lambda: F(nx.DiGraph(two_gpus())), ex.InvalidGraphError, "directed"),
    case("graph-empty", lambda: F(nx.Graph()), ex.EmptyFabricError, "no nodes"),
    case(
        "graph-no-gpus",
        lambda: F(changed(lambda G: [G.nodes[n].update(role="leaf") for n in G])),
        ex.EmptyFabricError,
        "no node with role 'gpu'",
    ),
    case(
        "node-missing-role",
        lambda: F(changed(lambda G: G.nodes["a"].pop("role"))),
        ex.MissingAttributeError,
        "node 'a'",
        "'role'",
    ),
    case(
        "node-unknown-role",
        lambda: F(changed(lambda G: G.nodes["a"].update(role="router"))),
        ex.UnknownRoleError,
        "node 'a'",
        "'router'",
        "valid roles: gpu, nvswitch",
    ),
    case(
        "node-bad-rail",
        lambda: F(changed(lambda G: G.nodes["a"].update(rail=-1))),
        ex.InvalidAttributeError,
        "node 'a'",
        "rail",
    ),
    case(
        "edge-missing-capacity",
        lambda: F(two_gpus(capacity_gbps=_DELETE)),
        ex.MissingAttributeError,
        "edge ('a', 's')",
        "'capacity_gbps'",
    ),
    case(
        "edge-missing-latency",
        lambda: F(two_gpus(latency_us=None)),
        ex.MissingAttributeError,
        "edge ('a', 's')",
        "'latency_us'",
    ),
    case(
        "edge-capacity-not-numeric",
        lambda: F(two_gpus(capacity_gbps="100")),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "'100'",
    ),
    case(
        "edge-capacity-bool",
        lambda: F(two_gpus(capacity_gbps=True)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "True",
    ),
    case(
        "edge-capacity-zero",
        lambda: F(two_gpus(capacity_gbps=0)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "> 0, got 0",
    ),
    case(
        "edge-capacity-negative",
        lambda: F(two_gpus(capacity_gbps=-400.0)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "-400.0",
    ),
    case(
        "edge-capacity-nan",
        lambda: F(two_gpus(capacity_gbps=NAN)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "nan",
    ),
    case(
        "edge-capacity-inf",
        lambda: F(two_gpus(capacity_gbps=INF)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "inf",
    ),
    case(
        "edge-capacity-out-of-range",
        lambda: F(two_gpus(capacity_gbps=1e-300)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "capacity_gbps",
        "at least 1e-06",
    ),
    case(
        "edge-latency-not-numeric",
        lambda: F(two_gpus(latency_us=[1.0])),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "[1.0]",
    ),
    case(
        "edge-latency-zero",
        lambda: F(two_gpus(latency_us=0.0)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "0.0",
    ),
    case(
        "edge-latency-negative",
        lambda: F(two_gpus(latency_us=-1)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "-1",
    ),
    case(
        "edge-latency-nan",
        lambda: F(two_gpus(latency_us=np.float32(NAN))),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "nan",
    ),
    case(
        "edge-latency-inf",
        lambda: F(two_gpus(latency_us=-INF)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "-inf",
    ),
    case(
        "edge-latency-too-large",
        lambda: F(two_gpus(latency_us=2e6)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "latency_us",
        "at most 1e+06",
    ),
    case(
        "path-latency-overflow",
        lambda: F(chain(8, 1e6)),
        ex.InvalidGraphError,
        "32 bits",
        "edge ('s0', 's1')",
    ),
    case(
        "edge-unknown-kind",
        lambda: F(two_gpus(kind="fibre")),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "'fibre'",
        "valid kinds: nvlink, access, fabric, wan",
    ),
    case(
        "edge-bad-availability",
        lambda: F(two_gpus(availability=0.0)),
        ex.InvalidAttributeError,
        "edge ('a', 's')",
        "availability",
    ),
    case(
        "edge-self-loop",
        lambda: F(changed(lambda G: G.add_edge("s", "s", capacity_gbps=1, latency_us=1))),
        ex.SelfLoopError,
        "edge ('s', 's')",
        "self-loop",
    ),
    case(
        "edge-parallel-reject",
        lambda: F(multigraph(), parallel="reject"),
        ex.ParallelEdgeError,
        "edge ('a', 's')",
        "2 parallel edges",
    ),
    case(
        "parallel-unknown-mode",
        lambda: F(two_gpus(), parallel="merge"),
        ex.UnknownNameError,
        "'merge'",
        "valid modes: aggregate, reject",
    ),
    case(
        "gpu-unreachable",
        lambda: F(changed(lambda G: G.add_node("c", role="gpu"))),
        ex.UnreachableError,
        "'a' and 'c'",
        "cannot reach each other",
    ),
    case(
        "gpu-behind-gpu",
        lambda: F(
            changed(
                lambda G: (
                    G.add_node("c", role="gpu"),
                    G.add_edge("c", "a", capacity_gbps=1, latency_us=1),
                )
            )
        ),
        ex.UnreachableError,
        "'c'",
        "never forward",
    ),
    case(
        "efficiency-out-of-range",
        lambda: F(two_gpus(), efficiency=1.5),
        ex.InvalidArgumentError,
        "efficiency['default']",
        "(0, 1]",
    ),
    case(
        "efficiency-too-small",
        lambda: F(two_gpus(), efficiency=1e-300),
        ex.InvalidArgumentError,
        "efficiency",
        "edge ('a', 's')",
    ),
    case(
        "efficiency-unknown-kind",
        lambda: F(two_gpus(), efficiency={"copper": 0.5}),
        ex.UnknownNameError,
        "'copper'",
        "valid: nvlink, access, fabric, wan, pcie, default",
    ),
    case(
        "profile-unknown",
        lambda: F(two_gpus(), profile="tpu-v9"),
        ex.UnknownNameError,
        "'tpu-v9'",
        "valid: a100-hdr200, a100-hdr200x4, b200-xdr800",
    ),
    # -- builders --------------------------------------------------------------------------
    case(
        "builder-bad-count",
        lambda: fs.leaf_spine(leaves=0),
        ex.InvalidArgumentError,
        "leaves",
        ">= 1",
        "got 0",
    ),
    case(
        "builder-non-integer",
        lambda: fs.rail_optimized(nodes_per_su=2.5),
        ex.InvalidArgumentError,
        "nodes_per_su",
        "2.5",
    ),
    case("builder-odd-k", lambda: fs.fat_tree(k=3), ex.InvalidArgumentError, "k: must be an even"),
    case(
        "builder-unknown-profile",
        lambda: fs.leaf_spine(profile="tpu-v9"),
        ex.UnknownNameError,
        "'tpu-v9'",
        "valid:",
    ),
    # -- ranks -----------------------------------------------------------------------------
    case(
        "ranks-not-gpus",
        lambda: fs.collective(FAB, "all_reduce", 1024, ranks=[A, "leaf0"]),
        ex.InvalidArgumentError,
        "ranks:",
        "'leaf0' is not a GPU",
    ),
    case(
        "ranks-duplicated",
        lambda: fs.collective(FAB, "all_reduce", 1024, ranks=[A, B, A]),
        ex.InvalidArgumentError,
        "ranks:",
        f"{A!r} appears more than once",
    ),
    case(
        "ranks-empty",
        lambda: fs.collective(FAB, "all_reduce", 1024, ranks=[]),
        ex.InvalidArgumentError,
        "ranks:",
        "at least 2 GPUs, got 0",
    ),
    case(
        "ranks-unknown",
        lambda: fs.collective(FAB, "all_reduce", 1024, ranks=[A, "gpu9"]),
        ex.InvalidArgumentError,
        "ranks:",
        "'gpu9' is not in the fabric",
    ),
    case(
        "ranks-not-a-list",
        lambda: fs.collective(FAB, "all_reduce", 1024, ranks=A),
        ex.InvalidTypeError,
        "ranks:",
        "must be an iterable of GPU labels",
    ),
    case(
        "ranks-removed-by-failure",
        lambda: fs.collective(fs.fail(FAB, nodes=[B]), "all_reduce", 1024, ranks=[A, B]),
        ex.InvalidArgumentError,
        "ranks:",
        f"{B!r} is not in the fabric",
    ),
    case(
        "endpoints-unreachable",
        lambda: fs.simulate(F(LONELY_SITE), [("a", "site", 1e6)]),
        ex.UnreachableError,
        "no path from 'a' to 'site'",
    ),
    case(
        "algorithm-needs-power-of-two",
        lambda: fs.collective(
            FAB, "all_gather", 1024, ranks=FAB.gpus[:3], algorithm="halving_doubling"
        ),
        ex.InvalidArgumentError,
        "halving_doubling",
        "power-of-two",
        "got 3",
    ),
    case(
        "algorithm-needs-equal-hosts",
        lambda: fs.collective(
            FAB, "all_reduce", 1024, ranks=FAB.gpus[:3], algorithm="hierarchical"
        ),
        ex.InvalidArgumentError,
        "hierarchical",
        "sizes [1, 2]",
    ),
    # -- sizes -----------------------------------------------------------------------------
    case(
        "size-zero",
        lambda: fs.collective(FAB, "all_reduce", 0),
        ex.InvalidArgumentError,
        "size_bytes",
        "got 0",
    ),
    case(
        "size-negative",
        lambda: fs.collective(FAB, "all_reduce", -8),
        ex.InvalidArgumentError,
        "size_bytes",
        "got -8",
    ),
    case(
        "size-non-integer",
        lambda: fs.collective(FAB, "all_reduce", 1.5),
        ex.InvalidArgumentError,
        "size_bytes",
        "whole number",
        "1.5",
    ),
    case(
        "size-nan",
        lambda: fs.collective(FAB, "all_reduce", NAN),
        ex.InvalidArgumentError,
        "size_bytes",
        "nan",
    ),
    case(
        "size-too-large",
        lambda: fs.collective(FAB, "all_reduce", 2**63),
        ex.InvalidArgumentError,
        "size_bytes",
        "2**63 - 1",
        str(2**63),
    ),
    case(
        "size-bool",
        lambda: fs.collective(FAB, "all_reduce", True),
        ex.InvalidTypeError,
        "size_bytes",
        "True",
    ),
    # size strings ("1GiB") are sizes; one that is not a size is named
    case(
        "size-str",
        lambda: fs.collective(FAB, "all_reduce", "1GiBs"),
        ex.InvalidArgumentError,
        "size_bytes",
        "'1GiBs'",
    ),
    case(
        "size-list",
        lambda: fs.collective(FAB, "all_reduce", [8]),
        ex.InvalidTypeError,
        "size_bytes",
        "[8]",
    ),
    case(
        "flow-size-negative",
        lambda: fs.simulate(FAB, [(A, B, 1.0), (A, B, -1.0)]),
        ex.InvalidArgumentError,
        "flow 1",
        "size_bytes",
        "-1.0",
    ),
    case(
        "flow-size-nan",
        lambda: fs.simulate(FAB, [(A, B, NAN)]),
        ex.InvalidArgumentError,
        "flow 0",
        "size_bytes",
        "nan",
    ),
    case(
        "flow-size-too-large",
        lambda: fs.simulate(FAB, [(A, B, 2**63)]),
        ex.InvalidArgumentError,
        "flow 0",
        "size_bytes",
        "< 2**63",
    ),
    case(
        "flow-size-bool",
        lambda: fs.simulate(FAB, [(A, B, True)]),
        ex.InvalidTypeError,
        "flows[0]",
        "size_bytes",
        "True",
    ),
    case(
        "flow-size-str",
        lambda: fs.simulate(FAB, [(A, B, "one")]),
        ex.InvalidArgumentError,
        "flows[0]",
        "size_bytes",
        "'one'",
    ),
    case(
        "flow-start-nan",
        lambda: fs.simulate(FAB, [(A, B, 1, NAN)]),
        ex.InvalidArgumentError,
        "flow 0",
        "start_s",
        "nan",
    ),
    # -- flows -----------------------------------------------------------------------------
    case("flows-not-a-list", lambda: fs.simulate(FAB, None), ex.InvalidTypeError, "flows:"),
    case(
        "flow-malformed-row",
        lambda: fs.simulate(FAB, [(A, B)]),
        ex.InvalidArgumentError,
        "flows[0]",
        "(src, dst, size_bytes",
    ),
    case(
        "flow-unknown-node",
        lambda: fs.simulate(FAB, [(A, "gpu9", 1)]),
        ex.InvalidArgumentError,
        "dst:",
        "'gpu9' is not in the fabric",
    ),
    case(
        "flow-deps-not-a-list",
        lambda: fs.simulate(FAB, [(A, B, 1, 0.0, 3)]),
        ex.InvalidTypeError,
        "flows[0]",
        "deps",
        "got 3",
    ),
    case(
        "flow-deps-out-of-range",
        lambda: fs.simulate(FAB, [(A, B, 1, 0.0, [4])]),
        ex.InvalidArgumentError,
        "deps",
        "0..0",
    ),
    case(
        "flow-deps-cycle",
        lambda: fs.simulate(FAB, [(A, B, 1, 0.0, [1]), (B, A, 1, 0.0, [0])]),
        ex.DependencyCycleError,
        "cycle",
        "flow 0",
    ),
    case(
        "seed-out-of-range",
        lambda: fs.simulate(FAB, [(A, B, 1)], seed=-1),
        ex.InvalidArgumentError,
        "seed",
        "-1",
    ),
    # -- loads -----------------------------------------------------------------------------
    case(
        "load-negative",
        lambda: fs.Background(load=-0.1),
        ex.InvalidArgumentError,
        "load",
        "[0, 1)",
        "-0.1",
    ),
    case("load-one", lambda: fs.Background(load=1.0), ex.InvalidArgumentError, "load", "1.0"),
    case(
        "load-nan",
        lambda: fs.tail_latency(FAB, JOB, NAN, samples=2),
        ex.InvalidArgumentError,
        "load",
        "nan",
    ),
    case(
        "static-fraction-one",
        lambda: fs.Background(static_fraction=1.0),
        ex.InvalidArgumentError,
        "static_fraction",
        "1.0",
    ),
    case(
        "utilization-one",
        lambda: fs.message_latency(FAB, A, C, 4096, background_load=1.0),
        ex.InvalidArgumentError,
        "utilization of link",
        "< 1",
    ),
    case(
        "carrier-load-one",
        lambda: fs.edge_latency(EDGE, carrier_load=1.0, requests=10),
        ex.InvalidArgumentError,
        "carrier_load",
        "< 1",
    ),
    case(
        "background-too-many-flows",
        lambda: fs.tail_latency(
            FAB, JOB, fs.Background(load=0.9, sizes=1), samples=1, horizon=100.0
        ),
        ex.InvalidArgumentError,
        "background:",
        "flows per sample",
        "sizes=",
    ),
    case(
        "background-duplicate-endpoints",
        lambda: fs.tail_latency(FAB, JOB, fs.Background(load=0.3, endpoints=[A, A]), samples=1),
        ex.InvalidArgumentError,
        "background endpoints",
        "more than once",
    ),
    # -- names -----------------------------------------------------------------------------
    case(
        "unknown-algorithm",
        lambda: fs.collective(FAB, "all_reduce", 1024, algorithm="magic"),
        ex.UnknownNameError,
        "algorithm",
        "'magic'",
        "valid: auto, ring, tree",
    ),
    case(
        "algorithm-wrong-op",
        lambda: fs.collective(FAB, "all_to_all", 1024, algorithm="ring"),
        ex.InvalidArgumentError,
        "'ring' does not build all_to_all",
        "valid for all_to_all",
    ),
    case(
        "unknown-op",
        lambda: fs.collective(FAB, "allreduce2", 1024),
        ex.UnknownNameError,
        "op",
        "'allreduce2'",
        "valid: all_reduce, all_gather",
    ),
    case(
        "unknown-routing",
        lambda: fs.simulate(FAB, [(A, B, 1)], routing="adaptive"),
        ex.UnknownNameError,
        "routing",
        "'adaptive'",
        "valid: ecmp, spray",
    ),
    case(
        "unknown-metric",
        lambda: FAB.route(A, B, metric="cost"),
        ex.UnknownNameError,
        "metric",
        "'cost'",
        "valid: hops, latency",
    ),
    case(
        "unknown-engine",
        lambda: fs.simulate(FAB, [(A, B, 1)], engine="gpu"),
        ex.UnknownNameError,
        "engine",
        "valid: rust, reference",
    ),
    case(
        "unknown-profile",
        lambda: fs.collective(FAB, "all_reduce", 1024, profile="tpu-v9"),
        ex.UnknownNameError,
        "'tpu-v9'",
        "valid:",
    ),
    case(
        "unknown-pattern",
        lambda: fs.Background(load=0.1, pattern="bursty"),
        ex.UnknownNameError,
        "pattern",
        "'bursty'",
        "valid: uniform, permutation, incast",
    ),
    case(
        "unknown-size-distribution",
        lambda: fs.Background(sizes="hadoop"),
        ex.UnknownNameError,
        "sizes",
        "'hadoop'",
        "valid: websearch, datamining, storage",
    ),
    case(
        "unknown-placement",
        lambda: fs.tail_latency(FAB, JOB, samples=2, placement="packed"),
        ex.UnknownNameError,
        "placement",
        "'packed'",
        "valid: fixed, random",
    ),
    case(
        "unknown-edge-policy",
        lambda: fs.edge_latency(EDGE, policies=["cheapest"]),
        ex.UnknownNameError,
        "policies",
        "'cheapest'",
        "primary_backup",
    ),
    case(
        "unknown-failure-role",
        lambda: fs.fail_random(FAB, roles=["router"]),
        ex.UnknownNameError,
        "roles",
        "'router'",
        "valid: gpu",
    ),
    # -- counts ----------------------------------------------------------------------------
    case(
        "samples-zero",
        lambda: fs.tail_latency(FAB, JOB, samples=0),
        ex.InvalidArgumentError,
        "samples",
        "got 0",
    ),
    case(
        "message-samples-zero",
        lambda: fs.message_latency(FAB, A, B, 4096, samples=0),
        ex.InvalidArgumentError,
        "samples",
        "got 0",
    ),
    case(
        "requests-zero",
        lambda: fs.edge_latency(EDGE, requests=0),
        ex.InvalidArgumentError,
        "requests",
        "got 0",
    ),
    case(
        "threads-too-many",
        lambda: fs.tail_latency(FAB, JOB, samples=2, threads=10**6),
        ex.InvalidArgumentError,
        "threads",
        "1..1,024",
    ),
    case(
        "channels-zero",
        lambda: fs.collective(FAB, "all_reduce", 1024, channels=0),
        ex.InvalidArgumentError,
        "channels",
        "got 0",
    ),
    # -- size CDFs -------------------------------------------------------------------------
    case(
        "cdf-not-monotone",
        lambda: fs.Background(sizes=([1e3, 1e4, 1e5], [0.0, 0.8, 0.5])),
        ex.InvalidArgumentError,
        "sizes:",
        "non-decreasing",
    ),
    case(
        "cdf-values-not-monotone",
        lambda: fs.Background(sizes=([1e5, 1e4], [0.0, 1.0])),
        ex.InvalidArgumentError,
        "sizes:",
        "values_bytes",
        "non-decreasing",
    ),
    case(
        "cdf-wrong-lengths",
        lambda: fs.Background(sizes=([1e3, 1e4, 1e5], [0.0, 1.0])),
        ex.InvalidArgumentError,
        "sizes:",
        "same length",
        "3 and 2",
    ),
    case(
        "cdf-not-ending-at-one",
        lambda: fs.Background(sizes=([1e3, 1e4], [0.0, 0.9])),
        ex.InvalidArgumentError,
        "sizes:",
        "end at 1",
    ),
    case(
        "cdf-nan",
        lambda: fs.Background(sizes=([1e3, NAN], [0.0, 1.0])),
        ex.InvalidArgumentError,
        "sizes:",
        "finite",
    ),
    case(
        "cdf-not-1d",
        lambda: fs.Background(sizes=([[1e3, 1e4], [1e5, 1e6]], [0, 0.2, 0.5, 1])),
        ex.InvalidArgumentError,
        "sizes:",
        "1-D",
        "(2, 2)",
    ),
    case(
        "cdf-zero-mean",
        lambda: fs.Background(sizes=([0.0, 0.0], [0.0, 1.0])),
        ex.InvalidArgumentError,
        "sizes:",
        "mean flow size",
    ),
    case(
        "cdf-not-numeric",
        lambda: fs.Background(sizes=(["a", "b"], [0, 1])),
        ex.InvalidTypeError,
        "sizes:",
        "numeric",
    ),
    # -- carriers and failures --------------------------------------------------------------
    case(
        "fail-unknown-carrier",
        lambda: fs.fail(EDGE, carriers=["acme"]),
        ex.UnknownNameError,
        "carriers",
        "'acme'",
        "known carriers: telco",
    ),
    case(
        "edge-unknown-failed-carrier",
        lambda: fs.edge_latency(EDGE, failed_carriers=["acme"]),
        ex.UnknownNameError,
        "failed_carriers",
        "'acme'",
        "known carriers: telco",
    ),
    case(
        "edge-load-unknown-carrier",
        lambda: fs.edge_latency(EDGE, carrier_load={"acme": 0.5}),
        ex.UnknownNameError,
        "carrier_load",
        "'acme'",
        "telco",
    ),
    case(
        "site-unknown-carrier",
        lambda: fs.edge_sites(
            fs.leaf_spine(),
            carriers=[{"name": "telco", "capacity_gbps": 10.0}],
            sites=[
                {"name": "lyon", "carriers": ["acme"], "distance_km": 1.0, "capacity_gbps": 1.0}
            ],
        ),
        ex.UnknownNameError,
        "sites[0] ('lyon').carriers",
        "'acme'",
        "known carriers: telco",
    ),
    case(
        "edge-unknown-site",
        lambda: fs.edge_latency(EDGE, sites=["paris"]),
        ex.UnknownNameError,
        "sites",
        "'paris'",
        "valid sites: lyon",
    ),
    case(
        "fail-every-path",
        lambda: fs.fail(FAB, nodes=["spine0", "spine1"]),
        ex.UnreachableError,
        "failing nodes 'spine0', 'spine1' disconnects",
        "host0/gpu0",
    ),
    case(
        "fail-every-carrier-link",
        lambda: fs.fail(FAB, links=[("leaf0", "spine0"), ("leaf0", "spine1")]),
        ex.UnreachableError,
        "disconnects",
        "cannot reach each other",
    ),
    case(
        "fail-every-gpu",
        lambda: fs.fail(FAB, nodes=list(FAB.gpus)),
        ex.EmptyFabricError,
        "leaves no fabric",
        "no node with role 'gpu'",
    ),
    case(
        "fail-unknown-node",
        lambda: fs.fail(FAB, nodes=["spine9"]),
        ex.InvalidArgumentError,
        "nodes:",
        "'spine9'",
    ),
    case(
        "fail-unknown-link",
        lambda: fs.fail(FAB, links=[("leaf0", "leaf1")]),
        ex.InvalidArgumentError,
        "links[0]",
        "('leaf0', 'leaf1')",
    ),
    # -- wrong objects ---------------------------------------------------------------------
    case(
        "fabric-not-a-fabric",
        lambda: fs.simulate(fs.leaf_spine(), []),
        ex.InvalidTypeError,
        "fabric:",
        "Graph",
    ),
    case(
        "workload-not-a-workload",
        lambda: fs.tail_latency(FAB, "all_reduce", samples=2),
        ex.InvalidTypeError,
        "workload",
        "str",
    ),
    case(
        "background-not-a-background",
        lambda: fs.tail_latency(FAB, JOB, "busy", samples=2),
        ex.InvalidTypeError,
        "background",
        "'busy'",
    ),
]

SCENARIO = """
title = "hardening"

[[fabric]]
name = "small"
builder = "leaf_spine"
leaves = 2
hosts_per_leaf = 1
gpus_per_host = 2
oversubscription = 2.0

[job]
params = 1.24e8
layers = 12
hidden_size = 768
seq_len = 2048
data_parallel = 4
global_batch_tokens = 8192

[background]
sizes = "websearch"
pattern = "uniform"

[sweep]
loads = [0.0, 0.3]
load = 0.3
samples = 2
collective_size_bytes = "1GiB"

[collective]
op = "all_reduce"
max_bytes = "1MiB"
"""


def scenario_with(old: str, new: str) -> str:
    assert old in SCENARIO
    return SCENARIO.replace(old, new, 1)


if importlib.util.find_spec("fabricsim.cli.scenario") is not None:
    from fabricsim.cli.scenario import load_scenario

    CASES += [
        case(
            "scenario-wrong-type",
            lambda: load_scenario(
                text=scenario_with("oversubscription = 2.0", 'oversubscription = "two"')
            ),
            ex.ScenarioError,
            "<scenario>:10:",
            "fabric[0].oversubscription",
            "expected a number",
            "'two'",
        ),
        case(
            "scenario-wrong-integer",
            lambda: load_scenario(text=scenario_with("layers = 12", "layers = 12.5")),
            ex.ScenarioError,
            "<scenario>:14:",
            "job.layers",
            "expected an integer, got 12.5",
        ),
        case(
            "scenario-out-of-range",
            lambda: load_scenario(text=scenario_with("load = 0.3", "load = 1.5")),
            ex.ScenarioError,
            "sweep.load",
            "[0, 1)",
            "1.5",
        ),
        case(
            "scenario-bad-size",
            lambda: load_scenario(text=scenario_with('"1GiB"', '"1 parsec"')),
            ex.ScenarioError,
            "sweep.collective_size_bytes",
            "'1 parsec'",
        ),
        case(
            "scenario-unknown-key",
            lambda: load_scenario(text=scenario_with("hidden_size", "hidden")),
            ex.ScenarioError,
            "job.hidden",
            "valid",
        ),
        case(
            "scenario-missing-table",
            lambda: load_scenario(text=scenario_with("[job]", "[jobs]")),
            ex.ScenarioError,
            "jobs",
        ),
        case(
            "scenario-syntax-error",
            lambda: load_scenario(text=scenario_with("leaves = 2", "leaves = = 2")),
            ex.ScenarioError,
            "<scenario>:7:",
            "TOML syntax",
        ),
        case(
            "scenario-missing-file",
            lambda: load_scenario("no/such/scenario.toml"),
            ex.ScenarioError,
            "no/such/scenario.toml",
            "no such scenario file",
        ),
    ]

_training = (
    [
        case(
            "training-bad-parallelism",
            lambda: fs.TrainingJob(params=7e9, layers=30, hidden_size=4096, pipeline_parallel=4),
            ex.InvalidArgumentError,
            "pipeline_parallel (4) must divide layers (30)",
        ),
        case(
            "training-unknown-placement",
            lambda: fs.TrainingJob(params=7e9, layers=32, hidden_size=4096, placement="packed"),
            ex.UnknownNameError,
            "placement",
            "'packed'",
            "valid: rail, linear, random",
        ),
        case("training-not-a-job", lambda: fs.step("job", FAB), ex.InvalidTypeError, "job:"),
    ]
    if hasattr(fs, "TrainingJob")
    else []
)
CASES += _training

# Issue 13: the last bad inputs. Each case failed on d6a07c1 (ran for minutes, allocated tens of
# GiB, read forever, or raised a bare / misattributed error).
OVERSUBSCRIBED = fs.Fabric.from_networkx(
    fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2, gpus_per_host=1, oversubscription=4)
)
SMALL_JOB = fs.TrainingJob(
    params=1e6, layers=2, hidden_size=64, seq_len=64, data_parallel=2, global_batch_tokens=128
)
CASES += [
    case(
        "overload-saturated-link",
        lambda: fs.tail_latency(
            OVERSUBSCRIBED, fs.Collective("all_reduce", 1 << 20, algorithm="ring"), 0.9, samples=1
        ),
        ex.OverloadError,
        "leaf->spine",
        "'leaf0' -> 'spine0'",
        "240%",
        "overload='saturate'",
    ),
    case(
        "message-latency-samples-too-many",
        lambda: fs.message_latency(FAB, A, C, 1e6, background_load=0.3, samples=10**8),
        ex.InvalidArgumentError,
        "samples",
        "1..10,000,000",
        "100000000",
    ),
    case(
        "edge-requests-too-many",
        lambda: fs.edge_latency(EDGE, requests=10**8),
        ex.InvalidArgumentError,
        "requests",
        "1..10,000,000",
    ),
    case(
        "training-params-overflow",
        lambda: fs.TrainingJob(params=1e30, layers=2, hidden_size=8),
        ex.InvalidArgumentError,
        "params:",
        "1e+30",
        "2**63 - 1 bytes",
    ),
    case(
        "sweep-dtype-bytes-zero",
        lambda: fs.sweep_sizes(FAB, dtype_bytes=0, file=False),
        ex.InvalidArgumentError,
        "dtype_bytes",
        "got 0",
    ),
    case(
        "flow-from-switch",
        lambda: fs.simulate(FAB, [("leaf0", A, 1e6)]),
        ex.InvalidArgumentError,
        "flows[0]: src 'leaf0' is a switch (role 'leaf')",
        "endpoints",
    ),
    case(
        "flow-deps-bool",
        lambda: fs.simulate(FAB, [(A, C, 1e6), (C, A, 1e6, 0.0, [True])]),
        ex.InvalidTypeError,
        "deps[1]",
        "not bools",
        "True",
    ),
    case(
        "flow-key-negative",
        lambda: fs.FlowSet.build([0], [1], [1.0], flow_key=[-1]),
        ex.InvalidArgumentError,
        "flow_key",
        "[0, 2**64)",
        "-1",
    ),
    case(
        "flow-start-too-late",
        lambda: fs.simulate(FAB, [(A, C, 1e6, 1e12)]),
        ex.InvalidArgumentError,
        "flow 0: start_s",
        "[0, 1e+06] s",
        "1000000000000.0",
    ),
    case(
        "design-name-empty",
        lambda: fs.compare({"": FAB}, SMALL_JOB, loads=(0.0,), samples=1),
        ex.InvalidArgumentError,
        "designs[0].name",
        "non-empty",
    ),
    case(
        "plot-unknown-format",
        lambda: fs.plot_erosion([], "erosion.xyz"),
        ex.InvalidArgumentError,
        "unknown image format 'xyz'",
        "png",
    ),
]
if importlib.util.find_spec("fabricsim.cli.scenario") is not None:
    CASES += [
        case(
            "scenario-params-overflow",
            lambda: load_scenario(text=scenario_with("params = 1.24e8", "params = 1e300")),
            ex.ScenarioError,
            "<scenario>:13:",
            "job.params",
            "1e+300",
        ),
        case(
            "scenario-size-overflow",
            lambda: load_scenario(text=scenario_with('"1GiB"', '"9999999TiB"')),
            ex.ScenarioError,
            "sweep.collective_size_bytes",
            "2**63 - 1",
            "1.1e+19",
        ),
        case(
            "scenario-samples-too-many",
            lambda: load_scenario(text=scenario_with("samples = 2", "samples = 100000000")),
            ex.ScenarioError,
            "sweep.samples",
            "1..10,000,000",
        ),
        case(
            "scenario-design-name-empty",
            lambda: load_scenario(text=scenario_with('name = "small"', 'name = ""')),
            ex.ScenarioError,
            "fabric[0].name",
            "non-empty",
        ),
        case(
            "scenario-not-a-regular-file",
            lambda: load_scenario("/dev/zero"),
            ex.ScenarioError,
            "/dev/zero",
            "not a regular file",
        ),
        case(
            "scenario-path-with-equals",
            lambda: load_scenario("a=b.toml"),
            ex.ScenarioError,
            "a=b.toml: no such scenario file",
        ),
    ]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c: Case):
    with pytest.raises(Exception) as info:
        c.call()
    e = info.value
    assert isinstance(e, c.exc), f"{c.id}: expected {c.exc.__name__}, got {type(e).__name__}: {e}"
    assert isinstance(e, ex.FabricError) and not isinstance(e, ex.InternalError)
    assert isinstance(e, (ValueError, TypeError))  # generic handlers keep working
    for needle in c.needles:
        assert needle in str(e), f"{c.id}: {needle!r} not in {str(e)!r}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_docs_list_every_case():
    """docs/errors.md has one row per case (its id in backticks) and no row for a missing one."""
    text = (ROOT / "docs" / "errors.md").read_text()
    documented = set(re.findall(r"`test_bad_input\[([a-z0-9-]+)\]`", text))
    ids = {c.id for c in CASES}
    assert ids - documented == set(), "cases missing from docs/errors.md"
    assert documented - ids == set(), "docs/errors.md names cases that do not exist"


# ------------------------------------------------------------------------------ the quiet failures
# Inputs that once produced a wrong answer or a hang rather than an error.


def test_long_paths_are_not_silently_unreachable():
    """Just under the path bound the GPUs route (no 32-bit overflow into 'unreachable')."""
    fab = F(chain(3, 1e6))  # 4 links of 1 s: 4e9 ns < 2**32
    assert fab.route("a", "b").latency_us == pytest.approx(4e6)
    res = fs.simulate(fab, [("a", "b", 1e6)])
    assert res.finish_s[0] == pytest.approx(4.0 + 1e6 / (100e9 / 8))


def test_tiny_capacities_give_finite_times():
    G = two_gpus(capacity_gbps=1e-6)
    res = fs.simulate(F(G, efficiency=1e-3), [("a", "b", 2**62)])
    assert res.finish_s[0] == pytest.approx(2**62 / (1e-9 * 1e9 / 8))  # 1 b/s usable, finite


# ------------------------------------------------------------------------------ fuzzing

JUNK = st.sampled_from(
    [
        None,
        "x",
        "",
        "1",
        b"1",
        -1,
        0,
        1,
        0.5,
        -0.0,
        1e-300,
        1e300,
        2**63,
        2**64,
        10**400,
        NAN,
        INF,
        -INF,
        True,
        False,
        [],
        [1],
        {},
        (1, 2),
        complex(1, 1),
        np.float64(NAN),
        np.int64(-3),
        np.float32(2.5),
        object(),
    ]
)


def numbers(lo: float, hi: float) -> st.SearchStrategy:
    """Mostly valid numbers in [lo, hi], sometimes junk."""
    return st.one_of(st.floats(lo, hi), st.integers(int(math.ceil(lo)), int(hi)), JUNK)


def fuzz(settings_examples: int) -> settings:
    scale = settings.default.max_examples / 25
    return settings(max_examples=max(1, round(settings_examples * scale)), deadline=None)


def survives(call: Callable[[], object]) -> object:
    """Run ``call``; fabricsim's own exceptions are fine, anything else fails the test."""
    try:
        return call()
    except ex.InternalError:
        raise
    except ex.FabricError as e:
        assert str(e), "an error without a message"
        return None


VALID_GRAPHS = fst.fabric_graphs(max_gpus=4, max_switches=3, max_edge_sites=1)


@st.composite
def mutated_graphs(draw):
    """A valid fabric graph, then up to three random corruptions of it."""
    G = draw(VALID_GRAPHS)
    for _ in range(draw(st.integers(0, 3))):
        what = draw(
            st.sampled_from(
                [
                    "node_attr",
                    "edge_attr",
                    "del_node_attr",
                    "del_edge_attr",
                    "self_loop",
                    "lonely_gpu",
                    "untyped_node",
                    "remove_gpus",
                    "digraph",
                    "multigraph",
                ]
            )
        )
        nodes, edges = list(G.nodes), list(G.edges)
        if what == "node_attr" and nodes:
            n = draw(st.sampled_from(nodes))
            G.nodes[n][draw(st.sampled_from(["role", "rail", "host", "pod", "su", "site"]))] = draw(
                JUNK | st.sampled_from(fs.schema.ROLES)
            )
        elif what == "edge_attr" and edges:
            u, v = draw(st.sampled_from(edges))[:2]
            key = draw(
                st.sampled_from(
                    ["capacity_gbps", "latency_us", "kind", "availability", "jitter_us", "carrier"]
                )
            )
            for d in G.get_edge_data(u, v).values() if G.is_multigraph() else [G.edges[u, v]]:
                d[key] = draw(JUNK | st.floats(-10, 1e7))
        elif what == "del_node_attr" and nodes:
            G.nodes[draw(st.sampled_from(nodes))].pop("role", None)
        elif what == "del_edge_attr" and edges and not G.is_multigraph():
            u, v = draw(st.sampled_from(edges))[:2]
            G.edges[u, v].pop(draw(st.sampled_from(["capacity_gbps", "latency_us"])), None)
        elif what == "self_loop" and nodes:
            n = draw(st.sampled_from(nodes))
            G.add_edge(n, n, capacity_gbps=1.0, latency_us=1.0)
        elif what == "lonely_gpu":
            G.add_node(("lonely", len(G)), role="gpu")
        elif what == "untyped_node" and nodes:
            G.add_edge(draw(st.sampled_from(nodes)), 3.5, capacity_gbps=1.0, latency_us=1.0)
        elif what == "remove_gpus":
            G.remove_nodes_from([n for n, r in list(G.nodes(data="role")) if r == "gpu"])
        elif what == "digraph":
            G = nx.DiGraph(G)
        elif what == "multigraph" and not G.is_directed() and edges:
            G = nx.MultiGraph(G)
            u, v = draw(st.sampled_from(edges))[:2]
            G.add_edge(
                u,
                v,
                capacity_gbps=draw(numbers(0, 10)),
                latency_us=1.0,
                kind=draw(st.sampled_from([None, "fabric", "wan"])),
            )
    return G


@fuzz(250)
@given(
    G=mutated_graphs(),
    parallel=st.sampled_from(["aggregate", "reject"]) | JUNK,
    efficiency=st.one_of(
        st.none(),
        st.floats(0.5, 1.0),
        JUNK,
        st.dictionaries(st.sampled_from(["access", "fabric", "x"]), JUNK, max_size=2),
    ),
    data=st.data(),
)
def test_fuzz_graphs(G, parallel, efficiency, data):
    fab = survives(lambda: F(G, parallel=parallel, efficiency=efficiency))
    if fab is None or len(fab.gpus) < 2:
        return
    a, b = data.draw(st.permutations(fab.gpus))[:2]
    survives(
        lambda: fs.simulate(
            fab, [(a, b, 1e6)], routing=data.draw(st.sampled_from(["ecmp", "spray"]))
        )
    )
    survives(lambda: fs.collective(fab, "all_reduce", 1 << 16, algorithm="ring"))


FABRICS = [
    FAB,
    fs.Fabric.from_networkx(fs.fat_tree(k=2)),
    fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=2, nodes_per_su=1, gpus_per_node=2)),
    EDGE,
]
ALL_NODES = sorted({n for f in FABRICS for n in f.nodes}, key=str)


def pick_bad(data, *names: str) -> str | None:
    """The argument that gets a junk value in this example (None about a third of the time:
    every argument valid), so each junk value meets otherwise valid input."""
    return data.draw(
        st.sampled_from([None] * max(1, len(names) // 2) + list(names)), label="junk argument"
    )


def value(data, name: str, bad: str | None, valid: st.SearchStrategy):
    return data.draw(JUNK if name == bad else valid, label=name)


def corrupt_row(data, flows: list) -> list:
    """One field of one row (or the row itself) replaced by junk, or a row from another
    fabric."""
    if not flows:
        return data.draw(JUNK | st.just([()]))
    i = data.draw(st.integers(0, len(flows) - 1))
    row = list(flows[i])
    k = data.draw(st.integers(-1, len(row)))
    if k == -1:
        flows[i] = data.draw(JUNK)
    elif k == len(row):
        flows[i] = tuple(row + [data.draw(JUNK | st.just([]))])  # a sixth field, or deps
    else:
        row[k] = data.draw(JUNK | st.sampled_from(ALL_NODES))
        flows[i] = tuple(row)
    return flows


@fuzz(250)
@given(data=st.data())
def test_fuzz_simulate(data):
    fab = data.draw(st.sampled_from(FABRICS), label="fabric")
    bad = pick_bad(
        data, "flows", "row", "routing", "metric", "seed", "engine", "src", "dst", "via", "limit"
    )
    flows = data.draw(fst.traffic_matrices(fab, max_flows=5, endpoints=fab.nodes), label="flows")
    if bad == "flows":
        flows = data.draw(
            JUNK
            | st.dictionaries(
                st.sampled_from(["src", "dst", "size_bytes", "start_s", "deps"]), JUNK
            )
        )
    elif bad == "row":
        flows = corrupt_row(data, flows)
    routing = value(data, "routing", bad, st.sampled_from(["ecmp", "spray"]))
    metric = value(data, "metric", bad, st.sampled_from(["hops", "latency"]))
    seed = value(data, "seed", bad, st.integers(0, 2**64 - 1))
    engine = value(data, "engine", bad, st.sampled_from(["rust", "reference"]))
    survives(
        lambda: fs.simulate(fab, flows, routing=routing, metric=metric, seed=seed, engine=engine)
    )
    a = value(data, "src", bad, st.sampled_from(fab.nodes))
    b = value(data, "dst", bad, st.sampled_from(fab.nodes))
    via = value(data, "via", bad, st.none() | st.sampled_from(fab.nodes))
    survives(lambda: fab.route(a, b, policy=routing, seed=seed, metric=metric, via=via))
    limit = value(data, "limit", bad, st.integers(1, 4))
    survives(lambda: fab.paths(a, b, metric=metric, limit=limit))


@fuzz(250)
@given(data=st.data())
def test_fuzz_collective(data):
    fab = data.draw(st.sampled_from(FABRICS), label="fabric")
    coll = data.draw(fst.collectives(fab, max_size_bytes=1 << 22), label="collective")
    bad = pick_bad(
        data,
        "op",
        "size_bytes",
        "ranks",
        "rank",
        "algorithm",
        "channels",
        "pipeline_chunks",
        "profile",
        "routing",
        "metric",
        "max_flows",
    )
    op = value(data, "op", bad, st.just(coll.op) | st.sampled_from(["AllReduce", "bcast"]))
    size = value(data, "size_bytes", bad, st.just(coll.size_bytes))
    ranks = value(data, "ranks", bad, st.just(coll.ranks))
    if bad == "rank":
        ranks = list(fab.gpus if ranks is None else ranks)
        ranks[data.draw(st.integers(0, len(ranks) - 1))] = data.draw(
            JUNK | st.sampled_from(ALL_NODES)
        )
    kw = {
        "algorithm": value(data, "algorithm", bad, st.just(coll.algorithm)),
        "channels": value(data, "channels", bad, st.just(coll.channels)),
        "pipeline_chunks": value(data, "pipeline_chunks", bad, st.none() | st.integers(1, 8)),
        "profile": value(data, "profile", bad, st.none() | st.sampled_from(["h100", "b200"])),
        "routing": value(data, "routing", bad, st.sampled_from(["ecmp", "spray"])),
        "metric": value(data, "metric", bad, st.sampled_from(["hops", "latency"])),
        "max_flows": value(data, "max_flows", bad, st.integers(1000, 10**6)),
    }
    survives(lambda: fs.collective(fab, op, size, ranks, **kw))


BG_SIZES = st.sampled_from(["websearch", "storage", 1e6])


@fuzz(120)
@given(data=st.data())
def test_fuzz_tail_latency(data):
    fab = data.draw(st.sampled_from(FABRICS[:3]), label="fabric")
    bad = pick_bad(
        data,
        "workload",
        "flow",
        "background",
        "samples",
        "placement",
        "threads",
        "warmup_s",
        "horizon",
        "load",
        "sizes",
        "cdf",
        "pattern",
        "static_fraction",
        "endpoints",
        "incast_receivers",
        "vary_hash",
        "overload",
    )
    workload = data.draw(
        fst.collectives(fab, ops=["all_reduce", "all_to_all", "broadcast"], max_size_bytes=1 << 20)
        | fst.traffic_matrices(fab, min_flows=1, max_flows=4, max_size_bytes=10**7),
        label="workload",
    )
    if bad == "workload":
        workload = data.draw(JUNK)
    elif bad == "flow" and isinstance(workload, list):
        workload = corrupt_row(data, workload)
    kw = {
        "load": value(data, "load", bad, st.floats(0.0, 0.5)),
        "sizes": value(data, "sizes", bad, BG_SIZES),
        "pattern": value(
            data, "pattern", bad, st.sampled_from(["uniform", "permutation", "incast"])
        ),
        "static_fraction": value(data, "static_fraction", bad, st.just(0.0) | st.floats(0, 0.5)),
        "endpoints": value(
            data,
            "endpoints",
            bad,
            st.none() | st.lists(st.sampled_from(fab.gpus), min_size=2, max_size=3, unique=True),
        ),
        "incast_receivers": value(data, "incast_receivers", bad, st.just(1)),
    }
    if bad == "cdf":
        kw["sizes"] = (
            data.draw(st.lists(numbers(1e5, 1e7), max_size=3)),
            data.draw(st.lists(numbers(0, 1), max_size=3)),
        )
    background = data.draw(st.none() | st.floats(0.0, 0.5), label="background")
    if bad == "background":
        background = data.draw(JUNK)
    elif data.draw(st.booleans()):
        background = survives(lambda: fs.Background(**kw))
    survives(
        lambda: fs.tail_latency(
            fab,
            workload,
            background,
            value(data, "samples", bad, st.integers(1, 3)),
            placement=value(data, "placement", bad, st.sampled_from(["fixed", "random"])),
            threads=value(data, "threads", bad, st.none() | st.integers(1, 3)),
            warmup_s=value(data, "warmup_s", bad, st.none() | st.floats(0, 1e-4)),
            horizon=value(data, "horizon", bad, st.floats(0.5, 3)),
            vary_hash=value(data, "vary_hash", bad, st.booleans()),
            overload=value(data, "overload", bad, st.sampled_from(["raise", "saturate"])),
        )
    )


@fuzz(150)
@given(data=st.data())
def test_fuzz_bounded_inputs(data):
    """Issue 13's classes: sample / request counts, derived sizes, ECMP keys, dependencies,
    sequences of any kind and scenario paths, valid or junk: fabricsim errors only (never a
    MemoryError, a hang, a bare TypeError or an OverflowError)."""
    which = data.draw(
        st.sampled_from(["message", "edge", "job", "dtype", "flow_key", "deps", "ranks", "path"]),
        label="call",
    )
    small = st.integers(1, 200)
    if which == "message":
        n = data.draw(small | JUNK | st.just(10**8), label="samples")
        q = data.draw(
            st.just((0.5, 0.99)) | JUNK | st.builds(lambda: (x for x in (0.5,))), label="q"
        )
        survives(
            lambda: fs.message_latency(FAB, A, C, 1e6, background_load=0.3, samples=n, quantiles=q)
        )
    elif which == "edge":
        n = data.draw(small | JUNK | st.just(10**8), label="requests")
        survives(lambda: fs.edge_latency(EDGE, requests=n))
    elif which == "job":
        params = data.draw(
            st.floats(1e3, 1e12) | JUNK | st.sampled_from([1e19, 1e30, 1e300]), label="params"
        )
        survives(lambda: fs.TrainingJob(params=params, layers=2, hidden_size=8))
    elif which == "dtype":
        d = data.draw(st.integers(1, 8) | JUNK, label="dtype_bytes")
        survives(lambda: fs.sweep_sizes(FAB, min_bytes=8, max_bytes=64, dtype_bytes=d, file=False))
    elif which == "flow_key":
        k = data.draw(st.integers(0, 2**64 - 1) | JUNK, label="flow_key")
        survives(lambda: fs.FlowSet.build([0], [1], [1.0], flow_key=[k]))
    elif which == "deps":
        d = data.draw(
            st.just([0]) | JUNK | st.just([True]) | st.builds(lambda: (x for x in [0])),
            label="deps",
        )
        survives(lambda: fs.simulate(FAB, [(A, C, 1e6), (C, A, 1e6, 0.0, d)]))
    elif which == "ranks":
        r = data.draw(
            st.just(set(FAB.gpus)) | st.builds(lambda: (g for g in FAB.gpus)) | JUNK, label="ranks"
        )
        survives(lambda: fs.collective(FAB, "all_gather", 1 << 16, ranks=r))
    else:
        path = data.draw(
            st.sampled_from(["/dev/zero", "/dev/null", "/", "a=b.toml", "", "no\nsuch", "x" * 300])
            | JUNK,
            label="path",
        )
        survives(lambda: load_scenario_or_skip()(path))


def load_scenario_or_skip():
    return pytest.importorskip("fabricsim.cli.scenario").load_scenario


# ------------------------------------------------------------------------------ scenario files

TOML_JUNK = (
    st.sampled_from(
        [
            "two",
            "",
            "1GiB",
            "-5",
            "nan",
            0,
            -1,
            1,
            7,
            1.5,
            -0.0,
            NAN,
            INF,
            -INF,
            True,
            False,
            [],
            [1, "a"],
            [[1e3, 1e6], [0.0, 1.0]],
            {"x": 1},
            2**31,
            2**63 - 1,
            -(2**63),
            1e300,
        ]
    )
    | st.text(max_size=4)
    | st.integers(-10, 100)
    | st.floats()
)
# (Integers stay small or huge: a count of, say, 50,000 hosts is valid, just slow to build.)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise AssertionError(v)


def to_toml(data: dict, prefix: str = "") -> str:
    """A small TOML writer: scalars and inline arrays first, then tables and arrays of tables."""
    lines = [
        f"{json.dumps(k)} = {toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict)
        and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))
    ]
    for k, v in data.items():
        name = f"{prefix}{json.dumps(k)}"
        if isinstance(v, dict):
            lines += ["", f"[{name}]", to_toml(v, name + ".")]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines += ["", f"[[{name}]]", to_toml(item, name + ".")]
    return "\n".join(lines)


def leaf_paths(data, path=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaf_paths(v, path + (k,))
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for i, v in enumerate(data):
            yield from leaf_paths(v, path + (i,))
    else:
        yield path


@fuzz(150)
@given(data=st.data())
def test_fuzz_scenario_files(data):
    """Scenario files with one value replaced by junk of another type, a key added or
    removed, or a table replaced by a value: ScenarioError (or another fabricsim error) only."""
    load_scenario = pytest.importorskip("fabricsim.cli.scenario").load_scenario
    doc = tomllib.loads(SCENARIO)
    paths = list(leaf_paths(doc))
    for _ in range(data.draw(st.integers(0, 2), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="key")
        parent = doc
        for p in path[:-1]:
            parent = parent[p] if isinstance(parent, (dict, list)) else parent
        if not isinstance(parent, dict):
            continue
        how = data.draw(st.sampled_from(["junk", "junk", "junk", "delete", "add", "table"]))
        if how == "junk":
            parent[path[-1]] = data.draw(TOML_JUNK, label="value")
        elif how == "delete":
            parent.pop(path[-1], None)
        elif how == "add":
            parent[data.draw(st.sampled_from(["extra", "leafs", "name", "seed"]))] = data.draw(
                TOML_JUNK
            )
        else:
            parent[path[-1]] = {"value": data.draw(TOML_JUNK)}
    text = to_toml(doc)
    survives(lambda: load_scenario(text=text))


# ------------------------------------------------------------------------------ issue 13: no NaN

NAN_FIELDS = (
    "start_s",
    "transfer_end_s",
    "finish_s",
    "mean_rate_Bps",
    "min_rate_Bps",
    "max_rate_Bps",
    "latency_s",
)


@pytest.mark.parametrize(
    "flows",
    [
        [(A, A, 1e6)],  # from a node to itself
        [(A, C, 0.0)],  # 0 bytes
        [(A, C, 1e-320)],  # a transfer shorter than float64 resolves
        [(A, C, 1e15), (A, C, 1.0)],  # a tiny flow behind a huge one
        [(A, C, 1e6), (C, C, 5e5, 0.0, [0]), (C, A, 1e6, 0.0, [1])],  # self-flow in a chain
    ],
    ids=["self", "zero-bytes", "denormal", "tiny-behind-huge", "self-in-chain"],
)
def test_edge_case_flows_have_no_nan_and_both_engines_agree(flows):
    rust = fs.simulate(FAB, flows, routing="spray")
    ref = fs.simulate(FAB, flows, routing="spray", engine="reference")
    for k in NAN_FIELDS:
        a, b = getattr(rust, k), getattr(ref, k)
        assert not np.isnan(a).any() and not np.isnan(b).any(), k
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=k)  # < 1 ns
    moved_nothing = [i for i, f in enumerate(flows) if f[0] == f[1] or f[2] == 0]
    assert all(rust.mean_rate_Bps[i] == 0 == rust.max_rate_Bps[i] for i in moved_nothing)
    for i, f in enumerate(flows):
        if f[0] == f[1]:  # completes when it starts
            assert rust.finish_s[i] == rust.start_s[i]


def test_tail_latency_of_an_empty_workload_has_no_nan():
    r = fs.tail_latency(FAB, [], None, samples=3)
    assert r.slowdown_p99 == 1.0 and r.p99_s == 0.0 and r.spread_s == 0.0


def test_sequences_accept_any_iterable():
    """ranks as a set or a generator used to raise a bare TypeError ('set' object is not
    subscriptable); every sequence argument takes any iterable."""
    by_list = fs.collective(FAB, "all_gather", 1 << 20, ranks=[A, C])
    assert fs.collective(FAB, "all_gather", 1 << 20, ranks={A, C}).n_ranks == 2
    gen = fs.collective(FAB, "all_gather", 1 << 20, ranks=(g for g in (A, C)))
    assert gen.time_s == by_list.time_s
    job = fs.TrainingJob(
        params=1e6,
        layers=2,
        hidden_size=64,
        seq_len=64,
        data_parallel=2,
        global_batch_tokens=128,
        ranks=(g for g in (A, C)),
    )
    assert job.ranks == (A, C)
    flows = (f for f in [(A, C, 1e6)])
    assert fs.simulate(FAB, flows).makespan_s > 0
    r = fs.message_latency(
        FAB, A, C, 1e6, background_load=0.2, samples=100, quantiles=(q for q in (0.5, 0.99))
    )
    assert len(r.as_dict()) > 0


def test_a_huge_integer_load_is_a_named_error_with_a_short_message():
    """Found by the fuzz: ``tail_latency(fab, job, 10**400)`` raised a bare OverflowError
    (``float()`` of the load before its check); the message also printed all 401 digits."""
    from fabricsim.traffic.background import as_background

    with pytest.raises(fs.InvalidArgumentError, match=r"^load: .*an integer of 401 digits\)$"):
        as_background(10**400)
    with pytest.raises(fs.InvalidArgumentError, match=r"samples: .*of 301 digits"):
        fs.tail_latency(
            fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2)),
            fs.Collective("all_reduce", 1 << 20),
            samples=10**300,
        )
