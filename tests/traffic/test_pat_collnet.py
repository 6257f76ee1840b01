"""PAT (NCCL >= 2.23 all-gather / reduce-scatter) and CollNet Direct / Chain (SHARP in the
switches): their flow DAGs, NCCL's tuning.cc entries for them, and when ``auto`` considers
them (docs/nccl-model.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.traffic.collectives import tuner
from fabricsim.traffic.collectives.algorithms import pat_steps, sharp_tree

MiB, GiB = 1 << 20, 1 << 30
NIC_Bps = 400e9 / 8


def one_leaf(hosts: int, **kw) -> fs.Fabric:
    """``hosts`` single-GPU hosts on one leaf (no spine in any path)."""
    G = fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=hosts, gpus_per_host=1, **kw)
    return fs.Fabric.from_networkx(G)


# --- PAT ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(2, 41))
def test_pat_steps_send_every_block_once_in_log_steps(n):
    steps = pat_steps(n)
    assert len(steps) == math.ceil(math.log2(n))
    assert sum(b for _, b in steps) == n - 1  # as many bytes per rank as a ring
    dists = [d for d, _ in steps]
    assert dists == sorted(dists, reverse=True) and dists[-1] == 1  # far first, near last
    assert steps[0][1] == 1  # the farthest transfer carries one block


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [4, 6, 8])
def test_pat_closed_form_on_one_switch(op, n):
    """No profile, one leaf, one channel: step s moves blocks_s x size/n over every NIC at
    once, then pays the GPU-leaf-GPU wire latency; the steps add up."""
    fab = one_leaf(n)
    size = 64 * MiB
    res = fs.collective(fab, op, size, algorithm="pat", channels=1, profile=False)
    lat = 2 * 0.6e-6
    want = sum(b * size / n / NIC_Bps + lat for _, b in pat_steps(n))
    assert res.algorithm == "pat" and res.channels == 1
    assert res.time_s == pytest.approx(want, rel=1e-9)
    assert res.protocol == "simple"


def test_pat_reduce_scatter_mirrors_all_gather():
    fab = one_leaf(8)
    ag = fs.collective(fab, "all_gather", 8 * MiB, algorithm="pat", profile=False)
    rs = fs.collective(fab, "reduce_scatter", 8 * MiB, algorithm="pat", profile=False)
    assert rs.time_s == pytest.approx(ag.time_s, rel=1e-12)
    # all-gather sends to i - d, reduce-scatter to i + d: the same steps, reversed
    assert ag.flow_bytes[0] < ag.flow_bytes[-1] and rs.flow_bytes[0] > rs.flow_bytes[-1]


def test_pat_channels_fit_max_flows_and_are_reported():
    fab = one_leaf(16)
    res = fs.collective(fab, "all_gather", 16 * MiB, algorithm="pat", channels=8, profile=False)
    assert res.channels == 8 and len(res.flow_src) == 8 * 16 * 4
    few = fs.Collective(
        "all_gather", 16 * MiB, algorithm="pat", channels=64, profile=False, max_flows=1000
    ).run(fab)
    assert few.channels == 1000 // (16 * 4) and len(few.flow_src) <= 1000


def test_pat_tuner_entry_is_nccls():
    """tuning.cc (NCCL 2.28.3): latency 8 + log2i(nNodes) * 14 / 3.5 + nRanks * 2.8 us,
    bandwidth channels x per-channel x 0.75 with no bus-to-algorithm conversion."""
    hw = tuner.Hardware(n_ranks=16, n_nodes=16, intra_GBps=48.0, inter_GBps=48.0)
    assert tuner.latency_us("all_gather", "pat", "simple", hw) == pytest.approx(
        8 + 4 * 14 / 3.5 + 16 * 2.8
    )
    assert tuner.bandwidth_GBps("all_gather", "pat", "simple", hw, 1) == pytest.approx(36.0)
    assert tuner.bandwidth_GBps("all_gather", "pat", "ll", hw, 1) == 0.0
    assert tuner.bandwidth_GBps("all_reduce", "pat", "simple", hw, 1) == 0.0
    assert "pat" in tuner.allowed("reduce_scatter", hw)
    assert "pat" not in tuner.allowed("all_reduce", hw)
    two_per_node = tuner.Hardware(n_ranks=16, n_nodes=8, intra_GBps=48.0, inter_GBps=96.0)
    assert "pat" not in tuner.allowed("all_gather", two_per_node)  # 1 GPU per node only


def test_auto_picks_pat_where_its_latency_wins_and_ring_at_large_sizes():
    fab = one_leaf(16, profile="h100-ndr400")
    mid = fs.collective(fab, "all_gather", 1 * MiB)
    assert mid.algorithm == "pat" and "ring" in mid.alternatives
    big = fs.collective(fab, "all_gather", 256 * MiB)
    assert big.algorithm == "ring"
    # several GPUs per node: NCCL does not enable PAT, nor does auto
    G = fs.rail_optimized(nodes_per_su=2, profile="h100-ndr400")
    res = fs.collective(fs.Fabric.from_networkx(G), "all_gather", 1 * MiB)
    assert "pat" not in res.alternatives and res.algorithm != "pat"
    # but it can be asked for by name (NCCL_PAT_ENABLE=1)
    forced = fs.collective(fs.Fabric.from_networkx(G), "all_gather", 1 * MiB, algorithm="pat")
    assert forced.algorithm == "pat"


def test_pat_runs_simple_only():
    fab = one_leaf(4, profile="h100-ndr400")
    with pytest.raises(fs.FabricError, match="simple"):
        fs.collective(fab, "all_gather", MiB, algorithm="pat", protocol="ll")
    with pytest.raises(fs.FabricError, match="algorithm"):
        fs.collective(fab, "all_reduce", MiB, algorithm="pat")


# --- CollNet (SHARP) -----------------------------------------------------------------------
def sharp_pod(**kw) -> fs.Fabric:
    return fs.Fabric.from_networkx(fs.rail_optimized(sharp=True, **kw))


def link_bytes_by_kind(res: fs.CollectiveResult, kind: str) -> np.ndarray:
    fab = res.simulation.fabric
    kinds = np.asarray(fab.compiled.kind, dtype=object)[fab.compiled.link_edge]
    return res.simulation.link_bytes[kinds == kind]


@pytest.mark.parametrize("algo", ["collnet_direct", "collnet_chain"])
def test_collnet_sends_each_share_up_once_and_gets_the_result_once(algo):
    """One SU: every rail's heads share their rail leaf, which reduces: no byte crosses a
    spine, and every NIC sends its share (size / 8) up once and receives the result once."""
    fab = sharp_pod(nodes_per_su=4)
    size = 64 * MiB
    res = fs.collective(fab, "all_reduce", size, algorithm=algo, profile=False)
    assert res.algorithm == algo and res.channels == 8
    assert link_bytes_by_kind(res, "fabric").sum() == 0
    access = link_bytes_by_kind(res, "access")
    assert np.allclose(access, size / 8)


def test_collnet_switches_reduce_across_scalable_units():
    """Two SUs: each share's SHARP tree goes leaf -> spine -> core and back; every fabric
    link on it carries one stream of the share, not one per host: 8 shares x 8 links x
    size / 8 = 8 x size in all (a ring would move far more across the core)."""
    fab = sharp_pod(scalable_units=2, nodes_per_su=4)
    size = 64 * MiB
    res = fs.collective(fab, "all_reduce", size, algorithm="collnet_direct", profile=False)
    assert link_bytes_by_kind(res, "fabric").sum() == pytest.approx(8 * size)
    g = fab.graph
    heads = [gpu for gpu in fab.gpus if g.nodes[gpu]["rail"] == 3]
    tree = sharp_tree(fab, heads, rotate=3)
    roots = [x for x, p in tree.items() if p is None]
    assert len(roots) == 1 and g.nodes[roots[0]]["role"] == "core"
    assert {tree[h] for h in heads} == {"su0/leaf3", "su1/leaf3"}


def test_collnet_needs_sharp_switches():
    fab = fs.Fabric.from_networkx(fs.rail_optimized(nodes_per_su=2))
    with pytest.raises(fs.FabricError, match="sharp"):
        fs.collective(fab, "all_reduce", MiB, algorithm="collnet_chain", profile=False)
    prof = fs.Fabric.from_networkx(fs.rail_optimized(nodes_per_su=2, profile="h100-ndr400"))
    res = fs.collective(prof, "all_reduce", 256 * MiB)
    assert not any(a.startswith("collnet") for a in res.alternatives)
    with pytest.raises(fs.FabricError, match="collnet"):
        fs.collective(sharp_pod(nodes_per_su=1), "all_reduce", MiB, algorithm="collnet_chain")


def test_auto_considers_collnet_where_the_switches_declare_sharp():
    fab = sharp_pod(nodes_per_su=4, profile="h100-ndr400")
    res = fs.collective(fab, "all_reduce", 256 * MiB)
    assert {"collnet_direct", "collnet_chain"} <= set(res.alternatives)
    assert res.algorithm == min(res.alternatives, key=res.alternatives.get)


def test_collnet_tuner_entries_are_nccls():
    """tuning.cc (2.20.3): Direct latency 2 (min(1, ppn-1) 3.7 + (ppn-1) 0.4) + 31 us, Chain
    2 (ppn-1) 2.8 + 30 us; bandwidth channels x bwIntra (Direct / GPU-per-NIC factor, x 0.85
    on Hopper), x 0.5."""
    hw = tuner.Hardware(
        n_ranks=32,
        n_nodes=4,
        intra_GBps=369.0,
        inter_GBps=384.0,
        nics_per_node=8,
        sharp=True,
        nvswitch=True,
    )
    assert tuner.latency_us("all_reduce", "collnet_direct", "simple", hw) == pytest.approx(
        2 * (3.7 + 7 * 0.4) + 31
    )
    assert tuner.latency_us("all_reduce", "collnet_chain", "simple", hw) == pytest.approx(
        2 * 7 * 2.8 + 30
    )
    assert tuner.bandwidth_GBps("all_reduce", "collnet_chain", "simple", hw, 8) == pytest.approx(
        369.0 * 0.5
    )
    assert tuner.bandwidth_GBps("all_reduce", "collnet_direct", "simple", hw, 8) == pytest.approx(
        369.0 * 0.85 * 0.5
    )
    assert tuner.allowed("all_reduce", hw)[-2:] == ("collnet_direct", "collnet_chain")
    no_sharp = tuner.Hardware(n_ranks=32, n_nodes=4, intra_GBps=369.0, inter_GBps=384.0)
    assert not any(a.startswith("collnet") for a in tuner.allowed("all_reduce", no_sharp))


@pytest.mark.parametrize("algo", ["collnet_direct", "collnet_chain"])
def test_collnet_streaming_plan_agrees_with_the_chunked_one(algo):
    """When the chunks do not fit max_flows the network edges stream (docs/nccl-model.md);
    at 1 GiB the two plans agree within 5 % (measured: 1-4 %)."""
    fab = sharp_pod(scalable_units=2, nodes_per_su=4, profile="h100-ndr400")
    chunked = fs.collective(fab, "all_reduce", GiB, algorithm=algo)
    streamed = fs.Collective("all_reduce", GiB, algorithm=algo, max_flows=1000).run(fab)
    assert len(streamed.flow_src) < 1000 < len(chunked.flow_src)
    assert streamed.busbw_GBps == pytest.approx(chunked.busbw_GBps, rel=0.05)


def test_collnet_direct_uses_one_head_per_nic():
    G = fs.rail_optimized(nodes_per_su=2, nics_per_node=4, sharp=True)
    res = fs.collective(
        fs.Fabric.from_networkx(G),
        "all_reduce",
        64 * MiB,
        algorithm="collnet_direct",
        profile=False,
    )
    assert res.channels == 4
    assert np.allclose(link_bytes_by_kind(res, "access"), 64 * MiB / 4)


def test_builder_sharp_keyword():
    G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2, sharp=True)
    assert all(G.nodes[v]["sharp"] for v in ("leaf0", "spine1"))
    assert fs.fabric.builders.params(G)["sharp"] is True
    assert "sharp" not in fs.fabric.builders.params(fs.fat_tree(k=2))
    assert all(
        d.get("sharp")
        for _, d in fs.fat_tree(k=2, sharp=True).nodes(data=True)
        if d["role"] in ("leaf", "spine", "core")
    )
    with pytest.raises(fs.FabricError, match="sharp"):
        fs.rail_optimized(nodes_per_su=1, sharp="yes")


def test_schema_checks_sharp():
    G = fs.rail_optimized(nodes_per_su=1, gpus_per_node=2)
    G.nodes["su0/leaf0"]["sharp"] = "yes"
    with pytest.raises(fs.FabricError, match="sharp must be True or False"):
        fs.Fabric.from_networkx(G)
    G.nodes["su0/leaf0"]["sharp"] = 1  # as GML writes True
    assert fs.Fabric.from_networkx(G)
    G.nodes["su0/node0/gpu0"]["sharp"] = True
    with pytest.raises(fs.FabricError, match="only switches"):
        fs.Fabric.from_networkx(G)


def test_collnet_direct_divides_by_its_heads_not_the_channels_evaluated():
    """Review: tuning.cc divides CollNet Direct's bus bandwidth by GPUs per node over the
    CollNet graph's channels (its heads, one per NIC), so the factor is never below 1 and does
    not grow with the channel count being evaluated; 4 NICs for 8 GPUs cost bandwidth."""
    from fabricsim.traffic.collectives import tuner

    def hw(nics: int) -> tuner.Hardware:
        return tuner.Hardware(
            n_ranks=32,
            n_nodes=4,
            intra_GBps=360.0,
            inter_GBps=180.0,
            nics_per_node=nics,
            sharp=True,
            nvswitch=True,
        )

    bw = {
        c: tuner.bandwidth_GBps("all_reduce", "collnet_direct", "simple", hw(8), c)
        for c in (8, 16, 32)
    }
    assert bw[8] == pytest.approx(bw[16]) == pytest.approx(bw[32])
    four = tuner.bandwidth_GBps("all_reduce", "collnet_direct", "simple", hw(4), 8)
    assert four < bw[8]


def test_pat_that_cannot_fit_max_flows_is_refused_by_name_and_left_out_of_auto():
    """Review: PAT has no host granularity, so on one channel it is ``n x log2(n)`` flows;
    beyond ``max_flows`` it is an error naming max_flows (not a silent overrun), and auto
    does not shortlist it."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=8, spines=2, hosts_per_leaf=32, gpus_per_host=1, profile="h100-ndr400")
    )
    coll = fs.Collective("all_gather", 1 << 20, algorithm="pat", max_flows=1000)
    with pytest.raises(fs.InvalidArgumentError, match="max_flows: PAT over 256 ranks"):
        coll.run(fab)
    auto = fs.Collective("all_gather", 1 << 20, max_flows=1000)
    assert "pat" not in [a for a, _ in auto._candidates(auto._base(fab))]
    roomy = fs.Collective("all_gather", 1 << 20, max_flows=4096)
    assert "pat" in [a for a, _ in roomy._candidates(roomy._base(fab))]
