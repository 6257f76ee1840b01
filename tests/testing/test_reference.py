"""Tests of the pure-Python reference (routing + flow engine) on hand-computed cases.

Every network here is built by hand: undirected edge ``i`` gives directed links ``2i`` (u->v)
and ``2i+1`` (v->u), as in DEVELOPERS.md.
"""

import math
import re

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.exceptions import DependencyCycleError, UnreachableError
from fabricsim.testing import reference as ref

REL = 1e-12


def duplex(n_nodes, edges, capacity, latency, endpoints=()):
    """A network of full-duplex edges; ``capacity``/``latency`` are per edge or one for all."""
    m = len(edges)
    cap = capacity if isinstance(capacity, list) else [capacity] * m
    lat = latency if isinstance(latency, list) else [latency] * m
    src, dst, caps, lats = [], [], [], []
    for (u, v), c, x in zip(edges, cap, lat, strict=True):
        src += [u, v]
        dst += [v, u]
        caps += [c, c]
        lats += [x, x]
    transit = [u not in endpoints for u in range(n_nodes)]
    return ref.Network(n_nodes, src, dst, caps, lats, transit)


def two_leaf(spines, access_cap=100.0, uplink_cap=10.0, spine_latency=None):
    """gpu0=0 under leaf0=2, gpu1=1 under leaf1=3, spines 4.. . Spine s: up link 4+4s
    (leaf0->spine), down link 7+4s (spine->leaf1). Access links 0 (gpu0->leaf0), 3 (leaf1->gpu1)."""
    edges = [(0, 2), (1, 3)]
    caps = [access_cap, access_cap]
    lats = [0.0, 0.0]
    for s in range(spines):
        x = spine_latency[s] if spine_latency else 0.0
        edges += [(2, 4 + s), (3, 4 + s)]
        caps += [uplink_cap, uplink_cap]
        lats += [x, x]
    return duplex(4 + spines, edges, caps, lats, endpoints=(0, 1))


def approx(x):
    return pytest.approx(x, rel=REL, abs=1e-15)


# ----------------------------------------------------------------------------------------------
# Hash and routing


def test_splitmix64_reference_values():
    # The first outputs of Vigna's splitmix64 stream seeded with 0.
    assert ref.splitmix64(0) == 0xE220A8397B1DCDAF
    assert ref.splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
    assert ref.ecmp_hash(1, 2, 3) == ref.splitmix64(ref.splitmix64(ref.splitmix64(1) ^ 2) ^ 3)
    assert ref.ecmp_hash(-1, 0, 0) == ref.ecmp_hash(2**64 - 1, 0, 0)


def test_latency_ns_rounds_half_away_from_zero():
    assert ref.latency_ns(1e-6) == 1000
    assert ref.latency_ns(2.5e-9) == 3
    assert ref.latency_ns(0.49e-9) == 0
    assert ref.latency_ns(0.0) == 0


def test_single_flow_on_a_line():
    # gpu0 - sw1 - sw2 - gpu3; bottleneck is the middle edge (1e9 B/s).
    net = duplex(4, [(0, 1), (1, 2), (2, 3)], [2e9, 1e9, 4e9], [1e-6, 2e-6, 3e-6], (0, 3))
    assert ref.route(net, 0, 3) == ([0, 2, 4], [1.0, 1.0, 1.0], approx(6e-6))
    out = ref.simulate(net, [0], [3], [1e6])
    assert out["start_s"][0] == 0.0
    assert out["transfer_end_s"][0] == approx(1e-3)
    assert out["finish_s"][0] == approx(1e-3 + 6e-6)
    assert out["mean_rate_Bps"][0] == approx(1e9)
    assert out["min_rate_Bps"][0] == out["max_rate_Bps"][0] == 1e9
    assert out["link_bytes"].tolist() == approx([1e6, 0, 1e6, 0, 1e6, 0])
    assert out["link_busy_s"].tolist() == approx([1e-3, 0, 1e-3, 0, 1e-3, 0])
    assert out["link_peak_utilization"].tolist() == approx([0.5, 0, 1.0, 0, 0.25, 0])


