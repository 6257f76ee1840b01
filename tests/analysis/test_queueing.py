"""queueing.message_latency: base latency, the M/M/1 waiting-time law (mean, growth as
utilisation -> 1, quantiles), spray mixtures and argument errors."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis import queueing
from fabricsim.analysis.queueing import message_latency
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
    UnreachableError,
)

MTU = 4096


@pytest.fixture(scope="module")
def fab():
    # 2 leaves x 2 hosts x 2 GPUs, 2 spines, non-blocking: uplinks 800 Gb/s, NICs 400 Gb/s.
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    )


def cross_leaf(fab):
    return fab.gpus[0], fab.gpus[-1]


def hand_base_us(fab, route, size):
    ids = route.link_ids
    return float(
        (fab.compiled.latency_us[ids] + size / fab.usable_Bps[ids] * 1e6) @ route.fractions
    )


def hop_moments_s(rho, service_s):
    """Mean and variance of one hop's M/M/1 wait: 0 w.p. 1 - rho, else Exp(s / (1 - rho))."""
    m = service_s / (1 - rho)
    mean = rho * m
    return mean, 2 * rho * m * m - mean * mean


def test_doctests():
    assert doctest.testmod(queueing).failed == 0


# ----------------------------------------------------------------------------- zero load


@pytest.mark.parametrize("routing", ["ecmp", "spray"])
@pytest.mark.parametrize("size", [0, 64, 4096, 1 << 20])
def test_zero_load_is_exact_base(fab, routing, size):
    a, b = cross_leaf(fab)
    r = message_latency(fab, a, b, size, routing=routing, samples=1000)
    base = hand_base_us(fab, fab.route(a, b, policy=routing), size)
    assert r.base_us == pytest.approx(base, rel=1e-12)
    assert r.expected_mean_us == pytest.approx(base, rel=1e-12)
    assert np.ptp(r.samples_us) == pytest.approx(0.0, abs=1e-9)
    assert r.samples_us == pytest.approx(base, rel=1e-12)
    assert all(v == pytest.approx(base, rel=1e-12) for v in r.quantiles_us.values())
    assert all(h.mean_wait_us == 0 for h in r.hops)


def test_base_by_hand(fab):
    # GPU -> leaf -> spine -> leaf -> GPU: 4 x 0.6 us; 2 hops at 50 GB/s, 2 at 100 GB/s.
    a, b = cross_leaf(fab)
    r = message_latency(fab, a, b, 1000, samples=10)
    assert r.base_us == pytest.approx(2.4 + 2 * 1000 / 50e3 + 2 * 1000 / 100e3, rel=1e-12)
    assert [h.serialization_us for h in r.hops] == pytest.approx([0.02, 0.01, 0.01, 0.02])
    assert [h.link for h in r.hops][0] == (a, "leaf0")
    assert [h.link for h in r.hops][-1] == ("leaf1", b)


def test_same_node_is_zero(fab):
    r = message_latency(fab, fab.gpus[0], fab.gpus[0], 4096, background_load=0.9)
    assert r.base_us == 0 and r.mean_us == 0 and r.hops == ()
    assert (r.samples_us == 0).all()


def test_background_load_leaves_nvlink_idle(fab):
    a, b = fab.gpus[0], fab.gpus[1]  # same host: GPU -> NVSwitch -> GPU
    r = message_latency(fab, a, b, 4096, background_load=0.9, samples=500)
    assert [fab.graph.nodes[h.link[1]]["role"] for h in r.hops] == ["nvswitch", "gpu"]
    assert np.ptp(r.samples_us) == 0 and r.mean_us == pytest.approx(r.base_us)


# ----------------------------------------------------------------------------- M/M/1 law


@pytest.mark.parametrize("rho", [0.2, 0.6, 0.9])
def test_mean_wait_matches_kleinrock(fab, rho):
    a, b = cross_leaf(fab)
    n = 200_000
    r = message_latency(fab, a, b, 512, utilization=rho, samples=n, seed=7)
    cap = fab.usable_Bps[[h.link_id for h in r.hops]]
    service_s = MTU / cap
    expect_s = float(np.sum(rho / (1 - rho) * service_s))
    assert r.queueing_mean_us == pytest.approx(expect_s * 1e6, rel=1e-12)
    assert sum(h.mean_wait_us for h in r.hops) == pytest.approx(expect_s * 1e6, rel=1e-12)
    var_s2 = sum(hop_moments_s(rho, s)[1] for s in service_s)
    se_us = math.sqrt(var_s2 / n) * 1e6
    assert abs((r.mean_us - r.base_us) - expect_s * 1e6) < 5 * se_us


