"""Schema validation and compilation: every error names its culprit; arrays follow the link rule."""

from __future__ import annotations

import math
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.exceptions import (
    EmptyFabricError,
    InvalidAttributeError,
    InvalidGraphError,
    InvalidTypeError,
    MissingAttributeError,
    ParallelEdgeError,
    SelfLoopError,
    UnknownNameError,
    UnknownRoleError,
    UnreachableError,
)
from fabricsim.fabric import schema


def tiny(graph_cls=nx.Graph) -> nx.Graph:
    """Two GPUs on one leaf."""
    G = graph_cls()
    G.add_node("gpu0", role="gpu", host="h0", rail=0)
    G.add_node("gpu1", role="gpu", host="h1", rail=0)
    G.add_node("leaf", role="leaf")
    G.add_edge("gpu0", "leaf", capacity_gbps=400.0, latency_us=0.6, kind="access")
    G.add_edge("gpu1", "leaf", capacity_gbps=400.0, latency_us=0.6, kind="access")
    return G


def host(G: nx.Graph, name: str, n_gpus: int = 2) -> list[str]:
    """A server with an NVSwitch and no NIC."""
    G.add_node(f"{name}/nvs", role="nvswitch", host=name)
    gpus = [f"{name}/gpu{i}" for i in range(n_gpus)]
    for i, g in enumerate(gpus):
        G.add_node(g, role="gpu", host=name, rail=i)
        G.add_edge(g, f"{name}/nvs", capacity_gbps=3600.0, latency_us=0.5, kind="nvlink")
    return gpus


def test_constants():
    assert schema.ROLES == (
        "gpu",
        "nvswitch",
        "nic",
        "leaf",
        "spine",
        "core",
        "border",
        "carrier_pop",
        "edge_site",
    )
    assert schema.ENDPOINT_ROLES == ("gpu", "edge_site")
    assert schema.KINDS == ("nvlink", "access", "fabric", "wan", "pcie")
    assert set(schema.ENDPOINT_ROLES) <= set(schema.ROLES)


def test_valid_graph_returns_a_copy():
    G = tiny()
    H = schema.validate(G)
    assert isinstance(H, nx.Graph) and H is not G
    assert list(H.nodes) == list(G.nodes) and list(H.edges) == list(G.edges)
    H.nodes["gpu0"]["role"] = "leaf"
    assert G.nodes["gpu0"]["role"] == "gpu"


# ------------------------------------------------------------------- graph-level errors


@pytest.mark.parametrize("bad", [None, {"a": 1}, [("a", "b")], "graph"])
def test_not_a_graph(bad):
    with pytest.raises(InvalidTypeError, match=type(bad).__name__):
        schema.validate(bad)


@pytest.mark.parametrize("cls", [nx.DiGraph, nx.MultiDiGraph])
def test_directed_graph(cls):
    with pytest.raises(InvalidGraphError, match="undirected") as e:
        schema.validate(tiny(cls))
    assert "full duplex" in str(e.value)


def test_empty_graph():
    with pytest.raises(EmptyFabricError, match="no nodes"):
        schema.validate(nx.Graph())


def test_no_gpu():
    G = nx.Graph()
    G.add_node("a", role="leaf")
    G.add_node("b", role="spine")
    G.add_edge("a", "b", capacity_gbps=1, latency_us=1)
    with pytest.raises(EmptyFabricError, match="'gpu'"):
        schema.validate(G)


def test_unknown_parallel_mode():
    with pytest.raises(UnknownNameError, match="parallel.*'merge'.*aggregate, reject"):
        schema.validate(tiny(), parallel="merge")


# ------------------------------------------------------------------- node errors


def test_missing_role():
    G = tiny()
    del G.nodes["leaf"]["role"]
    with pytest.raises(MissingAttributeError, match="node 'leaf'.*'role'"):
        schema.validate(G)


@pytest.mark.parametrize("role", ["switch", "GPU", 3, ("gpu",)])
def test_unknown_role(role):
    G = tiny()
    G.nodes["leaf"]["role"] = role
    with pytest.raises(UnknownRoleError, match="node 'leaf'") as e:
        schema.validate(G)
    assert "gpu, nvswitch, nic, leaf, spine, core, border, carrier_pop, edge_site" in str(e.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rail", -1),
        ("rail", "0"),
        ("rail", True),
        ("rail", 1.0),
        ("pod", -2),
        ("su", 0.5),
        ("site", 3),
        ("host", 1.5),
    ],
)
def test_bad_optional_node_attribute(key, value):
    G = tiny()
    G.nodes["gpu1"][key] = value
    with pytest.raises(InvalidAttributeError, match=f"node 'gpu1': {key}"):
        schema.validate(G)


