"""The fabric schema: which attributes a NetworkX graph needs to be a fabricsim fabric.

A fabric is an undirected :class:`networkx.Graph` (or :class:`networkx.MultiGraph`, see
*Parallel edges*). Each node is a device, each edge a full-duplex link: it carries
``capacity_gbps`` in each direction at the same time and compiles to two directed links.

Node attributes
---------------

==============  ========  ===========================================================
attribute       required  meaning
==============  ========  ===========================================================
``role``        yes       one of :data:`ROLES`. ``"gpu"`` and ``"edge_site"`` are
                          endpoints (:data:`ENDPOINT_ROLES`): traffic starts and ends
                          there but never passes through (unless ``forwarding``).
                          Every other role forwards, among them ``"nic"``: a
                          network card between a host's GPUs
                          (``pcie`` edges) and its first switch (an ``access`` edge),
                          which several GPUs may share.
``forwarding``  no        ``True`` lets an endpoint (a GPU) forward traffic, for
                          direct-connect designs (:func:`~fabricsim.torus`); bool,
                          or 0 / 1 as GML writes it. Default: only non-endpoint roles
                          forward; ``False`` on such a role is an error.
``sharp``       no        ``True`` on a switch (leaf, spine, core, border) that does
                          in-network reduction (NVIDIA SHARP), for the ``collnet_*``
                          collectives; bool, or 0 / 1 as GML writes it
``host``        no        the server a GPU or NVSwitch sits in (str or int)
``rail``        no        rail number (int >= 0): the GPU's local index / NIC number,
                          or the rail a rail-optimized leaf serves
``pod``         no        pod number (int >= 0), fat-tree pods
``su``          no        scalable-unit number (int >= 0), rail-optimized pods
``site``        no        edge-site name (str)
==============  ========  ===========================================================

Edge attributes
---------------

===================  ========  ===================================================
attribute            required  meaning
===================  ========  ===================================================
``capacity_gbps``    yes       Gb/s **per direction**, a finite real number in
                               [:data:`MIN_CAPACITY_GBPS`, :data:`MAX_CAPACITY_GBPS`]
                               (1e-6 .. 1e9)
``latency_us``       yes       one-way propagation latency in µs, finite, > 0 and at
                               most :data:`MAX_LATENCY_US` (1 s); no path may add up
                               to more than :data:`MAX_PATH_LATENCY_US` (~4.29 s)
``kind``             no        one of :data:`KINDS`: ``"nvlink"`` (GPU-NVSwitch),
                               ``"access"`` (NIC to first switch), ``"fabric"``
                               (switch to switch), ``"wan"`` (carrier circuits),
                               ``"pcie"`` (GPU to a NIC it shares)
``carrier``          no        name of the carrier operating the link (str)
``availability``     no        probability the link is up, in (0, 1]; default 1
``jitter_us``        no        latency spread in µs (>= 0, default 0), used by the
                               latency model
===================  ========  ===================================================

``None`` counts as absent for every optional attribute. Any other attribute is kept
and ignored.

Parallel edges
--------------
A MultiGraph may hold several edges between the same two nodes. With
``parallel="aggregate"`` (the default) they merge into one link, as a LAG / bundle would
behave under a fluid model: capacities add, latency is the largest, availability is
``1 - prod(1 - a)`` (the bundle is up while any member is, members failing
independently), jitter is the largest; ``carrier`` and ``kind`` must agree across the
members (absent counts as a value), other attributes come from the first member. With
``parallel="reject"`` any parallel pair raises :class:`~fabricsim.exceptions.ParallelEdgeError`.

Reachability
------------
Every GPU must reach every other GPU through transit nodes only (a GPU forwards only with
``forwarding=True``), or be directly linked to it. Edge sites are not checked.

Graph attributes
----------------
Builders record ``G.graph["builder"]`` (str), ``G.graph["oversubscription"]`` (float) and
three *records*: ``params`` (the builder's resolved arguments), ``edge_sites`` (what
:func:`~fabricsim.fabric.builders.edge_sites` added) and ``failed`` (what
:func:`~fabricsim.fail` removed). Records are JSON text, so every attribute of a fabricsim graph
is a plain str / int / float and :func:`networkx.write_graphml` and :func:`networkx.write_gml`
write it unchanged (and read it back); :func:`graph_record` returns one as a dict.

Example
-------
>>> import networkx as nx
>>> from fabricsim.fabric import schema
>>> G = nx.Graph()
>>> G.add_node("gpu0", role="gpu"); G.add_node("gpu1", role="gpu"); G.add_node("sw", role="leaf")
>>> G.add_edge("gpu0", "sw", capacity_gbps=400.0, latency_us=0.6, kind="access")
>>> G.add_edge("gpu1", "sw", capacity_gbps=400.0, latency_us=0.6, kind="access")
>>> cf = schema.compile(G)
>>> cf.link_src.tolist(), cf.link_dst.tolist()
([0, 2, 1, 2], [2, 0, 2, 1])
>>> float(cf.capacity_Bps[0])
50000000000.0
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabricsim.exceptions import (
    EmptyFabricError,
    InvalidAttributeError,
    InvalidGraphError,
    InvalidTypeError,
    MissingAttributeError,
    ParallelEdgeError,
    SelfLoopError,
    UnknownNameError,
    UnknownRoleError,
    UnreachableError,
)

ROLES: tuple[str, ...] = (
    "gpu",
    "nvswitch",
    "nic",
    "leaf",
    "spine",
    "core",
    "border",
    "carrier_pop",
    "edge_site",
)
"""Every valid node ``role``."""

ENDPOINT_ROLES: tuple[str, ...] = ("gpu", "edge_site")
"""Roles that only send and receive; they never forward traffic."""

KINDS: tuple[str, ...] = ("nvlink", "access", "fabric", "wan", "pcie")
"""Every valid edge ``kind``."""

PARALLEL_MODES: tuple[str, ...] = ("aggregate", "reject")
"""Valid values of the ``parallel=`` argument of :func:`validate` and :func:`compile`."""

MIN_CAPACITY_GBPS = 1e-6
"""Smallest ``capacity_gbps`` of one edge (1 kb/s): with anything smaller a flow's transfer time
can overflow a float (no answer, or NaN, instead of a time)."""

MAX_CAPACITY_GBPS = 1e9
"""Largest ``capacity_gbps`` of one edge (1 Eb/s, far beyond any real link)."""

MAX_LATENCY_US = 1e6
"""Largest ``latency_us`` of one edge (1 s). Routing works on whole nanoseconds in 32 bits, so
the latency of any path must also stay below ``MAX_PATH_LATENCY_US`` (about 4.29 s)."""

MAX_PATH_LATENCY_US = (2**32 - 2) / 1e3
"""Largest latency (µs) any path may have, in the routing metric's whole nanoseconds."""