def test_wait_grows_like_one_over_one_minus_rho(fab):
    a, b = cross_leaf(fab)
    rhos = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99]
    results = [message_latency(fab, a, b, 256, utilization=r, samples=20_000) for r in rhos]
    sum_service_us = sum(MTU / fab.usable_Bps[h.link_id] * 1e6 for h in results[0].hops)
    waits = [res.queueing_mean_us for res in results]
    assert waits == sorted(waits) and len(set(waits)) == len(waits)
    for rho, w in zip(rhos[1:], waits[1:], strict=True):
        # E[W] (1 - rho) / rho is the constant sum of service times: a 1 / (1 - rho) growth.
        assert w * (1 - rho) / rho == pytest.approx(sum_service_us, rel=1e-12)
    # Same seed: every sample is non-decreasing in rho (common random numbers).
    for lo, hi in zip(results, results[1:], strict=False):
        assert (hi.samples_us >= lo.samples_us - 1e-12).all()
    assert (
        results[-1].quantiles_us[0.99]
        > 10 * results[3].quantiles_us[0.99] - 10 * results[3].base_us
    )


def test_single_hop_quantiles_follow_the_law(fab):
    a, b = cross_leaf(fab)
    route = fab.route(a, b)
    first = int(route.link_ids[0])
    rho = 0.5
    util = np.zeros(fab.num_links)
    util[first] = rho
    n = 400_000
    qs = (0.25, 0.5, 0.9, 0.99, 0.999)
    r = message_latency(fab, a, b, 4096, utilization=util, samples=n, quantiles=qs, seed=3)
    assert list(r.quantiles_us) == list(qs)
    values = list(r.quantiles_us.values())
    assert values == sorted(values)
    m_us = MTU / fab.usable_Bps[first] / (1 - rho) * 1e6
    for q in qs:
        # P(W > t) = rho exp(-t / m): W's q-quantile is 0 for q <= 1 - rho, else m ln(rho/(1-q)).
        w = 0.0 if q <= 1 - rho else m_us * math.log(rho / (1 - q))
        assert r.quantiles_us[q] - r.base_us == pytest.approx(w, rel=0.05, abs=1e-9)
    assert r.quantile_us(0.999) == pytest.approx(r.quantiles_us[0.999])
    frac_waiting = float(np.mean(r.samples_us > r.base_us + 1e-9))
    assert abs(frac_waiting - rho) < 5 * math.sqrt(rho * (1 - rho) / n)
    assert [h.utilization for h in r.hops] == [rho, 0.0, 0.0, 0.0]


def test_spray_samples_the_path_mixture(fab):
    # Load only leaf0 -> spine0: a sprayed message crosses it with probability 1/2.
    a, b = cross_leaf(fab)
    lid = fab.links_of_edge("leaf0", "spine0")[0]
    util = np.zeros(fab.num_links)
    util[lid] = 0.8
    n = 100_000
    r = message_latency(fab, a, b, 4096, utilization=util, routing="spray", samples=n, seed=11)
    probs = {h.link: h.probability for h in r.hops}
    assert probs[("leaf0", "spine0")] == 0.5 and probs[(a, "leaf0")] == 1.0
    p = 0.5 * 0.8
    frac = float(np.mean(r.samples_us > r.base_us + 1e-9))
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert r.expected_mean_us - r.base_us == pytest.approx(
        0.5 * 4 * MTU / fab.usable_Bps[lid] * 1e6, rel=1e-12
    )
    # The same load under ECMP: the chosen path crosses spine0 or it does not.
    e = message_latency(fab, a, b, 4096, utilization=util, routing="ecmp", samples=1000)
    crosses = any(h.link == ("leaf0", "spine0") for h in e.hops)
    assert (e.queueing_mean_us > 0) == crosses


def test_unstable_link_off_the_route_is_fine(fab):
    a, b = cross_leaf(fab)
    route = fab.route(a, b)
    util = np.zeros(fab.num_links)
    off = next(i for i in range(fab.num_links) if i not in set(route.link_ids.tolist()))
    util[off] = 1.5
    r = message_latency(fab, a, b, 64, utilization=util, samples=10)
    assert r.mean_us == pytest.approx(r.base_us)


def test_same_seed_same_samples(fab):
    a, b = cross_leaf(fab)
    kw = dict(background_load=0.7, routing="spray", samples=2000)
    r1 = message_latency(fab, a, b, 100, seed=5, **kw)
    r2 = message_latency(fab, a, b, 100, seed=5, **kw)
    r3 = message_latency(fab, a, b, 100, seed=6, **kw)
    assert np.array_equal(r1.samples_us, r2.samples_us)
    assert not np.array_equal(r1.samples_us, r3.samples_us)
    assert not r1.samples_us.flags.writeable


