"""NCCL's cost model (``src/graph/tuning.cc``), used to rank (algorithm, protocol, channels).

NCCL estimates each collective as ``time_us = latency_us + bytes / (1000 * algbw_GBps)`` for
every (algorithm, protocol) and runs the fastest. This module reproduces the structure and
constants of the version named in :data:`NCCL_SOURCE` (every constant is listed with its source
in ``docs/nccl-model.md``):

* base latency per (algorithm, protocol) (:data:`BASE_LAT_US`), added once per collective;
* per-step hardware latency per link type (NVLink / PCI / network), algorithm and protocol
  (:data:`HW_LAT_US`): a ring pays ``(nsteps - nInterSteps) * intra + nInterSteps * inter``,
  a tree ``2 * ((ranks_per_node - 1) * intra + log2(nodes) * inter)``, NVLS ``intra (+ inter)``,
  NVLS-tree ``intra + 2 * log2(nodes) * inter``;
* bus bandwidth = channels x per-channel bandwidth (intra-node speed when nodes <= 2, else
  inter-node), times the protocol factors (ring LL 1/4 or 1/3 capped at ``llMaxBw``, LL128
  0.92 capped per channel, tree 0.92 capped per channel, tree LL 1/3.8, ...), converted to
  algorithm bandwidth (ring: ranks / nsteps; NVLS and NVLS-tree: 5/6; tree: 1/2);
* the tree correction table by size and the ring "plateau" latency factor.

``fabricsim`` does not take this model's time as its answer: the collective runner simulates the
candidates the model ranks within :data:`MARGIN` of its best and keeps the fastest simulated one,
so congestion and the real topology decide between close calls. What the model gives the
simulation per (algorithm, protocol) is: the base latency (once), the per-step latencies
(NVLink and network) and the protocol's bandwidth relative to Simple (its flows carry
``bytes x bw_simple / bw_protocol`` on the wire).

>>> hw = Hardware(n_ranks=8, n_nodes=1, intra_GBps=369.0, inter_GBps=384.0, nics_per_node=8,
...               arch="hopper", nvls=True)
>>> best = min(estimates("all_reduce", 1 << 30, hw, channels=8), key=lambda e: e.time_us)
>>> best.algorithm, best.protocol
('nvls', 'simple')
>>> small = min(estimates("all_reduce", 1024, hw, channels=8), key=lambda e: e.time_us)
>>> small.algorithm, small.protocol
('ring', 'll')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The NCCL source modelled here.
NCCL_SOURCE = (
    "NVIDIA/nccl src/graph/tuning.cc at commit b6475625 (the 2.20/2.21 line: "
    "NVLS, NVLS-tree, CollNet Direct/Chain, MNNVL, getNetOverhead)"
)

PROTOCOLS = ("ll", "ll128", "simple")
#: NCCL algorithms this model covers. PAT (NCCL >= 2.23) and CollNet Direct / Chain (SHARP
#: in the switches) run Simple only; their entries are listed below with their sources.
MODEL_ALGORITHMS = ("tree", "ring", "nvls", "nvls_tree", "pat", "collnet_direct", "collnet_chain")
#: The NCCL source of the PAT entries: the modelled 2.20 version predates PAT (NCCL 2.23), so
#: they come from a newer tuning.cc (NCCL 2.28.3, ``tunerConstants``), with the CollNet entries
#: of the modelled version.
PAT_SOURCE = (
    "NVIDIA NCCL 2.28.3 src/graph/tuning.cc (as stored in zhanglin496/nccl-2.28.3-1 at "
    "commit 850a18f5): baseLatencies PAT 8.0 us, hwLatencies PAT NVLink / PCI 4.0, NET 14 us, "
    "busBw x 0.75, latency += log2i(nNodes) * interLat / 3.5 + nRanks * 2.8, ncclPatEnable"
)

# tuning.cc baseLat[a][p] (µs), {LL, LL128, Simple}.
BASE_LAT_US = {
    "tree": (6.8, 14.0, 0.0),
    "ring": (6.6, 14.0, 8.4),
    "nvls": (0.0, 0.0, 0.0),
    "nvls_tree": (0.0, 0.0, 0.0),
    "collnet_direct": (0.0, 0.0, 0.0),
    "collnet_chain": (0.0, 0.0, 0.0),
    "pat": (8.0, 8.0, 8.0),  # NCCL 2.28.3 (PAT_SOURCE)
}
# tuning.cc hwLat[hw][a][p] (µs per step), hw = NVLink, PCI, network.
HW_LAT_US = {
    "nvlink": {
        "tree": (0.6, 1.25, 28.0),
        "ring": (0.6, 1.9, 3.4),
        "nvls": (0.0, 0.0, 23.0),
        "nvls_tree": (0.0, 0.0, 23.0),
        "collnet_direct": (0.0, 0.0, 3.7),
        "collnet_chain": (0.0, 0.0, 2.8),
        "pat": (0.0, 0.0, 4.0),  # NCCL 2.28.3 (PAT_SOURCE)
    },
    "pci": {
        "tree": (1.0, 1.9, 28.0),
        "ring": (1.0, 2.5, 5.7),
        "nvls": (0.0, 0.0, 0.0),
        "nvls_tree": (0.0, 0.0, 0.0),
        "collnet_direct": (0.0, 0.0, 3.7),
        "collnet_chain": (0.0, 0.0, 2.8),
        "pat": (0.0, 0.0, 4.0),  # NCCL 2.28.3 (PAT_SOURCE)
    },
    "net": {
        "tree": (5.0, 8.5, 28.0),
        "ring": (2.7, 4.0, 14.0),
        "nvls": (0.0, 0.0, 18.0),
        "nvls_tree": (0.0, 0.0, 14.0),
        "collnet_direct": (0.0, 0.0, 31.0),
        "collnet_chain": (0.0, 0.0, 30.0),
        "pat": (0.0, 0.0, 14.0),  # NCCL 2.28.3 (PAT_SOURCE)
    },
}
# tuning.cc llMaxBws[index1][index2] (GB/s); index1 = GPU generation on one node, CPU vendor
# (Intel row 0) across nodes; index2 = nodes 1 / 2 / more.
LL_MAX_BWS = {
    "volta": (39.0, 39.0, 20.4),
    "ampere": (87.7, 22.5, 19.0),
    "hopper": (87.7, 22.5, 19.0),
}
LL_MAX_BWS_MULTINODE_INTEL = (39.0, 39.0, 20.4)
# tuning.cc per-channel caps (GB/s) by generation, nodes 1 / 2 / more.
PER_CH_MAX_RING_LL128 = {"volta": (20.0,) * 3, "ampere": (20.0,) * 3, "hopper": (36.7,) * 3}
PER_CH_MAX_TREE_LL128 = {"volta": (20.0,) * 3, "ampere": (20.0,) * 3, "hopper": (36.7, 36.7, 29.0)}
PER_CH_MAX_TREE = {
    "volta": (26.5, 18.5, 10.0),
    "ampere": (24.0, 23.6, 17.8),
    "hopper": (38.7, 41.4, 36.0),
}
# tuning.cc treeCorrectionFactor[p][log2(bytes / 64)], powers of two 64 B .. 256 MB.
TREE_CORRECTION = {
    "ll": (
        1.0,
        1.0,
        1.0,
        1.0,
        0.9,
        0.8,
        0.7,
        0.7,
        0.7,
        0.7,
        0.6,
        0.5,
        0.4,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        1.0,
        1.0,
        1.0,
        1.0,
    ),
    "ll128": (
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        0.9,
        0.8,
        0.8,
        0.8,
        0.7,
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.8,
        0.9,
        0.9,
        0.9,
        0.9,
        1.0,
        1.0,
    ),
    "simple": (
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.8,
        0.7,
        0.6,
        0.6,
        0.5,
        0.5,
        0.5,
        0.5,
        0.6,
        0.7,
        0.8,
        0.7,
        0.7,
        0.8,
        0.9,
        0.9,
    ),
}
#: tuning.cc getNetOverhead: 1 µs per network post on x86 Intel (2 on AMD); x3 for Simple.
NET_OVERHEAD_US = 1.0
#: tuning.cc ncclTopoGetAlgoTime: multi-node ring/Simple all-reduce latency x1.4 (compute
#: capability >= 8.0; 1.9 before) once each rank's per-channel share is >= 64 bytes.
RING_PLATEAU = {"volta": 1.9, "ampere": 1.4, "hopper": 1.4}
#: Candidates the model ranks within this fraction of its best time are all simulated.
MARGIN = 0.5

# --- PAT (Parallel Aggregated Trees, NCCL >= 2.23; PAT_SOURCE) ---------------------------------
#: tuning.cc: ``if (a == NCCL_ALGO_PAT) busBw *= .75``.
PAT_BUSBW_FACTOR = 0.75
#: tuning.cc: PAT latency adds ``log2i(nNodes) * (interLat / 3.5)``.
PAT_LOG_LATENCY_DIVISOR = 3.5
#: tuning.cc: ``+ nRanks * 2.8`` ("still a linear part").
PAT_PER_RANK_US = 2.8
#: tuning.cc: with one rank per node the network latency is the tree's
#: (``hwLatencies[NET][TREE][Simple]``, 14 us in that version; PAT's own is 14 us too).
PAT_NET_LAT_PPN1_US = 14.0

# --- CollNet (SHARP; tuning.cc of the modelled 2.20 version) -----------------------------------
#: CollNet Direct all-reduce on compute capability >= 9.0: ``busBw *= .85``.
COLLNET_DIRECT_HOPPER_FACTOR = 0.85
#: CollNet Direct latency: ``(nRanks/nNodes - 1) * 0.4`` us of "arity serialization", twice.
COLLNET_ARITY_US = 0.4
#: enqueue.cc: "CollNetDirect is only supported for up to 8 local GPUs"
#: (``NCCL_MAX_DIRECT_ARITY + 1``).
COLLNET_DIRECT_MAX_LOCAL_RANKS = 8

_P = {p: i for i, p in enumerate(PROTOCOLS)}


@dataclass(frozen=True)
class Hardware:
    """What NCCL's topology search would find, as the model needs it.

    ``intra_GBps``: one GPU's usable intra-node (NVLink) bandwidth, per direction;
    ``inter_GBps``: one node's usable network bandwidth (all its NICs), per direction;
    ``arch``: ``"volta"``, ``"ampere"`` or ``"hopper"`` (newer GPUs use the Hopper row: the
    modelled NCCL version has no later one); ``nvls``: NVSwitch multicast / reduction.
    """

    n_ranks: int
    n_nodes: int
    intra_GBps: float
    inter_GBps: float
    nics_per_node: int = 1
    arch: str = "hopper"
    nvls: bool = False
    intra: str = "nvlink"
    #: The switches the ranks' NICs reach declare SHARP (in-network reduction): CollNet.
    sharp: bool = False
    #: Every host's ranks share an NVSwitch (tuning.cc enables CollNet Direct only then).
    nvswitch: bool = False


@dataclass(frozen=True)
class Estimate:
    """The model's time for one (algorithm, protocol, channels)."""

    algorithm: str
    protocol: str
    channels: int
    latency_us: float
    algbw_GBps: float
    time_us: float