def test_distances_never_relax_through_endpoints():
    # gpu0 - sw1 - gpu2 - sw3 - gpu4 is shorter, but gpu2 does not forward:
    # the route takes sw1 - sw5 - sw6 - sw3.
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 3)]
    net = duplex(7, edges, 1.0, 0.0, endpoints=(0, 2, 4))
    assert ref.distances(net, 4) == [5, 4, 2, 1, 0, 3, 2]
    links, fractions, _ = ref.route(net, 0, 4)
    assert links == [0, 6, 8, 10, 12]  # 0->1, 3->4, 1->5, 5->6, 6->3
    assert fractions == [1.0] * 5
    assert ref.next_hops(net, ref.distances(net, 4), 1, 4, "hops") == [8]


def test_unreachable_raises_naming_both_nodes():
    net = duplex(5, [(0, 1), (1, 2), (2, 3)], 1.0, 0.0, endpoints=(0, 2, 4))
    with pytest.raises(ValueError, match="node 0 to node 4"):
        ref.route(net, 0, 4)
    with pytest.raises(UnreachableError, match="node 0 to node 3"):  # gpu2 does not forward
        ref.route(net, 0, 3)
    with pytest.raises(ValueError, match="node 0 to node 4"):
        ref.simulate(net, [0], [4], [1.0])
    assert ref.distances(net, 3) == [None, None, 1, 0, None]
    assert ref.route(net, 4, 4) == ([], [], 0.0)  # src == dst: empty route
    with pytest.raises(ValueError, match="src"):
        ref.route(net, 9, 0)
    with pytest.raises(ValueError, match="policy"):
        ref.route(net, 0, 1, policy="random")
    with pytest.raises(ValueError, match="metric"):
        ref.distances(net, 0, metric="cost")


def test_ecmp_is_a_deterministic_shortest_path_that_spreads():
    net = two_leaf(4)
    dist = ref.distances(net, 1)
    assert dist[0] == 4
    spines_used = set()
    for key in range(200):
        links, fractions, _ = ref.route(net, 0, 1, "ecmp", seed=3, flow_key=key)
        assert (links, fractions) == ref.route(net, 0, 1, "ecmp", seed=3, flow_key=key)[:2]
        assert len(links) == dist[0] and fractions == [1.0] * 4
        up = [link for link in links if link not in (0, 3)]
        s = (up[0] - 4) // 4
        assert up == [4 + 4 * s, 7 + 4 * s]  # up and down through the same spine
        spines_used.add(s)
    assert spines_used == {0, 1, 2, 3}
    # The choice is the hashed next hop at leaf0 (node 2), whose next hops are the 4 up links.
    assert ref.next_hops(net, dist, 2, 1, "hops") == [4, 8, 12, 16]
    k = ref.ecmp_hash(7, 11, 2) % 4
    assert ref.route(net, 0, 1, "ecmp", seed=7, flow_key=11)[0] == [0, 3, 4 + 4 * k, 7 + 4 * k]
    routes = [ref.route(net, 0, 1, "ecmp", seed=seed, flow_key=5)[0] for seed in range(40)]
    assert len({tuple(r) for r in routes}) > 1


@pytest.mark.parametrize("spines", [2, 4])
def test_spray_splits_evenly_and_takes_the_slowest_path(spines):
    lat = [1e-3 * (s + 1) for s in range(spines)]
    net = two_leaf(spines, spine_latency=lat)
    links, fractions, latency = ref.route(net, 0, 1, "spray")
    expected = {0: 1.0, 3: 1.0}
    for s in range(spines):
        expected[4 + 4 * s] = expected[7 + 4 * s] = 1 / spines
    assert links == sorted(expected)
    assert fractions == [expected[link] for link in links]
    assert latency == approx(2e-3 * spines)
    # Each uplink (10 B/s) carries 1/spines of the flow: the flow runs at 10 * spines B/s.
    out = ref.simulate(net, [0], [1], [400.0], policy="spray")
    assert out["max_rate_Bps"][0] == approx(10.0 * spines)
    assert out["transfer_end_s"][0] == approx(400.0 / (10.0 * spines))
    assert out["finish_s"][0] == approx(400.0 / (10.0 * spines) + 2e-3 * spines)
    # ECMP uses one uplink only.
    out = ref.simulate(net, [0], [1], [400.0], policy="ecmp")
    assert out["transfer_end_s"][0] == approx(40.0)


def test_spray_inflow_adds_up_before_splitting():
    # s=0 splits over a=1, b=2; both reach m=3, which splits three ways (x, y, z) to d=7.
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (3, 6), (4, 7), (5, 7), (6, 7)]
    net = duplex(8, edges, 1.0, 1e-6, endpoints=(0, 7))
    links, fractions, latency = ref.route(net, 0, 7, "spray")
    assert links == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert fractions == approx([0.5] * 4 + [1 / 3] * 6)
    assert latency == approx(4e-6)