def test_link_utilization_from_a_simulation(fab):
    a, b = cross_leaf(fab)
    res = fs.simulate(fab, [(a, b, 50e6)], routing="spray")
    util = queueing.link_utilization(fab, res)
    nic = fab.links_of_edge(a, "leaf0")[0]
    # The NIC is busy for the whole 1 ms transfer; the makespan adds the 2.4 us path latency.
    assert util[nic] == pytest.approx(1e-3 / (1e-3 + 2.4e-6), rel=1e-9)
    util2 = queueing.link_utilization(fab, res, duration_s=0.01)
    assert util2[nic] == pytest.approx(0.1, rel=1e-9)
    r = message_latency(fab, a, b, 64, utilization=util2, samples=100)
    assert r.hops[0].utilization == pytest.approx(0.1, rel=1e-9)
    assert r.queueing_mean_us > 0
    back = message_latency(fab, b, a, 64, utilization=util2, samples=100)
    assert back.queueing_mean_us == 0  # the reverse direction carried nothing
    with pytest.raises(InvalidArgumentError, match="M/M/1"):
        message_latency(fab, a, b, 64, utilization=util * 1.01, samples=10)
    with pytest.raises(InvalidTypeError, match="result"):
        queueing.link_utilization(fab, object())
    with pytest.raises(InvalidArgumentError, match="duration_s"):
        queueing.link_utilization(fab, res, duration_s=-1.0)


def test_as_dict(fab):
    a, b = cross_leaf(fab)
    d = message_latency(fab, a, b, 64, background_load=0.3, samples=100).as_dict()
    assert d["samples"] == 100 and len(d["hops"]) == 4
    assert set(d["quantiles_us"]) == {"0.5", "0.9", "0.99", "0.999"}


# ----------------------------------------------------------------------------- errors


def test_unstable_queue_names_the_link(fab):
    a, b = cross_leaf(fab)
    route = fab.route(a, b)
    util = np.zeros(fab.num_links)
    util[route.link_ids[2]] = 1.0
    u, v = route.links[2]
    with pytest.raises(InvalidArgumentError, match=f"{u}.*{v}.*utilization < 1"):
        message_latency(fab, a, b, 64, utilization=util)
    with pytest.raises(InvalidArgumentError, match="utilization < 1"):
        message_latency(fab, a, b, 64, background_load=1.0)
    with pytest.raises(InvalidArgumentError, match="utilization < 1"):
        message_latency(fab, a, b, 64, utilization=2)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(utilization=-0.1), InvalidArgumentError, "utilization"),
        (dict(utilization=math.nan), InvalidArgumentError, "utilization"),
        (dict(utilization=[0.1, 0.2]), InvalidArgumentError, "one value per directed link"),
        (dict(utilization="high"), InvalidTypeError, "utilization"),
        (dict(utilization=0.1, background_load=0.1), InvalidArgumentError, "at most one"),
        (dict(background_load=-1), InvalidArgumentError, "background_load"),
        (dict(routing="random"), UnknownNameError, "ecmp, spray"),
        (dict(samples=0), InvalidArgumentError, "samples"),
        (dict(samples=1.5), InvalidArgumentError, "samples"),
        (dict(mtu_bytes=0), InvalidArgumentError, "mtu_bytes"),
        (dict(quantiles=(0.5, 1.5)), InvalidArgumentError, r"quantiles\[1\]"),
        (dict(quantiles=0.5), InvalidTypeError, "quantiles"),
        (dict(seed=-1), InvalidArgumentError, "seed"),
    ],
)
def test_bad_arguments_are_named(fab, kwargs, exc, match):
    a, b = cross_leaf(fab)
    with pytest.raises(exc, match=match):
        message_latency(fab, a, b, 64, **kwargs)


def test_bad_array_entry_names_the_link(fab):
    a, b = cross_leaf(fab)
    util = np.zeros(fab.num_links)
    util[5] = -1
    u, v = fab.link(5)
    with pytest.raises(InvalidArgumentError, match=rf"utilization\[5\].*{u}.*{v}"):
        message_latency(fab, a, b, 64, utilization=util)


def test_bad_endpoints_and_sizes(fab):
    a, b = cross_leaf(fab)
    with pytest.raises(InvalidArgumentError, match="nowhere"):
        message_latency(fab, a, "nowhere", 64)
    with pytest.raises(InvalidArgumentError, match="size_bytes"):
        message_latency(fab, a, b, -1)
    with pytest.raises(InvalidArgumentError, match="size_bytes"):
        message_latency(fab, a, b, math.inf)
    with pytest.raises(InvalidTypeError, match="fabric"):
        message_latency(fs.leaf_spine(), a, b, 64)


def test_unreachable_names_both_ends():
    G = fs.edge_sites(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2, gpus_per_host=1),
        carriers=[{"name": "a", "capacity_gbps": 10.0}],
        sites=[{"name": "x", "carriers": ["a"], "distance_km": 10.0, "capacity_gbps": 1.0}],
    )
    G.remove_edge("site/x", "pop/a")
    fab = fs.Fabric.from_networkx(G)
    with pytest.raises(UnreachableError, match="site/x"):
        message_latency(fab, "site/x", fab.gpus[0], 64)
