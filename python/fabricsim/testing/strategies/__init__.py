"""Hypothesis strategies for fabricsim: property-test your own fabrics and workloads.

Needs `Hypothesis <https://hypothesis.readthedocs.io>`_ (``pip install 'fabricsim[test]'``).
Every strategy function takes keyword-only arguments, checks them before drawing anything
(raising :class:`hypothesis.errors.InvalidArgument` naming the argument) and shrinks towards
the smallest valid example: the fewest switches and GPUs, one link speed, the smallest sizes.

Graphs (``nx.Graph`` that pass :mod:`fabricsim.fabric.schema`)
    :func:`fabric_graphs` (arbitrary: a random spanning tree of switches, extra switch links,
    GPUs homed on one or two switches), :func:`leaf_spine_graphs`, :func:`fat_tree_graphs`,
    :func:`rail_optimized_graphs`, :func:`edge_site_graphs` (the builders, their parameters
    drawn within bounds you set).
Objects
    :func:`fabrics` (a compiled :class:`fabricsim.Fabric`), :func:`rank_sets`,
    :func:`collectives` (a :class:`fabricsim.Collective` valid for a fabric),
    :func:`traffic_matrices` (flow lists for :func:`fabricsim.simulate`),
    :func:`background_loads`, :func:`size_cdfs`, :func:`backgrounds`
    (:class:`fabricsim.Background`), :func:`training_jobs` (keyword arguments of a valid
    :class:`fabricsim.TrainingJob`).

``st.from_type(fabricsim.Fabric)`` (and ``Background``, ``Collective``, ``TrainingJob``) works
once fabricsim is installed: the package registers these strategies through Hypothesis's
``hypothesis`` entry point (set ``HYPOTHESIS_NO_PLUGINS=1`` to turn that off).

Settings profiles: ``"fabricsim-fast"`` (25 examples, for CI) and ``"fabricsim-thorough"``
(2,000 examples, nightly), no deadline (a simulation's time varies with its size). Pick one
with :func:`load_profile`, which reads ``FABRICSIM_HYPOTHESIS_PROFILE`` (``fast`` /
``thorough`` or a profile name) when not given a name; fabricsim's own test suite does so in
its ``conftest.py``.

Example: check that your own builder never oversubscribes a link under an all-reduce.

>>> import networkx as nx
>>> from hypothesis import given, settings, strategies as st
>>> import fabricsim as fs
>>> from fabricsim.testing import strategies as fst
>>> def my_pod(racks: int, gpus_per_rack: int) -> nx.Graph:  # your builder
...     G = nx.Graph()
...     G.add_node("core", role="spine")
...     for r in range(racks):
...         G.add_node(f"tor{r}", role="leaf")
...         G.add_edge(f"tor{r}", "core", capacity_gbps=400.0 * gpus_per_rack, latency_us=1.0)
...         for g in range(gpus_per_rack):
...             G.add_node(f"r{r}g{g}", role="gpu")
...             G.add_edge(f"r{r}g{g}", f"tor{r}", capacity_gbps=400.0, latency_us=0.5)
...     return G
>>> pods = st.builds(my_pod, racks=st.integers(1, 3), gpus_per_rack=st.integers(2, 4))
>>> @settings(max_examples=10, deadline=None)
... @given(fab=fst.fabrics(graphs=pods), data=st.data())
... def test_all_reduce_fits(fab, data):
...     coll = data.draw(fst.collectives(fab, ops=["all_reduce"], max_size_bytes=1 << 22))
...     res = coll.run(fab)
...     assert res.simulation.link_peak_utilization.max() <= 1 + 1e-9
...     assert res.time_s > 0
>>> test_all_reduce_fits()
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from fabricsim.fabric import schema, builders
from fabricsim.traffic.background import PATTERNS, SIZE_DISTRIBUTIONS, Background
from fabricsim.traffic.collectives import ALGORITHMS, OPS, SUPPORTED, Collective
from fabricsim.fabric.compiled import Fabric


def _hypothesis_setup_hook() -> None:
    """Register fabricsim's types with Hypothesis (run by Hypothesis's entry point).

    Defined before this module imports Hypothesis: importing Hypothesis runs the entry points,
    which may re-enter this half-imported module. Registration is lazy (a function of the
    type), so nothing is built until ``st.from_type`` asks for it."""
    from hypothesis import strategies as hst

    hst.register_type_strategy(Fabric, lambda _t: fabrics())
    hst.register_type_strategy(Background, lambda _t: backgrounds())
    hst.register_type_strategy(Collective, lambda _t: collectives())
    try:
        from fabricsim.analysis.training import TrainingJob
    except ImportError:  # pragma: no cover - an install without the training module
        return
    hst.register_type_strategy(TrainingJob, lambda _t: training_jobs().map(
        lambda kw: TrainingJob(**kw)))


try:
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

# ------------------------------------------------------------------------------ settings

PROFILE_ENV = "FABRICSIM_HYPOTHESIS_PROFILE"
"""Environment variable :func:`load_profile` reads: ``fast``, ``thorough`` or a profile name."""

PROFILES = {"fast": "fabricsim-fast", "thorough": "fabricsim-thorough"}

settings.register_profile(
    "fabricsim-fast", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fabricsim-thorough", max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_profile(name: str | None = None) -> str:
    """Load a settings profile and return its name: ``name``, else the value of the
    ``FABRICSIM_HYPOTHESIS_PROFILE`` environment variable, else ``"fabricsim-fast"``.
    ``"fast"`` and ``"thorough"`` are short for the two fabricsim profiles; any other
    registered profile name works too."""
    if name is None:
        name = os.environ.get(PROFILE_ENV) or "fast"
    if not isinstance(name, str):
        raise InvalidArgument(f"name={name!r} must be a profile name (str)")
    full = PROFILES.get(name, name)
    try:
        settings.load_profile(full)
    except InvalidArgument:
        raise InvalidArgument(
            f"{PROFILE_ENV} / name={name!r}: unknown Hypothesis settings profile; fabricsim's "
            f"are {', '.join(f'{k!r} ({v})' for k, v in PROFILES.items())}"
        ) from None
    return full


# ------------------------------------------------------------------------------ argument checks

_SWITCH_ROLES = ("leaf", "spine", "core", "nvswitch", "border", "carrier_pop")
assert set(_SWITCH_ROLES) == set(schema.ROLES) - set(schema.ENDPOINT_ROLES)


def _int(name: str, value: Any, min_value: int = 0, max_value: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < min_value or (max_value is not None and value > max_value):
        upper = f" and <= {max_value}" if max_value is not None else ""
        raise InvalidArgument(f"{name}={value!r} must be >= {min_value}{upper}")
    return int(value)


def _real(name: str, value: Any, *, min_value: float, max_value: float,
          exclude_min: bool = False, exclude_max: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a number")
    x = float(value)
    lo_ok = x > min_value if exclude_min else x >= min_value
    hi_ok = x < max_value if exclude_max else x <= max_value
    if not (math.isfinite(x) and lo_ok and hi_ok):
        lo = "(" if exclude_min else "["
        hi = ")" if exclude_max else "]"
        raise InvalidArgument(f"{name}={value!r} must be a finite number in "
                              f"{lo}{min_value:g}, {max_value:g}{hi}")
    return x


def _ordered(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    if lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} must be <= {hi_name}={hi!r}")


def _strategy(name: str, value: Any, default: SearchStrategy, check=None) -> SearchStrategy:
    """``None`` -> ``default``; a strategy as is; a plain value (checked) -> ``st.just``."""
    if value is None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    if check is not None:
        check(name, value)
    return st.just(value)


def _positive_real(name: str, value: Any) -> None:
    _real(name, value, min_value=0.0, max_value=math.inf, exclude_min=True, exclude_max=True)


def _names(name: str, value: Any, valid: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name}={value!r} must be a list of names from {list(valid)}")
    out = tuple(value)
    if not out:
        raise InvalidArgument(f"{name}={value!r} must name at least one of {list(valid)}")
    bad = [v for v in out if v not in valid]
    if bad:
        raise InvalidArgument(f"{name}: unknown name {bad[0]!r}; valid: {', '.join(valid)}")
    return out


def _fabric_arg(fabric: Any) -> Fabric:
    if not isinstance(fabric, Fabric):
        raise InvalidArgument(
            f"fabric={fabric!r} must be a fabricsim.Fabric (draw one first, e.g. "
            "data.draw(fabrics()) or fabrics().flatmap(...))"
        )
    return fabric


def _min_count(needed: int, per_unit: int) -> int:
    """Smallest number of units of ``per_unit`` GPUs each that holds ``needed`` GPUs."""
    return max(1, -(-needed // per_unit))


@st.composite
def _drawn(draw, build):
    """``build(draw)`` as a strategy. Decorated once here: ``st.composite`` inspects the source
    of what it wraps, far too slow to redo every time a strategy function is called."""
    return build(draw)


def _palette(draw, values: SearchStrategy) -> SearchStrategy:
    """One to three distinct values to draw every edge's value from: ties (equal-cost paths,
    equal rates) stay common, and the example shrinks to a single value."""
    return st.sampled_from(draw(st.lists(values, min_size=1, max_size=3, unique=True)))


# ------------------------------------------------------------------------------ graphs


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
    cap_lo = _real("min_capacity_gbps", min_capacity_gbps, min_value=schema.MIN_CAPACITY_GBPS,
                   max_value=schema.MAX_CAPACITY_GBPS)
    cap_hi = _real("max_capacity_gbps", max_capacity_gbps, min_value=schema.MIN_CAPACITY_GBPS,
                   max_value=schema.MAX_CAPACITY_GBPS)
    _ordered("min_capacity_gbps", cap_lo, "max_capacity_gbps", cap_hi)
    # Keep every path under the schema's path bound: at most (max_switches - 1) switch links
    # plus two endpoint links per path.
    lat_cap = min(schema.MAX_LATENCY_US, schema.MAX_PATH_LATENCY_US / (max_switches + 1))
    lat_lo = _real("min_latency_us", min_latency_us, min_value=0.0, max_value=lat_cap,
                   exclude_min=True)
    lat_hi = _real("max_latency_us", max_latency_us, min_value=0.0, max_value=lat_cap,
                   exclude_min=True)
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
            extra = draw(st.lists(st.tuples(st.integers(0, n_sw - 1), st.integers(0, n_sw - 1)),
                                  max_size=max_extra_links), label="extra links")
            for a, b in extra:
                if a != b and not G.has_edge(f"sw{a}", f"sw{b}"):
                    link(f"sw{a}", f"sw{b}", "fabric")
        n_gpu = draw(st.integers(min_gpus, max_gpus), label="gpus")
        for g in range(n_gpu):
            gpu = f"gpu{g}"
            G.add_node(gpu, role="gpu")
            homes = draw(st.lists(st.sampled_from(range(n_sw)), min_size=1,
                                  max_size=min(max_homes, n_sw), unique=True))
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
    >>> G = find(leaf_spine_graphs(), lambda G: G.graph["params"]["leaves"] > 1)
    >>> G.graph["params"]["leaves"], G.graph["params"]["gpus_per_host"]
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
            f"max_gpus_per_host = {max_leaves * max_hosts * max_gph}")
    ratio = _strategy("oversubscription", oversubscription,
                      st.sampled_from([1.0, 2.0, 4.0]), _positive_real)
    nic = _strategy("nic_gbps", nic_gbps, st.sampled_from([100.0, 200.0, 400.0]),
                    _positive_real)

    def build(draw) -> nx.Graph:
        leaves = draw(st.integers(max(min_leaves, _min_count(min_gpus, max_hosts * max_gph)),
                                  max_leaves), label="leaves")
        hosts = draw(st.integers(_min_count(min_gpus, leaves * max_gph), max_hosts),
                     label="hosts_per_leaf")
        gph = draw(st.integers(_min_count(min_gpus, leaves * hosts), max_gph),
                   label="gpus_per_host")
        spines = draw(st.integers(min_spines, max_spines), label="spines")
        return builders.leaf_spine(leaves=leaves, spines=spines, hosts_per_leaf=hosts,
                                   gpus_per_host=gph, oversubscription=draw(ratio),
                                   nic_gbps=draw(nic))

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
        raise InvalidArgument(f"min_gpus={min_gpus} is more than a k={max_k} fat tree with "
                              f"{max_gph} GPUs per host holds ({max_k**3 // 4 * max_gph})")
    link = _strategy("link_gbps", link_gbps, st.sampled_from([100.0, 200.0, 400.0]),
                     _positive_real)
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
    >>> G = find(rail_optimized_graphs(), lambda G: G.graph["params"]["scalable_units"] == 2)
    >>> G.graph["params"]["cores"]
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
            f"max_gpus_per_node = {max_su * max_nodes * max_gpn}")
    ratio = _strategy("oversubscription", oversubscription, st.sampled_from([1.0, 2.0]),
                      _positive_real)
    nic = _strategy("nic_gbps", nic_gbps, st.sampled_from([200.0, 400.0]), _positive_real)

    def build(draw) -> nx.Graph:
        su = draw(st.integers(_min_count(min_gpus, max_nodes * max_gpn), max_su),
                  label="scalable_units")
        nodes = draw(st.integers(_min_count(min_gpus, su * max_gpn), max_nodes),
                     label="nodes_per_su")
        gpn = draw(st.integers(_min_count(min_gpus, su * nodes), max_gpn), label="gpus_per_node")
        spines = draw(st.none() | st.integers(1, max_spines), label="spines_per_su")
        cores = draw(st.none() | st.integers(1, max_cores), label="cores") if su > 1 else None
        return builders.rail_optimized(scalable_units=su, nodes_per_su=nodes, gpus_per_node=gpn,
                                       spines_per_su=spines, cores=cores,
                                       oversubscription=draw(ratio), nic_gbps=draw(nic))

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
    >>> G = find(edge_site_graphs(), lambda G: len(G.graph["edge"]["sites"]) > 1)
    >>> sorted(G.graph["edge"]["site_nodes"].values())
    ['site/s0', 'site/s1']
    """
    if base is None:
        base = leaf_spine_graphs(max_leaves=2, max_spines=2, max_hosts_per_leaf=2,
                                 max_gpus_per_host=2)
    elif not isinstance(base, SearchStrategy):
        raise InvalidArgument(f"base={base!r} must be a strategy of nx.Graph fabrics")
    min_carriers = _int("min_carriers", min_carriers, 1)
    max_carriers = _int("max_carriers", max_carriers, 1)
    _ordered("min_carriers", min_carriers, "max_carriers", max_carriers)
    min_sites = _int("min_sites", min_sites, 1)
    max_sites = _int("max_sites", max_sites, 1)
    _ordered("min_sites", min_sites, "max_sites", max_sites)
    # 5 us/km + base latency must stay under the schema's per-link latency bound.
    max_km = _real("max_distance_km", max_distance_km, min_value=0.0,
                   max_value=(schema.MAX_LATENCY_US - 1000.0) / 5.0, exclude_min=True)
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
                carriers=tuple(draw(st.lists(st.sampled_from(names), min_size=1,
                                             max_size=n_c, unique=True))),
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