_FLOAT_MAX = float(np.finfo(np.float64).max)
_ROLE_SET = frozenset(ROLES)
_SHARP_ROLES = ("leaf", "spine", "core", "border")  # switches that may declare SHARP
_ENDPOINT_SET = frozenset(ENDPOINT_ROLES)
_KIND_SET = frozenset(KINDS)
_INT_NODE_ATTRS = ("rail", "pod", "su")
_MISSING = object()
_real_type_cache: dict[type, bool] = {}


def _is_real(x: Any) -> bool:
    """A real number that is not a bool (True would silently mean 1 Gb/s)."""
    t = type(x)
    ok = _real_type_cache.get(t)
    if ok is None:
        ok = issubclass(t, numbers.Real) and not issubclass(t, (bool, np.bool_))
        _real_type_cache[t] = ok
    return ok


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _show(x: Any) -> str:
    """Render a bad value for a message; numpy scalars print as plain Python values."""
    if isinstance(x, np.generic):
        x = x.item()
    return repr(x)


def _edge_name(e: tuple) -> str:
    if len(e) == 3:
        return f"edge ({e[0]!r}, {e[1]!r}, key={e[2]!r})"
    return f"edge ({e[0]!r}, {e[1]!r})"


def _to_float_array(values: list) -> np.ndarray:
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except (OverflowError, ValueError, TypeError):
        # An int too large for float64 is as unusable as an infinite one.
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except OverflowError:
                out[i] = math.inf
        return out


