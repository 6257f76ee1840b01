"""`Fabric`: a validated fabric compiled once for the Rust core, with route inspection.

>>> import fabricsim as fs
>>> G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1)
>>> fab = fs.Fabric.from_networkx(G)
>>> len(fab.gpus)
2
>>> [len(p) for p in fab.paths(fab.gpus[0], fab.gpus[1])]
[5, 5]
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from fabricsim import _engine, _validate
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
)
from fabricsim.fabric import profiles, schema
from fabricsim.fabric.io import read_cable_list
from fabricsim.types import Metric, Routing

ROUTING_POLICIES: tuple[Routing, ...] = ("ecmp", "spray")
METRICS: tuple[Metric, ...] = ("hops", "latency")
MIN_USABLE_GBPS = 1e-9  # capacity x efficiency; below it transfer times can overflow a float


@dataclass(frozen=True)
class Route:
    """One routed flow: the directed links it loads and the share of its rate on each.

    For ECMP the links are the single path, in order; for spraying they are every link of the
    equal-cost DAG (sorted by link id) with fractions that sum to 1 out of every hop.
    """

    links: tuple  # ((u, v), ...) node labels
    link_ids: np.ndarray
    fractions: np.ndarray
    latency_us: float

    @property
    def hops(self) -> int:
        """Number of links on the path (ECMP) / largest hop count (spray: the DAG depth)."""
        return int(round(self.fractions.sum())) if len(self.links) else 0


class Fabric:
    """A schema-valid fabric, compiled into flat arrays the Rust core routes and simulates on.

    Build one with :meth:`from_networkx` from a builder's graph or your own. The fabric is
    immutable; failure what-ifs return new fabrics.

    Protocol efficiency: usable bandwidth = ``capacity_gbps * efficiency`` (e.g. about 0.96 of
    the line rate reaches the application over RoCE/IB), set per edge ``kind`` from a hardware
    profile or by hand; links without a kind use ``efficiency["default"]``.
    """

    def __init__(
        self, compiled: schema.CompiledFabric, efficiency: Mapping[str, float], profile: Any = None
    ):
        self._c = compiled
        self._efficiency = dict(efficiency)
        self._profile = profile
        factor = (
            np.array(
                [
                    self._efficiency.get(compiled.kind[e] or "default", self._efficiency["default"])
                    for e in compiled.link_edge.tolist()
                ],
                dtype=np.float64,
            )
            if compiled.num_links
            else np.zeros(0)
        )
        self._usable_Bps = np.asarray(compiled.capacity_Bps * factor, dtype=np.float64)
        too_small = self._usable_Bps < MIN_USABLE_GBPS * 1e9 / 8
        if too_small.any():
            lid = int(np.argmax(too_small))
            u, v = compiled.edges[int(compiled.link_edge[lid])]
            raise InvalidArgumentError(
                f"efficiency: edge ({u!r}, {v!r}) would keep only "
                f"{self._usable_Bps[lid] * 8 / 1e9:g} Gb/s usable (capacity_gbps x efficiency "
                f"{factor[lid]:g}); the usable capacity must be at least {MIN_USABLE_GBPS:g} Gb/s"
            )
        self._usable_Bps.flags.writeable = False
        #: The Rust core's view of this fabric (package-internal: see ``fabricsim._engine``).
        self._engine = _engine.Engine(
            compiled.num_nodes,
            compiled.link_src,
            compiled.link_dst,
            self._usable_Bps,
            compiled.latency_s,
            compiled.transit,
            label=self.label,
        )
        self._gpus = [compiled.nodes[i] for i in compiled.gpus.tolist()]

    # -- pickling -----------------------------------------------------------------------------
    def __reduce__(self) -> tuple:
        """Pickle (and ``copy.deepcopy``) by rebuilding from the compiled arrays and the
        validated graph: the Rust core's routing state is not pickled but built afresh by
        ``__init__`` on the other side, so a fabric crosses to a process pool or a Dask
        worker and simulates identically there.

        >>> import pickle, fabricsim as fs
        >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1,
        ...                                             gpus_per_host=1))
        >>> copy = pickle.loads(pickle.dumps(fab))
        >>> copy.paths(copy.gpus[0], copy.gpus[1]) == fab.paths(fab.gpus[0], fab.gpus[1])
        True
        """
        return (_unpickle_fabric, (type(self), self._c, self._efficiency, self._profile))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_networkx(
        cls,
        G: nx.Graph,
        *,
        parallel: str = "aggregate",
        efficiency: float | Mapping[str, float] | None = None,
        profile: Any = None,
    ) -> Fabric:
        """Validate ``G`` against :mod:`fabricsim.fabric.schema` and compile it.

        ``parallel``: what to do with MultiGraph parallel edges (``"aggregate"`` or
        ``"reject"``). ``efficiency``: one number for every link, or a mapping from edge kind
        (``nvlink``, ``access``, ``fabric``, ``wan``, ``default``) to the usable fraction of
        capacity; ``profile``: a hardware profile (name or object) whose efficiencies are used
        when ``efficiency`` is not given. Without ``profile`` the one a builder recorded in
        ``G.graph["profile"]`` is used, so a profile given once to the builder reaches both the
        link efficiencies and the collectives' NCCL model (:attr:`profile`); pass
        ``profile=False`` to ignore it. Raises a :class:`fabricsim.FabricError` subclass naming
        the node or edge at fault.

        >>> import fabricsim as fs
        >>> G = fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2, gpus_per_host=1,
        ...                   profile="h100-ndr400")
        >>> fab = fs.Fabric.from_networkx(G)
        >>> fab.profile.name, fab.efficiency["access"]
        ('h100-ndr400', 0.96)
        """
        compiled = schema.compile(G, parallel=parallel)
        prof = resolve_profile(G, profile)
        return cls(compiled, _resolve_efficiency(efficiency, prof), prof)

    @classmethod
    def from_cable_list(
        cls,
        path: str | os.PathLike[str],
        *,
        efficiency: float | Mapping[str, float] | None = None,
        profile: Any = None,
    ) -> Fabric:
        """A fabric from a CSV cable list (``a_node,a_role,b_node,b_role,gbps,latency_us[,
        carrier]``, the format inventory tools export; see :mod:`fabricsim.fabric.io`), with
        :meth:`from_networkx`'s ``efficiency`` / ``profile``. Parallel cables aggregate."""

        return cls.from_networkx(read_cable_list(path), efficiency=efficiency, profile=profile)

    def to_networkx(self) -> nx.Graph:
        """A copy of the validated graph; each edge also carries ``usable_gbps`` (capacity x
        efficiency) and its two directed link ids in this fabric: ``link_id_uv`` (u -> v, in
        the edge's ``(u, v)`` order) and ``link_id_vu``. Every attribute is a plain str / int /
        float, so :func:`networkx.write_graphml` and :func:`networkx.write_gml` write it, and
        the file compiles back to this fabric."""
        G = self._c.graph.copy()
        usable = self._usable_Bps * 8 / 1e9
        for i, (u, v) in enumerate(self._c.edges):
            G.edges[u, v]["usable_gbps"] = float(usable[2 * i])
            G.edges[u, v]["link_id_uv"] = 2 * i
            G.edges[u, v]["link_id_vu"] = 2 * i + 1
        return G

    # -- what it is ---------------------------------------------------------------------------
    @property
    def graph(self) -> nx.Graph:
        """The validated graph (do not modify it; use :meth:`to_networkx` for a copy)."""
        return self._c.graph

    @property
    def compiled(self) -> schema.CompiledFabric:
        return self._c

    @property
    def nodes(self) -> list:
        return self._c.nodes

    @property
    def gpus(self) -> list:
        """GPU node labels in node order."""
        return self._gpus

    @property
    def efficiency(self) -> dict:
        return dict(self._efficiency)

    @property
    def profile(self) -> Any:
        """The hardware profile this fabric was built with (a
        :class:`~fabricsim.fabric.profiles.Profile`), or None. Collectives use it for NCCL's
        protocol and latency model unless given another one."""
        return self._profile

    @property
    def num_links(self) -> int:
        """Directed links (two per cable)."""
        return self._c.num_links

    @property
    def usable_Bps(self) -> np.ndarray:
        """Usable capacity of each directed link in bytes/s (capacity x efficiency)."""
        return self._usable_Bps

    def role_counts(self) -> dict[str, int]:
        roles, counts = np.unique(self._c.roles, return_counts=True)
        return {str(r): int(c) for r, c in zip(roles, counts, strict=False)}

    @property
    def switch_count(self) -> int:
        """Switches: every forwarding node that is not an NVSwitch, carrier PoP or border."""
        return int(np.isin(self._c.roles, ("leaf", "spine", "core")).sum())

    @property
    def cable_count(self) -> int:
        """Network cables: edges that are not NVLink."""
        return sum(1 for k in self._c.kind if k != "nvlink")

    def index(self, node: Hashable) -> int:
        """Node index of a label (raises InvalidArgumentError naming it if unknown)."""
        try:
            return self._c.index[node]
        except (KeyError, TypeError):
            raise InvalidArgumentError(f"node {node!r} is not in the fabric") from None

    def indices(self, nodes: Iterable[Hashable], what: str = "nodes") -> np.ndarray:
        if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
            raise InvalidTypeError(f"{what}: expected a list of nodes, got {nodes!r}")
        idx = self._c.index
        out = []
        for n in nodes:
            try:
                out.append(idx[n])
            except (KeyError, TypeError):
                raise InvalidArgumentError(f"{what}: node {n!r} is not in the fabric") from None
        return np.asarray(out, dtype=np.int64)

    def label(self, i: int) -> Hashable:
        return self._c.nodes[i]

    def link(self, link_id: int) -> tuple:
        """(u, v) labels of a directed link."""
        return (
            self._c.nodes[int(self._c.link_src[link_id])],
            self._c.nodes[int(self._c.link_dst[link_id])],
        )

    def links_of_edge(self, u: Hashable, v: Hashable) -> tuple[int, int]:
        """Directed link ids (u->v, v->u) of an edge."""
        iu, iv = self.index(u), self.index(v)
        hit = np.flatnonzero((self._c.link_src == iu) & (self._c.link_dst == iv))
        if not len(hit):
            raise InvalidArgumentError(f"edge ({u!r}, {v!r}) is not in the fabric")
        lid = int(hit[0])
        return (lid, lid ^ 1)

    # -- routing ------------------------------------------------------------------------------
    def distance(self, src: Hashable, dst: Hashable, *, metric: Metric = "latency") -> float:
        """Routing distance (hops, or µs along the lowest-latency path); inf if unreachable."""
        _validate.choice("metric", metric, METRICS)
        d = self._engine.distance(self.index(src), self.index(dst), metric)
        if d is None:
            return math.inf
        return float(d) if metric == "hops" else d / 1000.0

    def paths(
        self, src: Hashable, dst: Hashable, *, metric: Metric = "latency", limit: int = 1024
    ) -> list[list]:
        """Every equal-cost shortest path from ``src`` to ``dst`` as node lists (at most
        ``limit``), the paths ECMP chooses among."""
        _validate.choice("metric", metric, METRICS)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit < 2**32:
            raise InvalidArgumentError(f"limit: must be an integer in 1..2**32 - 1, got {limit!r}")
        raw = self._engine.paths(self.index(src), self.index(dst), metric, limit)
        nodes, dsts = self._c.nodes, self._c.link_dst
        return [[src] + [nodes[int(dsts[lid])] for lid in p] for p in raw]

    def route(
        self,
        src: Hashable,
        dst: Hashable,
        *,
        policy: Routing = "ecmp",
        seed: int = 0,
        flow_key: int = 0,
        metric: Metric = "latency",
        via: Hashable | None = None,
    ) -> Route:
        """How one flow is routed: ECMP picks one equal-cost path by a seeded hash of
        (seed, flow_key) at every switch; ``"spray"`` splits it evenly over all of them."""
        _validate.choice("routing policy", policy, ROUTING_POLICIES)
        _validate.choice("metric", metric, METRICS)
        seed, flow_key = _validate.seed(seed), _validate.seed(flow_key)
        v = None if via is None else self.index(via)
        ids, fractions, latency_s = self._engine.route(
            self.index(src), self.index(dst), policy, seed, flow_key, metric, v
        )
        if policy == "ecmp":
            # Present the single path in walk order.
            order = _walk_order(ids, self._c.link_src, self._c.link_dst, self.index(src))
            if len(order) == len(ids):
                ids, fractions = ids[order], fractions[order]
        ids.flags.writeable = False
        fractions.flags.writeable = False
        return Route(
            links=tuple(self.link(int(i)) for i in ids),
            link_ids=ids,
            fractions=fractions,
            latency_us=latency_s * 1e6,
        )

    def precompute_routes(
        self, dsts: Iterable[Hashable] | None = None, *, metric: Metric = "latency"
    ) -> int:
        """Build the routing tables toward ``dsts`` (every node by default) in parallel;
        returns how many per-switch tables exist. Routing does this lazily anyway."""
        _validate.choice("metric", metric, METRICS)
        arr = None if dsts is None else self.indices(dsts, "dsts")
        return self._engine.precompute(arr, metric)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.role_counts().items()))
        return f"<Fabric {len(self.nodes)} nodes ({counts}), {len(self._c.edges)} edges>"


