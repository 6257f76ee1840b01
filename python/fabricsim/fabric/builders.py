"""Fabric builders: plain functions with keyword arguments that return a schema-valid ``nx.Graph``.

Every builder follows :mod:`fabricsim.fabric.schema`: nodes carry ``role`` (and ``host`` /
``rail`` /
``pod`` / ``su`` where they apply), every edge carries ``capacity_gbps`` (per direction),
``latency_us`` (one way) and ``kind``. Labels are readable strings:

==================  =============================================================
builder             labels
==================  =============================================================
:func:`leaf_spine`  ``leaf3``, ``spine0``, ``host5/gpu2``, ``host5/nvswitch``
:func:`fat_tree`    ``pod1/edge0``, ``pod1/agg1``, ``core3``, ``pod1/host2/gpu0``
:func:`rail_optimized`  ``su0/leaf4`` (rail 4), ``su0/spine1``, ``core2``,
                    ``su0/node7/gpu4``, ``su0/node7/nvswitch``
:func:`edge_sites`  ``border``, ``pop/<carrier>``, ``site/<site>``
:func:`torus`       ``node1-0-3/gpu2``, ``node1-0-3/nvswitch`` (node at coordinates 1, 0, 3)
==================  =============================================================

A host with more than one GPU gets an NVSwitch joined to each of its GPUs by an ``nvlink``
edge; every GPU has its own NIC (one ``access`` edge). Builders record ``G.graph["builder"]``,
``G.graph["params"]`` (the resolved arguments, as JSON text so GraphML / GML can hold it:
:func:`params` returns the dict) and ``G.graph["oversubscription"]``.

Hardware defaults (``gpus_per_*``, ``nic_gbps``, ``nvlink_gbps`` and the latencies) resolve as:
explicit argument > ``profile`` > built-in default. ``profile`` is a profile name looked up
with :func:`fabricsim.fabric.profiles.get_profile`, or any object with the attributes ``nic_gbps``,
``nvlink_gbps``, ``gpus_per_node``, ``nvlink_latency_us``, ``access_latency_us``,
``fabric_latency_us`` (a missing attribute falls back to the built-in default).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import networkx as nx

from fabricsim import _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError
from fabricsim.fabric import profiles
from fabricsim.fabric.schema import (
    MAX_CAPACITY_GBPS,
    MIN_CAPACITY_GBPS,
    graph_record,
    record_text,
)

# Built-in hardware defaults: an H100 SXM / ConnectX-7 class node (see /work/shared/reference.md:
# NVLink 4 = 450 GB/s per direction = 3600 Gb/s; NDR / 400G NICs).
_DEFAULTS = {
    "gpus_per_node": 8,
    "nic_gbps": 400.0,
    "nvlink_gbps": 3600.0,
    "nvlink_latency_us": 0.5,
    "access_latency_us": 0.6,
    "fabric_latency_us": 0.6,
}


MAX_ELEMENTS = 5_000_000
"""Most nodes + edges a builder makes (networkx keeps each as Python dicts, ~1 KB apiece): a
typo such as ``leaves=10**9`` is refused up front instead of filling memory for hours."""

# ---------------------------------------------------------------------------- argument checks


def _check_size(builder: str, nodes: int, edges: int) -> None:
    if nodes + edges > MAX_ELEMENTS:
        raise InvalidArgumentError(
            f"{builder}: these arguments would build {nodes:,} nodes and {edges:,} edges; at "
            f"most {MAX_ELEMENTS:,} in all (builders.MAX_ELEMENTS): check the counts"
        )


def _host_size(gpus: int) -> tuple[int, int]:
    """Nodes and edges of one host: its GPUs, plus an NVSwitch and NVLinks if several."""
    return (gpus + 1, gpus) if gpus > 1 else (gpus, 0)


def _resolve_profile(profile: Any) -> Any:
    if profile is None:
        return None
    if isinstance(profile, str):
        return profiles.get_profile(profile)
    return profile


def _profile_name(profile: Any) -> Any:
    if profile is None or isinstance(profile, str):
        return profile
    return getattr(profile, "name", type(profile).__name__)


def _record_profile(G: nx.Graph, prof: Any) -> None:
    """Record the builder's profile in ``G.graph["profile"]`` (a name for a built-in one, else
    the object) so ``Fabric.from_networkx(G)`` and collectives use it without being told again."""
    if prof is None:
        return
    G.graph["profile"] = prof if not isinstance(prof, str) else prof


def _pick(value: Any, prof: Any, attr: str) -> Any:
    """Explicit argument > profile attribute > built-in default."""
    if value is not None:
        return value
    if prof is not None:
        v = getattr(prof, attr, None)
        if v is not None:
            return v
    return _DEFAULTS[attr]


def _hardware(prof: Any, **given: Any) -> dict:
    """Resolve and check the hardware arguments shared by the builders."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        attr = "gpus_per_node" if name in ("gpus_per_host", "gpus_per_node") else name
        attr = "nic_gbps" if name == "link_gbps" else attr
        v = _pick(value, prof, attr)
        if attr == "gpus_per_node":
            out[name] = _validate.integer(name, v, minimum=1)
        else:
            out[name] = _validate.positive(name, v)
    return out


# ---------------------------------------------------------------------------- building blocks


