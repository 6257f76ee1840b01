"""Fabric: compiling every builder, every FabricError through from_networkx, round trips,
routing (ECMP / spray / metrics / errors) and the basics of simulate()."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pytest

import fabricsim as fs
from fabricsim.exceptions import (
    DependencyCycleError,
    EmptyFabricError,
    FabricError,
    InvalidArgumentError,
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
from fabricsim.fabric import builders, schema

MASK64 = (1 << 64) - 1


# ----------------------------------------------------------------------------- helpers


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def ecmp_hash(seed: int, flow_key: int, u: int) -> int:
    """DEVELOPERS.md, Routing: hash = splitmix64(splitmix64(splitmix64(seed) ^ key) ^ u)."""
    return splitmix64(splitmix64(splitmix64(seed) ^ flow_key) ^ u)


def two_gpus() -> nx.Graph:
    """Two GPUs on one switch: the smallest valid fabric."""
    G = nx.Graph()
    G.add_node("a", role="gpu")
    G.add_node("b", role="gpu")
    G.add_node("sw", role="leaf")
    G.add_edge("a", "sw", capacity_gbps=400.0, latency_us=0.5, kind="access")
    G.add_edge("b", "sw", capacity_gbps=400.0, latency_us=0.5, kind="access")
    return G


def small_leaf_spine(**kw) -> nx.Graph:
    args = {"leaves": 2, "spines": 4, "hosts_per_leaf": 2, "gpus_per_host": 2}
    args.update(kw)
    return builders.leaf_spine(**args)


def transit_view(fab: fs.Fabric, src, dst) -> nx.Graph:
    """The graph routing searches from src to dst: transit nodes plus the two endpoints."""
    G = fab.graph
    keep = [n for n, r in G.nodes(data="role") if r not in schema.ENDPOINT_ROLES]
    return G.subgraph([*keep, src, dst])


def latency_weight(u, v, d) -> int:
    # DEVELOPERS.md: weight = max(1, round(latency_s * 1e9)) ns.
    return max(1, round(d["latency_us"] * 1e-6 * 1e9))


def assert_walk(fab: fs.Fabric, route: fs.Route, src, dst) -> list:
    """The ECMP links form one walk src -> dst through transit nodes; returns its nodes."""
    nodes = [src]
    for (u, v), lid in zip(route.links, route.link_ids.tolist(), strict=True):
        assert u == nodes[-1]
        assert fab.link(lid) == (u, v)
        assert fab.graph.has_edge(u, v)
        nodes.append(v)
    assert nodes[-1] == dst
    roles = fab.graph.nodes
    for n in nodes[1:-1]:
        assert roles[n]["role"] not in schema.ENDPOINT_ROLES, f"{n} forwarded traffic"
    assert len(set(nodes)) == len(nodes)  # loop-free
    np.testing.assert_array_equal(route.fractions, 1.0)
    return nodes


def spray_flows(fab: fs.Fabric, route: fs.Route) -> tuple[dict, dict]:
    out_flow: dict = defaultdict(float)
    in_flow: dict = defaultdict(float)
    for (u, v), f in zip(route.links, route.fractions.tolist(), strict=True):
        out_flow[u] += f
        in_flow[v] += f
    return out_flow, in_flow


def sample_pairs(fab: fs.Fabric, n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    gpus = fab.gpus
    pairs = []
    while len(pairs) < n:
        i, j = rng.integers(len(gpus), size=2)
        if i != j:
            pairs.append((gpus[i], gpus[j]))
    return pairs


def edge_site_graph() -> nx.Graph:
    return builders.edge_sites(
        builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2),
        carriers=[
            {"name": "a", "capacity_gbps": 100.0, "availability": 0.999},
            {"name": "b", "capacity_gbps": 40.0},
        ],
        sites=[
            {"name": "lyon", "carriers": ["a", "b"], "distance_km": 400.0, "capacity_gbps": 10.0},
            {"name": "nice", "carriers": ["b"], "distance_km": 100.0, "capacity_gbps": 10.0},
        ],
    )


BUILDERS = {
    "leaf_spine": lambda: builders.leaf_spine(
        leaves=3, spines=2, hosts_per_leaf=2, gpus_per_host=4, oversubscription=2.0
    ),
    "fat_tree": lambda: builders.fat_tree(k=4),
    "fat_tree_multi_gpu": lambda: builders.fat_tree(k=4, gpus_per_host=2),
    "rail_optimized_1su": lambda: builders.rail_optimized(nodes_per_su=4, gpus_per_node=4),
    "rail_optimized_3su": lambda: builders.rail_optimized(
        scalable_units=3, nodes_per_su=2, gpus_per_node=4, cores=2
    ),
    "edge_sites": edge_site_graph,
}


# ----------------------------------------------------------------------------- every builder


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_from_networkx_on_every_builder(name):
    G = BUILDERS[name]()
    fab = fs.Fabric.from_networkx(G)
    assert fab.nodes == list(G.nodes)
    assert fab.num_links == 2 * G.number_of_edges()
    assert fab.gpus == [n for n, r in G.nodes(data="role") if r == "gpu"]
    assert fab.role_counts() == dict(Counter(r for _, r in G.nodes(data="role")))
    roles = fab.role_counts()
    assert fab.switch_count == sum(roles.get(r, 0) for r in ("leaf", "spine", "core"))
    assert fab.cable_count == sum(1 for *_, k in G.edges(data="kind") if k != "nvlink")
    # Efficiency 1 by default: usable = capacity, in bytes/s.
    caps = np.repeat([d["capacity_gbps"] for *_, d in G.edges(data=True)], 2) * 1e9 / 8
    np.testing.assert_allclose(fab.usable_Bps, caps)
    assert "Fabric" in repr(fab) and str(G.number_of_edges()) in repr(fab)
    # Every GPU pair is routable; spot-check a few with both policies and both metrics.
    for s, d in sample_pairs(fab, 6, seed=1):
        hops = fab.distance(s, d, metric="hops")
        assert fab.route(s, d, metric="hops").hops == hops
        assert fab.route(s, d, policy="spray", metric="hops").hops == hops
        # The default metric is latency: the distance is the route's latency in us.
        assert fab.route(s, d).latency_us == pytest.approx(fab.distance(s, d))
        assert fab.route(s, d, policy="spray").latency_us == pytest.approx(fab.distance(s, d))


def test_from_networkx_does_not_modify_input():
    G = small_leaf_spine()
    before = nx.to_dict_of_dicts(G)
    node_attrs = dict(G.nodes(data=True))
    fab = fs.Fabric.from_networkx(G, efficiency=0.9)
    fab.to_networkx()
    assert nx.to_dict_of_dicts(G) == before
    assert dict(G.nodes(data=True)) == node_attrs
    assert fab.graph is not G


# ----------------------------------------------------------------------------- FabricError cases


def check_error(G, exc: type, *names: str, **kw) -> FabricError:
    with pytest.raises(exc) as ei:
        fs.Fabric.from_networkx(G, **kw)
    assert isinstance(ei.value, FabricError)
    msg = str(ei.value)
    for n in names:
        assert n in msg, f"{n!r} not in {msg!r}"
    return ei.value


def test_error_empty_graph():
    check_error(nx.Graph(), EmptyFabricError, "no nodes")


def test_error_no_gpu():
    G = nx.Graph()
    G.add_node("sw", role="leaf")
    check_error(G, EmptyFabricError, "gpu")


def test_error_missing_role():
    G = two_gpus()
    G.add_node("mystery")
    G.add_edge("mystery", "sw", capacity_gbps=1.0, latency_us=1.0)
    check_error(G, MissingAttributeError, "'mystery'", "role")


@pytest.mark.parametrize("role", ["router", "GPU", 3, None])
def test_error_unknown_role(role):
    G = two_gpus()
    G.nodes["sw"]["role"] = role
    exc = UnknownRoleError if role is not None else MissingAttributeError
    err = check_error(G, exc, "'sw'")
    if role is not None:
        for r in schema.ROLES:
            assert r in str(err)


@pytest.mark.parametrize("key", ["capacity_gbps", "latency_us"])
def test_error_missing_edge_attribute(key):
    G = two_gpus()
    del G.edges["b", "sw"][key]
    check_error(G, MissingAttributeError, "'b'", "'sw'", key)


@pytest.mark.parametrize("key", ["capacity_gbps", "latency_us"])
@pytest.mark.parametrize(
    "value", ["400", 0, 0.0, -1.0, math.nan, math.inf, -math.inf, True, [1.0], 10**400]
)
def test_error_bad_capacity_or_latency(key, value):
    G = two_gpus()
    G.edges["a", "sw"][key] = value
    check_error(G, InvalidAttributeError, "'a'", "'sw'", key)


def test_error_bad_kind_and_availability():
    G = two_gpus()
    G.edges["a", "sw"]["kind"] = "ethernet"
    check_error(G, InvalidAttributeError, "'a'", "'sw'", "kind", "nvlink")
    G = two_gpus()
    G.edges["a", "sw"]["availability"] = 1.5
    check_error(G, InvalidAttributeError, "'a'", "'sw'", "availability")


def test_error_self_loop():
    G = two_gpus()
    G.add_edge("sw", "sw", capacity_gbps=1.0, latency_us=1.0)
    check_error(G, SelfLoopError, "'sw'", "self-loop")


def multigraph() -> nx.MultiGraph:
    G = nx.MultiGraph(two_gpus())
    G.add_edge("a", "sw", capacity_gbps=100.0, latency_us=2.0, kind="access")
    return G


def test_parallel_edges_aggregate_by_default():
    fab = fs.Fabric.from_networkx(multigraph())
    assert fab.num_links == 4
    d = fab.graph.edges["a", "sw"]
    assert d["capacity_gbps"] == 500.0  # capacities add (a bundle)
    assert d["latency_us"] == 2.0  # the slowest member
    lid = fab.links_of_edge("a", "sw")[0]
    assert fab.usable_Bps[lid] == 500e9 / 8


def test_error_parallel_edges_rejected():
    check_error(multigraph(), ParallelEdgeError, "'a'", "'sw'", parallel="reject")


def test_error_parallel_edges_disagreeing_kind():
    G = multigraph()
    G.add_edge("a", "sw", capacity_gbps=100.0, latency_us=2.0, kind="wan")
    check_error(G, InvalidAttributeError, "'a'", "'sw'", "kind")


def test_error_unknown_parallel_mode():
    err = check_error(two_gpus(), UnknownNameError, "aggregate", "reject", parallel="merge")
    assert "'merge'" in str(err)


def test_error_gpus_unreachable_from_each_other():
    G = two_gpus()
    G.add_node("c", role="gpu")
    G.add_edge("c", "b", capacity_gbps=100.0, latency_us=1.0)  # c only reaches a through b
    err = check_error(G, UnreachableError, "'a'", "'c'")
    assert "forward" in str(err)


def test_error_two_switch_islands():
    G = two_gpus()
    G.add_node("c", role="gpu")
    G.add_node("sw2", role="leaf")
    G.add_edge("c", "sw2", capacity_gbps=100.0, latency_us=1.0)
    check_error(G, UnreachableError, "'c'")


def test_error_isolated_gpu():
    G = two_gpus()
    G.add_node("lonely", role="gpu")
    check_error(G, UnreachableError, "'lonely'")


def test_error_directed_and_non_graph():
    check_error(nx.DiGraph(two_gpus()), InvalidGraphError, "directed")
    with pytest.raises(InvalidTypeError, match="G"):
        fs.Fabric.from_networkx({"a": "b"})


@pytest.mark.parametrize(
    "efficiency, exc, text",
    [
        ({"optical": 0.9}, UnknownNameError, "'optical'"),
        (0.0, InvalidArgumentError, "efficiency"),
        (1.5, InvalidArgumentError, "efficiency"),
        ({"nvlink": math.nan}, InvalidArgumentError, "'nvlink'"),
        ("high", InvalidArgumentError, "efficiency"),
        (True, InvalidArgumentError, "efficiency"),
    ],
)
def test_error_bad_efficiency(efficiency, exc, text):
    check_error(two_gpus(), exc, text, efficiency=efficiency)


def test_every_error_is_a_fabric_error():
    for name in fs.exceptions.__all__:
        assert issubclass(getattr(fs.exceptions, name), FabricError)


# ----------------------------------------------------------------------------- to_networkx


def test_to_networkx_round_trip():
    G = edge_site_graph()
    fab = fs.Fabric.from_networkx(G, efficiency={"nvlink": 0.8, "wan": 0.5, "default": 0.9})
    H = fab.to_networkx()
    assert list(H.nodes) == list(G.nodes)
    assert dict(H.nodes(data=True)) == dict(G.nodes(data=True))
    assert H.graph == G.graph
    assert H.number_of_edges() == G.number_of_edges()
    eff = {"nvlink": 0.8, "wan": 0.5, "access": 0.9, "fabric": 0.9}
    seen = set()
    for u, v, d in H.edges(data=True):
        orig = G.edges[u, v]
        assert {k: d[k] for k in orig} == orig
        assert d["usable_gbps"] == pytest.approx(orig["capacity_gbps"] * eff[orig["kind"]])
        lu, lv = d["link_id_uv"], d["link_id_vu"]
        assert lv == lu + 1 and lu % 2 == 0
        assert {fab.link(lu), fab.link(lv)} == {(u, v), (v, u)}
        assert fab.links_of_edge(u, v) == (lu, lv) if fab.link(lu) == (u, v) else (lv, lu)
        assert fab.usable_Bps[lu] == pytest.approx(d["usable_gbps"] * 1e9 / 8)
        seen.update((lu, lv))
    assert seen == set(range(fab.num_links))
    # The copy is independent of the fabric and compiles to the same arrays.
    H.edges[next(iter(H.edges))]["capacity_gbps"] = 1.0
    assert fab.to_networkx().edges[next(iter(H.edges))]["capacity_gbps"] != 1.0
    fab2 = fs.Fabric.from_networkx(fab.to_networkx(), efficiency=fab.efficiency)
    for key in ("link_src", "link_dst", "capacity_Bps", "latency_s", "transit"):
        np.testing.assert_array_equal(getattr(fab2.compiled, key), getattr(fab.compiled, key))
    np.testing.assert_array_equal(fab2.usable_Bps, fab.usable_Bps)


def test_to_networkx_of_multigraph_is_aggregated_graph():
    H = fs.Fabric.from_networkx(multigraph()).to_networkx()
    assert type(H) is nx.Graph
    assert H.edges["a", "sw"]["capacity_gbps"] == 500.0
    assert H.edges["a", "sw"]["usable_gbps"] == 500.0


# ----------------------------------------------------------------------------- routing


ROUTING_FABRICS = {
    "leaf_spine": lambda: small_leaf_spine(oversubscription=2.0),
    "fat_tree": lambda: builders.fat_tree(k=4, gpus_per_host=2),
    "rail_optimized": lambda: builders.rail_optimized(
        scalable_units=2, nodes_per_su=3, gpus_per_node=4
    ),
    "edge_sites": edge_site_graph,
}


@pytest.mark.parametrize("name", sorted(ROUTING_FABRICS))
def test_ecmp_paths_are_shortest(name):
    fab = fs.Fabric.from_networkx(ROUTING_FABRICS[name]())
    for k, (s, d) in enumerate(sample_pairs(fab, 25, seed=k_seed(name))):
        want = nx.shortest_path_length(transit_view(fab, s, d), s, d)
        for seed in (0, 7):
            r = fab.route(s, d, seed=seed, flow_key=k, metric="hops")
            nodes = assert_walk(fab, r, s, d)
            assert len(nodes) - 1 == want == r.hops == fab.distance(s, d, metric="hops")
            lat = sum(fab.graph.edges[u, v]["latency_us"] for u, v in r.links)
            assert r.latency_us == pytest.approx(lat)


def k_seed(name: str) -> int:
    return sum(map(ord, name))


def test_gpus_never_forward():
    # a - c - b through GPU c is 2 hops; the only legal path a - s1 - s2 - b is 3.
    G = nx.Graph()
    for g in "abc":
        G.add_node(g, role="gpu")
    G.add_node("s1", role="leaf")
    G.add_node("s2", role="leaf")
    e = {"capacity_gbps": 100.0, "latency_us": 1.0}
    G.add_edges_from([("a", "c", e), ("c", "b", e), ("a", "s1", e), ("s1", "s2", e)])
    G.add_edges_from([("s2", "b", e), ("c", "s1", e)])
    fab = fs.Fabric.from_networkx(G)
    assert nx.shortest_path_length(G, "a", "b") == 2
    assert fab.paths("a", "b") == [["a", "s1", "s2", "b"]]
    assert assert_walk(fab, fab.route("a", "b"), "a", "b") == ["a", "s1", "s2", "b"]
    # A direct GPU-GPU link is used: the neighbour is the destination, not a transit node.
    assert fab.paths("a", "c") == [["a", "c"]]


@pytest.mark.parametrize("name", sorted(ROUTING_FABRICS))
def test_paths_are_all_shortest_paths(name):
    fab = fs.Fabric.from_networkx(ROUTING_FABRICS[name]())
    for s, d in sample_pairs(fab, 10, seed=3):
        view = transit_view(fab, s, d)
        want = sorted(nx.all_shortest_paths(view, s, d))
        got = fab.paths(s, d, metric="hops")
        assert sorted(got) == want
        assert len({tuple(p) for p in got}) == len(got)


@pytest.mark.parametrize("spines", [1, 2, 4, 7])
def test_paths_count_equals_spines_cross_leaf(spines):
    fab = fs.Fabric.from_networkx(small_leaf_spine(spines=spines))
    a, b = "host0/gpu0", "host3/gpu1"  # leaf0 -> leaf1
    paths = fab.paths(a, b)
    assert len(paths) == spines
    assert sorted(p[2] for p in paths) == [f"spine{s}" for s in range(spines)]
    assert all(len(p) == 5 for p in paths)
    # Same leaf: one path, no spine.
    assert fab.paths("host0/gpu0", "host1/gpu1") == [["host0/gpu0", "leaf0", "host1/gpu1"]]
    assert fab.paths(a, b, limit=1) == paths[:1]


@pytest.mark.parametrize("k", [4, 6])
def test_fat_tree_path_counts(k):
    fab = fs.Fabric.from_networkx(builders.fat_tree(k=k))
    half = k // 2
    src = "pod0/host0/gpu0"
    cross_pod = fab.paths(src, "pod1/host0/gpu0")
    assert len(cross_pod) == half**2
    assert all(len(p) == 7 for p in cross_pod)  # 6 links: edge, agg, core, agg, edge
    assert len({p[3] for p in cross_pod}) == half**2  # every core once
    same_pod = fab.paths(src, f"pod0/host{half}/gpu0")  # another edge switch, same pod
    assert len(same_pod) == half
    assert len(fab.paths(src, "pod0/host1/gpu0")) == 1  # same edge switch


def test_spray_conserves_flow_at_every_hop():
    for name in sorted(ROUTING_FABRICS):
        fab = fs.Fabric.from_networkx(ROUTING_FABRICS[name]())
        for s, d in sample_pairs(fab, 10, seed=5):
            r = fab.route(s, d, policy="spray", metric="hops")
            assert np.all(r.fractions > 0) and np.all(r.fractions <= 1.0 + 1e-12)
            assert list(r.link_ids) == sorted(r.link_ids)  # sorted by link id
            out_flow, in_flow = spray_flows(fab, r)
            assert out_flow[s] == pytest.approx(1.0)
            assert in_flow[d] == pytest.approx(1.0)
            assert in_flow[s] == 0.0 and out_flow[d] == 0.0
            for n in set(out_flow) | set(in_flow):
                if n not in (s, d):
                    assert out_flow[n] == pytest.approx(in_flow[n]), (name, s, d, n)
            # The cut at every distance from the source carries the whole flow.
            dist = nx.single_source_shortest_path_length(transit_view(fab, s, d), s)
            per_level: dict = defaultdict(float)
            for (u, _), f in zip(r.links, r.fractions.tolist(), strict=True):
                per_level[dist[u]] += f
            assert len(per_level) == r.hops == fab.distance(s, d, metric="hops")
            for level, total in per_level.items():
                assert total == pytest.approx(1.0), (name, s, d, level)
            # Each node splits evenly over its next hops.
            shares = defaultdict(set)
            for (u, _), f in zip(r.links, r.fractions.tolist(), strict=True):
                shares[u].add(round(f, 12))
            assert all(len(v) == 1 for v in shares.values())
            # The spray DAG is exactly the union of the equal-cost paths.
            union = {
                (p[i], p[i + 1]) for p in fab.paths(s, d, metric="hops") for i in range(len(p) - 1)
            }
            assert set(r.links) == union


def test_spray_cross_leaf_fractions():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    r = fab.route("host0/gpu0", "host3/gpu0", policy="spray")
    frac = {link: f for link, f in zip(r.links, r.fractions.tolist(), strict=True)}
    for s in range(4):
        assert frac[("leaf0", f"spine{s}")] == pytest.approx(0.25)
        assert frac[(f"spine{s}", "leaf1")] == pytest.approx(0.25)
    assert frac[("host0/gpu0", "leaf0")] == 1.0 and frac[("leaf1", "host3/gpu0")] == 1.0
    assert r.hops == 4


def test_same_seed_same_paths():
    G = builders.fat_tree(k=6)
    fab1, fab2 = fs.Fabric.from_networkx(G), fs.Fabric.from_networkx(G)
    fab2.precompute_routes()
    for key, (s, d) in enumerate(sample_pairs(fab1, 40, seed=9)):
        r1 = fab1.route(s, d, seed=123, flow_key=key)
        r2 = fab1.route(s, d, seed=123, flow_key=key)
        r3 = fab2.route(s, d, seed=123, flow_key=key)
        assert r1.links == r2.links == r3.links
        np.testing.assert_array_equal(r1.link_ids, r3.link_ids)


def test_ecmp_choice_follows_documented_hash():
    fab = fs.Fabric.from_networkx(small_leaf_spine(gpus_per_host=1))
    c = fab.compiled
    leaf = fab.index("leaf0")
    uplinks = [
        lid
        for lid in np.flatnonzero(c.link_src == leaf).tolist()
        if c.roles[c.link_dst[lid]] == "spine"
    ]  # CSR order = increasing link id
    assert len(uplinks) == 4
    for seed in (0, 1, 2**63 + 5):
        for key in range(32):
            r = fab.route("host0/gpu0", "host2/gpu0", seed=seed, flow_key=key)
            want = uplinks[ecmp_hash(seed, key, leaf) % 4]
            assert r.link_ids[1] == want


def test_flow_keys_spread_over_all_spines():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    a, b = "host0/gpu0", "host2/gpu1"
    by_key = Counter(fab.route(a, b, seed=0, flow_key=k).links[1][1] for k in range(64))
    assert set(by_key) == {f"spine{s}" for s in range(4)}
    by_seed = Counter(fab.route(a, b, seed=s, flow_key=0).links[1][1] for s in range(64))
    assert set(by_seed) == {f"spine{s}" for s in range(4)}
    # And no spine is starved: 64 balls into 4 bins, each bin gets some share.
    assert min(by_key.values()) >= 4 and min(by_seed.values()) >= 4


def test_simulated_flows_spread_over_all_uplinks():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    src, dst = fab.gpus[:4], fab.gpus[4:]  # leaf0 -> leaf1
    assert all("leaf0" in fab.graph[g] for g in src) and all("leaf1" in fab.graph[g] for g in dst)
    flows = [(src[i % 4], dst[(i + i // 4) % 4], 1e6) for i in range(64)]
    res = fs.simulate(fab, flows, routing="ecmp", seed=11)
    for s in range(4):
        assert res.link_bytes[fab.links_of_edge("leaf0", f"spine{s}")[0]] > 0
    assert res.link_bytes.sum() > 0


def latency_vs_hops_graph() -> nx.Graph:
    """a - slow - b: 2 hops, 20 us;  a - f1 - f2 - b: 3 hops, 3 us."""
    G = nx.Graph()
    G.add_node("a", role="gpu")
    G.add_node("b", role="gpu")
    for n in ("slow", "f1", "f2"):
        G.add_node(n, role="leaf")
    G.add_edge("a", "slow", capacity_gbps=100.0, latency_us=10.0)
    G.add_edge("slow", "b", capacity_gbps=100.0, latency_us=10.0)
    G.add_edge("a", "f1", capacity_gbps=100.0, latency_us=1.0)
    G.add_edge("f1", "f2", capacity_gbps=100.0, latency_us=1.0)
    G.add_edge("f2", "b", capacity_gbps=100.0, latency_us=1.0)
    return G


def test_latency_metric_vs_hops_metric():
    fab = fs.Fabric.from_networkx(latency_vs_hops_graph())
    assert fab.paths("a", "b", metric="hops") == [["a", "slow", "b"]]
    assert fab.paths("a", "b", metric="latency") == [["a", "f1", "f2", "b"]]
    hops = fab.route("a", "b", metric="hops")
    lat = fab.route("a", "b", metric="latency")
    assert [v for _, v in hops.links] == ["slow", "b"] and hops.latency_us == pytest.approx(20)
    assert [v for _, v in lat.links] == ["f1", "f2", "b"] and lat.latency_us == pytest.approx(3)
    assert fab.distance("a", "b", metric="hops") == 2.0
    assert fab.distance("a", "b", metric="latency") == pytest.approx(3.0)
    spray = fab.route("a", "b", policy="spray", metric="latency")
    assert set(spray.links) == set(lat.links)
    # And the engine routes by the metric it is given.
    t_hops = fs.simulate(fab, [("a", "b", 0.0)], metric="hops").finish_s[0]
    t_lat = fs.simulate(fab, [("a", "b", 0.0)], metric="latency").finish_s[0]
    assert t_hops == pytest.approx(20e-6) and t_lat == pytest.approx(3e-6)
    # The default metric is latency everywhere.
    assert fab.paths("a", "b") == [["a", "f1", "f2", "b"]]
    assert fab.route("a", "b").links == lat.links
    assert fab.route("a", "b", policy="spray").links == spray.links
    assert fab.distance("a", "b") == pytest.approx(3.0)
    assert fs.simulate(fab, [("a", "b", 0.0)]).finish_s[0] == pytest.approx(3e-6)


@pytest.mark.parametrize("name", sorted(ROUTING_FABRICS))
def test_latency_metric_matches_networkx_dijkstra(name):
    fab = fs.Fabric.from_networkx(ROUTING_FABRICS[name]())
    for s, d in sample_pairs(fab, 10, seed=4):
        want = nx.shortest_path_length(transit_view(fab, s, d), s, d, weight=latency_weight)
        assert fab.distance(s, d, metric="latency") == pytest.approx(want / 1000.0)
        r = fab.route(s, d, metric="latency", flow_key=3)
        assert_walk(fab, r, s, d)
        assert sum(latency_weight(u, v, fab.graph.edges[u, v]) for u, v in r.links) == want


def test_edge_site_routes():
    fab = fs.Fabric.from_networkx(edge_site_graph())
    r = fab.route("site/lyon", fab.gpus[0])
    nodes = assert_walk(fab, r, "site/lyon", fab.gpus[0])
    assert nodes[1] in ("pop/a", "pop/b") and "border" in nodes
    # Both carriers are equal-cost (same hop count and, at one distance, the same latency),
    # so lyon has two choices at its egress.
    assert {p[1] for p in fab.paths("site/lyon", fab.gpus[0])} == {"pop/a", "pop/b"}
    # 400 km of fibre at 5 us/km dominates the latency.
    assert r.latency_us > 2000.0


def test_via_waypoint():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    a, b = "host0/gpu0", "host2/gpu0"
    for policy in ("ecmp", "spray"):
        r = fab.route(a, b, policy=policy, via="spine2")
        assert ("leaf0", "spine2") in r.links and ("spine2", "leaf1") in r.links
        assert not any("spine0" in link or "spine1" in link for link in r.links)


def test_same_source_and_destination():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    g = fab.gpus[0]
    for policy in ("ecmp", "spray"):
        r = fab.route(g, g, policy=policy)
        assert r.links == () and len(r.link_ids) == 0 and r.latency_us == 0.0 and r.hops == 0
    assert fab.distance(g, g) == 0.0


def unreachable_site_fabric() -> fs.Fabric:
    """A valid fabric (GPUs reach each other) with an edge site whose only link is to a GPU."""
    G = two_gpus()
    G.add_node("site/x", role="edge_site", site="x")
    G.add_edge("site/x", "a", capacity_gbps=10.0, latency_us=5.0, kind="wan")
    return fs.Fabric.from_networkx(G)


def test_unreachable_raises_naming_both_nodes():
    fab = unreachable_site_fabric()
    for src, dst in (("site/x", "b"), ("b", "site/x")):
        for policy in ("ecmp", "spray"):
            with pytest.raises(UnreachableError) as ei:
                fab.route(src, dst, policy=policy)
            assert f"{src!r}" in str(ei.value) and f"{dst!r}" in str(ei.value)
            assert (ei.value.src, ei.value.dst) == (src, dst)
        with pytest.raises(UnreachableError, match="site/x"):
            fab.paths(src, dst)
        assert fab.distance(src, dst) == math.inf
    with pytest.raises(UnreachableError) as ei:
        fs.simulate(fab, [("a", "b", 1e6), ("site/x", "b", 1e6)])
    assert "'site/x'" in str(ei.value) and "'b'" in str(ei.value)
    # Directly adjacent endpoints are reachable: the site's link to GPU a is usable.
    assert fab.paths("site/x", "a") == [["site/x", "a"]]


def test_unknown_node_is_named():
    fab = fs.Fabric.from_networkx(two_gpus())
    with pytest.raises(InvalidArgumentError, match="'zz'"):
        fab.route("a", "zz")
    with pytest.raises(InvalidArgumentError, match="'zz'"):
        fab.paths("zz", "a")
    with pytest.raises(InvalidArgumentError, match="'zz'"):
        fab.precompute_routes(["a", "zz"])


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.route("a", "b", policy="adaptive"),
        lambda f: f.route("a", "b", metric="bandwidth"),
        lambda f: f.paths("a", "b", metric="bandwidth"),
        lambda f: f.distance("a", "b", metric="bandwidth"),
        lambda f: f.precompute_routes(metric="bandwidth"),
        lambda f: fs.simulate(f, [("a", "b", 1.0)], routing="adaptive"),
        lambda f: fs.simulate(f, [("a", "b", 1.0)], metric="bandwidth"),
    ],
)
def test_unknown_policy_or_metric_lists_valid_names(call):
    fab = fs.Fabric.from_networkx(two_gpus())
    with pytest.raises(UnknownNameError) as ei:
        call(fab)
    msg = str(ei.value)
    assert ("'adaptive'" in msg and "ecmp" in msg and "spray" in msg) or (
        "'bandwidth'" in msg and "hops" in msg and "latency" in msg
    )


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "0"])
def test_bad_seed(seed):
    fab = fs.Fabric.from_networkx(two_gpus())
    with pytest.raises(InvalidArgumentError, match="seed"):
        fab.route("a", "b", seed=seed)


def test_bad_paths_limit():
    fab = fs.Fabric.from_networkx(two_gpus())
    for limit in (0, -1, 2.5):
        with pytest.raises(InvalidArgumentError, match="limit"):
            fab.paths("a", "b", limit=limit)


def test_precompute_routes():
    fab = fs.Fabric.from_networkx(small_leaf_spine())
    before = [fab.route(s, d, flow_key=7).links for s, d in sample_pairs(fab, 10, seed=2)]
    tables = fab.precompute_routes()
    assert isinstance(tables, int) and tables > 0
    assert fab.precompute_routes(fab.gpus[:2], metric="latency") > 0
    after = [fab.route(s, d, flow_key=7).links for s, d in sample_pairs(fab, 10, seed=2)]
    assert before == after


# ----------------------------------------------------------------------------- simulate basics


def line_fabric(efficiency=None) -> fs.Fabric:
    """leaf_spine with 2 leaves x 2 spines, one GPU per leaf: uplinks are 200 Gb/s."""
    G = builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1)
    return fs.Fabric.from_networkx(G, efficiency=efficiency)


def test_single_flow_time_is_size_over_capacity_plus_latency():
    fab = line_fabric()
    a, b = fab.gpus
    size = 100e6
    latency = 4 * 0.6e-6  # access + 2 fabric + access
    ecmp = fs.simulate(fab, [(a, b, size)])
    # One 200 Gb/s uplink is the bottleneck of the single ECMP path.
    assert ecmp.start_s[0] == 0.0
    assert ecmp.transfer_end_s[0] == pytest.approx(size / 25e9)
    assert ecmp.finish_s[0] == pytest.approx(size / 25e9 + latency)
    assert ecmp.latency_s[0] == pytest.approx(latency)
    assert ecmp.mean_rate_Bps[0] == pytest.approx(25e9)
    assert ecmp.makespan_s == ecmp.finish_s[0]
    # Spraying uses both uplinks: the 400 Gb/s NICs become the bottleneck.
    spray = fs.simulate(fab, [(a, b, size)], routing="spray")
    assert spray.finish_s[0] == pytest.approx(size / 50e9 + latency)
    # Link statistics: bytes on the used links, peak utilisation 1 on the bottleneck.
    lid = fab.links_of_edge(a, "leaf0")[0]
    assert ecmp.link_bytes[lid] == pytest.approx(size)
    assert ecmp.link_peak_utilization.max() == pytest.approx(1.0)
    assert ecmp.link_busy_s[lid] == pytest.approx(size / 25e9)


def test_efficiency_scales_transfer_time():
    a_full, a_half = line_fabric(), line_fabric(efficiency=0.5)
    size = 64e6
    latency = 2.4e-6
    t_full = fs.simulate(a_full, [(*a_full.gpus, size)]).finish_s[0]
    t_half = fs.simulate(a_half, [(*a_half.gpus, size)]).finish_s[0]
    assert t_full - latency == pytest.approx(size / 25e9)
    assert t_half - latency == pytest.approx(2 * (t_full - latency))
    # Per-kind efficiency: only the fabric (uplink) kind matters on the bottleneck.
    fab = line_fabric(efficiency={"fabric": 0.8})
    t = fs.simulate(fab, [(*fab.gpus, size)]).finish_s[0]
    assert t - latency == pytest.approx(size / (25e9 * 0.8))


def test_flows_share_fairly_and_respect_start_and_deps():
    fab = line_fabric()
    a, b = fab.gpus
    size, lat = 50e6, 2.4e-6
    res = fs.simulate(
        fab,
        [(a, b, size), (b, a, size, 1e-3), (a, b, size, 0.0, [1])],
        routing="spray",
    )
    assert res.finish_s[0] == pytest.approx(size / 50e9 + lat)
    assert res.start_s[1] == pytest.approx(1e-3)
    assert res.start_s[2] == pytest.approx(res.finish_s[1])
    assert res.finish_s[2] == pytest.approx(1e-3 + 2 * (size / 50e9 + lat))
    # Two concurrent flows over the same sprayed path share it max-min fairly.
    both = fs.simulate(fab, [(a, b, size), (a, b, size)], routing="spray")
    np.testing.assert_allclose(both.finish_s, 2 * size / 50e9 + lat)


def test_zero_size_and_empty_flows():
    fab = line_fabric()
    a, b = fab.gpus
    res = fs.simulate(fab, [(a, b, 0.0), (a, a, 1e6)])
    assert res.finish_s[0] == pytest.approx(2.4e-6)
    assert res.finish_s[1] == 0.0  # src == dst: an empty route, transfers instantly
    assert fs.simulate(fab, []).makespan_s == 0.0


def test_rust_engine_matches_reference_engine():
    fab = fs.Fabric.from_networkx(small_leaf_spine(oversubscription=2.0))
    rng = np.random.default_rng(0)
    flows = [
        (s, d, float(rng.integers(1, 10**8)), float(rng.uniform(0, 1e-3)))
        for s, d in sample_pairs(fab, 30, seed=8)
    ]
    for routing in ("ecmp", "spray"):
        rust = fs.simulate(fab, flows, routing=routing, seed=5)
        ref = fs.simulate(fab, flows, routing=routing, seed=5, engine="reference")
        np.testing.assert_allclose(rust.finish_s, ref.finish_s, rtol=1e-9)
        np.testing.assert_allclose(rust.link_bytes, ref.link_bytes, rtol=1e-9, atol=1e-3)


@pytest.mark.parametrize(
    "flows, exc, text",
    [
        ([("a", "b", -1.0)], InvalidArgumentError, "flow 0: size_bytes"),
        ([("a", "b", 1.0), ("a", "b", math.nan)], InvalidArgumentError, "flow 1: size_bytes"),
        ([("a", "b", math.inf)], InvalidArgumentError, "size_bytes"),
        ([("a", "b", "big")], InvalidArgumentError, "flows[0]: size_bytes: expected a size"),
        ([("a", "b", [1])], InvalidTypeError, "size_bytes"),
        ([("a", "nowhere", 1.0)], InvalidArgumentError, "'nowhere'"),
        ([("ghost", "b", 1.0)], InvalidArgumentError, "'ghost'"),
        ([("a", "b", 1.0, -1.0)], InvalidArgumentError, "start_s"),
        ([("a", "b", 1.0, math.nan)], InvalidArgumentError, "start_s"),
        ([("a", "b", 1.0, 0.0, [5])], InvalidArgumentError, "deps"),
        ([("a", "b", 1.0, 0.0, [-1])], InvalidArgumentError, "deps"),
        ([("a", "b")], InvalidArgumentError, "flows[0]"),
        (["a->b"], InvalidArgumentError, "flows[0]"),
        ("a b 1", InvalidTypeError, "flows"),
        ({"src": ["a"], "dst": ["b"]}, InvalidArgumentError, "size_bytes"),
    ],
)
def test_bad_flows_raise_named_errors(flows, exc, text):
    fab = fs.Fabric.from_networkx(two_gpus())
    with pytest.raises(exc) as ei:
        fs.simulate(fab, flows)
    assert text in str(ei.value)
    assert isinstance(ei.value, FabricError)


def test_dependency_cycle():
    fab = fs.Fabric.from_networkx(two_gpus())
    flows = [("a", "b", 1.0), ("a", "b", 1.0, 0.0, [2]), ("b", "a", 1.0, 0.0, [1])]
    with pytest.raises(DependencyCycleError, match="flow"):
        fs.simulate(fab, flows)
    with pytest.raises(DependencyCycleError):
        fs.simulate(fab, [("a", "b", 1.0, 0.0, [0])])  # depends on itself


def test_simulate_needs_a_fabric():
    with pytest.raises(InvalidTypeError, match="fabric"):
        fs.simulate(two_gpus(), [("a", "b", 1.0)])