def _unpickle_fabric(
    cls: type, compiled: schema.CompiledFabric, efficiency: Mapping[str, float], profile: Any = None
) -> Fabric:
    """Rebuild a pickled :class:`Fabric` (its arrays come back read-only, as compiled)."""
    for f in dataclasses.fields(compiled):
        value = getattr(compiled, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return cls(compiled, efficiency, profile)


def _walk_order(
    ids: np.ndarray, link_src: np.ndarray, link_dst: np.ndarray, start: int
) -> np.ndarray:
    """Order a single path's links from ``start`` (a waypoint route may pass a node twice, so
    each link is used once, in the order the walk meets it)."""
    out_of: dict[int, list[int]] = {}
    for k, lid in enumerate(ids.tolist()):
        out_of.setdefault(int(link_src[lid]), []).append(k)
    order: list[int] = []
    u = start
    while out_of.get(u) and len(order) < len(ids):
        k = out_of[u].pop(0)
        order.append(k)
        u = int(link_dst[ids[k]])
    return np.asarray(order, dtype=np.int64)


def resolve_profile(G: nx.Graph, profile: Any) -> Any:
    """The profile to use for ``G``: ``profile`` if given (False: none), else the one its
    builder recorded in ``G.graph["profile"]``, resolved to a Profile (None if neither)."""

    if profile is False:
        return None
    if profile is None:
        profile = G.graph.get("profile")
        if profile is None:
            return None
        if not isinstance(profile, (str, profiles.Profile)):
            return None  # a duck-typed builder profile: hardware figures only
    return profiles.get_profile(profile)


def _resolve_efficiency(efficiency: Any, profile: Any) -> dict[str, float]:
    if efficiency is None and profile is not None:
        efficiency = profiles.get_profile(profile).efficiency
    if efficiency is None:
        efficiency = 1.0
    if isinstance(efficiency, (int, float)) and not isinstance(efficiency, bool):
        out = {"default": efficiency}  # checked below, before float() (10**400 overflows)
    elif isinstance(efficiency, Mapping):
        out = {"default": 1.0}
        for k, v in efficiency.items():
            if k not in (*schema.KINDS, "default"):
                raise UnknownNameError(
                    f"efficiency: unknown edge kind {k!r}; valid: "
                    f"{', '.join((*schema.KINDS, 'default'))}"
                )
            out[k] = v
    else:
        raise InvalidArgumentError(f"efficiency: must be a number or a mapping, got {efficiency!r}")
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= 1):
            raise InvalidArgumentError(f"efficiency[{k!r}]: must be a number in (0, 1], got {v!r}")
        out[k] = float(v)
    return out