#: PCIe Gen5 x16 per direction: 32 GT/s x 16 lanes x 128b/130b = 504 Gb/s (PCI-SIG, PCI
#: Express Base Specification 5.0). The GPU <-> NIC link of a host whose NICs are shared.
PCIE_GBPS = 504.0
#: GPU -> its shared NIC, one way. In a server that shares NICs the GPU reaches the NIC
#: through the host's PCIe switch (GPU -> switch -> NIC), the same path as one of NCCL's PCI
#: steps, whose lowest-overhead latency is 1.0 µs (tuning.cc hwLat PCI Ring/LL). It stays
#: above an NVLink hop, so GPUs of one host keep talking over NVLink.
PCIE_LATENCY_US = 1.0


def _add_host(
    G: nx.Graph,
    host: str,
    n_gpus: int,
    nvlink_gbps: float,
    nvlink_latency_us: float,
    nics: int | None = None,
    **attrs: Any,
) -> tuple[list[str], list[str]]:
    """Add the GPUs of one server (and its NVSwitch when it has several, and its ``nics``
    shared NICs when given); return (GPU labels, the nodes that take the network links: the
    GPUs themselves, one NIC each, or the shared NIC nodes)."""
    gpus = [f"{host}/gpu{g}" for g in range(n_gpus)]
    G.add_nodes_from(
        (gpu, {"role": "gpu", "host": host, "rail": g, **attrs}) for g, gpu in enumerate(gpus)
    )
    if n_gpus > 1:
        sw = f"{host}/nvswitch"
        G.add_node(sw, role="nvswitch", host=host, **attrs)
        G.add_edges_from(
            (
                gpu,
                sw,
                {"capacity_gbps": nvlink_gbps, "latency_us": nvlink_latency_us, "kind": "nvlink"},
            )
            for gpu in gpus
        )
    if nics is None:
        return gpus, gpus
    share = n_gpus // nics
    nic_nodes = [f"{host}/nic{i}" for i in range(nics)]
    G.add_nodes_from(
        (nic, {"role": "nic", "host": host, "rail": i, **attrs}) for i, nic in enumerate(nic_nodes)
    )
    G.add_edges_from(
        (
            gpu,
            nic_nodes[g // share],
            {"capacity_gbps": PCIE_GBPS, "latency_us": PCIE_LATENCY_US, "kind": "pcie"},
        )
        for g, gpu in enumerate(gpus)
    )
    return gpus, nic_nodes


def _profile_nics(given: Any, prof: Any) -> Any:
    """Explicit argument > the profile's ``nics_per_node`` > None (one NIC per GPU)."""
    if given is not None or prof is None:
        return given
    return getattr(prof, "nics_per_node", None)


def _nics_arg(nics: Any, gpus: int, name: str = "nics_per_host") -> int | None:
    if nics is None:
        return None
    n = _validate.integer(name, nics, minimum=1)
    if gpus % n:
        raise InvalidArgumentError(
            f"{name}: {n} NICs cannot be shared evenly by {gpus} GPUs per host "
            "(give a divisor of the GPU count)"
        )
    return n


SWITCH_ROLES = ("leaf", "spine", "core")
"""The roles a builder's ``sharp=True`` marks as SHARP-capable."""


def _mark_sharp(G: nx.Graph, sharp: Any) -> None:
    """``sharp=True``: every switch of the builder declares SHARP (``sharp=True`` node
    attribute; recorded in the builder's params). False leaves the graph as it was."""
    if not isinstance(sharp, bool):
        raise InvalidArgumentError(f"sharp: must be True or False, got {sharp!r}")
    if not sharp:
        return
    for _, d in G.nodes(data=True):
        if d.get("role") in SWITCH_ROLES:
            d["sharp"] = True
    params = graph_record(G, "params")
    if params is not None:
        params["sharp"] = True
        G.graph["params"] = record_text(params)


def _link(
    G: nx.Graph, u: str, v: str, capacity_gbps: float, latency_us: float, kind: str, **attrs: Any
) -> None:
    G.add_edge(u, v, capacity_gbps=capacity_gbps, latency_us=latency_us, kind=kind, **attrs)


# ---------------------------------------------------------------------------- builders


def leaf_spine(
    *,
    leaves: int = 4,
    spines: int = 4,
    hosts_per_leaf: int = 4,
    gpus_per_host: int | None = None,
    nic_gbps: float | None = None,
    uplink_gbps: float | None = None,
    oversubscription: float | None = None,
    nvlink_gbps: float | None = None,
    nvlink_latency_us: float | None = None,
    access_latency_us: float | None = None,
    fabric_latency_us: float | None = None,
    profile: Any = None,
    nics_per_host: int | None = None,
    sharp: bool = False,
) -> nx.Graph:
    """A two-tier leaf-spine fabric of multi-GPU hosts.

    ``leaves * hosts_per_leaf`` hosts, each with ``gpus_per_host`` GPUs (default 8) whose NICs
    (``nic_gbps``, default 400) all go to the host's leaf. Every leaf joins every spine with one
    ``fabric`` edge of ``uplink_gbps``. Give at most one of ``uplink_gbps`` and
    ``oversubscription`` = leaf downlink / leaf uplink
    = ``hosts_per_leaf * gpus_per_host * nic_gbps / (spines * uplink_gbps)``; by default the
    fabric is non-blocking (``oversubscription=1``). Defaults: ``nvlink_gbps=3600``,
    ``nvlink_latency_us=0.5``, ``access_latency_us=fabric_latency_us=0.6`` (or from ``profile``).
    ``nics_per_host``: shared NICs (``role="nic"``) instead of one NIC per GPU, each serving
    ``gpus_per_host / nics_per_host`` GPUs over PCIe (``pcie`` edges of :data:`PCIE_GBPS`)
    and joined to the leaf at ``nic_gbps``. ``sharp=True``: every switch declares SHARP
    in-network reduction (node attribute ``sharp=True``), for the ``collnet_*`` algorithms.

    >>> from fabricsim.fabric import builders
    >>> G = builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2,
    ...                         oversubscription=2.0)
    >>> G.edges["leaf0", "spine1"]["capacity_gbps"], G.graph["oversubscription"]
    (200.0, 2.0)
    >>> sorted(G["host1/gpu0"])
    ['host1/nvswitch', 'leaf1']
    """
    prof = _resolve_profile(profile)
    leaves = _validate.integer("leaves", leaves, minimum=1)
    spines = _validate.integer("spines", spines, minimum=1)
    hosts_per_leaf = _validate.integer("hosts_per_leaf", hosts_per_leaf, minimum=1)
    hw = _hardware(
        prof,
        gpus_per_host=gpus_per_host,
        nic_gbps=nic_gbps,
        nvlink_gbps=nvlink_gbps,
        nvlink_latency_us=nvlink_latency_us,
        access_latency_us=access_latency_us,
        fabric_latency_us=fabric_latency_us,
    )
    nics = _nics_arg(_profile_nics(nics_per_host, prof), hw["gpus_per_host"])
    downlink_gbps = hosts_per_leaf * (nics or hw["gpus_per_host"]) * hw["nic_gbps"]
    if uplink_gbps is not None and oversubscription is not None:
        raise InvalidArgumentError(
            "uplink_gbps and oversubscription: give at most one of them "
            "(oversubscription = leaf downlink / (spines * uplink_gbps))"
        )
    if uplink_gbps is not None:
        uplink_gbps = _validate.positive("uplink_gbps", uplink_gbps)
    else:
        ratio = (
            1.0
            if oversubscription is None
            else _validate.positive("oversubscription", oversubscription)
        )
        uplink_gbps = downlink_gbps / (spines * ratio)
        if not MIN_CAPACITY_GBPS <= uplink_gbps <= MAX_CAPACITY_GBPS:
            raise InvalidArgumentError(
                f"oversubscription: {oversubscription!r} makes each uplink {uplink_gbps:.3g} Gb/s, "
                f"outside [{MIN_CAPACITY_GBPS:g}, {MAX_CAPACITY_GBPS:g}] Gb/s"
            )
    ratio = downlink_gbps / (spines * uplink_gbps)
    hn, he = _host_size(hw["gpus_per_host"])
    hosts = leaves * hosts_per_leaf
    _check_size(
        "leaf_spine",
        leaves + spines + hosts * hn,
        hosts * (he + hw["gpus_per_host"]) + leaves * spines,
    )

    G = nx.Graph()
    G.graph.update(
        builder="leaf_spine",
        oversubscription=ratio,
        params=record_text(
            {
                "leaves": leaves,
                "spines": spines,
                "hosts_per_leaf": hosts_per_leaf,
                **hw,
                "uplink_gbps": uplink_gbps,
                "oversubscription": ratio,
                "nics_per_host": nics,
                "profile": _profile_name(profile),
            }
        ),
    )
    _record_profile(G, profile)
    G.add_nodes_from((f"leaf{i}", {"role": "leaf"}) for i in range(leaves))
    G.add_nodes_from((f"spine{s}", {"role": "spine"}) for s in range(spines))
    for i in range(leaves):
        leaf = f"leaf{i}"
        for x in range(hosts_per_leaf):
            host = f"host{i * hosts_per_leaf + x}"
            _, ports = _add_host(
                G, host, hw["gpus_per_host"], hw["nvlink_gbps"], hw["nvlink_latency_us"], nics
            )
            for port in ports:
                _link(G, port, leaf, hw["nic_gbps"], hw["access_latency_us"], "access")
        for s in range(spines):
            _link(G, leaf, f"spine{s}", uplink_gbps, hw["fabric_latency_us"], "fabric")
    _mark_sharp(G, sharp)
    return G


def fat_tree(
    *,
    k: int = 4,
    gpus_per_host: int | None = None,
    link_gbps: float | None = None,
    nvlink_gbps: float | None = None,
    nvlink_latency_us: float | None = None,
    access_latency_us: float | None = None,
    fabric_latency_us: float | None = None,
    profile: Any = None,
    sharp: bool = False,
) -> nx.Graph:
    """A 3-tier k-ary fat tree (Al-Fares et al., SIGCOMM 2008) of k-port switches.

    ``k`` pods, each with ``k/2`` edge switches (``role="leaf"``, ``pod=p``) and ``k/2``
    aggregation switches (``role="spine"``, ``pod=p``); ``(k/2)**2`` core switches
    (``role="core"``). Every edge switch joins every aggregation switch of its pod;
    aggregation switch ``i`` of every pod joins cores ``i*k/2 ... i*k/2 + k/2 - 1``. Each edge
    switch serves ``k/2`` hosts: ``k**3/4`` hosts, ``5*k**2/4`` switches. Every link (access
    and fabric) runs at ``link_gbps`` (default: the profile's ``nic_gbps``, else 400).

    ``gpus_per_host`` defaults to 1 (the classic fat tree; the profile's ``gpus_per_node``
    when a profile is given). With more GPUs per host each GPU keeps its own NIC, so an edge
    switch has ``k/2 * gpus_per_host`` downlinks against ``k/2`` uplinks: the edge tier is
    then ``gpus_per_host``:1 oversubscribed (stored in ``G.graph["oversubscription"]``).
    ``sharp=True``: every switch declares SHARP (node attribute ``sharp=True``).

    >>> from fabricsim.fabric import builders
    >>> G = builders.fat_tree(k=4)
    >>> sum(1 for _, r in G.nodes(data="role") if r == "gpu"), G.number_of_edges()
    (16, 48)
    >>> sorted(G["pod0/agg1"])
    ['core2', 'core3', 'pod0/edge0', 'pod0/edge1']
    """
    prof = _resolve_profile(profile)
    k = _validate.integer("k", k, minimum=2)
    if k % 2:
        raise InvalidArgumentError(f"k: must be an even integer >= 2, got {k!r}")
    if gpus_per_host is None and getattr(prof, "gpus_per_node", None) is None:
        gpus_per_host = 1  # the classic fat tree: one GPU (NIC) per host
    hw = _hardware(
        prof,
        gpus_per_host=gpus_per_host,
        link_gbps=link_gbps,
        nvlink_gbps=nvlink_gbps,
        nvlink_latency_us=nvlink_latency_us,
        access_latency_us=access_latency_us,
        fabric_latency_us=fabric_latency_us,
    )
    half = k // 2
    link = hw["link_gbps"]
    hn, he = _host_size(hw["gpus_per_host"])
    n_hosts = k * half * half
    _check_size(
        "fat_tree",
        half * half + k * k + n_hosts * hn,
        n_hosts * (he + hw["gpus_per_host"]) + 2 * k * half * half,
    )
    G = nx.Graph()
    G.graph.update(
        builder="fat_tree",
        oversubscription=float(hw["gpus_per_host"]),
        params=record_text({"k": k, **hw, "profile": _profile_name(profile)}),
    )
    _record_profile(G, profile)
    cores = [f"core{c}" for c in range(half * half)]
    G.add_nodes_from((c, {"role": "core"}) for c in cores)
    for p in range(k):
        edges = [f"pod{p}/edge{j}" for j in range(half)]
        aggs = [f"pod{p}/agg{i}" for i in range(half)]
        G.add_nodes_from((e, {"role": "leaf", "pod": p}) for e in edges)
        G.add_nodes_from((a, {"role": "spine", "pod": p}) for a in aggs)
        for j, e in enumerate(edges):
            for x in range(half):
                gpus, _ = _add_host(
                    G,
                    f"pod{p}/host{j * half + x}",
                    hw["gpus_per_host"],
                    hw["nvlink_gbps"],
                    hw["nvlink_latency_us"],
                    pod=p,
                )
                for gpu in gpus:
                    _link(G, gpu, e, link, hw["access_latency_us"], "access")
            for a in aggs:
                _link(G, e, a, link, hw["fabric_latency_us"], "fabric")
        for i, a in enumerate(aggs):
            for c in cores[i * half : (i + 1) * half]:
                _link(G, a, c, link, hw["fabric_latency_us"], "fabric")
    _mark_sharp(G, sharp)
    return G


def rail_optimized(
    *,
    scalable_units: int = 1,
    nodes_per_su: int = 32,
    gpus_per_node: int | None = None,
    nic_gbps: float | None = None,
    nvlink_gbps: float | None = None,
    spines_per_su: int | None = None,
    cores: int | None = None,
    oversubscription: float = 1.0,
    nvlink_latency_us: float | None = None,
    access_latency_us: float | None = None,
    fabric_latency_us: float | None = None,
    profile: Any = None,
    nics_per_node: int | None = None,
    sharp: bool = False,
) -> nx.Graph:
    """A rail-optimized GPU pod in the style of the NVIDIA DGX SuperPOD.

    Each scalable unit (SU) has ``nodes_per_su`` nodes of ``gpus_per_node`` GPUs (default 8)
    and ``gpus_per_node`` rail leaves: NIC ``i`` of every node of the SU goes to rail leaf
    ``i`` (``role="leaf"``, ``rail=i``, ``su=s``), so same-rank GPUs of one SU are one switch
    apart. Every leaf joins every spine of its SU (``spines_per_su``, default
    ``gpus_per_node``; ``role="spine"``, ``su=s``) with links sized so that leaf downlink /
    leaf uplink = ``oversubscription`` (default 1, non-blocking). With more than one SU a core
    tier joins the SUs: every spine joins every core (``cores``, default ``spines_per_su``)
    with links sized so that spine downlink / spine uplink = ``oversubscription`` as well.
    ``cores`` may only be given when ``scalable_units > 1``. ``nics_per_node``: shared NICs
    (``role="nic"``, each serving ``gpus_per_node / nics_per_node`` GPUs over PCIe) instead
    of one per GPU; NIC ``i`` goes to rail leaf ``i`` and each SU has ``nics_per_node`` rails.
    ``sharp=True``: every leaf, spine and core declares SHARP in-network reduction (node
    attribute ``sharp=True``; NVIDIA Quantum InfiniBand switches have it), which the
    ``collnet_direct`` / ``collnet_chain`` algorithms use.

    >>> from fabricsim.fabric import builders
    >>> G = builders.rail_optimized(nodes_per_su=2, sharp=True)
    >>> G.nodes["su0/leaf0"]["sharp"], "sharp" in G.nodes["su0/node0/gpu0"]
    (True, False)

    >>> from fabricsim.fabric import builders
    >>> G4 = builders.rail_optimized(nodes_per_su=2, gpus_per_node=8, nics_per_node=4)
    >>> sorted(G4["su0/node1/nic3"])
    ['su0/leaf3', 'su0/node1/gpu6', 'su0/node1/gpu7']

    >>> from fabricsim.fabric import builders
    >>> G = builders.rail_optimized(nodes_per_su=4, gpus_per_node=8)
    >>> sorted(G["su0/node2/gpu5"])
    ['su0/leaf5', 'su0/node2/nvswitch']
    >>> G.edges["su0/leaf0", "su0/spine0"]["capacity_gbps"]  # 4 * 400 / 8 spines
    200.0
    """
    prof = _resolve_profile(profile)
    scalable_units = _validate.integer("scalable_units", scalable_units, minimum=1)
    nodes_per_su = _validate.integer("nodes_per_su", nodes_per_su, minimum=1)
    hw = _hardware(
        prof,
        gpus_per_node=gpus_per_node,
        nic_gbps=nic_gbps,
        nvlink_gbps=nvlink_gbps,
        nvlink_latency_us=nvlink_latency_us,
        access_latency_us=access_latency_us,
        fabric_latency_us=fabric_latency_us,
    )
    nics = _nics_arg(_profile_nics(nics_per_node, prof), hw["gpus_per_node"], "nics_per_node")
    rails = nics or hw["gpus_per_node"]
    spines_per_su = (
        rails
        if spines_per_su is None
        else _validate.integer("spines_per_su", spines_per_su, minimum=1)
    )
    if cores is not None and scalable_units == 1:
        raise InvalidArgumentError(
            f"cores: a core tier is only built with scalable_units > 1, got cores={cores!r} "
            "and scalable_units=1"
        )
    n_cores = 0
    if scalable_units > 1:
        n_cores = spines_per_su if cores is None else _validate.integer("cores", cores, minimum=1)
    ratio = _validate.positive("oversubscription", oversubscription)

    leaf_uplink_gbps = nodes_per_su * hw["nic_gbps"] / (spines_per_su * ratio)
    core_uplink_gbps = rails * leaf_uplink_gbps / (n_cores * ratio) if n_cores else None
    lat_f = hw["fabric_latency_us"]
    hn, he = _host_size(hw["gpus_per_node"])
    n_hosts = scalable_units * nodes_per_su
    _check_size(
        "rail_optimized",
        n_cores + scalable_units * (rails + spines_per_su) + n_hosts * hn,
        n_hosts * (he + rails) + scalable_units * spines_per_su * (rails + n_cores),
    )
    G = nx.Graph()
    G.graph.update(
        builder="rail_optimized",
        oversubscription=ratio,
        params=record_text(
            {
                "scalable_units": scalable_units,
                "nodes_per_su": nodes_per_su,
                **hw,
                "spines_per_su": spines_per_su,
                "cores": n_cores,
                "oversubscription": ratio,
                "leaf_uplink_gbps": leaf_uplink_gbps,
                "core_uplink_gbps": core_uplink_gbps,
                "nics_per_node": nics,
                "profile": _profile_name(profile),
            }
        ),
    )
    _record_profile(G, profile)
    core_labels = [f"core{c}" for c in range(n_cores)]
    G.add_nodes_from((c, {"role": "core"}) for c in core_labels)
    for s in range(scalable_units):
        leaves = [f"su{s}/leaf{i}" for i in range(rails)]
        spines = [f"su{s}/spine{j}" for j in range(spines_per_su)]
        G.add_nodes_from(
            (leaf, {"role": "leaf", "rail": i, "su": s}) for i, leaf in enumerate(leaves)
        )
        G.add_nodes_from((sp, {"role": "spine", "su": s}) for sp in spines)
        for n in range(nodes_per_su):
            _, ports = _add_host(
                G,
                f"su{s}/node{n}",
                hw["gpus_per_node"],
                hw["nvlink_gbps"],
                hw["nvlink_latency_us"],
                nics,
                su=s,
            )
            for i, port in enumerate(ports):
                _link(G, port, leaves[i], hw["nic_gbps"], hw["access_latency_us"], "access")
        for leaf in leaves:
            for sp in spines:
                _link(G, leaf, sp, leaf_uplink_gbps, lat_f, "fabric")
        for sp in spines:
            for c in core_labels:
                _link(G, sp, c, float(core_uplink_gbps or 0.0), lat_f, "fabric")
    _mark_sharp(G, sharp)
    return G


MAX_TORUS_DIMS = 8
"""Most dimensions a :func:`torus` takes (TPU v4 pods are 3-D, Blue Gene/Q 5-D)."""


def _dims_arg(dims: Any) -> tuple[int, ...]:
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__len__"):
        raise InvalidArgumentError(
            f"dims: must be a sequence of integers >= 2 (ring sizes), got {dims!r}"
        )
    if not 1 <= len(dims) <= MAX_TORUS_DIMS:
        raise InvalidArgumentError(
            f"dims: must have 1..{MAX_TORUS_DIMS} dimensions, got {len(dims)} ({dims!r})"
        )
    return tuple(_validate.integer(f"dims[{i}]", k, minimum=2) for i, k in enumerate(dims))


def torus(
    *,
    dims: Any = (4, 4),
    gpus_per_node: int | None = None,
    link_gbps: float | None = None,
    nvlink_gbps: float | None = None,
    nvlink_latency_us: float | None = None,
    link_latency_us: float | None = None,
    profile: Any = None,
) -> nx.Graph:
    """A k-ary n-dimensional torus of nodes joined by direct GPU-to-GPU links, no switches.

    ``dims = (k1, k2, ...)``: ``k1 * k2 * ...`` nodes at integer coordinates; along each
    dimension the nodes form a ring (with wraparound; a dimension of 2 is one link, not two).
    GPU ``g`` of a node links directly to GPU ``g`` of each neighbour node (one torus per GPU
    index, ``kind="fabric"``, ``link_gbps`` per direction, default the profile's NIC speed), and
    a node with several GPUs joins them through its NVSwitch. Every GPU carries
    ``forwarding=True`` (:mod:`fabricsim.fabric.schema`), so traffic crosses the torus through
    the GPUs on its way, shortest paths first (dimension order is not enforced: ECMP spreads
    over every minimal path). ``rail`` = ``g``; ``host`` = the node label.

    >>> import fabricsim as fs
    >>> G = fs.torus(dims=(4, 4), gpus_per_node=1)
    >>> sorted(G["node0-0/gpu0"])
    ['node0-1/gpu0', 'node0-3/gpu0', 'node1-0/gpu0', 'node3-0/gpu0']
    >>> fs.Fabric.from_networkx(G).distance("node0-0/gpu0", "node2-2/gpu0", metric="hops")
    4.0
    """
    prof = _resolve_profile(profile)
    shape = _dims_arg(dims)
    hw = _hardware(
        prof,
        gpus_per_node=gpus_per_node,
        link_gbps=link_gbps,
        nvlink_gbps=nvlink_gbps,
        nvlink_latency_us=nvlink_latency_us,
    )
    lat = _validate.positive(
        "link_latency_us",
        _pick(link_latency_us, prof, "fabric_latency_us"),
    )
    gpn = hw["gpus_per_node"]
    n_nodes = math.prod(shape)
    degree = sum(1 if k == 2 else 2 for k in shape)  # torus neighbours of one node
    hn, he = _host_size(gpn)
    _check_size("torus", n_nodes * hn, n_nodes * (he + gpn * degree // 2))
    G = nx.Graph()
    G.graph.update(
        builder="torus",
        oversubscription=1.0,
        params=record_text(
            {
                "dims": list(shape),
                **hw,
                "link_latency_us": lat,
                "profile": _profile_name(profile),
            }
        ),
    )
    _record_profile(G, profile)
    coords = list(itertools.product(*(range(k) for k in shape)))
    label = {c: "node" + "-".join(map(str, c)) for c in coords}
    gpus_of = {}
    for c in coords:
        gpus, _ = _add_host(G, label[c], gpn, hw["nvlink_gbps"], hw["nvlink_latency_us"])
        for gpu in gpus:
            G.nodes[gpu]["forwarding"] = True
        gpus_of[c] = gpus
    for c in coords:
        for d, k in enumerate(shape):
            nxt = c[:d] + ((c[d] + 1) % k,) + c[d + 1 :]
            for a, b in zip(gpus_of[c], gpus_of[nxt], strict=True):
                if not G.has_edge(a, b):  # k == 2: the two directions are one link
                    _link(G, a, b, hw["link_gbps"], lat, "fabric")
    return G


# ---------------------------------------------------------------------------- edge sites


@dataclass(frozen=True, kw_only=True)
class Carrier:
    """A carrier (WAN provider) reaching the fabric's border.

    ``capacity_gbps``: its hand-off link into the border (per direction). ``availability``: the
    probability the carrier is up, in (0, 1]. A site's circuit over this carrier has latency
    ``base_latency_us + latency_us_per_km * distance_km`` (5 µs/km: light in fibre) and
    spread ``jitter_us``.

    >>> Carrier(name="telco", capacity_gbps=100.0, availability=0.999).latency_us_per_km
    5.0
    """

    name: str
    capacity_gbps: float
    availability: float = 1.0
    latency_us_per_km: float = 5.0
    base_latency_us: float = 0.0
    jitter_us: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Site:
    """An edge site homed on one carrier (single-homed) or several (multi-homed).

    ``distance_km``: one distance for every carrier, or a dict carrier name -> km.
    ``capacity_gbps``: the capacity of each of its access circuits (per direction).

    >>> Site(name="lyon", carriers=("telco",), distance_km=450.0, capacity_gbps=10.0).carriers
    ('telco',)
    """

    name: str
    carriers: tuple[str, ...]
    distance_km: float | Mapping[str, float]
    capacity_gbps: float


def _as_record(cls: type, what: str, i: int, item: Any) -> Any:
    if isinstance(item, cls):
        return item
    if not isinstance(item, Mapping):
        raise InvalidTypeError(
            f"{what}[{i}]: must be a {cls.__name__} or a dict, got {type(item).__name__}"
        )
    names = [f.name for f in fields(cls)]
    unknown = [key for key in item if key not in names]
    if unknown:
        raise InvalidArgumentError(
            f"{what}[{i}]: unknown key {unknown[0]!r}; valid keys: {', '.join(names)}"
        )
    required = [f.name for f in fields(cls) if f.default is MISSING]
    missing = [key for key in required if key not in item]
    if missing:
        raise InvalidArgumentError(f"{what}[{i}]: missing key {missing[0]!r}")
    return cls(**item)


def _name_arg(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what}.name: must be a non-empty str, got {value!r}")
    return value


def edge_sites(
    fabric: nx.Graph,
    *,
    sites: Sequence[Site | Mapping],
    carriers: Sequence[Carrier | Mapping],
    border_gbps: float | None = None,
    border_latency_us: float = 1.0,
) -> nx.Graph:
    """Return a copy of ``fabric`` plus edge sites reaching it over carriers.

    Adds one ``border`` node joined to every top-tier switch of the fabric (cores if any, else
    spines, else leaves) by ``fabric`` edges of ``border_gbps`` each (default: the total
    carrier capacity, so the border is never the bottleneck); per carrier a ``carrier_pop``
    node ``pop/<carrier>`` joined to the border by a ``wan`` edge with the carrier's capacity
    and availability; per site a node ``site/<site>`` (``role="edge_site"``, ``site=name``)
    with one ``wan`` edge per carrier it is homed on, to that carrier's pop, with the site's
    ``capacity_gbps``, the carrier's ``availability`` and ``jitter_us``, and ``latency_us =
    base_latency_us + latency_us_per_km * distance_km``. Border and pop hand-offs have
    ``border_latency_us``. Every added wan edge carries ``carrier=<name>``: edges with the same
    carrier share its fate (its availability is that of the whole carrier, not per edge).
    ``G.graph["edge_sites"]`` records the carriers, sites and the labels of the added nodes.

    ``sites`` and ``carriers`` are lists of :class:`Site` / :class:`Carrier` or of dicts with
    the same keys.

    >>> from fabricsim.fabric import builders
    >>> G = builders.edge_sites(
    ...     builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
    ...     carriers=[{"name": "a", "capacity_gbps": 100.0, "availability": 0.999},
    ...               {"name": "b", "capacity_gbps": 40.0, "availability": 0.99}],
    ...     sites=[{"name": "lyon", "carriers": ["a", "b"], "distance_km": 400.0,
    ...             "capacity_gbps": 10.0}])
    >>> G.edges["site/lyon", "pop/a"]["latency_us"], G.edges["border", "spine0"]["capacity_gbps"]
    (2000.0, 140.0)
    """
    if not isinstance(fabric, nx.Graph):
        raise InvalidTypeError(f"fabric: must be a networkx Graph, got {type(fabric).__name__}")
    if fabric.is_directed():
        raise InvalidArgumentError("fabric: must be an undirected graph (links are full duplex)")
    if isinstance(carriers, Mapping):
        raise InvalidTypeError(
            f"carriers: must be an iterable of Carrier or dicts, got {carriers!r}"
        )
    if isinstance(sites, Mapping):
        raise InvalidTypeError(f"sites: must be an iterable of Site or dicts, got {sites!r}")
    carriers = _validate.iterable("carriers", carriers, "Carrier or dicts")
    sites = _validate.iterable("sites", sites, "Site or dicts")
    if not carriers:
        raise InvalidArgumentError("carriers: give at least one carrier")
    if not sites:
        raise InvalidArgumentError("sites: give at least one site")
    border_latency_us = _validate.positive("border_latency_us", border_latency_us)

    carrier_recs: dict[str, Carrier] = {}
    for i, item in enumerate(carriers):
        c = _as_record(Carrier, "carriers", i, item)
        what = f"carriers[{i}]"
        name = _name_arg(what, c.name)
        if name in carrier_recs:
            raise InvalidArgumentError(f"{what}: duplicate carrier name {name!r}")
        carrier_recs[name] = Carrier(
            name=name,
            capacity_gbps=_validate.positive(f"{what} ({name!r}).capacity_gbps", c.capacity_gbps),
            availability=_validate.availability(f"{what} ({name!r}).availability", c.availability),
            latency_us_per_km=_validate.positive(
                f"{what} ({name!r}).latency_us_per_km", c.latency_us_per_km, allow_zero=True
            ),
            base_latency_us=_validate.positive(
                f"{what} ({name!r}).base_latency_us", c.base_latency_us, allow_zero=True
            ),
            jitter_us=_validate.positive(
                f"{what} ({name!r}).jitter_us", c.jitter_us, allow_zero=True
            ),
        )

    site_recs: dict[str, Site] = {}
    for i, site_item in enumerate(sites):
        s = _as_record(Site, "sites", i, site_item)
        what = f"sites[{i}]"
        name = _name_arg(what, s.name)
        what = f"{what} ({name!r})"
        if name in site_recs:
            raise InvalidArgumentError(f"{what}: duplicate site name {name!r}")
        homed = (s.carriers,) if isinstance(s.carriers, str) else tuple(s.carriers)
        if not homed:
            raise InvalidArgumentError(f"{what}.carriers: a site needs at least one carrier")
        for cname in homed:
            if cname not in carrier_recs:
                raise UnknownNameError(
                    f"{what}.carriers: unknown carrier {cname!r}; known carriers: "
                    f"{', '.join(carrier_recs)}"
                )
        if len(set(homed)) != len(homed):
            raise InvalidArgumentError(f"{what}.carriers: a carrier is listed twice: {homed!r}")
        if isinstance(s.distance_km, Mapping):
            extra = [c for c in s.distance_km if c not in homed]
            if extra:
                raise InvalidArgumentError(
                    f"{what}.distance_km: carrier {extra[0]!r} is not one the site is homed on "
                    f"({', '.join(homed)})"
                )
            missing = [c for c in homed if c not in s.distance_km]
            if missing:
                raise InvalidArgumentError(
                    f"{what}.distance_km: no distance for carrier {missing[0]!r}"
                )
            dist = {
                c: _validate.positive(
                    f"{what}.distance_km[{c!r}]", s.distance_km[c], allow_zero=True
                )
                for c in homed
            }
        else:
            d = _validate.positive(f"{what}.distance_km", s.distance_km, allow_zero=True)
            dist = dict.fromkeys(homed, d)
        site_recs[name] = Site(
            name=name,
            carriers=homed,
            distance_km=dist if isinstance(s.distance_km, Mapping) else dist[homed[0]],
            capacity_gbps=_validate.positive(f"{what}.capacity_gbps", s.capacity_gbps),
        )
        for cname in homed:
            c = carrier_recs[cname]
            if c.base_latency_us + c.latency_us_per_km * dist[cname] <= 0.0:
                raise InvalidArgumentError(
                    f"{what}.distance_km: the circuit over {cname!r} would have zero latency "
                    "(distance 0 and base_latency_us 0); give a distance_km > 0 or a carrier "
                    "base_latency_us > 0"
                )

    total_gbps = sum(c.capacity_gbps for c in carrier_recs.values())
    border_gbps = (
        total_gbps if border_gbps is None else _validate.positive("border_gbps", border_gbps)
    )

    roles = dict(fabric.nodes(data="role"))
    top = []
    for tier in ("core", "spine", "leaf"):
        top = [n for n, r in roles.items() if r == tier]
        if top:
            break
    if not top:
        raise InvalidArgumentError(
            "fabric: has no core, spine or leaf switch to attach the border to"
        )
    border = "border"
    pop_nodes = {c: f"pop/{c}" for c in carrier_recs}
    site_nodes = {s: f"site/{s}" for s in site_recs}
    for label in (border, *pop_nodes.values(), *site_nodes.values()):
        if label in fabric:
            raise InvalidArgumentError(
                f"fabric: already has a node {label!r}; edge_sites adds nodes with that label"
            )

    G = fabric.copy()
    G.add_node(border, role="border")
    for sw in top:
        _link(G, border, sw, border_gbps, border_latency_us, "fabric")
    for cname, c in carrier_recs.items():
        pop = pop_nodes[cname]
        G.add_node(pop, role="carrier_pop", carrier=cname)
        _link(
            G,
            pop,
            border,
            c.capacity_gbps,
            border_latency_us,
            "wan",
            carrier=cname,
            availability=c.availability,
        )
    for sname, s in site_recs.items():
        node = site_nodes[sname]
        G.add_node(node, role="edge_site", site=sname)
        for cname in s.carriers:
            c = carrier_recs[cname]
            km = s.distance_km[cname] if isinstance(s.distance_km, Mapping) else s.distance_km
            _link(
                G,
                node,
                pop_nodes[cname],
                s.capacity_gbps,
                c.base_latency_us + c.latency_us_per_km * km,
                "wan",
                carrier=cname,
                availability=c.availability,
                jitter_us=c.jitter_us,
            )
    G.graph["edge_sites"] = record_text(
        {
            "border": border,
            "border_gbps": border_gbps,
            "border_latency_us": border_latency_us,
            "carriers": [asdict(c) for c in carrier_recs.values()],
            "sites": [
                {
                    **asdict(s),
                    "carriers": list(s.carriers),
                    "distance_km": dict(s.distance_km)
                    if isinstance(s.distance_km, Mapping)
                    else s.distance_km,
                }
                for s in site_recs.values()
            ],
            "pop_nodes": pop_nodes,
            "site_nodes": site_nodes,
        }
    )
    return G


def params(G: nx.Graph) -> dict:
    """The builder arguments a graph was made with (``G.graph["params"]`` as a dict; empty for a
    graph no builder made).

    >>> from fabricsim.fabric import builders
    >>> builders.params(builders.fat_tree(k=4))["k"]
    4
    """
    return graph_record(G, "params") or {}


__all__ = [
    "Carrier",
    "Site",
    "leaf_spine",
    "fat_tree",
    "rail_optimized",
    "torus",
    "edge_sites",
    "params",
]
