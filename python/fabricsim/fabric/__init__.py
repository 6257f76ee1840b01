"""The fabric: what the cluster is made of.

:mod:`~fabricsim.fabric.schema` (node roles and edge attributes every fabric graph follows),
:mod:`~fabricsim.fabric.builders` (``leaf_spine``, ``fat_tree``, ``rail_optimized``,
``edge_sites``), :mod:`~fabricsim.fabric.profiles` (hardware profiles, each figure with its
source) and :mod:`~fabricsim.fabric.compiled` (:class:`Fabric`, a validated graph compiled for
the Rust core, and :class:`Route`) and :mod:`~fabricsim.fabric.io` (CSV cable lists).
"""

from fabricsim.fabric import builders, io, profiles, schema
from fabricsim.fabric.builders import edge_sites, fat_tree, leaf_spine, rail_optimized, torus
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric, Route
from fabricsim.fabric.io import read_cable_list

__all__ = [
    "METRICS",
    "ROUTING_POLICIES",
    "Fabric",
    "Route",
    "builders",
    "edge_sites",
    "fat_tree",
    "io",
    "leaf_spine",
    "profiles",
    "rail_optimized",
    "torus",
    "read_cable_list",
    "schema",
]
