"""Background (east-west) traffic that shares the fabric with a job, in the same engine.

A :class:`Background` says how much other traffic there is (``load``: the fraction of each
endpoint's NIC capacity it offers on average), how big its flows are, and who talks to whom:

- ``pattern="uniform"``: Poisson flow arrivals at every endpoint, each to a uniformly random
  other endpoint;
- ``"permutation"``: each endpoint sends to one fixed partner (a random cycle, new per sample);
- ``"incast"``: every endpoint sends to one of ``incast_receivers`` endpoints (many to one);
- ``"tenant"``: another tenant's job: ``tenant`` (a :class:`~fabricsim.Collective`) runs on
  ``endpoints`` back to back, ``tenant_repeats`` times;
- ``static_fraction``: a fixed fraction of every network link's capacity is taken away (a quick
  what-if; works with any pattern, or alone with ``load=0``).

Flow sizes (``sizes=``): a built-in empirical CDF (:data:`SIZE_DISTRIBUTIONS`), a fixed size in
bytes, or ``(values_bytes, cdf)`` numpy arrays (piecewise-linear CDF, non-decreasing, ending at
1). Arrivals are Poisson per endpoint at rate ``load * nic_Bps / mean_size`` — the standard
open-loop workload of the data-centre transport literature (DCTCP, pFabric, HPCC).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from fabricsim import _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError
from fabricsim.traffic.collectives import Collective
from fabricsim.types import Pattern

# Empirical flow-size CDFs, sizes in bytes. P(size <= value) = cdf, linear in between.
SIZE_DISTRIBUTIONS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    # Web search: Alizadeh et al., "Data Center TCP (DCTCP)", SIGCOMM 2010, Fig. 4, in the
    # tabulated form used by the pFabric / HPCC simulations (WebSearch_distribution). Mean ~1.6 MB.
    "websearch": (
        np.array([0, 1e4, 2e4, 3e4, 5e4, 8e4, 2e5, 1e6, 2e6, 5e6, 1e7, 3e7], dtype=float),
        np.array([0, 0.15, 0.2, 0.3, 0.4, 0.53, 0.6, 0.7, 0.8, 0.9, 0.97, 1.0]),
    ),
    # Data mining: Greenberg et al., "VL2", SIGCOMM 2009, Fig. 2, as tabulated for pFabric:
    # most flows are tiny, most bytes are in flows of 100 MB and more. Mean ~7.4 MB.
    "datamining": (
        np.array(
            [100, 180, 216, 560, 900, 1100, 1870, 3160, 1e4, 4e5, 3.16e6, 1e8, 1e9], dtype=float
        ),
        np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0]),
    ),
    # Storage / checkpoint: synthetic heavy tail (not from a paper): small metadata and object
    # reads, and checkpoint shards of hundreds of MB to a few GB. Mean ~95 MB.
    "storage": (
        np.array([4e3, 6.4e4, 1e6, 1.6e7, 2.56e8, 1e9, 4e9], dtype=float),
        np.array([0, 0.3, 0.5, 0.7, 0.9, 0.97, 1.0]),
    ),
}

PATTERNS = ("uniform", "permutation", "incast", "tenant")


def size_cdf(sizes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Resolve ``sizes`` to (values_bytes, cdf) arrays, validating user arrays."""
    if isinstance(sizes, str) and sizes not in SIZE_DISTRIBUTIONS and sizes[:1].isdigit():
        sizes = _validate.size_bytes(sizes, "sizes")  # a fixed size: "4MiB"
    if isinstance(sizes, str):
        if sizes not in SIZE_DISTRIBUTIONS:
            raise UnknownNameError(
                f"sizes: unknown distribution {sizes!r}; valid: {', '.join(SIZE_DISTRIBUTIONS)}"
            )
        return SIZE_DISTRIBUTIONS[sizes]
    if isinstance(sizes, (int, float, np.integer, np.floating)) and not isinstance(sizes, bool):
        if not 0 < sizes < 2**63:  # compared before float(): float(10**400) overflows
            raise InvalidArgumentError(
                f"sizes: a fixed size must be > 0 and < 2**63 bytes, got {sizes!r}"
            )
        v = float(sizes)
        return np.array([v, v]), np.array([0.0, 1.0])
    if isinstance(sizes, (tuple, list)) and len(sizes) == 2:
        try:
            values = np.asarray(sizes[0], dtype=float)
            cdf = np.asarray(sizes[1], dtype=float)
        except (TypeError, ValueError):
            raise InvalidTypeError("sizes: (values_bytes, cdf) must be numeric arrays") from None
        except OverflowError:  # a Python int beyond float64
            raise InvalidArgumentError("sizes: values and cdf must be finite") from None
        if values.ndim != 1 or cdf.ndim != 1:
            raise InvalidArgumentError(
                f"sizes: values_bytes and cdf must be 1-D arrays, got shapes {values.shape} "
                f"and {cdf.shape}"
            )
        if len(values) != len(cdf) or len(values) < 2:
            raise InvalidArgumentError(
                f"sizes: values and cdf need the same length >= 2, got {len(values)} and {len(cdf)}"
            )
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(cdf))):
            raise InvalidArgumentError("sizes: values and cdf must be finite")
        if np.any(values < 0) or np.any(np.diff(values) < 0):
            raise InvalidArgumentError("sizes: values_bytes must be >= 0 and non-decreasing")
        if np.any(cdf < 0) or np.any(np.diff(cdf) < 0) or cdf[-1] != 1.0:
            raise InvalidArgumentError("sizes: cdf must be non-decreasing in [0, 1] and end at 1")
        if mean_size_bytes(values, cdf) <= 0:
            raise InvalidArgumentError("sizes: the mean flow size must be > 0 bytes")
        return values, cdf
    raise InvalidTypeError(
        "sizes: expected a distribution name, a size in bytes or (values_bytes, cdf), "
        f"got {sizes!r}"
    )