# ------------------------------------------------------------------------------ workloads


def rank_sets(fabric: Fabric, *, min_size: int = 2, max_size: int | None = None
              ) -> SearchStrategy[list]:
    """Lists of distinct GPU labels of ``fabric`` (a rank order), ``min_size..max_size``
    long (``max_size`` defaults to every GPU)."""
    fabric = _fabric_arg(fabric)
    n = len(fabric.gpus)
    min_size = _int("min_size", min_size, 1)
    max_size = n if max_size is None else _int("max_size", max_size, 1)
    _ordered("min_size", min_size, "max_size", max_size)
    if min_size > n:
        raise InvalidArgument(f"min_size={min_size} is more than the fabric's {n} GPUs")
    return st.lists(st.sampled_from(fabric.gpus), min_size=min_size,
                    max_size=min(max_size, n), unique=True)


def _hosts(fabric: Fabric) -> dict:
    """GPUs grouped by host as the collectives group them (a GPU without ``host`` alone)."""
    out: dict = {}
    g = fabric.graph
    for gpu in fabric.gpus:
        out.setdefault(g.nodes[gpu].get("host", ("__own__", gpu)), []).append(gpu)
    return out


def _feasible(op: str, algo: str, fabric: Fabric | None) -> bool:
    if algo != "auto" and algo not in SUPPORTED[op]:
        return False
    if fabric is None:  # ranks=None on an unknown fabric: only rank-count-agnostic algorithms
        return algo != "hierarchical" and not (
            algo == "halving_doubling" and op in ("all_gather", "reduce_scatter"))
    if algo == "hierarchical":
        return sum(len(v) >= 2 for v in _hosts(fabric).values()) >= 2
    return True


