"""Collectives against closed forms (alpha-beta, /work/shared/reference.md) and nccl-tests factors.

On an uncongested fabric every algorithm's time has an exact closed form; the engine must hit
it to 1e-9 relative. Conventions: ``B`` = NIC bytes/s (x efficiency), ``alpha`` = one step's
path latency (GPU -> leaf -> GPU = 2 x access latency on a single switch), ``S`` = the
nccl-tests size. No profile => no per-step software overhead.
"""

import io
import math
import re

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError

REL = 1e-9
NIC_GBPS = 400.0
B = NIC_GBPS * 1e9 / 8  # bytes/s
ACCESS_US = 1.0
ALPHA = 2 * ACCESS_US * 1e-6  # GPU -> leaf -> GPU
CROSS_ALPHA = 4 * 0.6e-6  # GPU -> leaf -> spine -> leaf -> GPU at the builders' 0.6 us default

BUSBW = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}

_FABRICS: dict = {}


def switch(n, *, nic_gbps=NIC_GBPS, access_us=ACCESS_US):
    """n GPUs, one NIC each, all on one leaf: every path is GPU -> leaf -> GPU."""
    key = (n, nic_gbps, access_us)
    if key not in _FABRICS:
        G = fs.leaf_spine(
            leaves=1,
            spines=1,
            hosts_per_leaf=n,
            gpus_per_host=1,
            nic_gbps=nic_gbps,
            access_latency_us=access_us,
        )
        _FABRICS[key] = fs.Fabric.from_networkx(G)
    return _FABRICS[key]


def close(got, want, rel=REL):
    return math.isclose(got, want, rel_tol=rel, abs_tol=0.0)


def check(res, want, what=""):
    assert close(res.time_s, want), (
        f"{what}: time {res.time_s!r} s != closed form {want!r} s "
        f"(rel err {res.time_s / want - 1:.3e})"
    )


SIZES = [1, 4099, 3 << 20, 1 << 30]


# ---------------------------------------------------------------------------------- ring family
@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("S", SIZES)
def test_ring_all_reduce_closed_form(n, S):
    res = fs.collective(switch(n), "all_reduce", S, algorithm="ring", channels=1)
    check(res, 2 * (n - 1) * (ALPHA + S / (n * B)), f"ring all_reduce n={n} S={S}")
    assert res.algorithm == "ring" and res.n_ranks == n and res.channels == 1
    assert [p.name for p in res.phases] == ["reduce-scatter", "all-gather"]
    # 2(n-1) steps, each one chunk of S/n per rank
    steps = res.steps()
    assert len(steps) == 2 * (n - 1)
    assert all(close(s["bytes"], S) for s in steps)


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [2, 4, 7])
@pytest.mark.parametrize("S", SIZES)
def test_ring_all_gather_reduce_scatter_closed_form(op, n, S):
    res = fs.collective(switch(n), op, S, algorithm="ring", channels=1)
    check(res, (n - 1) * (ALPHA + S / (n * B)), f"ring {op} n={n} S={S}")
    assert len(res.steps()) == n - 1


@pytest.mark.parametrize("channels", [1, 2, 3, 8])
def test_ring_channels_share_the_nic_same_closed_form(channels):
    """1 GPU per host on one switch: every channel's ring uses the same NICs, each with
    1/channels of the data, so the time is that of one channel."""
    n, S = 6, 3 << 20
    res = fs.collective(switch(n), "all_reduce", S, algorithm="ring", channels=channels)
    assert res.channels == channels
    assert len(res.flow_src) == channels * n * 2 * (n - 1)
    check(res, 2 * (n - 1) * (ALPHA + S / (n * B)), f"channels={channels}")


@pytest.mark.parametrize("op,steps", [("all_reduce", 2), ("all_gather", 1), ("reduce_scatter", 1)])
@pytest.mark.parametrize("channels", [1, 4])
def test_merged_steps_stay_exact(op, steps, channels):
    """A tiny max_flows merges consecutive ring steps into one flow that pays their
    latencies: on an uncongested fabric the closed form still holds exactly."""
    n, S = 64, (1 << 30) + 12345
    res = fs.collective(switch(n), op, S, algorithm="ring", channels=channels, max_flows=1000)
    unmerged = channels * n * steps * (n - 1)
    assert len(res.flow_src) < unmerged / 4, "no steps were merged"
    check(res, steps * (n - 1) * (ALPHA + S / (n * B)), f"merged {op} channels={channels}")
    assert close(res.flow_bytes.sum(), steps * (n - 1) * S)


