"""Differential tests: the Rust core against the pure-Python reference
(fabricsim.testing.reference).

Random small fabrics (a random connected graph of switches, GPUs homed on one or two switches,
random capacities and latencies), random flow sets (sizes including 0, release times, delays,
acyclic dependencies), both routing policies and both metrics. Every flow's start, transfer
end and finish must agree to 1e-9 relative, link bytes too, and routes must be identical.
min/max rates are not compared: an event a few ulps apart can legitimately split one rate
recomputation into two in one engine and not the other.
"""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.testing import reference as ref

REL, ABS = 1e-9, 1e-15
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A few values only, so equal capacities / latencies (ties, equal-cost paths) are common.
CAPS = [10.0, 25.0, 40.0, 100.0, 400.0]
LATS = [0.1, 0.5, 0.5, 1.0, 2.0]


@st.composite
def fabrics(draw):
    """A schema-valid fabric: 1-5 switches forming a random connected graph, 2-5 GPUs each
    homed on 1 or 2 switches."""
    n_sw = draw(st.integers(1, 5))
    G = nx.Graph()
    for s in range(n_sw):
        G.add_node(f"sw{s}", role=draw(st.sampled_from(["leaf", "spine"])))

    def link(u, v, kind):
        G.add_edge(
            u,
            v,
            capacity_gbps=draw(st.sampled_from(CAPS)),
            latency_us=draw(st.sampled_from(LATS)),
            kind=kind,
        )

    for s in range(1, n_sw):  # random spanning tree
        link(f"sw{s}", f"sw{draw(st.integers(0, s - 1))}", "fabric")
    pairs = [(a, b) for a in range(n_sw) for b in range(a + 1, n_sw)]
    for a, b in draw(st.lists(st.sampled_from(pairs), max_size=6, unique=True)) if pairs else []:
        if not G.has_edge(f"sw{a}", f"sw{b}"):
            link(f"sw{a}", f"sw{b}", "fabric")
    n_gpu = draw(st.integers(2, 5))
    for g in range(n_gpu):
        G.add_node(f"gpu{g}", role="gpu")
        homes = draw(st.lists(st.integers(0, n_sw - 1), min_size=1, max_size=2, unique=True))
        for s in homes:
            link(f"gpu{g}", f"sw{s}", "access")
    eff = draw(st.sampled_from([1.0, 0.9]))
    return fs.Fabric.from_networkx(G, efficiency=eff)


@st.composite
def flow_sets(draw, n_gpus):
    """3-12 flows between GPU positions; dependencies only on lower-index flows."""
    n = draw(st.integers(3, 12))
    flows = []
    for i in range(n):
        src = draw(st.integers(0, n_gpus - 1))
        dst = draw(st.integers(0, n_gpus - 1))
        size = draw(
            st.one_of(
                st.just(0.0),
                st.sampled_from([1e3, 1e6, 5e6, 1.25e7]),
                st.floats(1.0, 2e7, allow_nan=False),
            )
        )
        release = draw(
            st.one_of(
                st.just(0.0), st.sampled_from([1e-4, 5e-4]), st.floats(0.0, 1e-3, allow_nan=False)
            )
        )
        delay = draw(st.one_of(st.just(0.0), st.floats(0.0, 1e-4, allow_nan=False)))
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        flows.append((src, dst, size, release, delay, deps))
    return flows


def as_mapping(fab, flows):
    g = fab.gpus
    return {
        "src": [g[f[0]] for f in flows],
        "dst": [g[f[1]] for f in flows],
        "size_bytes": [f[2] for f in flows],
        "start_s": [f[3] for f in flows],
        "delay_s": [f[4] for f in flows],
        "deps": [f[5] for f in flows],
    }


def assert_close(what, got, want, rel=REL, abs_=ABS):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, what
    ok = np.isclose(got, want, rtol=rel, atol=abs_) | (np.isnan(got) & np.isnan(want))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise AssertionError(f"{what}[{i}]: rust {got[i]!r} != reference {want[i]!r}")