def collectives(
    fabric: Fabric | None = None,
    *,
    ops: Sequence[str] = OPS,
    algorithms: Sequence[str] = ALGORITHMS,
    min_size_bytes: int = 1,
    max_size_bytes: int = 1 << 24,
    max_channels: int = 4,
) -> SearchStrategy[Collective]:
    """:class:`fabricsim.Collective` objects valid for ``fabric``: an op from ``ops``, an
    algorithm from ``algorithms`` that builds it, ranks (``None`` = every GPU, or a
    :func:`rank_sets` draw) that suit the algorithm (a power of two for halving-doubling
    all-gather / reduce-scatter; two or more hosts with the same number, at least 2, of ranks
    for hierarchical), ``min_size_bytes..max_size_bytes`` bytes and ``channels`` None or
    1..``max_channels``. Without a fabric, ranks are ``None`` and only algorithms that work
    for any rank count are drawn.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2,
    ...                                             gpus_per_host=2))
    >>> from hypothesis import find
    >>> c = find(collectives(fab, ops=["all_gather"], algorithms=["hierarchical"]),
    ...          lambda c: True)
    >>> c.op, c.algorithm, len(c.ranks), c.size_bytes
    ('all_gather', 'hierarchical', 4, 1)
    """
    if fabric is not None:
        fabric = _fabric_arg(fabric)
        if len(fabric.gpus) < 2:
            raise InvalidArgument(f"fabric={fabric!r} has fewer than 2 GPUs: no collective")
    ops = _names("ops", ops, OPS)
    algorithms = _names("algorithms", algorithms, ALGORITHMS)
    lo = _int("min_size_bytes", min_size_bytes, 1, 2**63 - 1)
    hi = _int("max_size_bytes", max_size_bytes, 1, 2**63 - 1)
    _ordered("min_size_bytes", lo, "max_size_bytes", hi)
    max_channels = _int("max_channels", max_channels, 1, 64)
    pairs = [(op, a) for op in ops for a in algorithms if _feasible(op, a, fabric)]
    if not pairs:
        where = "any fabric" if fabric is None else repr(fabric)
        raise InvalidArgument(
            f"ops={list(ops)!r} and algorithms={list(algorithms)!r}: no algorithm builds any "
            f"of the ops for {where} (see fabricsim.traffic.collectives.SUPPORTED)")

    def build(draw) -> Collective:
        op, algo = draw(st.sampled_from(pairs), label="op, algorithm")
        ranks = None if fabric is None else draw(_ranks_for(fabric, op, algo), label="ranks")
        size = draw(st.integers(lo, hi), label="size_bytes")
        channels = draw(st.none() | st.integers(1, max_channels), label="channels")
        return Collective(op, size, ranks, algo, channels)

    return _drawn(build)


