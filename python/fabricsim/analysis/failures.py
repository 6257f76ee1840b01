"""Failures: take links, switches or whole carriers out of a fabric, and measure what it costs.

A failed element is simply absent: :func:`fail` returns a **new** :class:`fabricsim.Fabric`
compiled from the graph without it, so routing (shortest paths, ECMP next hops, spray DAGs)
is recomputed around the failure by construction, with the same protocol efficiency. The
model is the fluid one of the rest of fabricsim: a failure is a steady state (routing has
converged around it), not a transient, and surviving links keep their capacity.

* ``links``: ``(u, v)`` label pairs, either orientation; the cable (both directions) fails.
* ``nodes``: switches, NVSwitches, borders, carrier PoPs, edge sites or GPUs; a node takes its
  links with it. Failing a GPU is allowed: it just disappears from the fabric (a collective
  that names it then cannot run).
* ``carriers``: every edge whose ``carrier`` attribute is the name (the carrier's hand-off
  into the border and every site circuit over it, see :func:`fabricsim.edge_sites`) and the
  carrier's PoP nodes (role ``carrier_pop`` with that ``carrier``). A carrier is one
  shared-risk group: it fails as a whole.

The failed graph records what failed in ``G.graph["failed"]`` (``links``, ``nodes``,
``carriers``, accumulated over repeated calls); ``G.graph["edge_sites"]`` is kept as built, so
:func:`fabricsim.analysis.edge.edge_latency` still knows every site's carriers and treats the
missing
ones as down. Schema rule: every GPU must still reach every other GPU; a failure that cuts
GPUs off raises :class:`~fabricsim.exceptions.UnreachableError` naming the pair and the
failure.

Bisection bandwidth (:func:`bisection_gbps`) is the maximum flow from the first half of the
GPUs to the second half (``Fabric.gpus`` order, split at the host boundary closest to the
middle), every link a pair of arcs with its usable capacity per direction and GPUs only
sources or sinks, never transit (Ford & Fulkerson, *Flows in Networks*, 1962: max flow =
min cut). It is the bandwidth across *this* split, an upper bound on the fabric's worst-case
bisection; builders number GPUs pod by pod / leaf by leaf, so the split falls between the
halves of the fabric, the usual bisection.

>>> import fabricsim as fs
>>> fab = fs.Fabric.from_networkx(
...     fs.leaf_spine(leaves=2, spines=4, hosts_per_leaf=2, gpus_per_host=2))
>>> bisection_gbps(fab)  # 4 uplinks of 400 Gb/s per leaf
1600.0
>>> bisection_gbps(fail(fab, nodes=["spine0"]))
1200.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from fabricsim import _validate
from fabricsim.exceptions import (
    EmptyFabricError,
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
    UnreachableError,
)
from fabricsim.fabric import schema
from fabricsim.fabric.compiled import ROUTING_POLICIES, Fabric
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import FlowSet, simulate
from fabricsim.types import Routing

DEFAULT_RANDOM_ROLES = ("leaf", "spine", "core")
_BISECTION_SCALE = 1_000_000  # max flow on integer capacities of 1e-6 Gb/s (exact arithmetic)


def _check_fabric(fabric: Any) -> Fabric:
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    return fabric


def _as_list(what: str, items: Any) -> list:
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InvalidTypeError(f"{what}: expected a list, got {items!r}")
    return list(items)


def known_carriers(G: nx.Graph) -> list[str]:
    """Carrier names of a graph: those ``edge_sites`` recorded, then any other ``carrier``
    edge attribute, in first-seen order."""
    names: dict[str, None] = {}
    for c in (schema.graph_record(G, "edge_sites") or {}).get("carriers", ()):
        names[c["name"]] = None
    for _, _, c in G.edges(data="carrier"):
        if c is not None:
            names[c] = None
    return list(names)


def _describe(links: Sequence, nodes: Sequence, carriers: Sequence, most: int = 5) -> str:
    """A short account of a failure for error messages (at most ``most`` items per kind)."""

    def some(kind: str, items: list[str]) -> str:
        more = f", ... ({len(items)} in all)" if len(items) > most else ""
        return f"{kind} " + ", ".join(items[:most]) + more

    parts = []
    if links:
        parts.append(some("links", [f"({u!r}, {v!r})" for u, v in links]))
    if nodes:
        parts.append(some("nodes", [repr(n) for n in nodes]))
    if carriers:
        parts.append(some("carriers", [repr(c) for c in carriers]))
    return "; ".join(parts) if parts else "nothing"


def fail(
    fabric: Fabric,
    *,
    links: Iterable[tuple[Hashable, Hashable]] = (),
    nodes: Iterable[Hashable] = (),
    carriers: Iterable[str] = (),
) -> Fabric:
    """A new fabric without the given links, nodes and carriers (see the module docs).

    Raises InvalidArgumentError naming an unknown node or link, UnknownNameError listing the
    known carriers for an unknown carrier, and UnreachableError naming a GPU pair and the
    failure when the failure cuts GPUs off from each other.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(
    ...     fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1))
    >>> fail(fab, links=[("spine1", "leaf0")]).paths(fab.gpus[0], fab.gpus[1])
    [['host0/gpu0', 'leaf0', 'spine0', 'leaf1', 'host1/gpu0']]
    """
    fabric = _check_fabric(fabric)
    G0 = fabric.graph
    links = _as_list("links", links)
    nodes = _as_list("nodes", nodes)
    carriers = _as_list("carriers", carriers)

    for n in nodes:
        try:
            present = n in G0
        except TypeError:
            present = False
        if not present:
            raise InvalidArgumentError(f"nodes: {n!r} is not a node of the fabric")
    pairs = []
    for i, e in enumerate(links):
        if isinstance(e, (str, bytes)) or not isinstance(e, Sequence) or len(e) != 2:
            raise InvalidArgumentError(f"links[{i}]: expected a (u, v) pair of nodes, got {e!r}")
        u, v = e
        try:
            present = G0.has_edge(u, v)
        except TypeError:
            present = False
        if not present:
            raise InvalidArgumentError(f"links[{i}]: ({u!r}, {v!r}) is not a link of the fabric")
        pairs.append((u, v))
    valid = known_carriers(G0)
    for c in carriers:
        if not isinstance(c, str) or c not in valid:
            shown = ", ".join(valid) if valid else "none (build the fabric with fs.edge_sites)"
            raise UnknownNameError(f"carriers: unknown carrier {c!r}; known carriers: {shown}")

    G = G0.copy()
    carrier_set = set(carriers)
    G.remove_edges_from(pairs)
    G.remove_edges_from(
        [(u, v) for u, v, c in G.edges(data="carrier") if c is not None and c in carrier_set]
    )
    pops = [
        n
        for n, d in G.nodes(data=True)
        if d.get("role") == "carrier_pop" and d.get("carrier") in carrier_set
    ]
    G.remove_nodes_from(nodes)
    G.remove_nodes_from(pops)

    before = schema.graph_record(G0, "failed") or {}
    G.graph["failed"] = schema.record_text(
        {
            "links": [*before.get("links", ()), *([u, v] for u, v in pairs)],
            "nodes": list(dict.fromkeys([*before.get("nodes", ()), *nodes])),
            "carriers": list(dict.fromkeys([*before.get("carriers", ()), *carriers])),
        }
    )
    what = _describe(pairs, nodes, list(dict.fromkeys(carriers)))
    try:
        compiled = schema.compile(G)
    except UnreachableError as e:
        raise UnreachableError(f"failing {what} disconnects the fabric: {e}") from e
    except EmptyFabricError as e:
        raise EmptyFabricError(f"failing {what} leaves no fabric: {e}") from e
    return Fabric(compiled, fabric.efficiency, fabric.profile)


def fail_random(
    fabric: Fabric,
    *,
    link_probability: float = 0.0,
    node_probability: float = 0.0,
    roles: Sequence[str] = DEFAULT_RANDOM_ROLES,
    seed: int = 0,
) -> tuple[Fabric, dict]:
    """Fail each node whose role is in ``roles`` with ``node_probability`` and each link
    with ``link_probability``, independently (one seeded numpy Generator: node draws in node
    order, then link draws in edge order, so the same seed always fails the same elements).

    Candidate links are those with an end whose role is in ``roles`` and no GPU end (a GPU's
    NIC or NVLink failing would cut the GPU off): with the default roles every switch-to-switch
    link, plus border links if ``"border"`` is a role, and so on. GPUs never fail (``"gpu"``
    in ``roles`` is an error). Links of a failed node are not listed again.

    Returns ``(fabric, description)``, the description a dict with the failed ``nodes``,
    ``links`` (label pairs), ``seed`` and the two probabilities. A draw that cuts GPUs off
    raises UnreachableError (see :func:`fail`).

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=4, hosts_per_leaf=1,
    ...                                             gpus_per_host=1))
    >>> after, what = fail_random(fab, node_probability=0.5, roles=("spine",), seed=3)
    >>> what["nodes"], bisection_gbps(after)
    (['spine0', 'spine1'], 200.0)
    """
    fabric = _check_fabric(fabric)
    p_link = _validate.probability("link_probability", link_probability)
    p_node = _validate.probability("node_probability", node_probability)
    seed = _validate.seed(seed)
    if isinstance(roles, str):
        roles = (roles,)
    roles = tuple(_as_list("roles", roles))
    for r in roles:
        _validate.choice("roles", r, schema.ROLES)
    if "gpu" in roles:
        raise InvalidArgumentError(
            "roles: fail_random never fails GPUs; fail one explicitly with fail(nodes=[...])"
        )
    G = fabric.graph
    role = dict(G.nodes(data="role"))
    role_set = set(roles)
    cand_nodes = [n for n in G.nodes if role[n] in role_set]
    cand_links = [
        (u, v)
        for u, v in G.edges
        if "gpu" not in (role[u], role[v]) and (role[u] in role_set or role[v] in role_set)
    ]
    rng = np.random.default_rng(seed)
    node_hit = rng.random(len(cand_nodes)) < p_node
    link_hit = rng.random(len(cand_links)) < p_link
    failed_nodes = [n for n, hit in zip(cand_nodes, node_hit, strict=True) if hit]
    gone = set(failed_nodes)
    failed_links = [
        e
        for e, hit in zip(cand_links, link_hit, strict=True)
        if hit and e[0] not in gone and e[1] not in gone
    ]
    out = fail(fabric, links=failed_links, nodes=failed_nodes)
    return out, {
        "nodes": failed_nodes,
        "links": failed_links,
        "seed": seed,
        "link_probability": p_link,
        "node_probability": p_node,
        "roles": list(roles),
    }


# ---------------------------------------------------------------------------- bisection


def bisection_split(fabric: Fabric) -> tuple[list, list]:
    """The two GPU halves :func:`bisection_gbps` uses: ``fabric.gpus`` split at the host
    boundary closest to the middle (ties: the earlier one), or in the middle if every GPU
    sits in one host. GPUs without a ``host`` attribute are each their own host."""
    gpus = list(fabric.gpus)
    n = len(gpus)
    if n < 2:
        raise InvalidArgumentError(f"fabric: bisection needs at least 2 GPUs, it has {n}")
    nodes = fabric.graph.nodes
    hosts = [nodes[g].get("host", ("__own__", g)) for g in gpus]
    cuts = [i for i in range(1, n) if hosts[i] != hosts[i - 1]]
    cut = min(cuts, key=lambda i: (abs(2 * i - n), i)) if cuts else n // 2
    return gpus[:cut], gpus[cut:]


def bisection_gbps(fabric: Fabric) -> float:
    """Bisection bandwidth in Gb/s (per direction, usable capacity): the max flow from the
    first half of the GPUs to the second (see :func:`bisection_split` and the module docs).

    The flow network has a super-source feeding every first-half GPU and a super-sink fed by
    every second-half GPU; first-half GPUs keep only their outgoing arcs and second-half GPUs
    only their incoming ones, so no GPU forwards, and edge sites (endpoints too) are left out.
    Capacities are integers of 1e-6 Gb/s so the max flow is exact. Solved with networkx's
    preflow-push (highest-label, with global relabelling): O(V^2 sqrt(E)) in the worst case,
    in practice near-linear on these layered fabrics. Measured on this project's 2-core
    machine: a 2,048-GPU rail-optimized pod (2,440 nodes, 10,240 links) in 0.15 s, a
    4,096-GPU one (4,872 nodes, 20,480 links) in 0.5 s.
    """
    fabric = _check_fabric(fabric)
    first, second = bisection_split(fabric)
    c = fabric.compiled
    src_set = set(c.index[g] for g in first)
    dst_set = set(c.index[g] for g in second)
    roles = c.roles
    usable = np.rint(fabric.usable_Bps * 8e-9 * _BISECTION_SCALE).astype(np.int64)
    ls, ld = c.link_src, c.link_dst
    keep = np.ones(c.num_links, dtype=bool)
    edge_site = roles == "edge_site"
    keep &= ~edge_site[ls] & ~edge_site[ld]
    is_src = np.zeros(c.num_nodes, dtype=bool)
    is_src[list(src_set)] = True
    is_dst = np.zeros(c.num_nodes, dtype=bool)
    is_dst[list(dst_set)] = True
    # A first-half GPU only sends, a second-half GPU only receives.
    keep &= ~is_src[ld] & ~is_dst[ls]
    D = nx.DiGraph()
    S, T = -1, -2
    for u, v, cap in zip(ls[keep].tolist(), ld[keep].tolist(), usable[keep].tolist(), strict=True):
        if D.has_edge(u, v):
            D[u][v]["capacity"] += cap
        else:
            D.add_edge(u, v, capacity=cap)
    D.add_edges_from((S, g) for g in src_set)  # no capacity attribute: infinite
    D.add_edges_from((g, T) for g in dst_set)
    value = nx.maximum_flow_value(D, S, T)
    return value / _BISECTION_SCALE


# ---------------------------------------------------------------------------- impact


def _workload_endpoints(fabric: Fabric, workload: Any) -> tuple[str, list]:
    """("collective" | "flows", endpoint labels) of a workload on the unfailed fabric."""

    if isinstance(workload, Collective):
        ranks = list(fabric.gpus) if workload.ranks is None else list(workload.ranks)
        return "collective", ranks
    if isinstance(workload, FlowSet):
        idx = np.concatenate([workload.src, workload.dst, workload.via[workload.via >= 0]])
        return "flows", [fabric.label(int(i)) for i in np.unique(idx)]
    if isinstance(workload, Mapping):
        if "src" not in workload or "dst" not in workload:
            raise InvalidArgumentError("workload: a flow mapping needs keys 'src' and 'dst'")
        return "flows", list(workload["src"]) + list(workload["dst"])
    if isinstance(workload, (str, bytes)) or not isinstance(workload, Iterable):
        raise InvalidTypeError(
            "workload: expected a fabricsim.Collective or a traffic matrix (list of "
            f"(src, dst, size_bytes, ...) tuples, mapping of arrays or FlowSet), got {workload!r}"
        )
    rows = list(workload)
    ends: list = []
    for i, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or len(row) < 3:
            raise InvalidArgumentError(
                f"workload[{i}]: expected (src, dst, size_bytes[, start_s[, deps]]), got {row!r}"
            )
        ends.extend(row[:2])
    return "flows", ends


def _remap_flowset(fs_: Any, before: Fabric, after: Fabric) -> Any:
    """The same FlowSet with node indices of ``before`` moved to those of ``after``."""
    if getattr(fs_, "lanes", None) is not None:
        raise InvalidArgumentError(
            "workload: a flow set made of lanes (Collective.plan(..., lanes=True)) cannot be "
            "moved to the failed fabric; plan it with lanes=False (a flow per channel)"
        )

    def move(arr: np.ndarray) -> np.ndarray:
        return np.fromiter(
            (after.index(before.label(i)) if i >= 0 else -1 for i in arr.tolist()),
            dtype=np.int64,
            count=len(arr),
        )

    return dataclasses.replace(
        fs_, src=move(fs_.src), dst=move(fs_.dst), via=move(fs_.via), meta=dict(fs_.meta)
    )


def _run(fabric: Fabric, kind: str, workload: Any, routing: Routing, seed: int) -> float:

    if kind == "collective":
        return workload.run(fabric, routing=routing, seed=seed).time_s
    return simulate(fabric, workload, routing=routing, seed=seed).makespan_s


def failure_impact(
    fabric: Fabric,
    workload: Any,
    *,
    links: Iterable[tuple[Hashable, Hashable]] = (),
    nodes: Iterable[Hashable] = (),
    carriers: Iterable[str] = (),
    routing: Routing = "ecmp",
    seed: int = 0,
) -> dict:
    """Run ``workload`` before and after failing ``links`` / ``nodes`` / ``carriers``.

    ``workload``: a :class:`fabricsim.Collective` (run with ``routing`` and ``seed``; with
    ``ranks=None`` its ranks are pinned to the unfailed fabric's GPUs, so failing a GPU is
    reported, not silently dropped) or a traffic matrix for :func:`fabricsim.simulate`
    (list of tuples, mapping of arrays, or a FlowSet of the unfailed fabric's node indices).

    Returns ``{"time_before_s", "time_after_s", "slowdown"`` (after / before),
    ``"bisection_before_gbps", "bisection_after_gbps", "failed"}``. Endpoints the failure
    removed or cut off raise UnreachableError naming them and the failure.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(
    ...     fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1))
    >>> a, b = fab.gpus
    >>> out = failure_impact(fab, [(a, b, 1e9)], nodes=["spine1"], routing="spray")
    >>> round(out["slowdown"], 3), out["bisection_after_gbps"]
    (2.0, 200.0)
    """
    fabric = _check_fabric(fabric)
    _validate.choice("routing", routing, ROUTING_POLICIES)
    seed = _validate.seed(seed)
    kind, ends = _workload_endpoints(fabric, workload)
    if kind == "collective" and workload.ranks is None:
        workload = dataclasses.replace(workload, ranks=list(fabric.gpus))
    links = _as_list("links", links)
    nodes = _as_list("nodes", nodes)
    carriers = _as_list("carriers", carriers)
    after = fail(fabric, links=links, nodes=nodes, carriers=carriers)
    what = _describe(links, nodes, carriers)

    missing = [e for e in dict.fromkeys(ends) if e in fabric.graph and e not in after.graph]
    if missing:
        err = UnreachableError(
            f"workload endpoints removed by failing {what}: " + ", ".join(repr(m) for m in missing)
        )
        err.endpoints = missing
        raise err

    time_before_s = _run(fabric, kind, workload, routing, seed)
    after_workload = workload

    if isinstance(workload, FlowSet):
        after_workload = _remap_flowset(workload, fabric, after)
    try:
        time_after_s = _run(after, kind, after_workload, routing, seed)
    except UnreachableError as e:
        err = UnreachableError(f"after failing {what}: {e}")
        err.src, err.dst = getattr(e, "src", None), getattr(e, "dst", None)
        raise err from e
    return {
        "time_before_s": time_before_s,
        "time_after_s": time_after_s,
        "slowdown": time_after_s / time_before_s if time_before_s > 0 else float("nan"),
        "bisection_before_gbps": bisection_gbps(fabric),
        "bisection_after_gbps": bisection_gbps(after),
        "failed": {"links": [list(p) for p in links], "nodes": nodes, "carriers": carriers},
    }


__all__ = [
    "DEFAULT_RANDOM_ROLES",
    "bisection_gbps",
    "bisection_split",
    "fail",
    "fail_random",
    "failure_impact",
    "known_carriers",
]
