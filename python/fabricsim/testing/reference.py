"""Pure-Python reference implementation of routing and of the flow engine.

This module is the differential oracle for the Rust core: it implements the semantics of
DEVELOPERS.md ("Fabric model", "Routing", "Flow engine") as plainly as possible, favouring
obvious correctness over speed. Every event recomputes the max-min fair rates of *all* active
flows (the core recomputes only the affected connected components; max-min allocations decompose
over components, so both give the same rates).

Plain data in, plain data out: a :class:`Network` of directed links (bytes/s, seconds) and flows
given as sequences of node indices. Nothing here depends on the rest of fabricsim except its
exception classes.

Details the guide leaves open, as settled here:

- ``round`` in the latency metric rounds half away from zero (Rust's ``f64::round``): 2.5 ns -> 3.
- Routes come back sorted by link id for both policies.
- Finish times are not events of their own: a flow's start time is known as soon as the last of
  its predecessors' transfers ends (finish = transfer end + latency).
- A flow whose transfer ends in a batch sends exactly its remaining bytes, so ``link_bytes`` is
  the sum of ``size * fraction`` up to rounding.
- ``min_rate_Bps``, ``max_rate_Bps`` and ``link_peak_utilization`` are taken at every rate
  recomputation, including one whose rates last no time (a transfer end a few ulps before a
  start that is mathematically at the same instant is its own event).

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
    """Nodes ``0..n_nodes-1`` and directed links: link ``k`` goes ``link_src[k] -> link_dst[k]``.

    ``capacity_Bps`` in bytes/s (finite, > 0), ``latency_s`` in seconds (finite, >= 0),
    ``transit[u]`` False for endpoints (GPUs, edge sites), which never forward traffic; True for
    switches and for GPUs with ``forwarding=True`` (direct-connect fabrics such as a torus).
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
        for link in range(m):
            u, v = self.link_src[link], self.link_dst[link]
            if not (0 <= u < self.n_nodes and 0 <= v < self.n_nodes):
                raise InvalidArgumentError(
                    f"link {link}: node index out of range 0..{self.n_nodes}"
                )
            if u == v:
                raise InvalidArgumentError(f"link {link}: self-loop at node {u}")
            cap, lat = self.capacity_Bps[link], self.latency_s[link]
            if not (math.isfinite(cap) and cap > 0):
                raise InvalidArgumentError(
                    f"link {link}: capacity must be finite and > 0, got {cap}"
                )
            if not (math.isfinite(lat) and lat >= 0):
                raise InvalidArgumentError(
                    f"link {link}: latency must be finite and >= 0, got {lat}"
                )
        # Out-links and in-links of each node in increasing link id order (the CSR order).
        self.out_links = [[] for _ in range(self.n_nodes)]
        self.in_links = [[] for _ in range(self.n_nodes)]
        for link in range(m):
            self.out_links[self.link_src[link]].append(link)
            self.in_links[self.link_dst[link]].append(link)

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


def link_weight(net, link, metric):
    """The routing weight of a link: 1 for "hops"; for "latency" its latency in whole
    nanoseconds, at least 1 (so a next hop is always strictly closer to the destination)."""
    _check_metric(metric)
    return 1 if metric == "hops" else max(1, latency_ns(net.latency_s[link]))


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
        for link in net.in_links[v]:
            u = net.link_src[link]
            nd = d + link_weight(net, link, metric)
            if dist[u] is None or nd < dist[u]:
                dist[u] = nd
                heapq.heappush(heap, (nd, u))
    return dist


def next_hops(net, dist, u, dst, metric="hops"):
    """Out-links ``u -> v`` of ``u`` (increasing link id) on a shortest path toward ``dst``.

    ``v`` must be ``dst`` or a transit node, and ``dist[v] + weight(link) == dist[u]``.
    ``dist`` comes from :func:`distances` for the same ``dst`` and metric. ``dst`` itself has no
    next hops.
    """
    if u == dst or dist[u] is None:
        return []
    hops = []
    for link in net.out_links[u]:
        v = net.link_dst[link]
        if (v == dst or net.transit[v]) and dist[v] is not None:
            if dist[v] + link_weight(net, link, metric) == dist[u]:
                hops.append(link)
    return hops