def _ranks_for(fabric: Fabric, op: str, algo: str) -> SearchStrategy:
    gpus = fabric.gpus
    n = len(gpus)
    if algo == "hierarchical":
        hosts = [v for v in _hosts(fabric).values() if len(v) >= 2]

        def hier(draw) -> list:
            chosen = draw(st.lists(st.sampled_from(range(len(hosts))), min_size=2, unique=True))
            g = draw(st.integers(2, min(len(hosts[h]) for h in chosen)))
            out = []
            for h in chosen:
                out += draw(st.lists(st.sampled_from(hosts[h]), min_size=g, max_size=g,
                                     unique=True))
            return out

        return _drawn(hier)
    if algo == "halving_doubling" and op in ("all_gather", "reduce_scatter"):
        return st.integers(1, n.bit_length() - 1).flatmap(
            lambda e: st.lists(st.sampled_from(gpus), min_size=1 << e, max_size=1 << e,
                               unique=True))
    return st.none() | rank_sets(fabric, min_size=2)


def traffic_matrices(
    fabric: Fabric,
    *,
    min_flows: int = 0,
    max_flows: int = 8,
    endpoints: Sequence | None = None,
    min_size_bytes: int = 0,
    max_size_bytes: int = 10**8,
    max_start_s: float = 1e-4,
    max_deps: int = 2,
    allow_self: bool = False,
) -> SearchStrategy[list]:
    """Traffic matrices for :func:`fabricsim.simulate`: lists of ``(src, dst, size_bytes)``,
    ``(src, dst, size_bytes, start_s)`` or ``(src, dst, size_bytes, start_s, deps)`` between
    ``endpoints`` (default: the fabric's GPUs), ``src != dst`` unless ``allow_self``, integer
    sizes in ``min_size_bytes..max_size_bytes``, start times in [0, ``max_start_s``] and up to
    ``max_deps`` dependencies on earlier flows (so never a cycle)."""
    fabric = _fabric_arg(fabric)
    min_flows = _int("min_flows", min_flows, 0)
    max_flows = _int("max_flows", max_flows, 0)
    _ordered("min_flows", min_flows, "max_flows", max_flows)
    if endpoints is None:
        ends = list(fabric.gpus)
    else:
        if isinstance(endpoints, str) or not isinstance(endpoints, Iterable):
            raise InvalidArgument(f"endpoints={endpoints!r} must be a list of node labels")
        ends = list(endpoints)
        for e in ends:
            try:
                fabric.index(e)
            except Exception:
                raise InvalidArgument(f"endpoints: {e!r} is not a node of the fabric") from None
    if len(set(ends)) < (1 if allow_self else 2):
        raise InvalidArgument(
            f"endpoints: need at least {1 if allow_self else 2} distinct nodes, got {ends!r}")
    ends = list(dict.fromkeys(ends))
    lo = _int("min_size_bytes", min_size_bytes, 0, 2**63 - 1)
    hi = _int("max_size_bytes", max_size_bytes, 0, 2**63 - 1)
    _ordered("min_size_bytes", lo, "max_size_bytes", hi)
    max_start_s = _real("max_start_s", max_start_s, min_value=0.0, max_value=1e9)
    max_deps = _int("max_deps", max_deps, 0)
    if not isinstance(allow_self, bool):
        raise InvalidArgument(f"allow_self={allow_self!r} must be a bool")
    m = len(ends)

    def build(draw) -> list:
        n = draw(st.integers(min_flows, max_flows), label="flows")
        flows = []
        for i in range(n):
            s = draw(st.integers(0, m - 1))
            if allow_self:
                d = draw(st.integers(0, m - 1))
            else:
                d = (s + 1 + draw(st.integers(0, m - 2))) % m
            row: tuple = (ends[s], ends[d], draw(st.integers(lo, hi)))
            form = draw(st.integers(3, 5))
            if form >= 4:
                row += (draw(st.just(0.0) | st.floats(0.0, max_start_s)),)
            if form == 5:
                row += (draw(st.lists(st.sampled_from(range(i)), max_size=min(i, max_deps),
                                      unique=True)) if i else [],)
            flows.append(row)
        return flows

    return _drawn(build)