@pytest.mark.parametrize("channels", [1, 4, 64])
def test_merged_steps_respect_max_flows(channels):
    """max_flows is the budget merging works to: the flow count must not exceed it unless even
    one flow per (channel, rank, phase) does (the least merging can reach)."""
    n, max_flows = 64, 1000
    res = fs.collective(
        switch(n), "all_reduce", 1 << 20, algorithm="ring", channels=channels, max_flows=max_flows
    )
    floor = channels * n * 2
    assert len(res.flow_src) <= max(max_flows, floor), (
        f"channels={channels}: {len(res.flow_src)} flows > max_flows={max_flows}"
    )


# ------------------------------------------------------------------------- halving / doubling
@pytest.mark.parametrize("n", [2, 4, 8, 16])
@pytest.mark.parametrize("S", SIZES)
def test_halving_doubling_closed_form(n, S):
    res = fs.collective(switch(n), "all_reduce", S, algorithm="halving_doubling")
    want = 2 * math.log2(n) * ALPHA + 2 * (n - 1) / n * S / B
    check(res, want, f"halving_doubling n={n} S={S}")


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
def test_halving_doubling_half_collectives(op):
    n, S = 8, 3 << 20
    res = fs.collective(switch(n), op, S, algorithm="halving_doubling")
    check(res, math.log2(n) * ALPHA + (n - 1) / n * S / B, f"halving_doubling {op}")


def _fold_closed_form(n, S):
    p2 = 1 << (n.bit_length() - 1)
    return 2 * (ALPHA + S / B) + 2 * math.log2(p2) * ALPHA + 2 * (p2 - 1) / p2 * S / B


@pytest.mark.parametrize("n", [3, 5, 6, 7, 12])
def test_halving_doubling_non_power_of_two_runs_and_is_slower(n):
    S = 3 << 20
    res = fs.collective(switch(n), "all_reduce", S, algorithm="halving_doubling")
    p2 = 1 << (n.bit_length() - 1)
    pow2 = fs.collective(switch(p2), "all_reduce", S, algorithm="halving_doubling")
    assert [p.name for p in res.phases][0] == "fold"
    assert [p.name for p in res.phases][-1] == "unfold"
    assert res.time_s > pow2.time_s
    # never faster than the textbook fold (fold + power-of-two core + unfold)
    assert res.time_s >= _fold_closed_form(n, S) * (1 - REL)


@pytest.mark.parametrize("n", [3, 5, 6, 7, 12])
def test_halving_doubling_non_power_of_two_fold_closed_form(n):
    """Thakur-Rabenseifner-Gropp: the first 2r ranks fold into r, the 2^k survivors run the
    power-of-two algorithm, then the result is sent back: two extra steps of alpha + S/B.
    A survivor that did not fold must not push its first halving message into a partner
    that is still receiving the fold (the exchange starts when both sides are ready)."""
    S = 3 << 20
    res = fs.collective(switch(n), "all_reduce", S, algorithm="halving_doubling")
    fold = next(p for p in res.phases if p.name == "fold")
    names = [p.name for p in res.phases]
    halving = res.flow_phase == names.index(next(x for x in names if x.startswith("reduce-sc")))
    # Ranks 2r.. never fold and may exchange among themselves at once; but no halving message
    # may go into a rank that is still receiving the fold.
    folded_into = set(res.flow_dst[res.flow_phase == names.index("fold")].tolist())
    into_folding = halving & np.isin(res.flow_dst, list(folded_into))
    assert res.flow_start_s[into_folding].min() >= fold.end_s - 1e-15, (
        f"n={n}: a halving message went into a rank still receiving the fold"
    )
    check(res, _fold_closed_form(n, S), f"halving_doubling fold n={n}")


# ------------------------------------------------------------------------ all-to-all, p2p, chain
@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("S", SIZES)
def test_pairwise_all_to_all_closed_form(n, S):
    res = fs.collective(switch(n), "all_to_all", S, algorithm="pairwise")
    check(res, (n - 1) * (ALPHA + S / (n * B)), f"pairwise n={n}")


@pytest.mark.parametrize("n", [2, 3, 8, 16])
@pytest.mark.parametrize("S", SIZES)
def test_direct_all_to_all_closed_form(n, S):
    """Each NIC carries n-1 flows of S/n at once."""
    res = fs.collective(switch(n), "all_to_all", S, algorithm="direct")
    check(res, ALPHA + (n - 1) / n * S / B, f"direct all_to_all n={n}")
    assert len(res.flow_src) == n * (n - 1)


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
def test_direct_half_collectives_closed_form(op):
    n, S = 5, 3 << 20
    res = fs.collective(switch(n), op, S, algorithm="direct")
    check(res, ALPHA + (n - 1) / n * S / B, f"direct {op}")


def test_direct_all_reduce_closed_form():
    n, S = 6, 3 << 20
    res = fs.collective(switch(n), "all_reduce", S, algorithm="direct")
    check(res, 2 * (ALPHA + (n - 1) / n * S / B), "direct all_reduce")