def test_optional_node_attributes_accept_numpy_ints_and_none():
    G = tiny()
    G.nodes["gpu1"].update(rail=np.int64(3), pod=None, su=2, site="x", host=7)
    schema.validate(G)


# ------------------------------------------------------------------- edge errors


@pytest.mark.parametrize("key", ["capacity_gbps", "latency_us"])
def test_missing_edge_attribute(key):
    G = tiny()
    del G.edges["gpu1", "leaf"][key]
    with pytest.raises(MissingAttributeError, match=rf"edge \('gpu1', 'leaf'\).*'{key}'"):
        schema.validate(G)


BAD_NUMBERS = [
    0,
    0.0,
    -1,
    -0.5,
    math.nan,
    np.nan,
    math.inf,
    -math.inf,
    np.float64("inf"),
    "400",
    True,
    False,
    np.bool_(True),
    [1],
    10**400,
]


@pytest.mark.parametrize("key", ["capacity_gbps", "latency_us"])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_bad_capacity_or_latency(key, value):
    G = tiny()
    G.edges["gpu1", "leaf"][key] = value
    pattern = rf"edge \('gpu1', 'leaf'\): {key} must be a finite number > 0, got"
    with pytest.raises(InvalidAttributeError, match=pattern):
        schema.validate(G)


def test_nan_message_matches_documented_form():
    G = nx.Graph()
    G.add_node("g0", role="gpu")
    G.add_node("g1", role="gpu")
    G.add_node("leaf0", role="leaf")
    G.add_node("spine1", role="spine")
    G.add_edge("g0", "leaf0", capacity_gbps=1, latency_us=1)
    G.add_edge("g1", "leaf0", capacity_gbps=1, latency_us=1)
    G.add_edge("leaf0", "spine1", capacity_gbps=math.nan, latency_us=1)
    with pytest.raises(InvalidAttributeError) as e:
        schema.validate(G)
    assert str(e.value) == (
        "edge ('leaf0', 'spine1'): capacity_gbps must be a finite number > 0, got nan"
    )


@pytest.mark.parametrize("value", [1, 2.5, np.float32(3), np.int64(4), Fraction(1, 3)], ids=repr)
def test_numeric_types_accepted(value):
    G = tiny()
    G.edges["gpu1", "leaf"]["capacity_gbps"] = value
    G.edges["gpu1", "leaf"]["latency_us"] = value
    cf = schema.compile(G)
    assert cf.capacity_gbps[2] == pytest.approx(float(value))
    assert cf.latency_us[3] == pytest.approx(float(value))


@pytest.mark.parametrize("kind", ["ethernet", "NVLINK", 1])
def test_unknown_kind(kind):
    G = tiny()
    G.edges["gpu0", "leaf"]["kind"] = kind
    with pytest.raises(InvalidAttributeError, match=r"edge \('gpu0', 'leaf'\): unknown kind") as e:
        schema.validate(G)
    assert "nvlink, access, fabric, wan" in str(e.value)


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.0000001, 2, math.nan, "0.9", True])
def test_bad_availability(value):
    G = tiny()
    G.edges["gpu0", "leaf"]["availability"] = value
    with pytest.raises(InvalidAttributeError, match=r"edge \('gpu0', 'leaf'\): availability"):
        schema.validate(G)


@pytest.mark.parametrize("value", [-1.0, math.inf, math.nan, "1"])
def test_bad_jitter(value):
    G = tiny()
    G.edges["gpu0", "leaf"]["jitter_us"] = value
    with pytest.raises(InvalidAttributeError, match=r"edge \('gpu0', 'leaf'\): jitter_us"):
        schema.validate(G)


def test_bad_carrier_type():
    G = tiny()
    G.edges["gpu0", "leaf"]["carrier"] = 5
    with pytest.raises(InvalidAttributeError, match=r"edge \('gpu0', 'leaf'\): carrier"):
        schema.validate(G)


def test_self_loop():
    G = tiny()
    G.add_edge("leaf", "leaf", capacity_gbps=1, latency_us=1)
    with pytest.raises(SelfLoopError, match=r"edge \('leaf', 'leaf'\)"):
        schema.validate(G)


def test_self_loop_in_multigraph_names_key():
    G = tiny(nx.MultiGraph)
    G.add_edge("leaf", "leaf", key="x", capacity_gbps=1, latency_us=1)
    with pytest.raises(SelfLoopError, match=r"edge \('leaf', 'leaf', key='x'\)"):
        schema.validate(G)


# ------------------------------------------------------------------- parallel edges