def test_latency_metric_prefers_fast_paths():
    # 0 -> 2 directly (10 us) or 0 -> 1 -> 2 (2 x 1 us).
    net = duplex(3, [(0, 2), (0, 1), (1, 2)], 1.0, [10e-6, 1e-6, 1e-6])
    assert ref.distances(net, 2, "latency") == [2000, 1000, 0]
    assert ref.route(net, 0, 2, metric="hops")[0] == [0]
    assert ref.route(net, 0, 2, metric="latency") == ([2, 4], [1.0, 1.0], approx(2e-6))


def test_zero_latency_links_cost_one_nanosecond():
    # gpu0 - nvswitch - gpu2 at zero latency: each link still costs 1.
    net = duplex(3, [(0, 1), (1, 2)], 1.0, 0.0, endpoints=(0, 2))
    assert ref.distances(net, 2, "latency") == [2, 1, 0]
    assert ref.route(net, 0, 2, metric="latency") == ([0, 2], [1.0, 1.0], 0.0)
    # Switches 1 and 2 joined by a zero-latency link are not each other's next hops.
    edges = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    net = duplex(4, edges, 1.0, [1e-6, 1e-6, 0.0, 1e-6, 1e-6], endpoints=(0, 3))
    assert ref.distances(net, 3, "latency") == [2000, 1000, 1000, 0]
    assert ref.route(net, 0, 3, "spray", metric="latency") == (
        [0, 2, 6, 8],
        [0.5, 0.5, 0.5, 0.5],
        approx(2e-6),
    )


def test_via_adds_both_halves():
    # Directed links: 0:a->s1, 1:s1->s2, 2:s2->v, 3:v->s1, 4:s2->d. a -> v -> d crosses s1->s2
    # twice, so that link carries fraction 2 and limits the flow to half its capacity.
    net = ref.Network(
        5,
        [0, 1, 2, 3, 2],
        [1, 2, 3, 1, 4],
        [1000, 100, 1000, 1000, 1000],
        [1e-3, 2e-3, 3e-3, 4e-3, 5e-3],
        [False, True, True, False, False],
    )
    out = ref.simulate(net, [0, 0], [4, 4], [200.0, 100.0], via=[3, -1])
    assert out["link_bytes"].tolist() == approx([300.0, 500.0, 200.0, 200.0, 300.0])
    # Both flows share link 1 with weights 2 and 1: 100 / 3 B/s each. The direct flow ends at 3;
    # the via flow then has link 1 to itself (50 B/s) with 100 bytes left.
    assert out["transfer_end_s"].tolist() == approx([5.0, 3.0])
    assert out["max_rate_Bps"].tolist() == approx([50.0, 100 / 3])
    assert out["finish_s"][0] == approx(out["transfer_end_s"][0] + 0.017)
    assert out["finish_s"][1] == approx(3.0 + 0.008)


# ----------------------------------------------------------------------------------------------
# Flow engine


def test_two_flows_share_a_bottleneck():
    # gpu0, gpu1 -> sw2 -> gpu3; sw2->gpu3 (link 4) is the 100 B/s bottleneck.
    net = duplex(4, [(0, 2), (1, 2), (2, 3)], [1000, 1000, 100], 1e-3, endpoints=(0, 1, 3))
    out = ref.simulate(net, [0, 1], [3, 3], [100.0, 300.0])
    # 50 B/s each until flow 0 is done at t=2; flow 1 then has 200 bytes left at 100 B/s.
    assert out["transfer_end_s"].tolist() == approx([2.0, 4.0])
    assert out["finish_s"].tolist() == approx([2.002, 4.002])
    assert out["min_rate_Bps"].tolist() == approx([50.0, 50.0])
    assert out["max_rate_Bps"].tolist() == approx([50.0, 100.0])
    assert out["mean_rate_Bps"].tolist() == approx([50.0, 75.0])
    assert out["link_bytes"][4] == approx(400.0)
    assert out["link_busy_s"].tolist() == approx([2, 0, 4, 0, 4, 0])
    assert out["link_peak_utilization"].tolist() == approx([0.05, 0, 0.1, 0, 1.0, 0])