@pytest.mark.parametrize("op", ["broadcast", "reduce"])
@pytest.mark.parametrize("n", [2, 4, 7])
@pytest.mark.parametrize("K", [1, 2, 5, 64])
def test_chain_closed_form(op, n, K):
    S = 3 << 20
    res = fs.collective(switch(n), op, S, algorithm="ring", pipeline_chunks=K)
    check(res, (n - 1 + K - 1) * (ALPHA + S / (K * B)), f"{op} chain n={n} K={K}")


@pytest.mark.parametrize(
    "S,K", [(1, 1), (512 * 1024, 1), (512 * 1024 + 1, 2), (3 << 20, 6), (1 << 30, 64)]
)
def test_chain_default_pipeline_chunks(S, K):
    """Default: one piece per 512 KiB, between 1 and 64."""
    n = 4
    res = fs.collective(switch(n), "broadcast", S, algorithm="ring")
    check(res, (n - 1 + K - 1) * (ALPHA + S / (K * B)), f"broadcast default chunks S={S}")


@pytest.mark.parametrize("op", ["broadcast", "reduce"])
def test_direct_broadcast_reduce_closed_form(op):
    """The root's NIC carries all n-1 copies."""
    n, S = 5, 3 << 20
    res = fs.collective(switch(n), op, S, algorithm="direct")
    check(res, ALPHA + (n - 1) * S / B, f"direct {op}")


@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("S", SIZES)
def test_send_recv_closed_form(n, S):
    res = fs.collective(switch(n), "send_recv", S)
    assert res.algorithm == "direct"
    check(res, ALPHA + S / B, f"send_recv n={n}")


def test_hierarchical_closed_form_on_rail_optimized():
    """Intra-host rings over NVLink, then one ring per rail (one leaf hop), then NVLink."""
    H, g = 4, 4
    G = fs.rail_optimized(
        nodes_per_su=H,
        gpus_per_node=g,
        nvlink_gbps=3600.0,
        nvlink_latency_us=0.5,
        access_latency_us=0.6,
    )
    fab = fs.Fabric.from_networkx(G)
    n, S = H * g, 1 << 28
    Bn, an, ar = 3600e9 / 8, 2 * 0.5e-6, 2 * 0.6e-6
    intra = (g - 1) * (an + S / (g * Bn))
    inter = (H - 1) * (ar + S / (n * B))
    want = {
        "all_reduce": 2 * intra + 2 * inter,
        "all_gather": intra + inter,
        "reduce_scatter": intra + inter,
    }
    for op, t in want.items():
        check(fs.collective(fab, op, S, algorithm="hierarchical"), t, f"hierarchical {op}")


# ------------------------------------------------------------------------------ nccl-tests bw
@pytest.mark.parametrize(
    "op,algo",
    [
        ("all_reduce", "ring"),
        ("all_reduce", "tree"),
        ("all_reduce", "halving_doubling"),
        ("all_reduce", "direct"),
        ("all_gather", "ring"),
        ("all_gather", "direct"),
        ("reduce_scatter", "ring"),
        ("reduce_scatter", "halving_doubling"),
        ("all_to_all", "direct"),
        ("all_to_all", "pairwise"),
        ("broadcast", "ring"),
        ("broadcast", "direct"),
        ("reduce", "ring"),
        ("reduce", "direct"),
        ("send_recv", "direct"),
    ],
)
@pytest.mark.parametrize("n", [2, 4])
def test_algbw_busbw_factors(op, algo, n):
    S = 3 << 20
    res = fs.collective(switch(n), op, S, algorithm=algo)
    assert res.op == op and res.algorithm == algo and res.size_bytes == S
    assert close(res.algbw_GBps, S / res.time_s / 1e9)
    assert close(res.busbw_GBps, res.algbw_GBps * BUSBW[op](n))
    # ``_gbps`` means gigabits per second everywhere; the GB/s figures are only ``*_GBps``.
    assert not hasattr(res, "algbw_gbps") and not hasattr(res, "busbw_gbps")
    assert close(res.time_us, res.time_s * 1e6)
    assert res.time_s == pytest.approx(float(res.flow_finish_s.max()), rel=0, abs=0)


def test_ring_busbw_is_nic_rate_at_large_size():
    """busbw of a ring -> NIC rate x efficiency on a non-blocking leaf-spine."""
    eff = 0.9
    G = fs.leaf_spine(leaves=4, spines=4, hosts_per_leaf=4, gpus_per_host=1)
    fab = fs.Fabric.from_networkx(G, efficiency=eff)
    n, S = 16, 8 << 30
    for routing in ("ecmp", "spray"):
        res = fs.collective(fab, "all_reduce", S, algorithm="ring", routing=routing)
        assert res.busbw_GBps == pytest.approx(NIC_GBPS / 8 * eff, rel=0.01)
        assert res.busbw_GBps <= NIC_GBPS / 8 * eff
        # one flow per leaf crosses the spines, so nothing collides: exact, with the
        # cross-leaf path's latency as the step latency
        check(res, 2 * (n - 1) * (CROSS_ALPHA + S / (n * B * eff)), f"leaf-spine {routing}")
        assert res.bottlenecks[0]["kind"] == "access"


