"""Pure-Python reference implementation of routing and of the flow engine.

This module is the differential oracle for the Rust core: it implements the semantics of
DEVELOPERS.md ("Fabric model", "Routing", "Flow engine") as plainly as possible, favouring
obvious correctness over speed. Every event recomputes the max-min fair rates of *all* active
flows (the core recomputes only the affected connected components; max-min allocations decompose
over components, so both give the same rates).

Plain data in, plain data out: a :class:`Network` of directed links (bytes/s, seconds) and flows
given as sequences of node indices. Nothing here depends on the rest of fabricsim except its
exception classes.

>>> net = Network(3, [0, 1, 1, 2], [1, 0, 2, 1], [100.0] * 4, [1e-3] * 4, [False, True, False])
>>> route(net, 0, 2)
([0, 2], [1.0, 1.0], 0.002)
>>> float(simulate(net, [0], [2], [1000.0])["finish_s"][0])
10.002
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from fabricsim.exceptions import (
    DependencyCycleError,
    InvalidArgumentError,
    UnknownNameError,
    UnreachableError,
)

MASK64 = 0xFFFFFFFFFFFFFFFF
METRICS = ("hops", "latency")
POLICIES = ("ecmp", "spray")


class RouteUnreachableError(UnreachableError, ValueError):
    """No path between two nodes: fabricsim's :class:`UnreachableError`, also a ``ValueError``."""


# ----------------------------------------------------------------------------------------------
# Fabric model


class Network:
    """Nodes ``0..n_nodes-1`` and directed links ``l: link_src[l] -> link_dst[l]``.

    ``capacity_Bps`` in bytes/s (finite, > 0), ``latency_s`` in seconds (finite, >= 0),
    ``transit[u]`` False for endpoints (GPUs, edge sites), which never forward traffic.
    """

    def __init__(self, n_nodes, link_src, link_dst, capacity_Bps, latency_s, transit):
        self.n_nodes = int(n_nodes)
        self.link_src = [int(u) for u in link_src]
        self.link_dst = [int(v) for v in link_dst]
        self.capacity_Bps = [float(c) for c in capacity_Bps]
        self.latency_s = [float(x) for x in latency_s]
        self.transit = [bool(x) for x in transit]
        m = len(self.link_src)
        if self.n_nodes < 0:
            raise InvalidArgumentError(f"n_nodes: must be >= 0, got {self.n_nodes}")
        if not (len(self.link_dst) == len(self.capacity_Bps) == len(self.latency_s) == m):
            raise InvalidArgumentError(
                "links: link_src, link_dst, capacity_Bps and latency_s need one entry per link"
            )
        if len(self.transit) != self.n_nodes:
            raise InvalidArgumentError(
                f"transit: expected {self.n_nodes} entries, got {len(self.transit)}"
            )
        for l in range(m):
            u, v = self.link_src[l], self.link_dst[l]
            if not (0 <= u < self.n_nodes and 0 <= v < self.n_nodes):
                raise InvalidArgumentError(f"link {l}: node index out of range 0..{self.n_nodes}")
            if u == v:
                raise InvalidArgumentError(f"link {l}: self-loop at node {u}")
            cap, lat = self.capacity_Bps[l], self.latency_s[l]
            if not (math.isfinite(cap) and cap > 0):
                raise InvalidArgumentError(f"link {l}: capacity must be finite and > 0, got {cap}")
            if not (math.isfinite(lat) and lat >= 0):
                raise InvalidArgumentError(f"link {l}: latency must be finite and >= 0, got {lat}")
        # Out-links and in-links of each node in increasing link id order (the CSR order).
        self.out_links = [[] for _ in range(self.n_nodes)]
        self.in_links = [[] for _ in range(self.n_nodes)]
        for l in range(m):
            self.out_links[self.link_src[l]].append(l)
            self.in_links[self.link_dst[l]].append(l)

    @property
    def n_links(self):
        return len(self.link_src)


def _check_node(net, what, u):
    if not (isinstance(u, (int, np.integer)) and 0 <= u < net.n_nodes):
        raise InvalidArgumentError(f"{what}: node index {u!r} out of range 0..{net.n_nodes}")
    return int(u)


# ----------------------------------------------------------------------------------------------
# Routing


def splitmix64(x):
    """One step of splitmix64 on a 64-bit unsigned integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def ecmp_hash(seed, flow_key, u):
    """``splitmix64(splitmix64(splitmix64(seed) ^ flow_key) ^ u)``, all mod 2**64."""
    h = splitmix64(int(seed) & MASK64)
    h = splitmix64(h ^ (int(flow_key) & MASK64))
    return splitmix64(h ^ (int(u) & MASK64))


def latency_ns(latency_s):
    """A link latency in whole nanoseconds, rounded half away from zero (Rust's ``f64::round``)."""
    x = latency_s * 1e9
    whole = math.floor(x)
    return int(whole) + (1 if x - whole >= 0.5 else 0)


def _check_metric(metric):
    if metric not in METRICS:
        raise UnknownNameError(f"metric: unknown metric {metric!r}; valid: {', '.join(METRICS)}")


def link_weight(net, l, metric):
    """The routing weight of link ``l``: 1 for "hops", integer nanoseconds for "latency"."""
    _check_metric(metric)
    return 1 if metric == "hops" else latency_ns(net.latency_s[l])


def distances(net, dst, metric="hops"):
    """``dist[u]``: shortest distance from ``u`` to ``dst`` through transit nodes only.

    Dijkstra backwards from ``dst``. A non-transit node other than ``dst`` gets a distance but is
    never relaxed through. Unreachable nodes get ``None``.
    """
    dst = _check_node(net, "dst", dst)
    _check_metric(metric)
    dist = [None] * net.n_nodes
    dist[dst] = 0
    heap = [(0, dst)]
    done = [False] * net.n_nodes
    while heap:
        d, v = heapq.heappop(heap)
        if done[v]:
            continue
        done[v] = True
        if v != dst and not net.transit[v]:
            continue
        for l in net.in_links[v]:
            u = net.link_src[l]
            nd = d + link_weight(net, l, metric)
            if dist[u] is None or nd < dist[u]:
                dist[u] = nd
                heapq.heappush(heap, (nd, u))
    return dist