def test_release_times():
    net = duplex(4, [(0, 2), (1, 2), (2, 3)], [1000, 1000, 100], 0.0, endpoints=(0, 1, 3))
    out = ref.simulate(net, [0, 1], [3, 3], [200.0, 300.0], release_s=[0.0, 1.0])
    # [0, 1): flow 0 alone at 100 (100 bytes sent); then 50 each: flow 0 ends at 3, flow 1 has
    # 200 bytes left at t=3, sent at 100 B/s.
    assert out["start_s"].tolist() == [0.0, 1.0]
    assert out["transfer_end_s"].tolist() == approx([3.0, 5.0])
    assert out["min_rate_Bps"].tolist() == approx([50.0, 50.0])
    assert out["max_rate_Bps"].tolist() == approx([100.0, 100.0])


def test_classic_max_min():
    # Transit chain 0-1-2-3 with capacities 1, 2, 3. Flow 0 crosses all three links, flows
    # 1, 2, 3 one link each. First allocation: link 0 saturates at level 1/2 (flows 0, 1), link 2
    # then at (2 - 1/2) / 1 = 3/2 (flow 2), link 4 at (3 - 1/2) = 5/2 (flow 3).
    net = duplex(4, [(0, 1), (1, 2), (2, 3)], [1.0, 2.0, 3.0], 0.0)
    assert ref.max_min_rates(
        net.capacity_Bps, [[(0, 1.0), (2, 1.0), (4, 1.0)], [(0, 1.0)], [(2, 1.0)], [(4, 1.0)]]
    ) == [0.5, 0.5, 1.5, 2.5]
    out = ref.simulate(net, [0, 0, 1, 2], [3, 1, 2, 3], [10.0, 1.0, 100.0, 100.0])
    # t=2: flow 1 done (flow 0: 9 left, flow 2: 97, flow 3: 95). Links 0 and 2 tie at level 1
    # (lowest id wins, same result): flows 0, 2 at 1, flow 3 at 2. t=11: flow 0 done (flow 2: 88
    # left, flow 3: 77); then flow 2 runs at 2, flow 3 at 3.
    assert out["transfer_end_s"].tolist() == approx([11.0, 2.0, 55.0, 11.0 + 77 / 3])
    assert out["min_rate_Bps"].tolist() == approx([0.5, 0.5, 1.0, 2.0])
    assert out["max_rate_Bps"].tolist() == approx([1.0, 0.5, 2.0, 3.0])


def test_dependency_chain_with_delays():
    net = duplex(3, [(0, 1), (1, 2)], 100.0, 1e-3, endpoints=(0, 2))
    out = ref.simulate(
        net,
        src=[0, 2, 0, 0],
        dst=[2, 0, 2, 2],
        size_bytes=[100.0, 200.0, 0.0, 100.0],
        release_s=[1.0, 0.0, 0.0, 10.0],
        delay_s=[0.0, 0.5, 0.25, 0.1],
        deps=[None, [0], [1], [0, 2]],
    )
    # f0: start 1, end 2, finish 2.002. f1: start 2.502, end 4.502, finish 4.504.
    # f2 (zero bytes): start 4.754, finish 4.756. f3: released at 10 > 4.756: start 10.1.
    assert out["start_s"].tolist() == approx([1.0, 2.502, 4.754, 10.1])
    assert out["transfer_end_s"].tolist() == approx([2.0, 4.502, 4.754, 11.1])
    assert out["finish_s"].tolist() == approx([2.002, 4.504, 4.756, 11.102])


def test_zero_byte_and_local_flows_are_instant():
    net = duplex(3, [(0, 1), (1, 2)], 100.0, 1e-3, endpoints=(0, 2))
    out = ref.simulate(
        net,
        [0, 0, 0, 2],
        [2, 0, 2, 0],
        [0.0, 50.0, 100.0, 100.0],
        release_s=[3.0, 1.0, 0.0, 0.0],
        deps=[None, None, [0], [1]],
    )
    # f0: zero bytes at 3, finishes after the route latency. f1: src == dst, no latency.
    assert out["start_s"].tolist() == approx([3.0, 1.0, 3.002, 1.0])
    assert out["transfer_end_s"].tolist() == approx([3.0, 1.0, 4.002, 2.0])
    assert out["finish_s"].tolist() == approx([3.002, 1.0, 4.004, 2.002])
    for key in ("mean_rate_Bps", "min_rate_Bps", "max_rate_Bps"):
        assert np.isnan(out[key][:2]).all()
    assert out["link_bytes"].tolist() == approx([100.0, 100.0, 100.0, 100.0])