def _nsteps(op: str, n: int, nodes: int) -> tuple[int, int]:
    if op == "all_reduce":
        return 2 * (n - 1), (2 * nodes if nodes > 1 else 0)
    if op in ("all_gather", "reduce_scatter"):
        return n - 1, nodes - 1
    return n, nodes


def allowed(op: str, hw: Hardware) -> tuple[str, ...]:
    """The model's algorithms for ``op`` on ``hw`` (tuning.cc's per-collective filters and
    enables: NVLS on one NVSwitch node, NVLS-tree across several)."""
    if op in ("broadcast", "reduce"):
        return ("ring",)
    if op in ("all_gather", "reduce_scatter"):
        base = ("ring", "nvls") if hw.nvls and hw.n_nodes == 1 else ("ring",)
        return base + (("pat",) if pat_enabled(hw) else ())
    if op != "all_reduce":
        return ()
    out = ["tree", "ring"]
    if hw.nvls:
        out.append("nvls" if hw.n_nodes == 1 else "nvls_tree")
    out.extend(collnet_allowed(hw))
    return tuple(out)


def pat_enabled(hw: Hardware) -> bool:
    """tuning.cc ``ncclPatEnable`` (NCCL_PAT_ENABLE unset): PAT runs all-gather and
    reduce-scatter only with one rank per node ("PAT only supports 1 GPU per node"), on
    SM60 or newer (every generation modelled here) and without network device offload."""
    return hw.n_nodes > 1 and hw.n_ranks == hw.n_nodes