@dataclass(frozen=True, eq=False)
class CompiledFabric:
    """A validated fabric as flat arrays, ready for the Rust core.

    Node ``i`` is ``nodes[i]`` (``G.nodes`` order). Edge ``i`` is ``edges[i]`` (the validated
    graph's edge order, which for a plain ``nx.Graph`` is ``G.edges`` order) and gives the
    directed links ``2i`` (``u -> v``) and ``2i + 1`` (``v -> u``). Arrays are read-only.
    Per-link arrays are in the core's units (``capacity_Bps``: bytes/s, ``latency_s``: s)
    next to the schema's (``capacity_gbps``, ``latency_us``).
    """

    nodes: list
    index: dict
    roles: np.ndarray
    transit: np.ndarray
    edges: list
    link_src: np.ndarray
    link_dst: np.ndarray
    link_edge: np.ndarray
    capacity_gbps: np.ndarray
    latency_us: np.ndarray
    capacity_Bps: np.ndarray
    latency_s: np.ndarray
    availability: np.ndarray
    carrier: list
    kind: list
    graph: nx.Graph
    jitter_us: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def num_links(self) -> int:
        """Directed links: twice the number of edges."""
        return 2 * len(self.edges)

    @property
    def gpus(self) -> np.ndarray:
        """Indices of the GPU nodes, in node order."""
        return np.flatnonzero(self.roles == "gpu")


@dataclass
class _Checked:
    graph: nx.Graph
    nodes: list
    index: dict
    roles: np.ndarray
    transit: np.ndarray
    edges: list
    eu: np.ndarray
    ev: np.ndarray
    capacity_gbps: np.ndarray
    latency_us: np.ndarray
    availability: np.ndarray
    jitter_us: np.ndarray
    carrier: list
    kind: list


def validate(G: Any, *, parallel: str = "aggregate") -> nx.Graph:
    """Check ``G`` against the schema and return a validated copy as a plain ``nx.Graph``.

    The copy has parallel edges merged (``parallel="aggregate"``, see the module docs);
    ``G`` itself is never modified. Every violation raises a subclass of
    :class:`fabricsim.exceptions.FabricError` whose message names the node, edge or argument.

    >>> import networkx as nx
    >>> from fabricsim.fabric import schema
    >>> G = nx.Graph()
    >>> G.add_node("a", role="gpu"); G.add_node("b", role="gpu")
    >>> G.add_edge("a", "b", capacity_gbps=100, latency_us=1)
    >>> schema.validate(G).number_of_edges()
    1
    """
    return _check(G, parallel).graph


def compile(G: Any, *, parallel: str = "aggregate") -> CompiledFabric:
    """Validate ``G`` (like :func:`validate`) and flatten it into a :class:`CompiledFabric`.

    >>> import networkx as nx
    >>> from fabricsim.fabric import schema
    >>> G = nx.Graph()
    >>> G.add_node("a", role="gpu"); G.add_node("b", role="gpu")
    >>> G.add_edge("a", "b", capacity_gbps=8, latency_us=2)
    >>> cf = schema.compile(G)
    >>> cf.edges, cf.link_edge.tolist(), float(cf.latency_s[1])
    ([('a', 'b')], [0, 0], 2e-06)
    """
    c = _check(G, parallel)
    m = len(c.edges)
    eu, ev = c.eu, c.ev
    link_src = np.stack([eu, ev], axis=1).reshape(-1)
    link_dst = np.stack([ev, eu], axis=1).reshape(-1)
    link_edge = np.repeat(np.arange(m, dtype=np.int64), 2)
    capacity_gbps = np.repeat(c.capacity_gbps, 2)
    latency_us = np.repeat(c.latency_us, 2)
    arrays = {
        "roles": c.roles,
        "transit": c.transit,
        "link_src": link_src,
        "link_dst": link_dst,
        "link_edge": link_edge,
        "capacity_gbps": capacity_gbps,
        "latency_us": latency_us,
        "capacity_Bps": capacity_gbps * 1e9 / 8.0,
        "latency_s": latency_us * 1e-6,
        "availability": np.repeat(c.availability, 2),
        "jitter_us": np.repeat(c.jitter_us, 2),
    }
    for a in arrays.values():
        a.flags.writeable = False
    return CompiledFabric(
        nodes=c.nodes,
        index=c.index,
        edges=list(c.edges),
        carrier=c.carrier,
        kind=c.kind,
        graph=c.graph,
        **arrays,
    )