def test_batching_of_near_simultaneous_ends_but_not_starts():
    net = duplex(4, [(0, 1), (2, 3)], 1e9, 0.0)
    out = ref.simulate(
        net, [0, 2, 0], [1, 3, 1], [1e9, 1e9 * (1 + 1e-13), 1e9], release_s=[0.0, 0.0, 1.0 + 1e-13]
    )
    assert out["transfer_end_s"][:2].tolist() == [1.0, 1.0]  # one event at t = 1
    assert out["start_s"][2] == 1.0 + 1e-13  # a start 1e-13 later is its own event
    assert out["link_bytes"][2] == 1e9 * (1 + 1e-13)  # the batched flow still delivers all


def test_simultaneous_starts_share_from_the_start():
    net = duplex(3, [(0, 1), (1, 2)], 100.0, 0.0, endpoints=(0, 2))
    out = ref.simulate(net, [0, 0, 0], [2, 2, 2], [100.0, 100.0, 100.0], release_s=[0.0, 1.0, 1.0])
    # f0 alone for 1 s (100 bytes): done at 1 exactly as f1, f2 start at 50 B/s each.
    assert out["transfer_end_s"].tolist() == approx([1.0, 3.0, 3.0])
    assert out["min_rate_Bps"].tolist() == out["max_rate_Bps"].tolist() == approx([100, 50, 50])


def test_bad_flows_raise():
    net = duplex(3, [(0, 1), (1, 2)], 100.0, 0.0, endpoints=(0, 2))
    with pytest.raises(DependencyCycleError) as info:
        ref.simulate(net, [0] * 4, [2] * 4, [1.0] * 4, deps=[[2], [0], [1], [0]])
    assert re.search(r"flow [012]\b", str(info.value))
    with pytest.raises(ValueError, match="flow 0"):
        ref.simulate(net, [0], [2], [1.0], deps=[[0]])
    with pytest.raises(DependencyCycleError, match="flow [12]"):  # flow 0 only waits on it
        ref.simulate(net, [0] * 3, [2] * 3, [1.0] * 3, deps=[[1], [2], [1]])
    with pytest.raises(ValueError, match=r"size_bytes\[1\]"):
        ref.simulate(net, [0, 0], [2, 2], [1.0, -1.0])
    with pytest.raises(ValueError, match=r"release_s\[0\]"):
        ref.simulate(net, [0], [2], [1.0], release_s=[math.nan])
    with pytest.raises(ValueError, match=r"deps\[0\]"):
        ref.simulate(net, [0], [2], [1.0], deps=[[5]])
    with pytest.raises(ValueError, match="dst"):
        ref.simulate(net, [0, 0], [2], [1.0, 1.0])
    with pytest.raises(ValueError, match="self-loop"):
        ref.Network(2, [0], [0], [1.0], [0.0], [True, True])
    with pytest.raises(ValueError, match="capacity"):
        ref.Network(2, [0], [1], [0.0], [0.0], [True, True])


# ----------------------------------------------------------------------------------------------
# Properties on random small networks