def route(net, src, dst, policy="ecmp", seed=0, flow_key=0, metric="hops"):
    """Route one flow: ``(links sorted ascending, fractions, propagation latency_s)``.

    ``"ecmp"`` follows one next hop per node, chosen by :func:`ecmp_hash`; ``"spray"`` splits
    the flow evenly over all next hops at every node. The latency is the largest path latency
    over the links used. Raises :class:`RouteUnreachableError` if ``dst`` cannot be reached.
    """
    src = _check_node(net, "src", src)
    dst = _check_node(net, "dst", dst)
    _check_metric(metric)
    if policy not in POLICIES:
        raise UnknownNameError(f"routing: unknown policy {policy!r}; valid: {', '.join(POLICIES)}")
    if src == dst:
        return [], [], 0.0
    dist = distances(net, dst, metric)
    if dist[src] is None:
        raise RouteUnreachableError(f"no path from node {src} to node {dst}")

    # The out-links each node of the route sends on: all its next hops, or the hashed one.
    sends = {}
    stack = [src]
    while stack:
        u = stack.pop()
        if u == dst or u in sends:
            continue
        hops = next_hops(net, dist, u, dst, metric)
        if policy == "ecmp":
            hops = [hops[ecmp_hash(seed, flow_key, u) % len(hops)]]
        sends[u] = hops
        stack.extend(net.link_dst[link] for link in hops)

    # Push one unit of flow from src. Visiting nodes farthest first (ties: lower id first), all
    # of a node's inflow has arrived before it is split evenly over the links it sends on. Track
    # the slowest path latency into every node.
    inflow = {src: 1.0}
    slowest = {src: 0.0}
    fraction = {}
    for u in sorted(sends, key=lambda u: (-dist[u], u)):
        share = inflow[u] / len(sends[u])
        for link in sends[u]:
            v = net.link_dst[link]
            fraction[link] = share
            inflow[v] = inflow.get(v, 0.0) + share
            slowest[v] = max(slowest.get(v, 0.0), slowest[u] + net.latency_s[link])
    links = sorted(fraction)
    return links, [fraction[link] for link in links], slowest[dst]


# ----------------------------------------------------------------------------------------------
# Flow engine


def max_min_rates(capacity_Bps, routes):
    """Weighted max-min fair rates by progressive filling.

    ``routes[i]`` is flow ``i``'s non-empty list of ``(link, fraction)`` pairs; the flow loads
    each of its links with ``fraction * rate``. All unfrozen flows rise together; a link
    saturates at level ``(cap - frozen_load) / unfrozen_weight``; the link with the lowest level
    (ties: lowest link id) freezes all its unfrozen flows at that level; repeat until every flow
    is frozen.
    """
    for i, pairs in enumerate(routes):
        if not pairs or any(not f > 0 for _, f in pairs):
            raise InvalidArgumentError(f"routes[{i}]: need at least one link, fractions > 0")
    rates = [math.nan] * len(routes)
    frozen_load = [0.0] * len(capacity_Bps)
    unfrozen = set(range(len(routes)))
    while unfrozen:
        weight = [0.0] * len(capacity_Bps)
        for i in sorted(unfrozen):
            for link, f in routes[i]:
                weight[link] += f
        level, bottleneck = min(
            ((capacity_Bps[link] - frozen_load[link]) / w, link)
            for link, w in enumerate(weight)
            if w > 0
        )
        for i in sorted(unfrozen):
            if any(link == bottleneck for link, _ in routes[i]):
                rates[i] = level
                unfrozen.remove(i)
                for link, f in routes[i]:
                    frozen_load[link] += f * level
    return rates