def _check(G: Any, parallel: str) -> _Checked:
    if parallel not in PARALLEL_MODES:
        raise UnknownNameError(
            f"parallel: unknown mode {parallel!r}; valid modes: {', '.join(PARALLEL_MODES)}"
        )
    if not isinstance(G, nx.Graph):
        raise InvalidTypeError(
            f"G: expected a networkx Graph or MultiGraph, got {type(G).__name__}"
        )
    if G.is_directed():
        raise InvalidGraphError(
            f"G: got a directed graph ({type(G).__name__}); pass an undirected nx.Graph "
            "(links are full duplex: one edge carries capacity_gbps in each direction)"
        )
    if G.number_of_nodes() == 0:
        raise EmptyFabricError("G: the graph has no nodes")

    nodes, roles, forwarding = _check_nodes(G)
    if "gpu" not in roles:
        raise EmptyFabricError("G: the graph has no node with role 'gpu'")

    multi = G.is_multigraph()
    edges, cap, lat, avail, jit, carrier, kind, attrs = _check_edges(G, multi)

    if multi:
        edges, cap, lat, avail, jit, carrier, kind, attrs = _merge_parallel(
            edges, cap, lat, avail, jit, carrier, kind, attrs, parallel
        )

    index = {x: i for i, x in enumerate(nodes)}
    role_arr = np.array(roles, dtype=object)
    transit = np.fromiter(
        (r not in _ENDPOINT_SET or f for r, f in zip(roles, forwarding, strict=True)),
        dtype=bool,
        count=len(roles),
    )
    m = len(edges)
    eu = np.fromiter((index[e[0]] for e in edges), dtype=np.int64, count=m)
    ev = np.fromiter((index[e[1]] for e in edges), dtype=np.int64, count=m)
    _check_reachable(nodes, role_arr == "gpu", transit, eu, ev)
    _check_path_latency(edges, lat, transit[eu] & transit[ev])

    # The copy keeps G's node and edge order, so compiled edge i is the copy's edge i.
    H = nx.Graph()
    H.graph.update(G.graph)
    H.add_nodes_from(G.nodes(data=True))
    H.add_edges_from((e[0], e[1], d) for e, d in zip(edges, attrs, strict=True))
    return _Checked(
        H, nodes, index, role_arr, transit, edges, eu, ev, cap, lat, avail, jit, carrier, kind
    )


def _check_nodes(G: nx.Graph) -> tuple[list, list, list]:
    nodes = []
    roles = []
    forwarding = []
    for n, d in G.nodes(data=True):
        r = d.get("role", _MISSING)
        if r is _MISSING or r is None:
            raise MissingAttributeError(f"node {n!r}: missing required attribute 'role'")
        if not isinstance(r, str) or r not in _ROLE_SET:
            raise UnknownRoleError(
                f"node {n!r}: unknown role {_show(r)}; valid roles: {', '.join(ROLES)}"
            )
        for key in _INT_NODE_ATTRS:
            v = d.get(key)
            if v is not None and not (_is_int(v) and v >= 0):
                raise InvalidAttributeError(
                    f"node {n!r}: {key} must be an integer >= 0, got {_show(v)}"
                )
        v = d.get("site")
        if v is not None and not isinstance(v, str):
            raise InvalidAttributeError(f"node {n!r}: site must be a str, got {_show(v)}")
        v = d.get("host")
        if v is not None and not (isinstance(v, str) or _is_int(v)):
            raise InvalidAttributeError(f"node {n!r}: host must be a str or int, got {_show(v)}")
        f = d.get("forwarding")
        if f is not None and not (isinstance(f, bool) or (_is_int(f) and f in (0, 1))):
            raise InvalidAttributeError(
                f"node {n!r}: forwarding must be True or False, got {_show(f)}"
            )
        if f is not None and not f and r not in _ENDPOINT_SET:
            raise InvalidAttributeError(
                f"node {n!r}: forwarding=False on role {r!r}, which always forwards; "
                "only endpoints (gpu, edge_site) take forwarding (True to make them forward)"
            )
        sh = d.get("sharp")
        if sh is not None and not (isinstance(sh, bool) or (_is_int(sh) and sh in (0, 1))):
            raise InvalidAttributeError(f"node {n!r}: sharp must be True or False, got {_show(sh)}")
        if sh and r not in _SHARP_ROLES:
            raise InvalidAttributeError(
                f"node {n!r}: sharp=True on role {r!r}; only switches "
                f"({', '.join(_SHARP_ROLES)}) reduce in the network"
            )
        nodes.append(n)
        roles.append(r)
        forwarding.append(bool(f))
    return nodes, roles, forwarding