@st.composite
def scenarios(draw):
    n = draw(st.integers(3, 7))
    edges = [(i, draw(st.integers(0, i - 1))) for i in range(1, n)]  # a spanning tree
    for _ in range(draw(st.integers(0, 5))):
        u, v = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if u != v:
            edges.append((u, v))
    caps = [draw(st.sampled_from([1.0, 2.0, 5.0, 10.0, 40.0])) for _ in edges]
    lats = [draw(st.sampled_from([1e-6, 2e-6, 3.5e-6])) for _ in edges]
    endpoints = [u for u in range(n) if draw(st.booleans())]
    net = duplex(n, edges, caps, lats, endpoints)
    policy = draw(st.sampled_from(["ecmp", "spray"]))
    metric = draw(st.sampled_from(["hops", "latency"]))
    flows = []
    for _ in range(draw(st.integers(1, 8))):
        s, d = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if ref.distances(net, d, metric)[s] is not None:
            flows.append((s, d))
    k = len(flows)
    size = [draw(st.sampled_from([0.0, 1.0, 7.5, 100.0, 1e3])) for _ in range(k)]
    release = [draw(st.sampled_from([0.0, 0.5, 3.0])) for _ in range(k)]
    delay = [draw(st.sampled_from([0.0, 0.25])) for _ in range(k)]
    deps = [draw(st.lists(st.integers(0, i - 1), max_size=2)) if i else [] for i in range(k)]
    seed = draw(st.integers(0, 2**64 - 1))
    return net, flows, size, release, delay, deps, policy, metric, seed


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_random_networks_conserve_bytes_and_respect_capacity(scenario):
    net, flows, size, release, delay, deps, policy, metric, seed = scenario
    src = [s for s, _ in flows]
    dst = [d for _, d in flows]
    out = ref.simulate(
        net, src, dst, size, release, delay, deps, policy=policy, seed=seed, metric=metric
    )
    expected_bytes = np.zeros(net.n_links)
    for i, (s, d) in enumerate(flows):
        links, fractions, latency = ref.route(net, s, d, policy, seed, i, metric)
        expected_bytes[links] += size[i] * np.array(fractions)
        dist = ref.distances(net, d, metric)
        if policy == "ecmp":
            # One shortest path: walking from s along the links used reaches d at cost dist[s].
            out_of = {net.link_src[link]: link for link in links}
            assert len(out_of) == len(links)
            u, cost = s, 0
            while u != d:
                cost += ref.link_weight(net, out_of[u], metric)
                u = net.link_dst[out_of[u]]
            assert cost == dist[s]
        # Flow conservation: one unit leaves s, one arrives at d, none is lost in between.
        balance = np.zeros(net.n_nodes)
        for link, f in zip(links, fractions, strict=True):
            balance[net.link_src[link]] -= f
            balance[net.link_dst[link]] += f
            assert net.link_dst[link] == d or net.transit[net.link_dst[link]]
        if s != d:
            balance[s] += 1
            balance[d] -= 1
        assert np.allclose(balance, 0, atol=1e-12)
        # Timing: the start rule, and finish = transfer end + latency.
        pred_finish = [out["finish_s"][p] for p in deps[i]]
        assert out["start_s"][i] == max([release[i]] + pred_finish) + delay[i]
        assert out["start_s"][i] <= out["transfer_end_s"][i]
        assert out["finish_s"][i] == out["transfer_end_s"][i] + latency
        if out["transfer_end_s"][i] > out["start_s"][i]:
            assert out["min_rate_Bps"][i] * (1 - 1e-9) <= out["mean_rate_Bps"][i]
            assert out["mean_rate_Bps"][i] <= out["max_rate_Bps"][i] * (1 + 1e-9)
    assert np.allclose(out["link_bytes"], expected_bytes, rtol=1e-9, atol=1e-9)
    assert (out["link_peak_utilization"] <= 1 + 1e-12).all()
    makespan = max(out["transfer_end_s"], default=0.0)
    assert (out["link_busy_s"] <= makespan * (1 + 1e-12)).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([1.0, 3.0, 10.0]), min_size=1, max_size=5).flatmap(
        lambda caps: st.tuples(
            st.just(caps),
            st.lists(
                st.dictionaries(
                    st.integers(0, len(caps) - 1),
                    st.sampled_from([0.25, 0.5, 1.0, 2.0]),
                    min_size=1,
                ).map(lambda d: sorted(d.items())),
                min_size=1,
                max_size=6,
            ),
        )
    )
)
def test_max_min_rates_are_feasible_and_bottlenecked(case):
    caps, routes = case
    rates = ref.max_min_rates(caps, routes)
    load = np.zeros(len(caps))
    for pairs, r in zip(routes, rates, strict=True):
        for link, f in pairs:
            load[link] += f * r
    assert (load <= np.array(caps) * (1 + 1e-12)).all()
    # Max-min fairness: every flow crosses a saturated link where no flow gets more than it.
    for pairs, r in zip(routes, rates, strict=True):
        assert any(
            load[link] >= caps[link] * (1 - 1e-12)
            and all(
                r2 <= r * (1 + 1e-12)
                for p2, r2 in zip(routes, rates, strict=True)
                if link in dict(p2)
            )
            for link, _ in pairs
        )


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_distances_agree_with_networkx(scenario):
    net, _, _, _, _, _, _, metric, _ = scenario
    for d in range(net.n_nodes):
        dist = ref.distances(net, d, metric)
        for u in range(net.n_nodes):
            # Only u, d and transit nodes may be on the path.
            g = nx.MultiDiGraph()
            g.add_nodes_from(range(net.n_nodes))
            for link in range(net.n_links):
                a, b = net.link_src[link], net.link_dst[link]
                if all(x in (u, d) or net.transit[x] for x in (a, b)):
                    g.add_edge(a, b, w=ref.link_weight(net, link, metric))
            try:
                expected = nx.shortest_path_length(g, u, d, weight="w")
            except nx.NetworkXNoPath:
                expected = None
            assert dist[u] == expected