def simulate(
    net,
    src,
    dst,
    size_bytes,
    release_s=None,
    delay_s=None,
    deps=None,
    via=None,
    flow_key=None,
    policy="ecmp",
    seed=0,
    metric="hops",
    latency_scale=None,
):
    """Run flows over ``net`` to completion; return per-flow and per-link results.

    Flow ``i`` goes from ``src[i]`` to ``dst[i]`` (through waypoint ``via[i]`` unless it is
    ``None`` / -1), carries ``size_bytes[i]`` bytes and starts at
    ``max(release_s[i], finish of its predecessors deps[i]) + delay_s[i]``. Its ECMP hash key is
    ``flow_key[i]`` (default ``i``); its path latency counts ``latency_scale[i]`` times
    (default 1: a flow standing for g pipelined steps pays g latencies). Returns a dict of
    numpy arrays: per flow ``start_s``,
    ``transfer_end_s``, ``finish_s``, ``mean_rate_Bps``, ``min_rate_Bps``, ``max_rate_Bps``;
    per link ``link_bytes``, ``link_busy_s``, ``link_peak_utilization``.
    """
    n = len(src)
    if len(dst) != n:
        raise InvalidArgumentError(f"dst: expected {n} entries (one per flow), got {len(dst)}")
    src = [_check_node(net, f"src[{i}]", u) for i, u in enumerate(src)]
    dst = [_check_node(net, f"dst[{i}]", u) for i, u in enumerate(dst)]
    size = _nonnegative("size_bytes", size_bytes, n)
    release = [0.0] * n if release_s is None else _nonnegative("release_s", release_s, n)
    delay = [0.0] * n if delay_s is None else _nonnegative("delay_s", delay_s, n)
    preds = _predecessors(deps, n)
    waypoint = [None] * n if via is None else _waypoints(net, via, n)
    keys = list(range(n)) if flow_key is None else _per_flow("flow_key", flow_key, n, int)
    scale = [1.0] * n if latency_scale is None else _nonnegative("latency_scale", latency_scale, n)
    _check_acyclic(preds)
    routes, latency = [], []
    for i in range(n):
        pairs, lat = _flow_route(net, src[i], waypoint[i], dst[i], policy, seed, keys[i], metric)
        routes.append(pairs)
        latency.append(lat * scale[i])

    m = net.n_links
    cap = net.capacity_Bps
    start, transfer_end, finish = [math.nan] * n, [math.nan] * n, [math.nan] * n
    min_rate, max_rate = [math.nan] * n, [math.nan] * n
    link_bytes, busy, peak = [0.0] * m, [0.0] * m, [0.0] * m
    succs = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    waiting_on = [len(ps) for ps in preds]  # predecessors whose transfer has not ended yet
    start_at = [release[i] + delay[i] if not preds[i] else None for i in range(n)]
    started = [False] * n
    remaining = list(size)
    active = []  # flows transferring, in increasing flow index
    rate = {}
    load = [0.0] * m
    t = 0.0

    def end_transfer(i, now):
        transfer_end[i] = now
        finish[i] = now + latency[i]
        for s in succs[i]:
            waiting_on[s] -= 1
            if waiting_on[s] == 0:
                start_at[s] = max([release[s]] + [finish[p] for p in preds[s]]) + delay[s]

    while True:
        next_starts = [start_at[i] for i in range(n) if start_at[i] is not None and not started[i]]
        projected_end = {i: t + remaining[i] / rate[i] for i in active}
        if not next_starts and not projected_end:
            break
        t_next = min(next_starts + list(projected_end.values()))
        dt = t_next - t
        horizon = t_next * (1 + 1e-12) + 1e-15
        ending = [i for i in active if projected_end[i] <= horizon]

        # Advance every active flow to t_next; the ending ones send all they have left.
        for i in active:
            sent = remaining[i] if i in ending else rate[i] * dt
            remaining[i] -= sent
            for link, f in routes[i]:
                link_bytes[link] += f * sent
        for link in range(m):
            if load[link] > 0:
                busy[link] += dt
        t = t_next

        for i in ending:
            remaining[i] = 0.0
            active.remove(i)
            end_transfer(i, t)
        # Start every flow due at exactly t. Instant flows (zero bytes, empty route) end at once,
        # which may make successors due at t too.
        due_now = [i for i in range(n) if start_at[i] == t and not started[i]]
        while due_now:
            for i in due_now:
                started[i] = True
                start[i] = t
                if size[i] == 0 or not routes[i]:
                    end_transfer(i, t)
                else:
                    active.append(i)
            due_now = [i for i in range(n) if start_at[i] == t and not started[i]]
        active.sort()

        rate = dict(zip(active, max_min_rates(cap, [routes[i] for i in active]), strict=True))
        load = [0.0] * m
        for i in active:
            min_rate[i] = rate[i] if math.isnan(min_rate[i]) else min(min_rate[i], rate[i])
            max_rate[i] = rate[i] if math.isnan(max_rate[i]) else max(max_rate[i], rate[i])
            for link, f in routes[i]:
                load[link] += f * rate[i]
        for link in range(m):
            peak[link] = max(peak[link], load[link] / cap[link])

    mean_rate = [
        size[i] / (transfer_end[i] - start[i]) if transfer_end[i] > start[i] else math.nan
        for i in range(n)
    ]
    out = {
        "start_s": start,
        "transfer_end_s": transfer_end,
        "finish_s": finish,
        "mean_rate_Bps": mean_rate,
        "min_rate_Bps": min_rate,
        "max_rate_Bps": max_rate,
        "link_bytes": link_bytes,
        "link_busy_s": busy,
        "link_peak_utilization": peak,
    }
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def _flow_route(net, src, via, dst, policy, seed, flow_key, metric):
    """A flow's ``(link, fraction)`` pairs (sorted by link) and latency, through ``via`` if set:
    the two halves' fractions add up per link and their latencies add up."""
    halves = [(src, dst)] if via is None else [(src, via), (via, dst)]
    fraction = {}
    latency = 0.0
    for a, b in halves:
        links, fractions, lat = route(net, a, b, policy, seed, flow_key, metric)
        for link, f in zip(links, fractions, strict=True):
            fraction[link] = fraction.get(link, 0.0) + f
        latency += lat
    return sorted(fraction.items()), latency