def compare(rust, py, fab):
    for key in ("start_s", "transfer_end_s", "finish_s"):
        assert_close(key, getattr(rust, key), getattr(py, key))
    # link bytes: relative to what the link carries, with an absolute floor relative to the
    # largest link total (a link that carries ~0 in one engine carries ~0 in the other)
    scale = max(1.0, float(np.max(py.link_bytes, initial=0.0)))
    assert_close("link_bytes", rust.link_bytes, py.link_bytes, rel=REL, abs_=REL * scale)
    ok = np.isnan(py.mean_rate_Bps) | np.isclose(rust.mean_rate_Bps, py.mean_rate_Bps, rtol=1e-6)
    assert ok.all(), "mean_rate_Bps"


def reference_net(fab):
    c = fab.compiled
    return ref.Network(c.num_nodes, c.link_src, c.link_dst, fab.usable_Bps, c.latency_s, c.transit)


# --------------------------------------------------------------------------------- flow engine
@SETTINGS
@given(
    data=st.data(),
    routing=st.sampled_from(["ecmp", "spray"]),
    metric=st.sampled_from(["hops", "latency"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_engine_matches_reference(data, routing, metric, seed):
    fab = data.draw(fabrics(), label="fabric")
    flows = data.draw(flow_sets(len(fab.gpus)), label="flows")
    m = as_mapping(fab, flows)
    rust = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="rust")
    py = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="reference")
    compare(rust, py, fab)
    # the model's invariants, on the Rust result
    for i, (_, _, size, release, delay, deps) in enumerate(flows):
        ready = max([release] + [float(rust.finish_s[p]) for p in deps]) + delay
        assert math.isclose(rust.start_s[i], ready, rel_tol=REL, abs_tol=ABS)
        assert rust.transfer_end_s[i] >= rust.start_s[i]
        assert rust.finish_s[i] >= rust.transfer_end_s[i]
        if size == 0:
            assert rust.transfer_end_s[i] == rust.start_s[i]


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    routing=st.sampled_from(["ecmp", "spray"]),
    metric=st.sampled_from(["hops", "latency"]),
    seed=st.integers(0, 1000),
)
def test_engine_matches_reference_on_leaf_spine(data, routing, metric, seed):
    """Many equal-cost paths and shared bottlenecks: a builder fabric with random traffic.
    The metric is given to both sides explicitly (the reference's own default is "hops")."""
    o = data.draw(st.sampled_from([1.0, 2.0, 3.0]))
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=3, spines=2, hosts_per_leaf=2, gpus_per_host=2, oversubscription=o)
    )
    flows = data.draw(flow_sets(len(fab.gpus)), label="flows")
    m = as_mapping(fab, flows)
    rust = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="rust")
    py = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="reference")
    compare(rust, py, fab)


@st.composite
def direct_fabrics(draw):
    """Direct-connect fabrics: GPUs that forward (``forwarding=True``) joined by a random
    connected graph of direct links (tori and rings included), some also homed on a switch."""
    n_gpu = draw(st.integers(2, 7))
    G = nx.Graph()
    fwd = draw(st.lists(st.booleans(), min_size=n_gpu, max_size=n_gpu))
    for g in range(n_gpu):
        G.add_node(f"gpu{g}", role="gpu", forwarding=True if fwd[g] or g else None)

    def link(u, v, kind):
        G.add_edge(
            u,
            v,
            capacity_gbps=draw(st.sampled_from(CAPS)),
            latency_us=draw(st.sampled_from(LATS)),
            kind=kind,
        )

    # a random spanning tree through forwarding GPUs (gpu0 may be a plain endpoint: a leaf)
    for g in range(1, n_gpu):
        link(f"gpu{g}", f"gpu{draw(st.integers(1, g - 1)) if g > 1 else 0}", "fabric")
    pairs = [(a, b) for a in range(n_gpu) for b in range(a + 1, n_gpu)]
    for a, b in draw(st.lists(st.sampled_from(pairs), max_size=6, unique=True)):
        if not G.has_edge(f"gpu{a}", f"gpu{b}"):
            link(f"gpu{a}", f"gpu{b}", "fabric")
    if draw(st.booleans()):
        G.add_node("sw0", role="leaf")
        for g in draw(st.lists(st.integers(0, n_gpu - 1), min_size=1, max_size=3, unique=True)):
            link(f"gpu{g}", "sw0", "access")
    return fs.Fabric.from_networkx(G)


