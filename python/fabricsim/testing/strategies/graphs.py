"""Strategies for fabric graphs (``nx.Graph`` that pass :mod:`fabricsim.fabric.schema`)
and compiled :class:`fabricsim.Fabric` objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

from fabricsim.fabric import builders, schema
from fabricsim.fabric.compiled import Fabric
from fabricsim.fabric.schema import graph_record  # noqa: F401  (the doctests use it)
from fabricsim.testing.strategies._args import (
    _SWITCH_ROLES,
    _drawn,
    _int,
    _min_count,
    _ordered,
    _palette,
    _positive_real,
    _real,
    _strategy,
)


def fabric_graphs(
    *,
    min_gpus: int = 2,
    max_gpus: int = 8,
    min_switches: int = 1,
    max_switches: int = 6,
    max_extra_links: int = 4,
    max_homes: int = 2,
    max_edge_sites: int = 0,
    min_capacity_gbps: float = 1.0,
    max_capacity_gbps: float = 3600.0,
    min_latency_us: float = 0.05,
    max_latency_us: float = 10.0,
) -> SearchStrategy[nx.Graph]:
    """Arbitrary schema-valid fabrics: ``min_switches..max_switches`` forwarding nodes (roles
    drawn from the non-endpoint roles of :data:`fabricsim.fabric.schema.ROLES`) joined by a random
    spanning tree (always connected; shrinks towards a path) plus up to ``max_extra_links``
    more switch links, and ``min_gpus..max_gpus`` GPUs each homed on 1..``max_homes``
    switches. Up to ``max_edge_sites`` edge sites hang off one switch each over a ``wan``
    link. Capacities and latencies come from a palette of 1-3 values drawn from the given
    ranges, so ties are common.

    Labels: ``sw0``, ``sw1``, ... (switches), ``gpu0``, ... (GPUs), ``site0``, ...

    The simplest example (what failures shrink towards) is one switch and two GPUs:

    >>> from hypothesis import find
    >>> G = find(fabric_graphs(), lambda G: True)
    >>> sorted(G.nodes(data="role"))
    [('gpu0', 'gpu'), ('gpu1', 'gpu'), ('sw0', 'leaf')]
    """
    min_gpus = _int("min_gpus", min_gpus, 1)
    max_gpus = _int("max_gpus", max_gpus, 1)
    _ordered("min_gpus", min_gpus, "max_gpus", max_gpus)
    min_switches = _int("min_switches", min_switches, 1)
    max_switches = _int("max_switches", max_switches, 1)
    _ordered("min_switches", min_switches, "max_switches", max_switches)
    max_extra_links = _int("max_extra_links", max_extra_links, 0)
    max_homes = _int("max_homes", max_homes, 1)
    max_edge_sites = _int("max_edge_sites", max_edge_sites, 0)
    cap_lo = _real(
        "min_capacity_gbps",
        min_capacity_gbps,
        min_value=schema.MIN_CAPACITY_GBPS,
        max_value=schema.MAX_CAPACITY_GBPS,
    )
    cap_hi = _real(
        "max_capacity_gbps",
        max_capacity_gbps,
        min_value=schema.MIN_CAPACITY_GBPS,
        max_value=schema.MAX_CAPACITY_GBPS,
    )
    _ordered("min_capacity_gbps", cap_lo, "max_capacity_gbps", cap_hi)
    # Keep every path under the schema's path bound: at most (max_switches - 1) switch links
    # plus two endpoint links per path.
    lat_cap = min(schema.MAX_LATENCY_US, schema.MAX_PATH_LATENCY_US / (max_switches + 1))
    lat_lo = _real(
        "min_latency_us", min_latency_us, min_value=0.0, max_value=lat_cap, exclude_min=True
    )
    lat_hi = _real(
        "max_latency_us", max_latency_us, min_value=0.0, max_value=lat_cap, exclude_min=True
    )
    _ordered("min_latency_us", lat_lo, "max_latency_us", lat_hi)

    caps = st.floats(cap_lo, cap_hi, allow_nan=False, allow_infinity=False)
    lats = st.floats(lat_lo, lat_hi, allow_nan=False, allow_infinity=False)

    def build(draw) -> nx.Graph:
        cap = _palette(draw, caps)
        lat = _palette(draw, lats)
        n_sw = draw(st.integers(min_switches, max_switches), label="switches")
        G = nx.Graph()
        for s in range(n_sw):
            G.add_node(f"sw{s}", role=draw(st.sampled_from(_SWITCH_ROLES)))

        def link(u: str, v: str, kind: str) -> None:
            G.add_edge(u, v, capacity_gbps=draw(cap), latency_us=draw(lat), kind=kind)

        for s in range(1, n_sw):  # random spanning tree; parent s-1 (a path) is the simplest
            link(f"sw{s - 1 - draw(st.integers(0, s - 1))}", f"sw{s}", "fabric")
        if n_sw > 1:
            extra = draw(
                st.lists(
                    st.tuples(st.integers(0, n_sw - 1), st.integers(0, n_sw - 1)),
                    max_size=max_extra_links,
                ),
                label="extra links",
            )
            for a, b in extra:
                if a != b and not G.has_edge(f"sw{a}", f"sw{b}"):
                    link(f"sw{a}", f"sw{b}", "fabric")
        n_gpu = draw(st.integers(min_gpus, max_gpus), label="gpus")
        for g in range(n_gpu):
            gpu = f"gpu{g}"
            G.add_node(gpu, role="gpu")
            homes = draw(
                st.lists(
                    st.sampled_from(range(n_sw)),
                    min_size=1,
                    max_size=min(max_homes, n_sw),
                    unique=True,
                )
            )
            for s in homes:
                sw = f"sw{s}"
                link(gpu, sw, "nvlink" if G.nodes[sw]["role"] == "nvswitch" else "access")
        for e in range(draw(st.integers(0, max_edge_sites))):
            site = f"site{e}"
            G.add_node(site, role="edge_site", site=site)
            link(site, f"sw{draw(st.integers(0, n_sw - 1))}", "wan")
        return G

    return _drawn(build)


def leaf_spine_graphs(
    *,
    min_leaves: int = 1,
    max_leaves: int = 4,
    min_spines: int = 1,
    max_spines: int = 4,
    max_hosts_per_leaf: int = 4,
    max_gpus_per_host: int = 4,
    min_gpus: int = 2,
    oversubscription: Any = None,
    nic_gbps: Any = None,
) -> SearchStrategy[nx.Graph]:
    """Graphs from :func:`fabricsim.leaf_spine` with ``leaves``, ``spines``,
    ``hosts_per_leaf`` and ``gpus_per_host`` drawn within the bounds, at least ``min_gpus``
    GPUs in all. ``oversubscription`` and ``nic_gbps``: a strategy or a fixed number
    (defaults: 1, 2 or 4; 100, 200 or 400 Gb/s).

    >>> from hypothesis import find
    >>> G = find(leaf_spine_graphs(), lambda G: graph_record(G, "params")["leaves"] > 1)
    >>> graph_record(G, "params")["leaves"], graph_record(G, "params")["gpus_per_host"]
    (2, 1)
    """
    min_leaves = _int("min_leaves", min_leaves, 1)
    max_leaves = _int("max_leaves", max_leaves, 1)
    _ordered("min_leaves", min_leaves, "max_leaves", max_leaves)
    min_spines = _int("min_spines", min_spines, 1)
    max_spines = _int("max_spines", max_spines, 1)
    _ordered("min_spines", min_spines, "max_spines", max_spines)
    max_hosts = _int("max_hosts_per_leaf", max_hosts_per_leaf, 1)
    max_gph = _int("max_gpus_per_host", max_gpus_per_host, 1)
    min_gpus = _int("min_gpus", min_gpus, 1)
    if max_leaves * max_hosts * max_gph < min_gpus:
        raise InvalidArgument(
            f"min_gpus={min_gpus} is more than max_leaves x max_hosts_per_leaf x "
            f"max_gpus_per_host = {max_leaves * max_hosts * max_gph}"
        )
    ratio = _strategy(
        "oversubscription", oversubscription, st.sampled_from([1.0, 2.0, 4.0]), _positive_real
    )
    nic = _strategy("nic_gbps", nic_gbps, st.sampled_from([100.0, 200.0, 400.0]), _positive_real)

    def build(draw) -> nx.Graph:
        leaves = draw(
            st.integers(max(min_leaves, _min_count(min_gpus, max_hosts * max_gph)), max_leaves),
            label="leaves",
        )
        hosts = draw(
            st.integers(_min_count(min_gpus, leaves * max_gph), max_hosts), label="hosts_per_leaf"
        )
        gph = draw(
            st.integers(_min_count(min_gpus, leaves * hosts), max_gph), label="gpus_per_host"
        )
        spines = draw(st.integers(min_spines, max_spines), label="spines")
        return builders.leaf_spine(
            leaves=leaves,
            spines=spines,
            hosts_per_leaf=hosts,
            gpus_per_host=gph,
            oversubscription=draw(ratio),
            nic_gbps=draw(nic),
        )

    return _drawn(build)


def fat_tree_graphs(
    *,
    min_k: int = 2,
    max_k: int = 4,
    max_gpus_per_host: int = 2,
    min_gpus: int = 2,
    link_gbps: Any = None,
) -> SearchStrategy[nx.Graph]:
    """Graphs from :func:`fabricsim.fat_tree` with an even ``k`` in ``min_k..max_k`` (k=4:
    16 hosts, 20 switches; k=6: 54 hosts) and 1..``max_gpus_per_host`` GPUs per host.
    ``link_gbps``: a strategy or a fixed number (default 100, 200 or 400 Gb/s).

    >>> from hypothesis import find
    >>> find(fat_tree_graphs(min_k=4, max_gpus_per_host=1), lambda G: True).number_of_edges()
    48
    """
    min_k = _int("min_k", min_k, 2)
    max_k = _int("max_k", max_k, 2)
    for name, k in (("min_k", min_k), ("max_k", max_k)):
        if k % 2:
            raise InvalidArgument(f"{name}={k} must be even (a k-ary fat tree has k/2 ports up)")
    _ordered("min_k", min_k, "max_k", max_k)
    max_gph = _int("max_gpus_per_host", max_gpus_per_host, 1)
    min_gpus = _int("min_gpus", min_gpus, 1)
    if max_k**3 // 4 * max_gph < min_gpus:
        raise InvalidArgument(
            f"min_gpus={min_gpus} is more than a k={max_k} fat tree with "
            f"{max_gph} GPUs per host holds ({max_k**3 // 4 * max_gph})"
        )
    link = _strategy("link_gbps", link_gbps, st.sampled_from([100.0, 200.0, 400.0]), _positive_real)
    ks = [k for k in range(min_k, max_k + 1, 2) if k**3 // 4 * max_gph >= min_gpus]

    def build(draw) -> nx.Graph:
        k = draw(st.sampled_from(ks), label="k")
        gph = draw(st.integers(_min_count(min_gpus, k**3 // 4), max_gph), label="gpus_per_host")
        return builders.fat_tree(k=k, gpus_per_host=gph, link_gbps=draw(link))

    return _drawn(build)


def rail_optimized_graphs(
    *,
    max_scalable_units: int = 2,
    max_nodes_per_su: int = 4,
    max_gpus_per_node: int = 4,
    max_spines_per_su: int = 4,
    max_cores: int = 4,
    min_gpus: int = 2,
    oversubscription: Any = None,
    nic_gbps: Any = None,
) -> SearchStrategy[nx.Graph]:
    """Graphs from :func:`fabricsim.rail_optimized`: 1..``max_scalable_units`` SUs of
    1..``max_nodes_per_su`` nodes with 1..``max_gpus_per_node`` GPUs (one rail leaf each),
    ``spines_per_su`` and (with several SUs) ``cores`` left at the builder's default or drawn
    up to their maxima, at least ``min_gpus`` GPUs in all. ``oversubscription`` /
    ``nic_gbps``: a strategy or a fixed number.

    >>> from hypothesis import find
    >>> two_sus = lambda G: graph_record(G, "params")["scalable_units"] == 2
    >>> G = find(rail_optimized_graphs(), two_sus)
    >>> graph_record(G, "params")["cores"]
    1
    """
    max_su = _int("max_scalable_units", max_scalable_units, 1)
    max_nodes = _int("max_nodes_per_su", max_nodes_per_su, 1)
    max_gpn = _int("max_gpus_per_node", max_gpus_per_node, 1)
    max_spines = _int("max_spines_per_su", max_spines_per_su, 1)
    max_cores = _int("max_cores", max_cores, 1)
    min_gpus = _int("min_gpus", min_gpus, 1)
    if max_su * max_nodes * max_gpn < min_gpus:
        raise InvalidArgument(
            f"min_gpus={min_gpus} is more than max_scalable_units x max_nodes_per_su x "
            f"max_gpus_per_node = {max_su * max_nodes * max_gpn}"
        )
    ratio = _strategy(
        "oversubscription", oversubscription, st.sampled_from([1.0, 2.0]), _positive_real
    )
    nic = _strategy("nic_gbps", nic_gbps, st.sampled_from([200.0, 400.0]), _positive_real)

    def build(draw) -> nx.Graph:
        su = draw(
            st.integers(_min_count(min_gpus, max_nodes * max_gpn), max_su), label="scalable_units"
        )
        nodes = draw(
            st.integers(_min_count(min_gpus, su * max_gpn), max_nodes), label="nodes_per_su"
        )
        gpn = draw(st.integers(_min_count(min_gpus, su * nodes), max_gpn), label="gpus_per_node")
        spines = draw(st.none() | st.integers(1, max_spines), label="spines_per_su")
        cores = draw(st.none() | st.integers(1, max_cores), label="cores") if su > 1 else None
        return builders.rail_optimized(
            scalable_units=su,
            nodes_per_su=nodes,
            gpus_per_node=gpn,
            spines_per_su=spines,
            cores=cores,
            oversubscription=draw(ratio),
            nic_gbps=draw(nic),
        )

    return _drawn(build)


def edge_site_graphs(
    *,
    base: SearchStrategy[nx.Graph] | None = None,
    min_carriers: int = 1,
    max_carriers: int = 3,
    min_sites: int = 1,
    max_sites: int = 3,
    max_distance_km: float = 5000.0,
) -> SearchStrategy[nx.Graph]:
    """:func:`fabricsim.edge_sites` on a graph drawn from ``base`` (default: a small
    leaf-spine): ``min_carriers..max_carriers`` carriers ``c0, c1, ...`` (capacity,
    availability in (0.9, 1], base latency, jitter) and ``min_sites..max_sites`` sites
    ``s0, s1, ...``, each homed on a non-empty ordered subset of the carriers at a distance in
    (0, ``max_distance_km``].

    >>> from hypothesis import find
    >>> G = find(edge_site_graphs(), lambda G: len(graph_record(G, "edge_sites")["sites"]) > 1)
    >>> sorted(graph_record(G, "edge_sites")["site_nodes"].values())
    ['site/s0', 'site/s1']
    """
    if base is None:
        base = leaf_spine_graphs(
            max_leaves=2, max_spines=2, max_hosts_per_leaf=2, max_gpus_per_host=2
        )
    elif not isinstance(base, SearchStrategy):
        raise InvalidArgument(f"base={base!r} must be a strategy of nx.Graph fabrics")
    min_carriers = _int("min_carriers", min_carriers, 1)
    max_carriers = _int("max_carriers", max_carriers, 1)
    _ordered("min_carriers", min_carriers, "max_carriers", max_carriers)
    min_sites = _int("min_sites", min_sites, 1)
    max_sites = _int("max_sites", max_sites, 1)
    _ordered("min_sites", min_sites, "max_sites", max_sites)
    # 5 us/km + base latency must stay under the schema's per-link latency bound.
    max_km = _real(
        "max_distance_km",
        max_distance_km,
        min_value=0.0,
        max_value=(schema.MAX_LATENCY_US - 1000.0) / 5.0,
        exclude_min=True,
    )
    gbps = st.sampled_from([10.0, 40.0, 100.0]) | st.floats(1.0, 400.0)

    def build(draw) -> nx.Graph:
        G = draw(base, label="base")
        n_c = draw(st.integers(min_carriers, max_carriers), label="carriers")
        names = [f"c{i}" for i in range(n_c)]
        carriers = [
            builders.Carrier(
                name=c,
                capacity_gbps=draw(gbps),
                availability=draw(st.just(1.0) | st.floats(0.9, 1.0, exclude_min=True)),
                base_latency_us=draw(st.just(0.0) | st.floats(0.0, 1000.0)),
                jitter_us=draw(st.just(0.0) | st.floats(0.0, 100.0)),
            )
            for c in names
        ]
        sites = [
            builders.Site(
                name=f"s{i}",
                carriers=tuple(
                    draw(st.lists(st.sampled_from(names), min_size=1, max_size=n_c, unique=True))
                ),
                distance_km=draw(st.floats(1.0, max(1.0, max_km))),
                capacity_gbps=draw(gbps),
            )
            for i in range(draw(st.integers(min_sites, max_sites), label="sites"))
        ]
        return builders.edge_sites(G, sites=sites, carriers=carriers)

    return _drawn(build)


def _default_graphs() -> SearchStrategy[nx.Graph]:
    return st.one_of(
        fabric_graphs(),
        leaf_spine_graphs(max_leaves=3, max_spines=2, max_hosts_per_leaf=2, max_gpus_per_host=2),
        fat_tree_graphs(max_k=4, max_gpus_per_host=1),
        rail_optimized_graphs(max_scalable_units=2, max_nodes_per_su=2, max_gpus_per_node=2),
    )


def fabrics(
    *,
    graphs: SearchStrategy[nx.Graph] | None = None,
    efficiency: Any = None,
) -> SearchStrategy[Fabric]:
    """Compiled :class:`fabricsim.Fabric` objects from ``graphs`` (default: any of
    :func:`fabric_graphs`, :func:`leaf_spine_graphs`, :func:`fat_tree_graphs`,
    :func:`rail_optimized_graphs`, kept small). ``efficiency``: a number, a mapping (as
    :meth:`fabricsim.Fabric.from_networkx` takes) or a strategy of those; default 1.

    >>> from hypothesis import find
    >>> find(fabrics(graphs=leaf_spine_graphs(min_gpus=4)), lambda f: True)
    <Fabric 7 nodes (gpu=4, leaf=1, nvswitch=1, spine=1), 9 edges>
    """
    if graphs is None:
        graphs = _default_graphs()
    elif not isinstance(graphs, SearchStrategy):
        raise InvalidArgument(f"graphs={graphs!r} must be a strategy of nx.Graph fabrics")

    def check_eff(name: str, v: Any) -> None:
        if isinstance(v, Mapping):
            for k, x in v.items():
                _real(f"{name}[{k!r}]", x, min_value=0.0, max_value=1.0, exclude_min=True)
        else:
            _real(name, v, min_value=0.0, max_value=1.0, exclude_min=True)

    eff = _strategy("efficiency", efficiency, st.just(1.0), check_eff)
    return st.builds(lambda G, e: Fabric.from_networkx(G, efficiency=e), graphs, eff)