def _per_flow(what, values, n, convert):
    values = list(values)
    if len(values) != n:
        raise InvalidArgumentError(
            f"{what}: expected {n} entries (one per flow), got {len(values)}"
        )
    return [convert(x) for x in values]


def _nonnegative(what, values, n):
    values = _per_flow(what, values, n, float)
    for i, x in enumerate(values):
        if not (math.isfinite(x) and x >= 0):
            raise InvalidArgumentError(f"{what}[{i}]: must be finite and >= 0, got {x}")
    return values


def _waypoints(net, via, n):
    via = _per_flow("via", via, n, lambda v: v)
    return [
        None if v is None or v == -1 else _check_node(net, f"via[{i}]", v)
        for i, v in enumerate(via)
    ]


def _predecessors(deps, n):
    if deps is None:
        return [[] for _ in range(n)]
    deps = _per_flow("deps", deps, n, lambda ps: [] if ps is None else list(ps))
    for i, ps in enumerate(deps):
        for p in ps:
            if not (isinstance(p, (int, np.integer)) and 0 <= p < n):
                raise InvalidArgumentError(f"deps[{i}]: flow index {p!r} out of range 0..{n}")
    return [sorted({int(p) for p in ps}) for ps in deps]


def _check_acyclic(preds):
    """Raise :class:`DependencyCycleError` naming a flow on a cycle, if there is one."""
    n = len(preds)
    succs = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    unresolved = [len(ps) for ps in preds]  # predecessors not yet in topological order
    order = [i for i in range(n) if unresolved[i] == 0]
    k = 0
    while k < len(order):
        for s in succs[order[k]]:
            unresolved[s] -= 1
            if unresolved[s] == 0:
                order.append(s)
        k += 1
    if len(order) < n:
        # Walk back through unresolved predecessors until a flow repeats: it lies on a cycle.
        i = next(i for i in range(n) if unresolved[i] > 0)
        seen = set()
        while i not in seen:
            seen.add(i)
            i = next(p for p in preds[i] if unresolved[p] > 0)
        raise DependencyCycleError(f"deps: flow dependencies contain a cycle through flow {i}")