@pytest.fixture(scope="module")
def h100_pod():
    G = fs.rail_optimized(scalable_units=1, nodes_per_su=8, gpus_per_node=8, profile="h100-ndr400")
    return fs.Fabric.from_networkx(G, profile="h100-ndr400")


def test_h100_rail_optimized_busbw_in_measured_range(h100_pod):
    """8 nodes x 8 H100, rail-optimized: 8 NICs x 46-49 GB/s ~ 368-392 GB/s (reference.md)."""
    res = fs.collective(h100_pod, "all_reduce", 8 << 30, algorithm="ring", profile=False)
    assert res.channels == 8
    assert 368.0 <= res.busbw_GBps <= 392.0, res.busbw_GBps
    # with the profile's NCCL latencies (the fabric's own profile) it stays in range at 8 GiB
    res_p = fs.collective(h100_pod, "all_reduce", 8 << 30, algorithm="ring")
    assert 368.0 <= res_p.busbw_GBps <= 392.0, res_p.busbw_GBps
    assert res_p.time_s > res.time_s


def test_h100_single_channel_is_one_nic(h100_pod):
    one = fs.collective(h100_pod, "all_reduce", 8 << 30, algorithm="ring", channels=1)
    assert one.channels == 1
    assert 46.0 <= one.busbw_GBps <= 49.0, one.busbw_GBps
    assert one.bottlenecks[0]["kind"] == "access"
    many = fs.collective(h100_pod, "all_reduce", 8 << 30, algorithm="ring", channels=8)
    assert many.busbw_GBps > 7 * one.busbw_GBps


# ------------------------------------------------------------------------- oversubscription
@pytest.mark.parametrize("o", [1, 2, 4, 8])
def test_oversubscribed_ring_one_nic_per_leaf_crossing(o):
    """2 leaves x 2 hosts x 1 GPU: the ring crosses each leaf's uplinks with ONE flow, so it
    only slows once the leaf's total uplink D/o drops below one NIC: the cross-leaf step
    rate is min(B, D/o) with D = 2 NICs, and the time is exact."""
    kw = dict(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1)
    n, S = 4, 1 << 30
    fab = fs.Fabric.from_networkx(fs.leaf_spine(oversubscription=o, **kw))
    res = fs.collective(fab, "all_reduce", S, algorithm="ring", routing="spray")
    rate = min(B, 2 * B / o)
    check(res, 2 * (n - 1) * (CROSS_ALPHA + S / (n * rate)), f"oversubscription {o}")


def test_oversubscribed_ring_bandwidth_ratio_single_gpu_hosts():
    """Bandwidth-bound ratio = max(1, o / GPUs per leaf) for a one-flow-per-leaf ring: 4 at o=8."""
    kw = dict(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1)
    S = 8 << 30
    t = {}
    for o in (1, 8):
        fab = fs.Fabric.from_networkx(fs.leaf_spine(oversubscription=o, **kw))
        t[o] = fs.collective(fab, "all_reduce", S, algorithm="ring", routing="spray").time_s
    assert t[8] / t[1] == pytest.approx(4.0, rel=0.01)


@pytest.mark.parametrize("metric", ["latency", None])
@pytest.mark.parametrize("o", [2, 4])
def test_oversubscription_slows_multi_channel_ring_by_ratio(metric, o):
    """One 4-GPU host per leaf: the 4 channels leave the host through 4 different NICs (PXN),
    so the ring loads the whole leaf downlink across the spines and an oversubscription of o
    makes its bandwidth-bound time o times longer. Intra-host ring steps ride NVLink, as
    NCCL's do; they must not leak onto the NICs. The latency metric (explicit, and the
    default: metric=None) keeps them there; with metric="hops" the NVLink and NIC paths tie
    (see test_hops_metric_intra_host_nvlink_and_nic_paths_tie)."""
    kw = dict(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=4)
    S = 8 << 30
    t = {}
    for ov in (1, o):
        fab = fs.Fabric.from_networkx(fs.leaf_spine(oversubscription=ov, **kw))
        mkw = {} if metric is None else {"metric": metric}
        res = fs.collective(fab, "all_reduce", S, algorithm="ring", routing="spray", **mkw)
        t[ov] = res
    assert t[o].time_s / t[1].time_s == pytest.approx(o, rel=0.01), (
        f"metric={metric}: time ratio {t[o].time_s / t[1].time_s:.4f} at oversubscription "
        f"{o}; non-blocking run bottleneck: {t[1].bottlenecks[0]}"
    )