def _check_edges(G: nx.Graph, multi: bool):
    m = G.number_of_edges()
    edges: list = [None] * m
    cap: list = [None] * m
    lat: list = [None] * m
    avail = np.ones(m)
    jit = np.zeros(m)
    carrier: list = [None] * m
    kind: list = [None] * m
    attrs: list = [None] * m
    data = G.edges(keys=True, data=True) if multi else G.edges(data=True)
    for i, t in enumerate(data):
        d = t[-1]
        edges[i] = t[:-1]
        attrs[i] = d
        if t[0] == t[1]:
            raise SelfLoopError(f"{_edge_name(edges[i])}: self-loop; a link must join two nodes")
        for key, out in (("capacity_gbps", cap), ("latency_us", lat)):
            v = d.get(key, _MISSING)
            if v is _MISSING or v is None:
                raise MissingAttributeError(
                    f"{_edge_name(edges[i])}: missing required attribute {key!r}"
                )
            if not _is_real(v):
                raise InvalidAttributeError(
                    f"{_edge_name(edges[i])}: {key} must be a finite number > 0, got {_show(v)}"
                )
            out[i] = v
        v = d.get("availability")
        if v is not None:
            if not _is_real(v) or not 0.0 < v <= 1.0:  # no float(): 10**400 overflows
                raise InvalidAttributeError(
                    f"{_edge_name(edges[i])}: availability must be a number in (0, 1], "
                    f"got {_show(v)}"
                )
            avail[i] = v
        v = d.get("jitter_us")
        if v is not None:
            if not _is_real(v) or not 0.0 <= v <= _FLOAT_MAX:  # no float(): 10**400 overflows
                raise InvalidAttributeError(
                    f"{_edge_name(edges[i])}: jitter_us must be a finite number >= 0, "
                    f"got {_show(v)}"
                )
            jit[i] = v
        v = d.get("kind")
        if v is not None:
            if not isinstance(v, str) or v not in _KIND_SET:
                raise InvalidAttributeError(
                    f"{_edge_name(edges[i])}: unknown kind {_show(v)}; "
                    f"valid kinds: {', '.join(KINDS)}"
                )
            kind[i] = v
        v = d.get("carrier")
        if v is not None:
            if not isinstance(v, str):
                raise InvalidAttributeError(
                    f"{_edge_name(edges[i])}: carrier must be a str, got {_show(v)}"
                )
            carrier[i] = v
    capa = _to_float_array(cap)
    lata = _to_float_array(lat)
    for key, a, raw, lo, hi in (
        ("capacity_gbps", capa, cap, MIN_CAPACITY_GBPS, MAX_CAPACITY_GBPS),
        ("latency_us", lata, lat, 0.0, MAX_LATENCY_US),
    ):
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(a) & (a > 0))
            out = ~bad & ((a < lo) | (a > hi))
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidAttributeError(
                f"{_edge_name(edges[i])}: {key} must be a finite number > 0, got {_show(raw[i])}"
            )
        if out.any():
            i = int(np.argmax(out))
            raise InvalidAttributeError(
                f"{_edge_name(edges[i])}: {key} must be at most {hi:g}"
                + (f" and at least {lo:g}" if lo > 0 else "")
                + f", got {_show(raw[i])}"
            )
    return edges, capa, lata, avail, jit, carrier, kind, attrs