def multi() -> nx.MultiGraph:
    G = tiny(nx.MultiGraph)
    G.add_edge("gpu0", "leaf", capacity_gbps=100.0, latency_us=0.9, availability=0.9, kind="access")
    G.add_edge("gpu0", "leaf", capacity_gbps=100.0, latency_us=0.1, availability=0.8, kind="access")
    return G


def test_parallel_aggregate_is_default():
    G = multi()
    H = schema.validate(G)
    assert type(H) is nx.Graph
    assert H.number_of_edges() == 2
    d = H.edges["gpu0", "leaf"]
    assert d["capacity_gbps"] == pytest.approx(600.0)
    assert d["latency_us"] == pytest.approx(0.9)
    # the first member has no availability (= 1): the bundle is up whenever it is
    assert d["availability"] == pytest.approx(1.0)
    assert d["kind"] == "access"


def test_parallel_aggregate_availability_independent_members():
    G = nx.MultiGraph()
    G.add_nodes_from(["a", "b"], role="gpu")
    G.add_edge("a", "b", capacity_gbps=1, latency_us=2, availability=0.9, jitter_us=1.0)
    G.add_edge("a", "b", capacity_gbps=2, latency_us=1, availability=0.8, jitter_us=3.0)
    cf = schema.compile(G, parallel="aggregate")
    assert cf.edges == [("a", "b")]
    assert cf.availability.tolist() == pytest.approx([1 - 0.1 * 0.2] * 2)
    assert cf.capacity_gbps.tolist() == [3.0, 3.0]
    assert cf.latency_us.tolist() == [2.0, 2.0]
    assert cf.jitter_us.tolist() == [3.0, 3.0]
    assert cf.graph.edges["a", "b"]["availability"] == pytest.approx(0.98)


def test_parallel_reject_names_pair():
    with pytest.raises(ParallelEdgeError, match=r"edge \('gpu0', 'leaf'\): 3 parallel edges"):
        schema.validate(multi(), parallel="reject")


def test_multigraph_without_parallel_edges_passes_reject():
    cf = schema.compile(tiny(nx.MultiGraph), parallel="reject")
    assert cf.edges == [("gpu0", "leaf"), ("gpu1", "leaf")]


@pytest.mark.parametrize(
    ("key", "a", "b"), [("carrier", "x", "y"), ("carrier", "x", None), ("kind", "wan", "fabric")]
)
def test_parallel_aggregate_disagreeing_label(key, a, b):
    G = nx.MultiGraph()
    G.add_nodes_from(["a", "b"], role="gpu")
    G.add_edge("a", "b", capacity_gbps=1, latency_us=1, **{key: a})
    G.add_edge("a", "b", capacity_gbps=1, latency_us=1, **{key: b})
    with pytest.raises(InvalidAttributeError, match=rf"edge \('a', 'b'\): .*disagree on {key}"):
        schema.validate(G)


def test_parallel_aggregate_keeps_equal_labels():
    G = nx.MultiGraph()
    G.add_nodes_from(["a", "b"], role="gpu")
    for _ in range(2):
        G.add_edge("a", "b", capacity_gbps=1, latency_us=1, carrier="c", kind="wan")
    cf = schema.compile(G)
    assert cf.carrier == ["c"] and cf.kind == ["wan"]


def test_parallel_members_are_validated_each():
    G = multi()
    G.add_edge("gpu0", "leaf", key=7, capacity_gbps=-5, latency_us=1, kind="access")
    with pytest.raises(InvalidAttributeError, match=r"edge \('gpu0', 'leaf', key=7\)"):
        schema.validate(G)


# ------------------------------------------------------------------- reachability


def test_two_gpus_joined_directly_are_valid():
    G = nx.Graph()
    G.add_nodes_from(["a", "b"], role="gpu")
    G.add_edge("a", "b", capacity_gbps=1, latency_us=1)
    cf = schema.compile(G)
    assert cf.transit.tolist() == [False, False]


def test_single_gpu_is_valid():
    G = nx.Graph()
    G.add_node("only", role="gpu")
    assert schema.compile(G).num_edges == 0


def test_gpu_does_not_forward():
    G = nx.Graph()
    G.add_nodes_from(["a", "b", "c"], role="gpu")
    G.add_edge("a", "b", capacity_gbps=1, latency_us=1)
    G.add_edge("b", "c", capacity_gbps=1, latency_us=1)
    with pytest.raises(UnreachableError, match="'a' and 'c'"):
        schema.validate(G)