def test_hops_metric_intra_host_nvlink_and_nic_paths_tie():
    """Documented (docs/schema.md, "Multi-GPU hosts"): with metric="hops" two GPUs of one host
    are two
    hops apart both through their NVSwitch and through their shared leaf, so both are
    equal-cost paths and spraying splits intra-host traffic between NVLink and the NIC; the
    latency metric keeps only the NVLink path."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=4)
    )
    for h in range(2):
        gpus = [f"host{h}/gpu{i}" for i in range(4)]
        nvlink = f"host{h}/nvswitch"
        leaf = f"leaf{h}"
        for a in gpus:
            for b in gpus:
                if a == b:
                    continue
                assert sorted(fab.paths(a, b, metric="hops")) == sorted(
                    [[a, nvlink, b], [a, leaf, b]]
                )
                assert fab.distance(a, b, metric="hops") == 2.0
                spray = fab.route(a, b, policy="spray", metric="hops")
                frac = dict(zip(spray.links, spray.fractions.tolist(), strict=True))
                assert frac == {(a, nvlink): 0.5, (nvlink, b): 0.5, (a, leaf): 0.5, (leaf, b): 0.5}
                assert fab.paths(a, b, metric="latency") == [[a, nvlink, b]]
                assert fab.paths(a, b) == [[a, nvlink, b]]  # the default metric is latency


@pytest.mark.parametrize("o", [1, 2, 4])
def test_oversubscribed_permutation_exact_ratio(o):
    """Every GPU under leaf0 sends to its own GPU under leaf1 at once: the leaf's uplinks
    carry the whole downlink, so transfer times scale exactly by the oversubscription."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=4, gpus_per_host=1, oversubscription=o)
    )
    g, S = fab.gpus, 1e9
    res = fs.simulate(fab, [(g[i], g[4 + i], S) for i in range(4)], routing="spray")
    assert np.allclose(res.transfer_end_s, o * S / B, rtol=REL, atol=0)
    assert close(res.makespan_s, o * S / B + CROSS_ALPHA)


@pytest.mark.parametrize("o", [1, 2, 4, 8])
def test_oversubscribed_direct_all_to_all(o):
    """8 GPUs, 4 per leaf: each NIC sends 7/8 S; each leaf sends 4 x 4 x S/8 = 2S up its
    uplinks of 4B/o. Time = max(7/8 S/B, o S/(2B)) + the cross-leaf latency."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=4, gpus_per_host=1, oversubscription=o)
    )
    S = 1 << 30
    res = fs.collective(fab, "all_to_all", S, algorithm="direct", routing="spray")
    check(res, CROSS_ALPHA + max(7 / 8, o / 2) * S / B, f"direct all_to_all o={o}")


def test_intra_host_flow_uses_nvlink_on_leaf_spine():
    """Two GPUs of one host: the transfer should go at NVLink speed, not through the NIC,
    under the latency metric (explicit, and the default). With metric="hops" the NIC path
    ties with the NVLink one (documented): spraying sends half of the flow over each."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=1, gpus_per_host=4)
    )
    S = 450e9
    for mkw in ({}, {"metric": "latency"}):
        for routing in ("spray", "ecmp"):
            for seed in range(4):
                res = fs.simulate(
                    fab, [("host0/gpu0", "host0/gpu1", S)], routing=routing, seed=seed, **mkw
                )
                assert close(float(res.transfer_end_s[0]), S / 450e9), (
                    f"{mkw} {routing} seed={seed}: intra-host transfer took "
                    f"{res.transfer_end_s[0]} s, NVLink would take {S / 450e9} s; route: "
                    f"{fab.route('host0/gpu0', 'host0/gpu1', policy=routing, seed=seed, **mkw)}"
                )
    # metric="hops": both paths are equal-cost, and the sprayed flow loads the NIC with half.
    res = fs.simulate(fab, [("host0/gpu0", "host0/gpu1", S)], routing="spray", metric="hops")
    nic = fab.links_of_edge("host0/gpu0", "leaf0")[0]
    nvl = fab.links_of_edge("host0/gpu0", "host0/nvswitch")[0]
    assert close(float(res.link_bytes[nic]), S / 2) and close(float(res.link_bytes[nvl]), S / 2)