@SETTINGS
@given(
    data=st.data(),
    routing=st.sampled_from(["ecmp", "spray"]),
    metric=st.sampled_from(["hops", "latency"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_engine_matches_reference_with_forwarding_gpus(data, routing, metric, seed):
    """GPUs with ``forwarding=True`` route through each other identically in both engines."""
    fab = data.draw(direct_fabrics(), label="fabric")
    flows = data.draw(flow_sets(len(fab.gpus)), label="flows")
    m = as_mapping(fab, flows)
    rust = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="rust")
    py = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="reference")
    compare(rust, py, fab)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), routing=st.sampled_from(["ecmp", "spray"]), seed=st.integers(0, 1000))
def test_engine_matches_reference_on_torus(data, routing, seed):
    dims = data.draw(st.sampled_from([(4,), (3, 3), (2, 3), (2, 2, 2)]))
    fab = fs.Fabric.from_networkx(
        fs.torus(dims=dims, gpus_per_node=data.draw(st.sampled_from([1, 2])))
    )
    flows = data.draw(flow_sets(len(fab.gpus)), label="flows")
    m = as_mapping(fab, flows)
    for metric in ("hops", "latency"):
        rust = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="rust")
        py = fs.simulate(fab, m, routing=routing, seed=seed, metric=metric, engine="reference")
        compare(rust, py, fab)