def background_loads(*, min_load: float = 0.0, max_load: float = 0.9) -> SearchStrategy[float]:
    """Background loads (a fraction of each endpoint's NIC capacity) in
    [``min_load``, ``max_load``], within [0, 1); shrinks towards ``min_load``."""
    lo = _real("min_load", min_load, min_value=0.0, max_value=1.0, exclude_max=True)
    hi = _real("max_load", max_load, min_value=0.0, max_value=1.0, exclude_max=True)
    _ordered("min_load", lo, "max_load", hi)
    return st.floats(lo, hi, allow_nan=False)


def size_cdfs(
    *,
    min_points: int = 2,
    max_points: int = 6,
    min_bytes: float = 1e3,
    max_bytes: float = 1e8,
) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Valid empirical flow-size CDFs for :class:`fabricsim.Background` ``sizes=``:
    ``(values_bytes, cdf)`` arrays of ``min_points..max_points`` points, values non-decreasing
    in [``min_bytes``, ``max_bytes``], cdf non-decreasing in [0, 1] and ending at 1."""
    min_points = _int("min_points", min_points, 2)
    max_points = _int("max_points", max_points, 2)
    _ordered("min_points", min_points, "max_points", max_points)
    lo = _real("min_bytes", min_bytes, min_value=0.0, max_value=2.0**63, exclude_min=True)
    hi = _real("max_bytes", max_bytes, min_value=0.0, max_value=2.0**63, exclude_min=True)
    _ordered("min_bytes", lo, "max_bytes", hi)

    def build(draw) -> tuple[np.ndarray, np.ndarray]:
        k = draw(st.integers(min_points, max_points))
        values = sorted(draw(st.lists(st.floats(lo, hi), min_size=k, max_size=k)))
        cdf = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=k - 1, max_size=k - 1)))
        return np.array(values), np.array(cdf + [1.0])

    return _drawn(build)


def backgrounds(
    *,
    loads: Any = None,
    sizes: Any = None,
    patterns: Sequence[str] = ("uniform", "permutation", "incast"),
    static_fraction: Any = None,
    max_incast_receivers: int = 1,
) -> SearchStrategy[Background]:
    """:class:`fabricsim.Background` objects. ``loads``: a strategy or a number (default
    :func:`background_loads`); ``sizes``: a strategy or a fixed ``sizes=`` value (default: a
    built-in distribution, a fixed size of 10 kB - 10 MB or a :func:`size_cdfs` draw);
    ``patterns`` drawn from (``"tenant"`` adds a small ring all-reduce tenant);
    ``static_fraction``: a strategy or a number (default 0, or up to 0.5);
    ``incast_receivers`` 1..``max_incast_receivers`` (keep it below the endpoint count you
    will use). Small flows at a high load mean many flows: the defaults keep the mean size
    at 10 kB or more."""
    load = _strategy("loads", loads, background_loads(),
                     lambda n, v: _real(n, v, min_value=0.0, max_value=1.0, exclude_max=True))
    size = _strategy(
        "sizes", sizes,
        st.sampled_from(sorted(SIZE_DISTRIBUTIONS)) | st.floats(1e4, 1e7) | size_cdfs(
            min_bytes=1e4))
    patterns = _names("patterns", patterns, PATTERNS)
    static = _strategy("static_fraction", static_fraction, st.just(0.0) | st.floats(0.0, 0.5),
                       lambda n, v: _real(n, v, min_value=0.0, max_value=1.0, exclude_max=True))
    max_rx = _int("max_incast_receivers", max_incast_receivers, 1)

    def build(draw) -> Background:
        pattern = draw(st.sampled_from(patterns), label="pattern")
        kw: dict = {}
        if pattern == "tenant":
            kw["tenant"] = draw(collectives(ops=["all_reduce"], algorithms=["ring"],
                                            max_size_bytes=1 << 20))
            kw["tenant_repeats"] = draw(st.integers(1, 3))
        if pattern == "incast":
            kw["incast_receivers"] = draw(st.integers(1, max_rx))
        return Background(load=draw(load, label="load"), sizes=draw(size, label="sizes"),
                          pattern=pattern, static_fraction=draw(static), **kw)

    return _drawn(build)


def training_jobs(
    *,
    max_gpus: int = 16,
    profiles: Sequence[str] = ("h100-ndr400", "a100-hdr200", "b200-xdr800"),
    moe: bool = True,
) -> SearchStrategy[dict]:
    """Keyword arguments of a valid :class:`fabricsim.TrainingJob` using at most
    ``max_gpus`` GPUs (data x tensor x pipeline parallel): layers divisible by the pipeline
    stages, the global batch a multiple of data-parallel x sequence length, expert
    parallelism (with ``moe``) dividing data parallelism over some MoE layers. Build the job
    with ``fs.TrainingJob(**kwargs)``; the dict form lets you change a field before that.

    >>> from hypothesis import find
    >>> kw = find(training_jobs(max_gpus=8), lambda kw: kw["data_parallel"] > 1)
    >>> kw["data_parallel"], kw["tensor_parallel"], kw["pipeline_parallel"]
    (2, 1, 1)
    """
    max_gpus = _int("max_gpus", max_gpus, 1)
    from fabricsim.fabric import profiles as _profiles

    valid = _profiles.list_profiles()
    if isinstance(profiles, str) or not isinstance(profiles, Iterable) or not list(profiles):
        raise InvalidArgument(f"profiles={profiles!r} must be a non-empty list of profile names")
    for p in profiles:
        try:
            _profiles.get_profile(p)
        except Exception:
            raise InvalidArgument(
                f"profiles: unknown profile {p!r}; valid: {', '.join(valid)}") from None
    profiles = list(profiles)
    if not isinstance(moe, bool):
        raise InvalidArgument(f"moe={moe!r} must be a bool")

    def divisors(n: int) -> list[int]:
        return [d for d in range(1, n + 1) if n % d == 0]

    def build(draw) -> dict:
        tp = draw(st.sampled_from([t for t in (1, 2, 4, 8) if t <= max_gpus]))
        pp = draw(st.integers(1, max(1, min(4, max_gpus // tp))))
        dp = draw(st.integers(1, max(1, max_gpus // (tp * pp))))
        layers = pp * draw(st.integers(1, 8))
        hidden = 128 * draw(st.integers(1, 64))
        seq_len = draw(st.sampled_from([512, 1024, 2048, 4096]))
        seqs_per_rank = draw(st.integers(1, 8))
        kw = {
            "params": draw(st.sampled_from([1e8, 1e9, 7e9, 70e9]) | st.floats(1e6, 1e12)),
            "layers": layers,
            "hidden_size": hidden,
            "seq_len": seq_len,
            "global_batch_tokens": dp * seq_len * seqs_per_rank,
            "data_parallel": dp,
            "tensor_parallel": tp,
            "pipeline_parallel": pp,
            "profile": draw(st.sampled_from(profiles)),
            "compute_efficiency": draw(st.floats(0.1, 1.0)),
            "overlap": draw(st.just(0.0) | st.floats(0.0, 1.0)),
            "sharded_optimizer": draw(st.booleans()),
            "placement": draw(st.sampled_from(["rail", "linear", "random"])),
            "placement_seed": draw(st.integers(0, 2**32)),
        }
        if draw(st.booleans()):
            kw["microbatches"] = draw(st.integers(1, 8))
        if moe and draw(st.booleans()):
            kw["moe_layers"] = draw(st.integers(1, layers))
            kw["expert_parallel"] = draw(st.sampled_from(divisors(dp)))
            kw["top_k"] = draw(st.integers(1, 2))
        return kw

    return _drawn(build)


__all__ = [
    "PROFILE_ENV",
    "PROFILES",
    "load_profile",
    "fabric_graphs",
    "leaf_spine_graphs",
    "fat_tree_graphs",
    "rail_optimized_graphs",
    "edge_site_graphs",
    "fabrics",
    "rank_sets",
    "collectives",
    "traffic_matrices",
    "background_loads",
    "size_cdfs",
    "backgrounds",
    "training_jobs",
]
