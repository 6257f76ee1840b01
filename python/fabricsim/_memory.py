"""Memory guards: estimate what a run will allocate before allocating it.

A run whose estimate exceeds the limit raises :class:`fabricsim.ResourceError` (a
:class:`MemoryError` too) naming the estimate, the limit and what to change, instead of letting
the Rust core's allocator abort the interpreter.

The limit is, by default, :data:`DEFAULT_FRACTION` of the memory this process can still get:
the smaller of the machine's available memory (``MemAvailable`` in ``/proc/meminfo``) and what
is left of the address-space limit (``RLIMIT_AS``, ``ulimit -v``) above the process's current
size. Override it with :func:`set_memory_limit` or the ``FABRICSIM_MEMORY_LIMIT_BYTES``
environment variable (``0``: no limit).

The cost model (measured, docs/reliability.md): the engine holds every routed flow's links
(spraying: every link of every equal-cost path) at about :data:`BYTES_PER_ROUTE_ENTRY` bytes
each, plus about :data:`BYTES_PER_FLOW` bytes of per-flow state and result arrays.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from fabricsim.exceptions import InvalidArgumentError, ResourceError

#: Fraction of the memory still obtainable that one run may plan to use.
DEFAULT_FRACTION = 0.8
#: Peak bytes per route entry (one link of one flow's route) and per flow. Fitted on sprayed
#: and ECMP all-to-alls of 64 - 512 GPUs (peak RSS, ru_maxrss): 55 and 354 bytes; rounded up.
BYTES_PER_ROUTE_ENTRY = 64
BYTES_PER_FLOW = 400

_override: int | None = None


def set_memory_limit(limit_bytes: int | None = None) -> None:
    """Set the memory a single fabricsim run may plan to use (bytes; ``0``: no limit;
    ``None``: back to the default, a fraction of what the process can still get).

    >>> import fabricsim as fs
    >>> fs.set_memory_limit(8 << 30); fs.set_memory_limit(None)
    """
    global _override
    if limit_bytes is not None:
        from fabricsim import _validate

        limit_bytes = _validate.integer("limit_bytes", limit_bytes, minimum=0)
    _override = limit_bytes


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        size = 0
    return max(0, soft - size)


def limit_bytes() -> int | None:
    """The current limit in bytes (None: no limit)."""
    if _override is not None:
        return _override or None
    env = os.environ.get("FABRICSIM_MEMORY_LIMIT_BYTES")
    if env:
        try:
            v = int(env)
        except ValueError:
            raise InvalidArgumentError(
                f"FABRICSIM_MEMORY_LIMIT_BYTES: must be an integer number of bytes, got {env!r}"
            ) from None
        return v or None
    left = [x for x in (_meminfo_available(), _address_space_left()) if x is not None]
    return int(min(left) * DEFAULT_FRACTION) if left else None


def _human(n: float) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} bytes"


def check(estimate_bytes: float, what: str, advice: str) -> None:
    """Raise :class:`ResourceError` if ``estimate_bytes`` exceeds the limit."""
    limit = limit_bytes()
    if limit is None or estimate_bytes <= limit:
        return
    err = ResourceError(
        f"{what} needs about {_human(estimate_bytes)} of memory, more than the limit of "
        f"{_human(limit)} (fabricsim.set_memory_limit or FABRICSIM_MEMORY_LIMIT_BYTES); "
        f"{advice}"
    )
    err.estimate_bytes, err.limit_bytes = int(estimate_bytes), int(limit)
    raise err


def route_entries(
    fabric: Any, src: Any, dst: Any, routing: str, metric: str, sample: int = 32
) -> float:
    """Estimated route entries (links per flow, summed) of flows ``src -> dst`` (node index
    arrays): the mean over a sample of distinct pairs, times the flows. ECMP takes one path;
    spraying takes the union of every equal-cost path."""
    import numpy as np

    n = len(src)
    if n == 0:
        return 0.0
    # a fixed sample of flow positions (cheap on millions of flows; same seed, same answer)
    pick = np.random.default_rng(0).choice(n, sample, replace=False) if n > sample else np.arange(n)
    pairs = np.stack([np.asarray(src)[pick], np.asarray(dst)[pick]], axis=1)
    total = 0
    counted = 0
    for s, d in pairs.tolist():
        if s == d:
            continue
        try:
            paths = fabric._engine.paths(int(s), int(d), metric, 1 << 16)
        except Exception:  # unreachable pairs are reported by the run itself
            continue
        if not paths:
            continue
        counted += 1
        total += len({lid for p in paths for lid in p}) if routing == "spray" else len(paths[0])
    return n * (total / counted if counted else 1.0)


def check_flows(
    fabric: Any, src: Any, dst: Any, routing: str, metric: str, what: str, advice: str
) -> None:
    """The memory check for routing and simulating these flows (cheap: a few dozen path
    look-ups). Skipped for small flow sets, which cannot come near any limit."""
    n = len(src)
    if n < 10_000:
        return
    limit = limit_bytes()
    if limit is None:
        return
    est = (
        route_entries(fabric, src, dst, routing, metric) * BYTES_PER_ROUTE_ENTRY
        + n * BYTES_PER_FLOW
    )
    check(est, what, advice)