# ------------------------------------------------------------------------------------- ECMP
def test_ecmp_collisions_on_permutation_spray_removes_them():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=8, hosts_per_leaf=8, gpus_per_host=1)
    )
    g, S = fab.gpus, 1e9
    flows = [(g[i], g[8 + i], S) for i in range(8)]
    spray = fs.simulate(fab, flows, routing="spray")
    assert close(spray.makespan_s, S / B + CROSS_ALPHA)
    ratios, max_loads = [], []
    for seed in range(50):
        res = fs.simulate(fab, flows, routing="ecmp", seed=seed)
        # the spine each flow hashes to (flow_key = its position)
        spines = [fab.route(g[i], g[8 + i], seed=seed, flow_key=i).links[1][1] for i in range(8)]
        k = max(spines.count(s) for s in set(spines))
        max_loads.append(k)
        assert close(res.makespan_s, k * S / B + CROSS_ALPHA), (seed, spines)
        ratios.append(res.makespan_s / spray.makespan_s)
    assert sum(r > 1.5 for r in ratios) >= 40  # collisions for most seeds
    assert 2.0 <= np.mean(ratios) <= 3.2, np.mean(ratios)  # balls into bins: E[max] ~ 2.6
    assert 2.0 <= np.mean(max_loads) <= 3.2


# -------------------------------------------------------------------------------------- auto
#: What "auto" chooses among: NCCL's own algorithms for each op.
NCCL_ALGORITHMS = {
    "all_reduce": ("ring", "tree"),
    "all_gather": ("ring",),
    "reduce_scatter": ("ring",),
    "all_to_all": ("direct",),
    "broadcast": ("ring",),
    "reduce": ("ring",),
    "send_recv": ("direct",),
}


@pytest.mark.parametrize("op", sorted(NCCL_ALGORITHMS))
@pytest.mark.parametrize("S", [8, 1 << 26])
def test_auto_picks_fastest(op, S):
    """auto = the fastest of NCCL's own algorithms for the op, each run explicitly; the
    alternatives list exactly those (none when there is only one)."""
    fab = switch(4)
    res = fs.collective(fab, op, S)
    cands = NCCL_ALGORITHMS[op]
    times = {algo: fs.collective(fab, op, S, algorithm=algo).time_s for algo in cands}
    assert res.algorithm in cands
    assert res.time_s == min(times.values()) == times[res.algorithm]
    alts = res.alternatives
    if len(cands) > 1:
        assert alts == times
    else:
        assert alts == {}


def test_auto_small_vs_large_differs():
    """Latency-bound sizes favour few steps; bandwidth-bound sizes favour the ring family."""
    fab = switch(8)
    small = fs.collective(fab, "all_reduce", 8)
    big = fs.collective(fab, "all_reduce", 1 << 30)
    assert small.alternatives["ring"] > small.time_s
    assert big.time_s <= big.alternatives["ring"]


# ------------------------------------------------------------------------------------ errors
def test_unknown_op_and_algorithm_list_valid():
    fab = switch(2)
    with pytest.raises(UnknownNameError, match=r"op.*'allreduc'.*all_reduce.*send_recv"):
        fs.collective(fab, "allreduc", 1024)
    with pytest.raises(UnknownNameError, match=r"algorithm.*'bogus'.*ring.*hierarchical"):
        fs.collective(fab, "all_reduce", 1024, algorithm="bogus")
    with pytest.raises(InvalidTypeError, match="op"):
        fs.collective(fab, 5, 1024)
    with pytest.raises(UnknownNameError, match="routing"):
        fs.collective(fab, "all_reduce", 1024, routing="bogus")


@pytest.mark.parametrize(
    "op,algo",
    [
        ("all_to_all", "ring"),
        ("send_recv", "ring"),
        ("broadcast", "tree"),
        ("all_gather", "tree"),
        ("all_reduce", "pairwise"),
    ],
)
def test_algorithm_not_valid_for_op(op, algo):
    with pytest.raises(InvalidArgumentError, match=rf"'{algo}'.*{op}") as e:
        fs.collective(switch(4), op, 1024, algorithm=algo)
    assert not isinstance(e.value, UnknownNameError)


def test_halving_doubling_half_collective_needs_power_of_two():
    with pytest.raises(InvalidArgumentError, match="power-of-two"):
        fs.collective(switch(3), "all_gather", 1024, algorithm="halving_doubling")


@pytest.mark.parametrize(
    "size,exc",
    [
        (0, InvalidArgumentError),
        (-1, InvalidArgumentError),
        (float("nan"), InvalidArgumentError),
        (float("inf"), InvalidArgumentError),
        (1.5, InvalidArgumentError),
        (2**63, InvalidArgumentError),
        (True, InvalidTypeError),
        (False, InvalidTypeError),
        ("eight", InvalidArgumentError),
        ("1.5B", InvalidArgumentError),
        ([8], InvalidTypeError),
        (None, InvalidTypeError),
    ],
)
def test_bad_sizes(size, exc):
    with pytest.raises(exc, match="size_bytes"):
        fs.collective(switch(2), "all_reduce", size)


def test_good_size_spellings():
    fab = switch(2)
    for s in (8.0, np.int64(8), np.float64(8.0), 2**63 - 1):
        res = fs.collective(fab, "send_recv", s)
        assert res.size_bytes == int(s) and type(res.size_bytes) is int