def mean_size_bytes(values: np.ndarray, cdf: np.ndarray) -> float:
    """Mean of a piecewise-linear CDF (point mass cdf[0] at values[0], uniform pieces after)."""
    return float(values[0] * cdf[0] + np.sum(np.diff(cdf) * 0.5 * (values[1:] + values[:-1])))


@dataclass(frozen=True)
class Background:
    """Other traffic on the fabric during a job. See the module docs.

    >>> import fabricsim as fs
    >>> fs.Background(load=0.5, sizes="websearch").mean_size_bytes > 1e6
    True
    """

    load: float = 0.0
    sizes: Any = "websearch"
    pattern: Pattern = "uniform"
    endpoints: Sequence[Hashable] | None = None
    incast_receivers: int = 1
    tenant: Any = None
    tenant_repeats: int = 3
    static_fraction: float = 0.0

    def __post_init__(self) -> None:
        ld = self.load
        if (
            isinstance(ld, bool)
            or not isinstance(ld, (int, float, np.integer, np.floating))
            or not 0.0 <= ld < 1.0
        ):  # NaN fails the comparison; np.isfinite(2**64) raises
            raise InvalidArgumentError(
                "load: must be a number in [0, 1) (a fraction of NIC capacity), got "
                f"{_validate.shown(ld)}"
            )
        if self.pattern not in PATTERNS:
            raise UnknownNameError(
                f"pattern: unknown value {self.pattern!r}; valid: {', '.join(PATTERNS)}"
            )
        size_cdf(self.sizes)
        sf = self.static_fraction
        if isinstance(sf, bool) or not isinstance(sf, (int, float)) or not 0.0 <= sf < 1.0:
            raise InvalidArgumentError(f"static_fraction: must be in [0, 1), got {sf!r}")
        r = self.incast_receivers
        # The upper bound keeps it a machine integer; the core checks it against the endpoints.
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r < 2**32:
            raise InvalidArgumentError(
                f"incast_receivers: must be an integer in 1..{2**32 - 1}, got {r!r}"
            )
        if self.pattern == "tenant":
            if not isinstance(self.tenant, Collective):
                raise InvalidArgumentError(
                    "tenant: pattern='tenant' needs tenant=fs.Collective(...) (the other job)"
                )
            t = self.tenant_repeats
            if isinstance(t, bool) or not isinstance(t, int) or t < 1:
                raise InvalidArgumentError(f"tenant_repeats: must be an integer >= 1, got {t!r}")

    @property
    def mean_size_bytes(self) -> float:
        return mean_size_bytes(*size_cdf(self.sizes))

    @property
    def dynamic(self) -> bool:
        """True when flows arrive at random (Poisson), i.e. samples differ."""
        return self.load > 0 and self.pattern != "tenant"


