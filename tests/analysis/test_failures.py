"""failures: fail / fail_random / bisection_gbps / failure_impact against closed forms."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis import failures
from fabricsim.analysis.failures import bisection_gbps, fail, fail_random, failure_impact
from fabricsim.exceptions import (
    EmptyFabricError,
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
    UnreachableError,
)
from fabricsim.fabric.schema import graph_record

BIG_BYTES = 1e9


@pytest.fixture(scope="module")
def ls():
    """Non-blocking leaf-spine: 2 leaves x 2 hosts x 2 GPUs at 400 Gb/s, 4 spines of 400 Gb/s
    uplinks per leaf."""
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=4, hosts_per_leaf=2, gpus_per_host=2)
    )


def cross_leaf_permutation(fab, size=BIG_BYTES):
    g = fab.gpus
    h = len(g) // 2
    return [(g[i], g[h + i], size) for i in range(h)]


def edge_fabric():
    G = fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[
            {"name": "a", "capacity_gbps": 100.0, "availability": 0.99},
            {"name": "b", "capacity_gbps": 40.0},
        ],
        sites=[{"name": "x", "carriers": ["a", "b"], "distance_km": 100.0, "capacity_gbps": 10.0}],
    )
    return fs.Fabric.from_networkx(G, efficiency=0.9)


def test_doctests():
    assert doctest.testmod(failures).failed == 0


# ----------------------------------------------------------------------------- a failed spine


def test_failed_spine_lowers_bisection_to_three_quarters(ls):
    assert bisection_gbps(ls) == 1600.0
    after = fail(ls, nodes=["spine0"])
    assert bisection_gbps(after) == 1200.0
    assert bisection_gbps(after) / bisection_gbps(ls) == 0.75
    assert "spine0" not in after.graph and after.switch_count == ls.switch_count - 1


def test_failed_spine_lengthens_cross_leaf_permutation_by_four_thirds(ls):
    flows = cross_leaf_permutation(ls)
    before = fs.simulate(ls, flows, routing="spray")
    after_fab = fail(ls, nodes=["spine0"])
    after = fs.simulate(after_fab, flows, routing="spray")
    lat_s = 2.4e-6  # GPU -> leaf -> spine -> leaf -> GPU, 0.6 us each
    assert before.makespan_s - lat_s == pytest.approx(BIG_BYTES / 50e9, rel=1e-9)
    # 8 flows share 3 spines' 400 Gb/s uplinks: 3/4 of the NIC rate each.
    assert (after.makespan_s - lat_s) / (before.makespan_s - lat_s) == pytest.approx(
        4 / 3, rel=1e-9
    )
    out = failure_impact(ls, flows, nodes=["spine0"], routing="spray")
    assert out["time_before_s"] == pytest.approx(before.makespan_s, rel=1e-12)
    assert out["time_after_s"] == pytest.approx(after.makespan_s, rel=1e-12)
    assert out["slowdown"] == pytest.approx(4 / 3, rel=1e-4)
    assert out["bisection_before_gbps"] == 1600.0 and out["bisection_after_gbps"] == 1200.0
    assert out["failed"]["nodes"] == ["spine0"]


def test_failed_uplink_cable(ls):
    after = fail(ls, links=[("spine2", "leaf1")])  # given in the other orientation
    assert not after.graph.has_edge("leaf1", "spine2")
    assert bisection_gbps(after) == 1200.0
    assert graph_record(after.graph, "failed")["links"] == [["spine2", "leaf1"]]


def test_failing_every_spine_names_gpus_and_the_failure(ls):
    spines = [f"spine{s}" for s in range(4)]
    with pytest.raises(UnreachableError, match=r"failing nodes 'spine0'.*GPUs 'host0/gpu0'"):
        fail(ls, nodes=spines)
    with pytest.raises(UnreachableError, match="spine3"):
        failure_impact(ls, cross_leaf_permutation(ls), nodes=spines)
    links = [(f"leaf{i}", s) for i in range(2) for s in spines]
    with pytest.raises(UnreachableError, match=r"\(8 in all\).*cannot reach"):
        fail(ls, links=links)


def test_collective_workload(ls):
    coll = fs.Collective("all_to_all", 1 << 26, algorithm="pairwise")
    out = failure_impact(ls, coll, nodes=["spine1"], routing="spray")
    ref = coll.run(ls, routing="spray").time_s
    assert out["time_before_s"] == pytest.approx(ref, rel=1e-12)
    assert out["time_after_s"] > out["time_before_s"]
    assert out["slowdown"] == pytest.approx(out["time_after_s"] / out["time_before_s"])


def test_failed_gpu_in_a_workload_is_named(ls):
    g0 = ls.gpus[0]
    after = fail(ls, nodes=[g0])
    assert len(after.gpus) == len(ls.gpus) - 1 and g0 not in after.gpus
    with pytest.raises(UnreachableError, match=f"endpoints removed.*'{g0}'"):
        failure_impact(ls, fs.Collective("all_reduce", 1 << 20), nodes=[g0])
    with pytest.raises(UnreachableError, match=f"'{g0}'"):
        failure_impact(ls, cross_leaf_permutation(ls), nodes=[g0])
    ranks = ls.gpus[1:]
    out = failure_impact(ls, fs.Collective("all_reduce", 1 << 20, ranks=ranks), nodes=[g0])
    assert out["slowdown"] == pytest.approx(1.0)


def test_flowset_and_mapping_workloads(ls):
    flows = cross_leaf_permutation(ls, size=1e8)
    fset = fs.traffic.flows.flows_from_matrix(ls, flows)
    mapping = {
        "src": [f[0] for f in flows],
        "dst": [f[1] for f in flows],
        "size_bytes": [f[2] for f in flows],
    }
    # Spines are numbered before the hosts: failing one renumbers every GPU, so the FlowSet's
    # node indices must be remapped by label.
    assert ls.index("spine3") < ls.index(ls.gpus[0])
    want = failure_impact(ls, flows, nodes=["spine3"], routing="spray")
    assert want["slowdown"] == pytest.approx(4 / 3, rel=1e-3)
    for w in (fset, mapping):
        got = failure_impact(ls, w, nodes=["spine3"], routing="spray")
        assert got["time_before_s"] == pytest.approx(want["time_before_s"], rel=1e-12)
        assert got["time_after_s"] == pytest.approx(want["time_after_s"], rel=1e-12)
    with pytest.raises(InvalidTypeError, match="workload"):
        failure_impact(ls, 42, nodes=["spine0"])
    with pytest.raises(InvalidArgumentError, match=r"workload\[0\]"):
        failure_impact(ls, [("a", "b")], nodes=["spine0"])


def test_unreachable_edge_site_after_failure():
    fab = edge_fabric()
    flows = [("site/x", fab.gpus[0], 1e6)]
    out = failure_impact(fab, flows, carriers=["a"])
    assert out["slowdown"] == pytest.approx(out["time_after_s"] / out["time_before_s"])
    with pytest.raises(UnreachableError, match="after failing carriers 'a', 'b'.*site/x"):
        failure_impact(fab, flows, carriers=["a", "b"])


# ----------------------------------------------------------------------------- fail()


def test_unknown_names_are_named(ls):
    with pytest.raises(InvalidArgumentError, match="'spine9' is not a node"):
        fail(ls, nodes=["spine9"])
    with pytest.raises(InvalidArgumentError, match=r"links\[1\]: \('leaf0', 'leaf1'\)"):
        fail(ls, links=[("leaf0", "spine0"), ("leaf0", "leaf1")])
    with pytest.raises(InvalidArgumentError, match=r"links\[0\]: expected a \(u, v\) pair"):
        fail(ls, links=["leaf0"])
    with pytest.raises(UnknownNameError, match="none \\(build the fabric with fs.edge_sites\\)"):
        fail(ls, carriers=["a"])
    with pytest.raises(UnknownNameError, match="unknown carrier 'c'; known carriers: a, b"):
        fail(edge_fabric(), carriers=["c"])
    with pytest.raises(InvalidTypeError, match="nodes"):
        fail(ls, nodes="spine0")
    with pytest.raises(InvalidTypeError, match="fabric"):
        fail(fs.leaf_spine(), nodes=["spine0"])
    with pytest.raises(InvalidArgumentError, match="not a node"):
        fail(ls, nodes=[["unhashable"]])


def test_failing_a_carrier_removes_its_edges_and_pop():
    fab = edge_fabric()
    after = fail(fab, carriers=["a"])
    G = after.graph
    assert "pop/a" not in G and "pop/b" in G
    assert all(c != "a" for _, _, c in G.edges(data="carrier"))
    assert sum(1 for _, _, c in fab.graph.edges(data="carrier") if c == "a") == 2
    assert sum(1 for _, _, c in G.edges(data="carrier") if c == "b") == 2
    assert graph_record(G, "failed")["carriers"] == ["a"]
    assert graph_record(G, "edge_sites") == graph_record(
        fab.graph, "edge_sites"
    )  # the build record is kept
    assert after.efficiency == fab.efficiency == {"default": 0.9}
    assert after.route("site/x", after.gpus[0]).links[0] == ("site/x", "pop/b")
    twice = fail(after, carriers=["b"], nodes=["spine0"])
    assert graph_record(twice.graph, "failed") == {
        "links": [],
        "nodes": ["spine0"],
        "carriers": ["a", "b"],
    }
    assert list(twice.graph.neighbors("site/x")) == []


def test_fail_keeps_efficiency_and_capacities():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1),
        efficiency={"access": 0.9, "fabric": 0.8},
    )
    after = fail(fab, links=[("leaf0", "spine1")])
    assert after.efficiency == fab.efficiency
    lid = after.links_of_edge("leaf0", "spine0")[0]
    assert after.usable_Bps[lid] == fab.usable_Bps[fab.links_of_edge("leaf0", "spine0")[0]]
    same = fail(fab)
    assert same.graph.number_of_edges() == fab.graph.number_of_edges()


def test_failing_every_gpu_is_an_empty_fabric():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=1, gpus_per_host=2)
    )
    with pytest.raises(EmptyFabricError, match="failing nodes"):
        fail(fab, nodes=fab.gpus)


# ----------------------------------------------------------------------------- fail_random


def test_fail_random_is_deterministic_per_seed():
    fab = fs.Fabric.from_networkx(fs.fat_tree(k=8))
    runs = [fail_random(fab, link_probability=0.05, seed=s)[1] for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    f1, d1 = fail_random(fab, link_probability=0.05, seed=1)
    f2, _ = fail_random(fab, link_probability=0.05, seed=1)
    assert list(f1.graph.edges) == list(f2.graph.edges)
    assert len(f1.graph.edges) == len(fab.graph.edges) - len(d1["links"])
    assert d1["seed"] == 1 and d1["link_probability"] == 0.05


def test_fail_random_rates_and_candidates():
    fab = fs.Fabric.from_networkx(fs.fat_tree(k=8))
    _, none = fail_random(fab, seed=3)
    assert none["nodes"] == [] and none["links"] == []
    # Candidates: switch-to-switch links only (k^3/2 = 256 of them), never a GPU's link.
    fabric_links = [e for e in fab.graph.edges if fab.graph.edges[e]["kind"] == "fabric"]
    hits = [len(fail_random(fab, link_probability=0.1, seed=s)[1]["links"]) for s in range(20)]
    mean = float(np.mean(hits))
    sd = np.sqrt(len(fabric_links) * 0.1 * 0.9 / len(hits))
    assert abs(mean - 0.1 * len(fabric_links)) < 5 * sd
    roles = dict(fab.graph.nodes(data="role"))
    for s in range(5):
        for u, v in fail_random(fab, link_probability=0.1, seed=s)[1]["links"]:
            assert "gpu" not in (roles[u], roles[v])


def test_fail_random_nodes_never_gpus():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=8, hosts_per_leaf=2, gpus_per_host=4)
    )
    after, what = fail_random(fab, node_probability=1.0, roles=("nvswitch",))
    assert len(what["nodes"]) == 4 and after.gpus == fab.gpus
    after, what = fail_random(fab, node_probability=0.5, roles=["spine"], seed=7)
    assert all(n.startswith("spine") for n in what["nodes"])
    assert bisection_gbps(after) == pytest.approx(
        bisection_gbps(fab) * (8 - len(what["nodes"])) / 8
    )
    with pytest.raises(InvalidArgumentError, match="never fails GPUs"):
        fail_random(fab, node_probability=0.1, roles=("gpu", "spine"))
    with pytest.raises(UnknownNameError, match="roles"):
        fail_random(fab, node_probability=0.1, roles=("router",))
    with pytest.raises(InvalidArgumentError, match="link_probability"):
        fail_random(fab, link_probability=1.5)
    with pytest.raises(InvalidArgumentError, match="node_probability"):
        fail_random(fab, node_probability=-0.1)
    with pytest.raises(UnreachableError, match="disconnects"):
        fail_random(fab, node_probability=1.0, roles=("spine",))


def test_fail_random_skips_links_of_failed_nodes():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=8, hosts_per_leaf=1, gpus_per_host=1)
    )
    after, what = fail_random(
        fab, node_probability=0.3, link_probability=0.3, roles=("spine",), seed=0
    )
    gone = set(what["nodes"])
    assert gone and what["links"]
    assert all(u not in gone and v not in gone for u, v in what["links"])
    lost = 2 * len(gone) + len(what["links"])
    assert after.graph.number_of_edges() == fab.graph.number_of_edges() - lost


# ----------------------------------------------------------------------------- bisection


def test_bisection_closed_forms():
    four_to_one = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=4, hosts_per_leaf=2, gpus_per_host=2, oversubscription=4.0)
    )
    assert bisection_gbps(four_to_one) == pytest.approx(400.0)
    assert bisection_gbps(fs.Fabric.from_networkx(fs.fat_tree(k=4))) == 8 * 400.0
    rail = fs.Fabric.from_networkx(
        fs.rail_optimized(scalable_units=2, nodes_per_su=4, oversubscription=2.0)
    )
    # 4 x 8 x 400 Gb/s per SU, halved at the leaves and again at the spines.
    assert bisection_gbps(rail) == pytest.approx(4 * 8 * 400 / 4)
    eff = fs.Fabric.from_networkx(fs.fat_tree(k=4), efficiency=0.5)
    assert bisection_gbps(eff) == 4 * 400.0


def test_bisection_split_at_host_boundaries():
    three_hosts = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=3, spines=1, hosts_per_leaf=1, gpus_per_host=2)
    )
    first, second = failures.bisection_split(three_hosts)
    assert first == ["host0/gpu0", "host0/gpu1"] and len(second) == 4
    one_host = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=1, gpus_per_host=4)
    )
    first, second = failures.bisection_split(one_host)
    assert (len(first), len(second)) == (2, 2)
    # Two GPUs each send 3600 Gb/s of NVLink + 400 Gb/s of NIC; no GPU forwards.
    assert bisection_gbps(one_host) == 2 * (3600.0 + 400.0)
    single = fs.Fabric.from_networkx(fail(one_host, nodes=one_host.gpus[1:]).graph)
    with pytest.raises(InvalidArgumentError, match="at least 2 GPUs"):
        bisection_gbps(single)


def test_bisection_ignores_edge_sites():
    fab = edge_fabric()
    plain = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1), efficiency=0.9
    )
    assert bisection_gbps(fab) == pytest.approx(bisection_gbps(plain)) == pytest.approx(360.0)