def test_bad_ranks_named():
    fab = switch(3)
    g = fab.gpus
    with pytest.raises(InvalidArgumentError, match=r"ranks.*'leaf0'.*not a GPU"):
        fs.collective(fab, "all_reduce", 1024, ranks=["leaf0", g[0]])
    with pytest.raises(
        InvalidArgumentError, match=rf"ranks.*{re.escape(repr(g[1]))}.*more than once"
    ):
        fs.collective(fab, "all_reduce", 1024, ranks=[g[0], g[1], g[1]])
    for few in ([], [g[0]]):
        with pytest.raises(InvalidArgumentError, match=r"ranks.*at least 2"):
            fs.collective(fab, "all_reduce", 1024, ranks=few)
    with pytest.raises(InvalidArgumentError, match=r"ranks.*'nope'.*not in the fabric"):
        fs.collective(fab, "all_reduce", 1024, ranks=[g[0], "nope"])
    with pytest.raises(InvalidTypeError, match="ranks"):
        fs.collective(fab, "all_reduce", 1024, ranks=g[0])


def test_subset_of_ranks():
    fab = switch(8)
    ranks = fab.gpus[2:7]
    S = 3 << 20
    res = fs.collective(fab, "all_reduce", S, ranks=ranks, algorithm="ring")
    check(res, 2 * 4 * (ALPHA + S / (5 * B)), "subset ring")
    used = set(res.flow_src.tolist()) | set(res.flow_dst.tolist())
    assert used == set(fab.indices(ranks).tolist())


@pytest.mark.parametrize(
    "kw",
    [
        dict(channels=0),
        dict(channels=65),
        dict(channels=True),
        dict(channels=1.5),
        dict(pipeline_chunks=0),
        dict(pipeline_chunks=10**40),
        dict(max_flows=999),
        dict(seed=-1),
    ],
)
def test_bad_options(kw):
    with pytest.raises(InvalidArgumentError):
        fs.collective(switch(2), "all_reduce", 1024, **kw)


# ------------------------------------------------------------------------------ sweep_sizes
def test_size_strings_are_sizes():
    fab = switch(4)
    a = fs.collective(fab, "all_gather", "1MiB", algorithm="ring")
    b = fs.collective(fab, "all_gather", 1 << 20, algorithm="ring")
    assert a.size_bytes == 1 << 20 and a.time_s == b.time_s
    assert fs.Collective("all_reduce", "8G").size_bytes == 8 << 30
    assert fs.Collective("all_reduce", "4MB").size_bytes == 4_000_000
    res = fs.simulate(fab, [(fab.gpus[0], fab.gpus[1], "1M")])
    assert res.flow_bytes.tolist() == [1 << 20]
    assert fs.Background(load=0.1, sizes="4MiB").mean_size_bytes == 4 << 20


def test_sweep_sizes_table():
    fab = switch(4)
    buf = io.StringIO()
    res = fs.sweep_sizes(fab, "all_reduce", min_bytes=8, max_bytes=1 << 16, file=buf)
    sizes = [8 << k for k in range(14)]
    assert [r.size_bytes for r in res] == sizes
    assert buf.getvalue() == res.table() + "\n"  # printed as it ran, the same table
    lines = buf.getvalue().splitlines()
    header = [ln for ln in lines if ln.startswith("#")]
    rows = [ln for ln in lines if not ln.startswith("#")]
    # nccl-tests' column names (src/common.cu), out-of-place then in-place
    assert header[3].split() == [
        "#",
        "size",
        "count",
        "type",
        "redop",
        "root",
        "time",
        "algbw",
        "busbw",
        "#wrong",
        "time",
        "algbw",
        "busbw",
        "#wrong",
    ]
    assert "out-of-place" in header[2] and "in-place" in header[2]
    assert len(rows) == len(sizes)
    for r, ln in zip(res, rows, strict=True):
        f = ln.split()
        assert len(f) == 13
        assert int(f[0]) == r.size_bytes and int(f[1]) == r.size_bytes // 4
        assert f[2:5] == ["float", "sum", "-1"]
        assert float(f[5]) == pytest.approx(r.time_us, abs=0.06)
        assert float(f[6]) == pytest.approx(r.algbw_GBps, abs=0.006)
        assert float(f[7]) == pytest.approx(r.busbw_GBps, abs=0.006)
        assert f[8] == "N/A" and f[9:12] == f[5:8]
    avg = float(header[-2].split(":")[1])
    assert header[-2].startswith("# Avg bus bandwidth    : ")
    assert avg == pytest.approx(sum(r.busbw_GBps for r in res) / len(res), rel=1e-5)
    times = [r.time_s for r in res]
    assert times == sorted(times)
    assert fs.sweep_sizes(fab, "all_reduce", min_bytes=8, max_bytes=64, file=False)
    with pytest.raises(InvalidArgumentError, match="max_bytes"):
        fs.sweep_sizes(fab, min_bytes=64, max_bytes=8, file=False)


