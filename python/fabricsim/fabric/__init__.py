"""The fabric: what the cluster is made of.

:mod:`~fabricsim.fabric.schema` (node roles and edge attributes every fabric graph follows),
:mod:`~fabricsim.fabric.builders` (``leaf_spine``, ``fat_tree``, ``rail_optimized``,
``edge_sites``), :mod:`~fabricsim.fabric.profiles` (hardware profiles, each figure with its
source) and :mod:`~fabricsim.fabric.compiled` (:class:`Fabric`, a validated graph compiled for
the Rust core, and :class:`Route`).
"""

from fabricsim.fabric import builders, profiles, schema
from fabricsim.fabric.builders import edge_sites, fat_tree, leaf_spine, rail_optimized
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric, Route

__all__ = [
    "METRICS",
    "ROUTING_POLICIES",
    "Fabric",
    "Route",
    "builders",
    "edge_sites",
    "fat_tree",
    "leaf_spine",
    "profiles",
    "rail_optimized",
    "schema",
]