def test_engine_matches_reference_simultaneous_identical_flows():
    """Batching: many flows ending at the same instant, successors starting then."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1)
    )
    g = fab.gpus
    flows = [(g[i], g[(i + 1) % 4], 1e6) for i in range(4)]
    flows += [(g[i], g[(i + 2) % 4], 1e6, 0.0, [0, 1, 2, 3]) for i in range(4)]
    for routing in ("ecmp", "spray"):
        for metric in ("hops", "latency"):
            rust = fs.simulate(fab, flows, routing=routing, metric=metric, engine="rust")
            py = fs.simulate(fab, flows, routing=routing, metric=metric, engine="reference")
            compare(rust, py, fab)


# --------------------------------------------------------------------------------- collectives
CASES = [
    (op, algo)
    for op, algos in (
        ("all_reduce", ("ring", "tree", "halving_doubling", "direct", "hierarchical")),
        ("all_gather", ("ring", "halving_doubling", "direct", "hierarchical")),
        ("reduce_scatter", ("ring", "halving_doubling", "direct", "hierarchical")),
        ("all_to_all", ("direct", "pairwise")),
        ("broadcast", ("ring", "direct")),
        ("reduce", ("ring", "direct")),
        ("send_recv", ("direct",)),
    )
    for algo in algos
]


def _tiny_fabrics():
    return {
        "leaf_spine": fs.Fabric.from_networkx(
            fs.leaf_spine(
                leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2, oversubscription=2.0
            )
        ),
        "rail": fs.Fabric.from_networkx(fs.rail_optimized(nodes_per_su=2, gpus_per_node=2)),
    }


TINY = _tiny_fabrics()


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(CASES),
    fabric=st.sampled_from(sorted(TINY)),
    size=st.sampled_from([8, 1000, 3 << 20, 123457]),
    routing=st.sampled_from(["ecmp", "spray"]),
    seed=st.integers(0, 50),
    channels=st.sampled_from([None, 1, 3]),
    metric=st.sampled_from(["hops", "latency"]),
)
def test_collectives_match_reference(case, fabric, size, routing, seed, channels, metric):
    op, algo = case
    fab = TINY[fabric]
    kw = dict(algorithm=algo, routing=routing, seed=seed, channels=channels, metric=metric)
    rust = fs.collective(fab, op, size, engine="rust", **kw)
    py = fs.collective(fab, op, size, engine="reference", **kw)
    assert rust.algorithm == py.algorithm == algo
    assert math.isclose(rust.time_s, py.time_s, rel_tol=REL, abs_tol=ABS)
    assert_close("flow_finish_s", rust.flow_finish_s, py.flow_finish_s)
    assert_close("flow_start_s", rust.flow_start_s, py.flow_start_s)
    compare(rust.simulation, py.simulation, fab)


# ------------------------------------------------------------------------------------ routing
def _as_dict(ids, fractions):
    return {int(i): float(f) for i, f in zip(ids, fractions, strict=True)}


@SETTINGS
@given(
    data=st.data(),
    policy=st.sampled_from(["ecmp", "spray"]),
    metric=st.sampled_from(["hops", "latency"]),
    seed=st.integers(0, 2**64 - 1),
    key=st.integers(0, 2**64 - 1),
)
def test_route_matches_reference(data, policy, metric, seed, key):
    fab = data.draw(fabrics(), label="fabric")
    net = reference_net(fab)
    nodes = fab.nodes
    src = data.draw(st.sampled_from(fab.gpus))
    dst = data.draw(st.sampled_from(fab.gpus))
    r = fab.route(src, dst, policy=policy, seed=seed, flow_key=key, metric=metric)
    links, fractions, lat = ref.route(
        net, fab.index(src), fab.index(dst), policy, seed, key, metric
    )
    assert sorted(r.link_ids.tolist()) == links
    got = _as_dict(r.link_ids, r.fractions)
    want = dict(zip(links, fractions, strict=True))
    assert got.keys() == want.keys()
    for k in want:
        assert math.isclose(got[k], want[k], rel_tol=1e-12), (k, got[k], want[k])
    assert math.isclose(r.latency_us, lat * 1e6, rel_tol=1e-12, abs_tol=1e-12)
    # the labels match the ids
    c = fab.compiled
    assert r.links == tuple(
        (nodes[int(c.link_src[i])], nodes[int(c.link_dst[i])]) for i in r.link_ids
    )
    if policy == "ecmp" and src != dst:
        # a single path, presented in walk order from src to dst
        assert r.links[0][0] == src and r.links[-1][1] == dst
        assert all(a[1] == b[0] for a, b in zip(r.links[:-1], r.links[1:], strict=True))
        assert np.all(r.fractions == 1.0)
    # the distance agrees with the reference's shortest distances (integer ns for latency)
    d = ref.distances(net, fab.index(dst), metric)[fab.index(src)]
    assert fab.distance(src, dst, metric=metric) == (d if metric == "hops" else d / 1000.0)


@SETTINGS
@given(
    data=st.data(),
    policy=st.sampled_from(["ecmp", "spray"]),
    metric=st.sampled_from(["hops", "latency"]),
    seed=st.integers(0, 2**64 - 1),
    key=st.integers(0, 2**64 - 1),
)
def test_route_via_matches_reference(data, policy, metric, seed, key):
    """A waypoint: the two halves' fractions add per link, latencies add."""
    fab = data.draw(fabrics(), label="fabric")
    net = reference_net(fab)
    src, via, dst = (data.draw(st.sampled_from(fab.gpus)) for _ in range(3))
    r = fab.route(src, dst, policy=policy, seed=seed, flow_key=key, metric=metric, via=via)
    pairs, lat = ref._flow_route(
        net, fab.index(src), fab.index(via), fab.index(dst), policy, seed, key, metric
    )
    got = _as_dict(r.link_ids, r.fractions)
    want = dict(pairs)
    assert got.keys() == want.keys()
    for k in want:
        assert math.isclose(got[k], want[k], rel_tol=1e-12), (k, got[k], want[k])
    assert math.isclose(r.latency_us, lat * 1e6, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("builder", ["leaf_spine", "fat_tree", "rail_optimized"])
def test_route_matches_reference_on_builders(builder):
    G = {
        "leaf_spine": lambda: fs.leaf_spine(leaves=3, spines=4, hosts_per_leaf=2, gpus_per_host=2),
        "fat_tree": lambda: fs.fat_tree(k=4),
        "rail_optimized": lambda: fs.rail_optimized(
            scalable_units=2, nodes_per_su=2, gpus_per_node=4
        ),
    }[builder]()
    fab = fs.Fabric.from_networkx(G)
    net = reference_net(fab)
    rng = np.random.default_rng(1)
    gpus = fab.gpus
    for _ in range(60):
        a, b = (gpus[int(i)] for i in rng.integers(0, len(gpus), 2))
        seed, key = (int(x) for x in rng.integers(0, 2**63, 2))
        for policy in ("ecmp", "spray"):
            for metric in ("hops", "latency"):
                r = fab.route(a, b, policy=policy, seed=seed, flow_key=key, metric=metric)
                links, fr, lat = ref.route(
                    net, fab.index(a), fab.index(b), policy, seed, key, metric
                )
                assert _as_dict(r.link_ids, r.fractions) == pytest.approx(
                    dict(zip(links, fr, strict=True)), rel=1e-12
                )
                assert r.latency_us == pytest.approx(lat * 1e6, rel=1e-12, abs=1e-12)
