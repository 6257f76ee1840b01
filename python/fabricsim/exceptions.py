"""The one exception hierarchy of fabricsim.

Every error fabricsim raises on purpose is a :class:`FabricError`. Errors about a bad argument
also subclass :class:`ValueError` (or :class:`TypeError` for a wrong type), so generic handlers
keep working. Errors from the Rust core are mapped onto these classes by the binding; a Rust
panic surfaces as :class:`InternalError` and is always a bug in fabricsim.
"""

from __future__ import annotations

from collections.abc import Hashable


class FabricError(Exception):
    """Base class of every error fabricsim raises on purpose."""


class InvalidArgumentError(FabricError, ValueError):
    """An argument is out of range or malformed; the message names it."""


class InvalidTypeError(FabricError, TypeError):
    """An argument has the wrong type; the message names it."""


class UnknownNameError(InvalidArgumentError):
    """An unknown algorithm / op / routing policy / profile / carrier name; lists the valid ones."""


class InvalidGraphError(InvalidArgumentError):
    """The fabric graph violates the schema; the message names the node or edge at fault."""


class EmptyFabricError(InvalidGraphError):
    """The graph has no nodes or no GPUs."""


class MissingAttributeError(InvalidGraphError):
    """A node or edge lacks a required attribute."""


class InvalidAttributeError(InvalidGraphError):
    """A node or edge attribute has a bad value (non-numeric, zero, negative, NaN, infinite...)."""


class UnknownRoleError(InvalidGraphError):
    """A node's ``role`` is not one of :data:`fabricsim.fabric.schema.ROLES`."""


class SelfLoopError(InvalidGraphError):
    """An edge connects a node to itself."""


class ParallelEdgeError(InvalidGraphError):
    """A MultiGraph has parallel edges and ``parallel="reject"`` was asked for."""


class UnreachableError(FabricError, ValueError):
    """Two endpoints have no path between them (GPUs cut off, every path failed...).

    ``src`` / ``dst`` are the labels of the pair (``src_index`` / ``dst_index`` their node
    indices, as the Rust core reports them); ``endpoints`` lists workload endpoints a failure
    removed. Attributes that do not apply are None.
    """

    src: Hashable | None = None
    dst: Hashable | None = None
    src_index: int | None = None
    dst_index: int | None = None
    endpoints: list[Hashable] | None = None


class DependencyCycleError(InvalidArgumentError):
    """Flow dependencies contain a cycle; the message names a flow on it."""


class ScenarioError(InvalidArgumentError):
    """A scenario file is malformed; the message names the key and line."""


class OverloadError(FabricError, ValueError):
    """The offered load saturates a link (offered >= 100 % of its capacity): queues would grow
    for as long as the run lasts, so there is no steady state to report. The message names the
    link, its tier and the offered percentage; ``link``, ``tier`` and ``offered`` (a fraction)
    say the same as attributes. Pass ``overload="saturate"`` to get a result marked saturated
    instead."""

    link: tuple | None = None
    tier: str | None = None
    offered: float | None = None


class ResourceError(FabricError, MemoryError):
    """A run would need more memory than the limit allows (estimated before allocating, or an
    allocation that failed). The message gives the estimate, the limit and what to change;
    ``estimate_bytes`` and ``limit_bytes`` say the same as attributes."""

    estimate_bytes: int | None = None
    limit_bytes: int | None = None


class InputFileNotFoundError(InvalidArgumentError, FileNotFoundError):
    """An input file (a scenario, an nccl-tests log, a cable list) does not exist; the message
    names it. Also a :class:`FileNotFoundError`, so ``except FileNotFoundError`` catches it."""


class ScenarioNotFoundError(ScenarioError, InputFileNotFoundError):
    """A scenario file does not exist (a :class:`ScenarioError` and a
    :class:`FileNotFoundError`)."""


class InternalError(FabricError, RuntimeError):
    """A bug in fabricsim (for example a Rust panic caught at the boundary). Please report it."""


__all__ = [
    "FabricError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "UnknownNameError",
    "InvalidGraphError",
    "EmptyFabricError",
    "MissingAttributeError",
    "InvalidAttributeError",
    "UnknownRoleError",
    "SelfLoopError",
    "ParallelEdgeError",
    "UnreachableError",
    "DependencyCycleError",
    "ScenarioError",
    "InputFileNotFoundError",
    "ScenarioNotFoundError",
    "OverloadError",
    "ResourceError",
    "InternalError",
]


class OverloadWarning(UserWarning):
    """The background offers some links more than their capacity: queues grow for as long as
    the run lasts, so results depend on the horizon and a run can take minutes."""