def _merge_parallel(edges, cap, lat, avail, jit, carrier, kind, attrs, parallel):
    # MultiGraph.edges yields the members of a bundle contiguously with the same (u, v)
    # orientation, so grouping on (u, v) keeps the graph's edge order.
    groups: dict[tuple, list[int]] = {}
    for i, e in enumerate(edges):
        groups.setdefault((e[0], e[1]), []).append(i)
    if len(groups) == len(edges):
        return [(e[0], e[1]) for e in edges], cap, lat, avail, jit, carrier, kind, attrs
    if parallel == "reject":
        for (u, v), members in groups.items():
            if len(members) > 1:
                raise ParallelEdgeError(
                    f"edge ({u!r}, {v!r}): {len(members)} parallel edges between "
                    f"{u!r} and {v!r}; merge them or pass parallel='aggregate'"
                )
    out_edges = list(groups)
    k = len(out_edges)
    ocap, olat, oavail, ojit = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    ocarrier: list = [None] * k
    okind: list = [None] * k
    oattrs: list = [None] * k
    for j, ((u, v), members) in enumerate(groups.items()):
        idx = np.asarray(members)
        for name, values in (("carrier", carrier), ("kind", kind)):
            seen = {values[i] for i in members}
            if len(seen) > 1:
                shown = ", ".join(sorted(repr(s) for s in seen))
                raise InvalidAttributeError(
                    f"edge ({u!r}, {v!r}): parallel edges disagree on {name} ({shown}); "
                    "give them the same value or pass parallel='reject'"
                )
        ocap[j] = cap[idx].sum()
        olat[j] = lat[idx].max()
        oavail[j] = 1.0 - np.prod(1.0 - avail[idx])
        ojit[j] = jit[idx].max()
        ocarrier[j] = carrier[members[0]]
        okind[j] = kind[members[0]]
        d: dict = {}
        for i in reversed(members):
            d.update(attrs[i])  # first member wins for free-form attributes
        if len(members) > 1:
            d["capacity_gbps"] = float(ocap[j])
            d["latency_us"] = float(olat[j])
            if any(attrs[i].get("availability") is not None for i in members):
                d["availability"] = float(oavail[j])
            if any(attrs[i].get("jitter_us") is not None for i in members):
                d["jitter_us"] = float(ojit[j])
        oattrs[j] = d
    return out_edges, ocap, olat, oavail, ojit, ocarrier, okind, oattrs


def _check_path_latency(edges: list, latency_us: np.ndarray, between_transit: np.ndarray) -> None:
    """Routing adds whole-nanosecond link latencies in 32 bits: make sure no path can overflow.

    A shortest path is simple and only its first and last links may touch an endpoint, so its
    latency is at most the sum of the largest ``t - 1`` transit-to-transit latencies (``t``
    transit nodes) plus twice the largest endpoint link latency."""
    if not len(edges):
        return
    ns = np.maximum(1.0, np.floor(latency_us * 1e3 + 0.5))
    tt = np.sort(ns[between_transit])[::-1]
    n_transit = len(
        {x for e, b in zip(edges, between_transit.tolist(), strict=True) if b for x in e[:2]}
    )
    ends = ns[~between_transit]
    bound = float(tt[: max(0, n_transit - 1)].sum()) + 2.0 * float(ends.max() if len(ends) else 0)
    if bound > MAX_PATH_LATENCY_US * 1e3:
        i = int(np.argmax(latency_us))
        raise InvalidGraphError(
            f"G: a path could have a latency of up to {bound / 1e9:.3g} s (the largest link, "
            f"{_edge_name(edges[i])}, has latency_us={_show(latency_us[i])}); routing works on "
            f"whole nanoseconds in 32 bits, so every path must stay below "
            f"{MAX_PATH_LATENCY_US / 1e6:.3g} s: lower the largest latencies"
        )