def test_sweep_sizes_prints_nothing_by_default(capsys):
    fab = switch(4)
    sweep = fs.sweep_sizes(fab, "all_gather", min_bytes="1K", max_bytes="4K")
    assert capsys.readouterr().out == ""
    assert isinstance(sweep, fs.SizeSweep) and len(sweep) == 3
    assert sweep.table().count("\n") == len(sweep) + 6
    assert repr(sweep).startswith("<SizeSweep all_gather x4 ranks: 3 sizes 1 KiB..4 KiB")
    assert "<table>" in sweep._repr_html_()
    # count is per rank for all-gather (size = the whole output buffer), type by datatype
    half = fs.sweep_sizes(fab, "all_gather", min_bytes="1K", max_bytes="1K", datatype="half")
    assert half.rows()[0]["count"] == 1024 // 2 // 4 and half.rows()[0]["type"] == "half"
    assert (
        fs.sweep_sizes(fab, "broadcast", min_bytes=64, max_bytes=64, dtype_bytes=8).rows()[0][
            "type"
        ]
        == "double"
    )
    assert fs.sweep_sizes(fab, "broadcast", min_bytes=64, max_bytes=64).rows()[0]["root"] == 0


def test_sweep_sizes_protocol_channels_and_tuning_lines():
    G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2, profile="h100-ndr400")
    fab = fs.Fabric.from_networkx(G)
    kw = dict(min_bytes="1K", max_bytes="1M", step_factor=1024, algorithm="ring")
    auto = fs.sweep_sizes(fab, "all_reduce", **kw)
    simple = fs.sweep_sizes(fab, "all_reduce", **kw, protocol="Simple", channels=1)
    assert [r["protocol"] for r in simple.rows()] == ["simple", "simple"]
    assert [r["channels"] for r in simple.rows()] == [1, 1]
    assert simple.protocol == "simple" and simple.channels == 1
    assert "algorithm ring, protocol simple, channels 1," in simple.table()
    # each size is the same run as fs.collective with that protocol
    for r in simple:
        want = fs.collective(
            fab, "all_reduce", r.size_bytes, algorithm="ring", channels=1, protocol="simple"
        )
        assert r.time_s == want.time_s
    # tuning=True: one NCCL-style comment line per size, naming what ran there
    buf = io.StringIO()
    shown = fs.sweep_sizes(fab, "all_reduce", **kw, file=buf, tuning=True)
    assert buf.getvalue() == shown.table(tuning=True) + "\n"
    notes = [ln for ln in buf.getvalue().splitlines() if "Bytes -> Algo" in ln]
    names = {"ll": "LL", "ll128": "LL128", "simple": "Simple"}
    assert notes == [
        f"#  AllReduce: {r.size_bytes} Bytes -> Algo Ring proto {names[r.protocol]} "
        f"channel{{Lo..Hi}}={{0..{r.channels - 1}}}"
        for r in auto
    ]
    assert auto.table() == shown.table()  # tuning lines only when asked for
    # an algorithm NCCL does not have is named as fabricsim's; point-to-point ops get no
    # line (NCCL logs none for them)
    hd = fs.sweep_sizes(fab, "all_reduce", min_bytes="1K", max_bytes="1K", algorithm="hierarchical")
    assert "Algo hierarchical (fabricsim's, not an NCCL algorithm) proto" in hd.table(tuning=True)
    a2a = fs.sweep_sizes(fab, "all_to_all", min_bytes="1K", max_bytes="1K")
    assert a2a.table(tuning=True) == a2a.table()
    assert fs.Collective("all_reduce", 1024).channel_count(fab) == 2
    assert fs.Collective("all_reduce", 1024, channels=3).channel_count(fab) == 3
    assert fs.Collective("all_reduce", 1024, algorithm="ring", protocol="LL").choices(fab) == (
        ("ring", "ll"),
    )
    buf = io.StringIO()
    with pytest.raises(InvalidArgumentError, match="nvls_tree with 'simple' only"):
        fs.sweep_sizes(fab, algorithm="nvls_tree", protocol="ll", file=buf)
    assert buf.getvalue() == ""


def test_sweep_sizes_checks_everything_before_printing():
    fab = switch(4)
    for kw, exc in [
        (dict(op="all_to_all", algorithm="ring"), InvalidArgumentError),
        (dict(datatype="float7"), UnknownNameError),
        (dict(routing="spary"), UnknownNameError),
        (dict(ranks=["nope"]), InvalidArgumentError),
    ]:
        buf = io.StringIO()
        with pytest.raises(exc):
            fs.sweep_sizes(fab, **{"op": "all_reduce", "max_bytes": 64, **kw}, file=buf)
        assert buf.getvalue() == ""