def collnet_allowed(hw: Hardware) -> tuple[str, ...]:
    """The CollNet algorithms tuning.cc enables for all-reduce: only when the network
    supports it (``collNetSupport``: here, SHARP switches), across nodes; CollNet Direct only
    on NVSwitch systems (``nvsCount``) with at most 8 ranks per node (enqueue.cc)."""
    if not hw.sharp or hw.n_nodes < 2:
        return ()
    ppn = hw.n_ranks // hw.n_nodes
    direct = hw.nvswitch and ppn <= COLLNET_DIRECT_MAX_LOCAL_RANKS
    return (("collnet_direct",) if direct else ()) + ("collnet_chain",)


def _new_bandwidth_GBps(op: str, a: str, hw: Hardware, C: int) -> float:
    """PAT and CollNet bandwidth (Simple only), as tuning.cc computes it."""
    nodes, n = hw.n_nodes, hw.n_ranks
    bw_intra = hw.intra_GBps / C
    bw_inter = hw.inter_GBps / max(C, hw.nics_per_node) if nodes > 1 else bw_intra
    if a == "pat":
        if op not in ("all_gather", "reduce_scatter"):
            return 0.0
        bw = bw_intra if nodes <= 2 else bw_inter
        # no busBw -> algbw conversion for non-ring all-gather / reduce-scatter
        return C * bw * PAT_BUSBW_FACTOR
    if op != "all_reduce":
        return 0.0  # CollNet all-gather / reduce-scatter need the SHARP plugin's: not modelled
    bus = C * bw_intra  # tuning.cc: CollNet uses bwIntra whatever the node count
    if a == "collnet_direct":
        # GPU / NIC ratio: tuning.cc divides by the CollNet graph's channels, its heads (one
        # per NIC, at most one per GPU), not by the channel count evaluated here
        heads = max(1, min(n // nodes, hw.nics_per_node))
        factor = (n / nodes) / heads
        factor -= (factor - 1) / 2
        bus /= factor
        if hw.arch not in ("volta", "ampere"):
            bus *= COLLNET_DIRECT_HOPPER_FACTOR
    return bus * 0.5


def _new_latency_us(op: str, a: str, hw: Hardware) -> float:
    """PAT and CollNet latency (Simple), as tuning.cc computes it."""
    n, nodes = hw.n_ranks, hw.n_nodes
    ppn = n // nodes
    log2n = int(math.floor(math.log2(nodes))) if nodes > 1 else 0
    lat = BASE_LAT_US[a][2]
    intra = HW_LAT_US[hw.intra][a][2]
    inter = PAT_NET_LAT_PPN1_US if (a == "pat" and ppn == 1) else HW_LAT_US["net"][a][2]
    if a == "pat":
        return lat + log2n * (inter / PAT_LOG_LATENCY_DIVISOR) + n * PAT_PER_RANK_US
    if a == "collnet_direct":
        return lat + 2 * (min(1, ppn - 1) * intra + (ppn - 1) * COLLNET_ARITY_US) + inter
    return lat + 2 * (ppn - 1) * intra + inter  # collnet_chain


def wire_efficiency(algorithm: str, hw: Hardware) -> float:
    """The measured efficiency NCCL's model gives PAT (0.75) and CollNet Direct on Hopper and
    newer (0.85): fraction of the fabric's bandwidth their kernels reach. fabricsim divides
    their flows' bytes by it (1 for every other algorithm: its own factors are protocol
    ratios, applied separately)."""
    if algorithm == "pat":
        return PAT_BUSBW_FACTOR
    if algorithm == "collnet_direct" and hw.arch not in ("volta", "ampere"):
        return COLLNET_DIRECT_HOPPER_FACTOR
    return 1.0


def bandwidth_GBps(op: str, algorithm: str, protocol: str, hw: Hardware, channels: int) -> float:
    """tuning.cc's algorithm bandwidth (GB/s) for ``channels`` channels (0 = not available)."""
    a, p = algorithm, protocol
    if a in ("nvls", "nvls_tree", "pat", "collnet_direct", "collnet_chain") and p != "simple":
        return 0.0
    C = max(1, int(channels))
    if a in ("pat", "collnet_direct", "collnet_chain"):
        return _new_bandwidth_GBps(op, a, hw, C)
    nodes, n = hw.n_nodes, hw.n_ranks
    idx2 = min(nodes, 3) - 1
    ppn = n / nodes
    # per-channel speeds: NVLink split over the channels; each channel one NIC's share
    bw_intra = hw.intra_GBps / C
    bw_inter = hw.inter_GBps / max(C, hw.nics_per_node) if nodes > 1 else bw_intra
    bw = bw_intra if nodes <= 2 else bw_inter
    if a == "nvls":
        bw = min(bw_intra, bw_inter)
    if a == "nvls_tree":
        bw = min(bw_intra, bw_inter if nodes <= 2 else bw_inter / 2)
    bus = C * bw
    arch = hw.arch if hw.arch in PER_CH_MAX_TREE else "hopper"
    ll_max = (LL_MAX_BWS[arch] if nodes == 1 else LL_MAX_BWS_MULTINODE_INTEL)[idx2]
    if a == "ring" and p == "ll":
        div = 4.0 if (nodes > 1 or op in ("all_reduce", "reduce")) else 3.0
        bus = min(ll_max, bus / div)
    if a == "ring" and p == "ll128":
        bus = min(bus * (0.7 if ppn < 2 else 0.92), C * PER_CH_MAX_RING_LL128[arch][idx2])
    if a == "tree":
        bus = min(bus * 0.92, C * PER_CH_MAX_TREE[arch][idx2])
        if p == "ll":
            bus = min(bus / 3.8, ll_max)
        if p == "ll128":
            bus = min(
                bus * (7.0 / 9.0 if nodes == 1 else 120.0 / 128.0),
                C * PER_CH_MAX_TREE_LL128[arch][idx2],
            )
    nsteps, _ = _nsteps(op, n, nodes)
    if a == "ring":
        ratio = n / nsteps
    elif a in ("nvls", "nvls_tree"):
        ratio = 5.0 / 6.0
    else:
        ratio = 0.5
    return bus * ratio


def step_latencies_us(algorithm: str, protocol: str, hw: Hardware) -> tuple[float, float]:
    """(intra-node, inter-node) latency of one step, µs, as tuning.cc adds them."""
    a, i = algorithm, _P[protocol]
    intra = HW_LAT_US[hw.intra][a][i]
    inter = HW_LAT_US["net"][a][i]
    if a == "ring" and hw.n_nodes > 1:
        over = NET_OVERHEAD_US * (3.0 if protocol == "simple" else 1.0)
        intra = max(intra, over)
    return intra, inter


def latency_us(op: str, algorithm: str, protocol: str, hw: Hardware) -> float:
    """tuning.cc's latency (µs) of one collective."""
    a, i = algorithm, _P[protocol]
    if a in ("pat", "collnet_direct", "collnet_chain"):
        return _new_latency_us(op, a, hw)
    n, nodes = hw.n_ranks, hw.n_nodes
    lat = BASE_LAT_US[a][i]
    intra, inter = step_latencies_us(a, protocol, hw)
    nsteps, ninter = _nsteps(op, n, nodes)
    ppn = n // nodes
    log2n = int(math.floor(math.log2(nodes))) if nodes > 1 else 0
    if a == "ring":
        if op in ("broadcast", "reduce"):
            lat += HW_LAT_US[hw.intra if nodes == 1 else "net"]["ring"][i]
        else:
            lat += (nsteps - ninter) * intra + ninter * inter
    elif a == "tree":
        lat += 2 * ((ppn - 1) * intra + log2n * inter)
    elif a == "nvls":
        lat = intra + (inter if nodes > 1 else 0.0)
    elif a == "nvls_tree":
        lat += intra + 2 * log2n * inter
    return lat


def base_latency_us(op: str, algorithm: str, protocol: str, hw: Hardware) -> float:
    """The once-per-collective part of :func:`latency_us` (the rest is per step)."""
    a, i = algorithm, _P[protocol]
    if a in ("nvls", "pat", "collnet_direct", "collnet_chain"):
        return latency_us(op, a, protocol, hw)
    return BASE_LAT_US[a][i]


def estimate(
    op: str, size_bytes: int, algorithm: str, protocol: str, hw: Hardware, channels: int
) -> Estimate | None:
    """ncclTopoGetAlgoTime for one choice; None when the model does not allow it."""
    bw = bandwidth_GBps(op, algorithm, protocol, hw, channels)
    if bw <= 0:
        return None
    lat = latency_us(op, algorithm, protocol, hw)
    log_size = int(math.floor(math.log2(max(1, size_bytes >> 6)))) if size_bytes >= 64 else 0
    if algorithm == "tree" and log_size < len(TREE_CORRECTION[protocol]):
        bw *= TREE_CORRECTION[protocol][log_size]
    if (
        algorithm == "ring"
        and protocol == "simple"
        and hw.n_nodes > 1
        and op == "all_reduce"
        and size_bytes / (channels * hw.n_ranks) >= 64
    ):
        lat *= RING_PLATEAU.get(hw.arch, 1.4)
    return Estimate(algorithm, protocol, int(channels), lat, bw, lat + size_bytes / (1000.0 * bw))


def estimates(
    op: str,
    size_bytes: int,
    hw: Hardware,
    *,
    channels: int,
    algorithms: tuple[str, ...] | None = None,
    protocols: tuple[str, ...] = PROTOCOLS,
) -> list[Estimate]:
    """The model over (algorithm, protocol, channels): every allowed algorithm and protocol
    at 1, 2, 4, ... up to ``channels`` channels (NCCL scales bandwidth by the channels used)."""
    algos = allowed(op, hw) if algorithms is None else algorithms
    chans = sorted({min(channels, 1 << k) for k in range(7)} | {channels}, reverse=True)
    out = []
    for a in algos:
        if a not in MODEL_ALGORITHMS:
            continue
        for p in protocols:
            for c in chans:
                e = estimate(op, size_bytes, a, p, hw, c)
                if e is not None:
                    out.append(e)
    return out


def hierarchical_estimate(op: str, size_bytes: int, hw: Hardware) -> Estimate | None:
    """fabricsim's own estimate for ``hierarchical`` (not an NCCL algorithm, so not in
    tuning.cc): its phases run one after the other, so their alpha-beta times add up. Ring /
    Simple latencies per step (NVLink inside a host, network between hosts, as
    :func:`latency_us` charges them); the intra-host halves move (g-1)/g of the data over
    NVLink, the inter-host ring moves 1/g of it over one GPU's NIC."""
    if op not in ("all_reduce", "all_gather", "reduce_scatter") or hw.n_nodes < 2:
        return None
    H = hw.n_nodes
    g = hw.n_ranks // H
    if g < 2:
        return None
    halves = 2 if op == "all_reduce" else 1
    intra, inter = step_latencies_us("ring", "simple", hw)
    lat = BASE_LAT_US["ring"][2] + halves * ((g - 1) * intra + (H - 1) * inter)
    nic = hw.inter_GBps / max(hw.nics_per_node, 1) * max(hw.nics_per_node, 1) / g
    t_bw = (
        halves
        * ((g - 1) / g * size_bytes / hw.intra_GBps + (H - 1) / H * size_bytes / g / nic)
        / 1000.0
    )
    algbw = size_bytes / (1000.0 * t_bw) if t_bw > 0 else math.inf
    return Estimate("hierarchical", "simple", g, lat, algbw, lat + t_bw)


def shortlist(ests: list[Estimate], margin: float = MARGIN) -> list[Estimate]:
    """Per algorithm the model's best (protocol, channels), then every algorithm whose best is
    within ``margin`` of the overall best, fastest first."""
    best: dict[str, Estimate] = {}
    for e in ests:
        if e.algorithm not in best or e.time_us < best[e.algorithm].time_us:
            best[e.algorithm] = e
    if not best:
        return []
    top = min(e.time_us for e in best.values())
    return sorted(
        (e for e in best.values() if e.time_us <= top * (1.0 + margin)), key=lambda e: e.time_us
    )


__all__ = [
    "NCCL_SOURCE",
    "PAT_SOURCE",
    "PROTOCOLS",
    "MARGIN",
    "Hardware",
    "Estimate",
    "allowed",
    "pat_enabled",
    "collnet_allowed",
    "wire_efficiency",
    "bandwidth_GBps",
    "latency_us",
    "base_latency_us",
    "step_latencies_us",
    "estimate",
    "estimates",
    "hierarchical_estimate",
    "shortlist",
]