def test_edge_site_does_not_forward():
    G = nx.Graph()
    host(G, "h0")
    host(G, "h1")
    G.add_node("site", role="edge_site")
    G.add_edge("h0/nvs", "site", capacity_gbps=1, latency_us=1)
    G.add_edge("h1/nvs", "site", capacity_gbps=1, latency_us=1)
    with pytest.raises(UnreachableError, match="'h0/gpu0' and 'h1/gpu0'"):
        schema.validate(G)


def test_two_hosts_without_network():
    G = nx.Graph()
    host(G, "h0")
    host(G, "h1")
    with pytest.raises(UnreachableError) as e:
        schema.validate(G)
    msg = str(e.value)
    assert "'h0/gpu0'" in msg and "'h1/gpu0'" in msg


def test_isolated_gpu():
    G = tiny()
    G.add_node("lost", role="gpu")
    with pytest.raises(UnreachableError, match="'lost'"):
        schema.validate(G)


def test_hosts_joined_by_switch_fabric_are_valid():
    G = nx.Graph()
    gpus = host(G, "h0") + host(G, "h1")
    G.add_node("leaf", role="leaf")
    for g in gpus:
        G.add_edge(g, "leaf", capacity_gbps=400, latency_us=1)
    schema.validate(G)


def test_pairwise_shared_switches_without_common_one_are_valid():
    # a-b share s1, b-c share s2, a-c share s3: every pair reaches, no switch serves all.
    G = nx.Graph()
    G.add_nodes_from("abc", role="gpu")
    for s, pair in (("s1", "ab"), ("s2", "bc"), ("s3", "ac")):
        G.add_node(s, role="leaf")
        for g in pair:
            G.add_edge(g, s, capacity_gbps=1, latency_us=1)
    schema.validate(G)
    G.remove_edge("c", "s3")
    with pytest.raises(UnreachableError, match="'a' and 'c'|'c' and 'a'"):
        schema.validate(G)


def test_split_switch_fabric():
    G = nx.Graph()
    for i in range(4):
        G.add_node(f"g{i}", role="gpu")
    G.add_nodes_from(["l0", "l1"], role="leaf")
    for i in range(4):
        G.add_edge(f"g{i}", f"l{i // 2}", capacity_gbps=1, latency_us=1)
    with pytest.raises(UnreachableError, match="'g0'.*'g2'|'g2'.*'g0'"):
        schema.validate(G)
    G.add_node("spine", role="spine")
    G.add_edge("l0", "spine", capacity_gbps=1, latency_us=1)
    G.add_edge("l1", "spine", capacity_gbps=1, latency_us=1)
    schema.validate(G)


# ------------------------------------------------------------------- compile


def test_compile_arrays_and_link_rule():
    G = nx.Graph()
    G.add_node("spine", role="spine")
    G.add_node("leaf0", role="leaf")
    G.add_node("leaf1", role="leaf")
    G.add_node("g0", role="gpu")
    G.add_node("g1", role="gpu")
    G.add_node("site", role="edge_site")
    G.add_edge("g0", "leaf0", capacity_gbps=400, latency_us=0.5, kind="access")
    G.add_edge("leaf1", "g1", capacity_gbps=200, latency_us=0.25, kind="access")
    G.add_edge("leaf0", "spine", capacity_gbps=800, latency_us=1.0, kind="fabric")
    G.add_edge("spine", "leaf1", capacity_gbps=800, latency_us=1.0, kind="fabric")
    G.add_edge(
        "site",
        "spine",
        capacity_gbps=10,
        latency_us=100.0,
        kind="wan",
        carrier="t",
        availability=0.99,
        jitter_us=5.0,
    )
    cf = schema.compile(G)

    assert cf.nodes == list(G.nodes)
    assert cf.index == {n: i for i, n in enumerate(G.nodes)}
    assert cf.roles.tolist() == ["spine", "leaf", "leaf", "gpu", "gpu", "edge_site"]
    assert cf.transit.dtype == bool
    assert cf.transit.tolist() == [True, True, True, False, False, False]
    assert cf.edges == list(G.edges) == list(cf.graph.edges)
    m = G.number_of_edges()
    assert (cf.num_nodes, cf.num_edges, cf.num_links) == (6, m, 2 * m)
    assert cf.gpus.tolist() == [3, 4]
    for arr in (cf.link_src, cf.link_dst, cf.link_edge):
        assert arr.dtype == np.int64 and arr.shape == (2 * m,)
    for arr in (
        cf.capacity_gbps,
        cf.latency_us,
        cf.capacity_Bps,
        cf.latency_s,
        cf.availability,
        cf.jitter_us,
    ):
        assert arr.dtype == np.float64 and arr.shape == (2 * m,)
    assert len(cf.carrier) == len(cf.kind) == m

    for i, (u, v) in enumerate(cf.edges):
        d = G.edges[u, v]
        assert (cf.link_src[2 * i], cf.link_dst[2 * i]) == (cf.index[u], cf.index[v])
        assert (cf.link_src[2 * i + 1], cf.link_dst[2 * i + 1]) == (cf.index[v], cf.index[u])
        assert cf.link_edge[2 * i] == cf.link_edge[2 * i + 1] == i
        for link in (2 * i, 2 * i + 1):
            assert cf.capacity_gbps[link] == d["capacity_gbps"]
            assert cf.latency_us[link] == d["latency_us"]
            assert cf.capacity_Bps[link] == pytest.approx(d["capacity_gbps"] * 1e9 / 8)
            assert cf.latency_s[link] == pytest.approx(d["latency_us"] * 1e-6)
            assert cf.availability[link] == d.get("availability", 1.0)
            assert cf.jitter_us[link] == d.get("jitter_us", 0.0)
        assert cf.kind[i] == d["kind"]
        assert cf.carrier[i] == d.get("carrier")