def _check_reachable(
    nodes: list, is_gpu: np.ndarray, transit: np.ndarray, eu: np.ndarray, ev: np.ndarray
) -> None:
    """Every GPU pair must be adjacent or attached to one connected transit component."""
    n = len(nodes)
    gpu_idx = np.flatnonzero(is_gpu)
    n_gpu = len(gpu_idx)
    if n_gpu <= 1:
        return
    tmask = transit[eu] & transit[ev]
    T = nx.Graph()
    T.add_nodes_from(np.flatnonzero(transit).tolist())
    T.add_edges_from(zip(eu[tmask].tolist(), ev[tmask].tolist(), strict=True))
    comp = np.full(n, -1, dtype=np.int64)
    n_comp = 0
    for c in nx.connected_components(T):
        comp[list(c)] = n_comp
        n_comp += 1

    # (gpu, transit component) attachments, deduplicated.
    m1 = is_gpu[eu] & transit[ev]
    m2 = is_gpu[ev] & transit[eu]
    fwd_gpu = np.flatnonzero(is_gpu & transit)  # forwarding GPUs sit in their own component
    g_of = np.concatenate([eu[m1], ev[m2], fwd_gpu])
    c_of = np.concatenate([comp[ev[m1]], comp[eu[m2]], comp[fwd_gpu]])
    if n_comp:
        key = np.unique(g_of * n_comp + c_of)
        g_of, c_of = key // n_comp, key % n_comp
        per_comp = np.bincount(c_of, minlength=n_comp)
        best = int(np.argmax(per_comp))
        if per_comp[best] == n_gpu:
            return  # one switch fabric reaches every GPU: the common case, decided in O(E)
    else:
        best = -1

    # Slow path, only for unusual graphs: check each GPU off the biggest component.
    members: dict[int, list[int]] = {}
    comps_of: dict[int, list[int]] = {}
    for g, c in zip(g_of.tolist(), c_of.tolist(), strict=True):
        members.setdefault(c, []).append(g)
        comps_of.setdefault(g, []).append(c)
    gpu_nbrs: dict[int, set[int]] = {}
    gm = is_gpu[eu] & is_gpu[ev]
    for a, b in zip(eu[gm].tolist(), ev[gm].tolist(), strict=True):
        gpu_nbrs.setdefault(a, set()).add(b)
        gpu_nbrs.setdefault(b, set()).add(a)
    attached_best = set(members.get(best, ()))
    for r in gpu_idx.tolist():
        if r in attached_best:
            continue
        reach = {r} | gpu_nbrs.get(r, set())
        for c in comps_of.get(r, ()):
            reach.update(members[c])
        if len(reach) < n_gpu:
            other = next(g for g in gpu_idx.tolist() if g not in reach)
            a, b = sorted((r, other))
            raise UnreachableError(
                f"GPUs {nodes[a]!r} and {nodes[b]!r} cannot reach each other: no path "
                "between them through transit nodes (switches); GPUs and edge sites never "
                "forward traffic unless given forwarding=True"
            )


#: Graph attributes holding structured records, stored as JSON text (GraphML- and GML-safe).
GRAPH_RECORDS = ("params", "edge_sites", "failed")


def _plain(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def record_text(record: Any) -> str:
    """A record (dict) as the JSON text fabricsim stores in ``G.graph``."""
    return json.dumps(record, default=_plain)


def graph_record(G: nx.Graph, key: str) -> dict | None:
    """The graph's ``key`` record (``"params"``, ``"edge_sites"`` or ``"failed"``) as a dict, or
    None when the graph has none. Accepts the JSON text fabricsim stores and a dict set by hand
    (and, for ``edge_sites``, the ``G.graph["edge"]`` dict of fabricsim < 0.2: ``edge`` is a
    GML keyword, so the record moved).

    >>> from fabricsim.fabric import builders, schema
    >>> G = builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1)
    >>> type(G.graph["params"]).__name__, schema.graph_record(G, "params")["leaves"]
    ('str', 2)
    """
    value = G.graph.get(key)
    if value is None and key == "edge_sites" and isinstance(G.graph.get("edge"), dict):
        value = G.graph["edge"]
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            out = json.loads(value)
        except ValueError:
            raise InvalidAttributeError(
                f"graph attribute {key!r}: not JSON text: {value[:60]!r}"
            ) from None
        if isinstance(out, dict):
            return out
    raise InvalidAttributeError(
        f"graph attribute {key!r}: expected a JSON object (the record "
        f"fabricsim writes), got {type(value).__name__}"
    )


__all__ = [
    "GRAPH_RECORDS",
    "graph_record",
    "record_text",
    "ROLES",
    "ENDPOINT_ROLES",
    "KINDS",
    "PARALLEL_MODES",
    "MIN_CAPACITY_GBPS",
    "MAX_CAPACITY_GBPS",
    "MAX_LATENCY_US",
    "MAX_PATH_LATENCY_US",
    "CompiledFabric",
    "validate",
    "compile",
]