def as_background(background: Any) -> Background | None:
    """``None`` -> no background; a number -> ``Background(load=number)``."""
    if background is None:
        return None
    if isinstance(background, Background):
        return background
    if isinstance(background, (int, float, np.integer, np.floating)) and not isinstance(
        background, bool
    ):
        # checked there (float(10**400) would overflow here)
        return Background(load=cast(float, background))
    raise InvalidTypeError(
        f"background: expected a fabricsim.Background, a load in [0, 1) or None, got {background!r}"
    )


def nic_Bps(fabric, nodes: np.ndarray) -> np.ndarray:
    """Injection capacity of each endpoint: its usable non-NVLink out-link capacity (bytes/s)."""
    c = fabric.compiled
    kinds = np.array([k or "" for k in c.kind], dtype=object)[c.link_edge]
    net = kinds != "nvlink"
    cap = fabric.usable_Bps
    total_net = np.bincount(c.link_src[net], weights=cap[net], minlength=c.num_nodes)
    total_all = np.bincount(c.link_src, weights=cap, minlength=c.num_nodes)
    out = np.where(total_net[nodes] > 0, total_net[nodes], total_all[nodes])
    return np.ascontiguousarray(out, dtype=np.float64)


def capacity_factor(fabric, static_fraction: float) -> np.ndarray | None:
    """Per-link multiplier that takes ``static_fraction`` away from every non-NVLink link."""
    if static_fraction <= 0:
        return None
    c = fabric.compiled
    kinds = np.array([k or "" for k in c.kind], dtype=object)[c.link_edge]
    return np.where(kinds == "nvlink", 1.0, 1.0 - static_fraction).astype(np.float64)


def offered_utilization(
    fabric,
    endpoints: np.ndarray,
    inject_Bps: np.ndarray,
    load: float,
    *,
    metric: str = "latency",
    capacity_factor: np.ndarray | None = None,
    max_pairs: int = 20_000,
    seed: int = 0,
) -> tuple[np.ndarray, bool]:
    """Expected utilisation of every link under uniform background (also the mean over random
    permutations): each endpoint offers ``load`` x its NIC rate, spread evenly over the other
    endpoints and, between two of them, evenly over the equal-cost paths (the mean over ECMP
    hash seeds). Beyond ``max_pairs`` source/destination pairs a uniform sample of pairs stands
    for all of them; the second value says whether it was sampled."""
    endpoints = np.asarray(endpoints, np.int64)
    n = len(endpoints)
    m = fabric.compiled.link_src.shape[0]
    if n < 2 or load <= 0:
        return np.zeros(m), False
    sampled = n * (n - 1) > max_pairs
    if sampled:
        rng = np.random.default_rng(seed)
        s = rng.integers(0, n, max_pairs)
        d = (s + rng.integers(1, n, max_pairs)) % n  # uniform over the other endpoints
    else:
        s, d = np.nonzero(~np.eye(n, dtype=bool))
    # Bytes per second each pair offers, scaled so the pairs carry every endpoint's full load.
    rate = load * inject_Bps[s] / (n - 1) * (n * (n - 1) / len(s))
    # Each pair's bytes over one second, split evenly over its equal-cost paths, is the load
    # it offers to every link it crosses.
    offered_Bps = fabric._engine.offered_link_bytes(
        endpoints[s],
        endpoints[d],
        np.ascontiguousarray(rate, np.float64),
        policy="spray",
        metric=metric,
    )
    cap = fabric.usable_Bps if capacity_factor is None else fabric.usable_Bps * capacity_factor
    return offered_Bps / cap, sampled