def test_compiled_arrays_are_read_only_and_graph_is_a_copy():
    G = tiny()
    cf = schema.compile(G)
    with pytest.raises(ValueError):
        cf.capacity_gbps[0] = 1.0
    with pytest.raises(AttributeError):
        cf.nodes = []  # frozen dataclass
    G.edges["gpu0", "leaf"]["capacity_gbps"] = 1.0
    assert cf.graph.edges["gpu0", "leaf"]["capacity_gbps"] == 400.0


def test_compile_defaults_for_optional_edge_attributes():
    G = tiny()
    del G.edges["gpu0", "leaf"]["kind"]
    cf = schema.compile(G)
    assert cf.kind == [None, "access"]
    assert cf.carrier == [None, None]
    assert cf.availability.tolist() == [1.0] * 4


def test_compile_multigraph_keeps_first_occurrence_order():
    G = nx.MultiGraph()
    G.add_nodes_from(["a", "b", "c"], role="gpu")
    G.add_node("s", role="leaf")
    G.add_edge("s", "b", capacity_gbps=1, latency_us=1)
    G.add_edge("a", "s", capacity_gbps=1, latency_us=1)
    G.add_edge("s", "b", capacity_gbps=2, latency_us=1)
    G.add_edge("c", "s", capacity_gbps=1, latency_us=1)
    cf = schema.compile(G)
    assert cf.edges == list(nx.Graph(G).edges) == list(cf.graph.edges)
    assert cf.capacity_gbps[2 * cf.edges.index(("b", "s"))] == 3.0


@st.composite
def random_fabric(draw):
    """A connected switch tree with GPUs hung off it, plus a few extra switch links."""
    n_sw = draw(st.integers(1, 8))
    G = nx.Graph()
    for i in range(n_sw):
        G.add_node(f"s{i}", role=draw(st.sampled_from(["leaf", "spine", "core", "nvswitch"])))
        if i:
            j = draw(st.integers(0, i - 1))
            G.add_edge(
                f"s{j}",
                f"s{i}",
                capacity_gbps=draw(st.floats(1, 1e3)),
                latency_us=draw(st.floats(0.01, 10)),
            )
    for _ in range(draw(st.integers(0, 4))):
        a, b = draw(st.integers(0, n_sw - 1)), draw(st.integers(0, n_sw - 1))
        if a != b:
            G.add_edge(f"s{a}", f"s{b}", capacity_gbps=5.0, latency_us=1.0)
    for g in range(draw(st.integers(1, 6))):
        G.add_node(f"g{g}", role="gpu")
        G.add_edge(
            f"g{g}", f"s{draw(st.integers(0, n_sw - 1))}", capacity_gbps=100.0, latency_us=0.5
        )
    return G


@settings(max_examples=60, deadline=None)
@given(random_fabric())
def test_compile_property_link_rule(G):
    cf = schema.compile(G)
    m = G.number_of_edges()
    assert cf.edges == list(G.edges)
    assert cf.link_src.shape == (2 * m,)
    assert np.array_equal(cf.link_src[0::2], cf.link_dst[1::2])
    assert np.array_equal(cf.link_dst[0::2], cf.link_src[1::2])
    assert np.array_equal(cf.link_edge, np.repeat(np.arange(m), 2))
    assert np.array_equal(cf.capacity_Bps, cf.capacity_gbps * 1e9 / 8)
    for link in range(2 * m):
        u, v = cf.nodes[cf.link_src[link]], cf.nodes[cf.link_dst[link]]
        assert G.edges[u, v]["capacity_gbps"] == cf.capacity_gbps[link]
