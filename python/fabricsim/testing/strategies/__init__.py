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
    :func:`facilities` (a :class:`fabricsim.Facility` that can host a profile's servers),
    :func:`background_loads`, :func:`size_cdfs`, :func:`backgrounds`
    (:class:`fabricsim.Background`), :func:`training_jobs` (:class:`fabricsim.TrainingJob`;
    :func:`training_job_kwargs` draws their keyword arguments), :func:`scenarios` (small
    runnable :class:`fabricsim.Scenario`).

``st.from_type(fabricsim.Fabric)`` (and ``Background``, ``Collective``, ``TrainingJob``,
``Scenario``) works once fabricsim is installed: it registers these strategies through
Hypothesis's ``hypothesis`` entry point (set ``HYPOTHESIS_NO_PLUGINS=1`` to turn that off).
The entry point lives outside the package (``_fabricsim_hypothesis``), so ``import
hypothesis`` does not import fabricsim; the strategies load when ``st.from_type`` asks.

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


def _hypothesis_setup_hook() -> None:
    """Register fabricsim's types with Hypothesis (the entry point itself is
    ``_fabricsim_hypothesis``, outside the package; this stays for code that calls it)."""
    from fabricsim.testing._hypothesis import register_types

    register_types()


from fabricsim.testing.strategies.facilities import facilities  # noqa: E402
from fabricsim.testing.strategies.graphs import (  # noqa: E402
    edge_site_graphs,
    fabric_graphs,
    fabrics,
    fat_tree_graphs,
    leaf_spine_graphs,
    rail_optimized_graphs,
)
from fabricsim.testing.strategies.profiles import (  # noqa: E402
    PROFILE_ENV,
    SETTINGS_PROFILES,
    load_profile,
)
from fabricsim.testing.strategies.workloads import (  # noqa: E402
    background_loads,
    backgrounds,
    collectives,
    rank_sets,
    scenarios,
    size_cdfs,
    traffic_matrices,
    training_job_kwargs,
    training_jobs,
)

__all__ = [
    "PROFILE_ENV",
    "SETTINGS_PROFILES",
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
    "training_job_kwargs",
    "scenarios",
    "facilities",
]
