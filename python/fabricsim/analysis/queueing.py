"""Small-message latency under load: what an inference RPC sees crossing a busy fabric.

Model
-----
The end-to-end latency of one message of ``size_bytes`` from ``src`` to ``dst`` is the sum,
over the directed links ``l`` of its route, of

* the propagation latency ``latency_us`` of the link;
* the serialisation time ``size_bytes / C_l``, ``C_l`` the link's *usable* capacity
  (``capacity_gbps`` x protocol efficiency, :attr:`fabricsim.Fabric.usable_Bps`). Every hop
  stores and forwards the whole message, which is exact for a message of one packet
  (``size_bytes <= mtu_bytes``, the usual inference RPC) and an upper bound for larger ones,
  whose packets pipeline across hops;
* a queueing wait ``W_l`` behind the background traffic already using the link.

Queueing: each directed link is an **M/M/1 queue of MTU-size packets** (Kleinrock, *Queueing
Systems* vol. 1, 1975, sec. 3.2): background packets arrive as a Poisson process, service
times are exponential with mean ``s_l = mtu_bytes / C_l``, and the link is busy a fraction
``rho_l`` (its utilisation) of the time. A packet arriving at a FCFS M/M/1 queue waits

* 0 with probability ``1 - rho`` (it finds the link idle; PASTA), and
* an exponential time with mean ``s / (1 - rho)`` with probability ``rho``,

so ``E[W] = rho / (1 - rho) * s`` and ``P(W > t) = rho * exp(-t (1 - rho) / s)``: the mean
wait grows like ``1 / (1 - rho)`` as the link approaches saturation, and the queue is
unstable at ``rho >= 1`` (rejected). Hops are independent (Kleinrock's independence
approximation, *Communication Nets*, 1964): each hop's wait is drawn independently, which is
accurate when a link carries many merged flows, as a fabric link under background load does.
The message itself is assumed not to change the utilisation (it is small).

Routing: with ``routing="ecmp"`` the message follows the single ECMP path of ``seed`` (flow key
0), exactly as :meth:`fabricsim.Fabric.route` returns it. With ``routing="spray"`` each sample
takes one path of the spray DAG, drawn hop by hop with the DAG's fractions (a node forwards
to a next hop with probability = that hop's share of the node's inflow), so the samples follow
the fraction-weighted mixture of the equal-cost paths.

Utilisation: ``utilization`` is one number for every directed link or an array with one entry
per directed link (e.g. :func:`link_utilization` of a :func:`fabricsim.simulate` result:
bytes carried / (usable capacity x duration)); ``background_load`` is one number applied to
every link that is not NVLink (NVLink links then idle). Values must be finite and >= 0
everywhere and < 1 on every link the message may cross.

>>> import fabricsim as fs
>>> fab = fs.Fabric.from_networkx(
...     fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=1, gpus_per_host=1))
>>> a, b = fab.gpus
>>> r = message_latency(fab, a, b, 4096, background_load=0.5, samples=20_000)
>>> round(r.base_us, 4)  # 4 hops of 0.6 us + 4 x 4096 B at 50 GB/s
2.7277
>>> round(r.expected_mean_us - r.base_us, 4)  # 4 hops x 0.5/0.5 x 0.08192 us
0.3277
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _memory, _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import ROUTING_POLICIES, Fabric

DEFAULT_QUANTILES = (0.5, 0.9, 0.99, 0.999)
#: Samples per call, at most: each draws a waiting time per hop (10**8 tried to allocate
#: tens of GiB), as :data:`fabricsim.analysis.tail.MAX_SAMPLES` caps tail_latency.
MAX_SAMPLES = 10_000_000


# ---------------------------------------------------------------------------- M/M/1 waits


def mm1_mean_wait_s(utilization: Any, service_s: Any) -> np.ndarray:
    """Mean FCFS M/M/1 waiting time ``rho / (1 - rho) * service_s`` (s), elementwise.

    >>> float(mm1_mean_wait_s(0.5, 1e-6))
    1e-06
    """
    rho = np.asarray(utilization, dtype=np.float64)
    return rho / (1.0 - rho) * np.asarray(service_s, dtype=np.float64)


def sample_mm1_wait_s(
    rng: np.random.Generator, utilization: Any, service_s: Any, size: Any = None
) -> np.ndarray:
    """Draw FCFS M/M/1 waiting times (s): 0 with probability ``1 - rho``, otherwise
    exponential with mean ``service_s / (1 - rho)``. ``utilization`` and ``service_s``
    broadcast against ``size`` (default: their broadcast shape). Callers check ``rho < 1``."""
    rho = np.asarray(utilization, dtype=np.float64)
    service = np.asarray(service_s, dtype=np.float64)
    if size is None:
        size = np.broadcast_shapes(rho.shape, service.shape)
    busy = rng.random(size) < rho
    wait = rng.exponential(1.0, size) * (service / (1.0 - rho))
    return np.where(busy, wait, 0.0)


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HopLatency:
    """One directed link a message may cross: ``probability`` it does (1 on an ECMP path; the
    link's spray fraction otherwise) and its latency terms in µs."""

    link: tuple
    link_id: int
    probability: float
    utilization: float
    propagation_us: float
    serialization_us: float
    mean_wait_us: float

    def as_dict(self) -> dict:
        return {
            "link": list(self.link),
            "link_id": self.link_id,
            "probability": self.probability,
            "utilization": self.utilization,
            "propagation_us": self.propagation_us,
            "serialization_us": self.serialization_us,
            "mean_wait_us": self.mean_wait_us,
        }


@dataclass(frozen=True, eq=False)
class LatencyResult:
    """The latency distribution of one message (every time in µs).

    ``samples_us``: one end-to-end latency per sample (read-only array). ``quantiles_us``:
    ``{q: latency}`` for the requested quantiles (of the samples). ``mean_us``: the samples'
    mean; ``expected_mean_us``: the model's exact mean, ``base_us`` + the expected waits.
    ``base_us``: propagation + serialisation without queueing (for spray the
    fraction-weighted mean over the paths). ``hops``: the per-link breakdown.
    """

    src: Hashable
    dst: Hashable
    size_bytes: float
    routing: str
    mtu_bytes: float
    samples_us: np.ndarray = field(repr=False)
    quantiles_us: dict
    mean_us: float
    expected_mean_us: float
    base_us: float
    hops: tuple[HopLatency, ...] = field(repr=False)

    @property
    def queueing_mean_us(self) -> float:
        """Expected total queueing wait along the route (µs)."""
        return self.expected_mean_us - self.base_us

    def quantile_us(self, q: float) -> float:
        """Any quantile of the samples (µs)."""
        q = _validate.probability("q", q)
        return float(np.quantile(self.samples_us, q))

    def as_dict(self) -> dict:
        return {
            "src": str(self.src),
            "dst": str(self.dst),
            "size_bytes": self.size_bytes,
            "routing": self.routing,
            "mtu_bytes": self.mtu_bytes,
            "quantiles_us": {str(q): v for q, v in self.quantiles_us.items()},
            "mean_us": self.mean_us,
            "expected_mean_us": self.expected_mean_us,
            "base_us": self.base_us,
            "samples": len(self.samples_us),
            "hops": [h.as_dict() for h in self.hops],
        }


# ---------------------------------------------------------------------------- arguments


def link_utilization(fabric: Fabric, result: Any, duration_s: float | None = None) -> np.ndarray:
    """Mean utilisation of every directed link during a simulation: bytes carried /
    (usable capacity x ``duration_s``), ``duration_s`` defaulting to the result's makespan.
    Pass it as ``utilization=`` to :func:`message_latency`.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(
    ...     fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2, gpus_per_host=1))
    >>> a, b = fab.gpus
    >>> res = fs.simulate(fab, [(a, b, 50e6)])
    >>> round(float(link_utilization(fab, res, duration_s=0.002).max()), 3)
    0.5
    """
    link_bytes = getattr(result, "link_bytes", None)
    if link_bytes is None:
        raise InvalidTypeError(
            f"result: expected a simulation result with link_bytes (fabricsim.simulate), "
            f"got {type(result).__name__}"
        )
    link_bytes = np.asarray(link_bytes, dtype=np.float64)
    if link_bytes.shape != (fabric.num_links,):
        raise InvalidArgumentError(
            f"result: has {link_bytes.shape[0] if link_bytes.ndim else 0} links, the fabric "
            f"{fabric.num_links}; was it simulated on another fabric?"
        )
    if duration_s is None:
        duration_s = getattr(result, "makespan_s", 0.0)
        if not duration_s > 0:
            return np.zeros(fabric.num_links)
    duration_s = _validate.positive("duration_s", duration_s)
    return link_bytes / (fabric.usable_Bps * duration_s)


def resolve_utilization(
    fabric: Fabric, utilization: Any = None, background_load: Any = None
) -> np.ndarray:
    """Per-directed-link utilisation from ``utilization`` (a scalar or one value per directed
    link) or ``background_load`` (a scalar for every non-NVLink link); zeros if neither.
    Checks every value is finite and >= 0; stability (< 1) is checked on the links used."""
    n = fabric.num_links
    if utilization is not None and background_load is not None:
        raise InvalidArgumentError(
            "utilization and background_load: give at most one of them (utilization per "
            "directed link, or background_load for every non-NVLink link)"
        )
    if background_load is not None:
        load = _validate.positive("background_load", background_load, allow_zero=True)
        kinds = fabric.compiled.kind
        nvlink = np.fromiter(
            (kinds[e] == "nvlink" for e in fabric.compiled.link_edge.tolist()), bool, n
        )
        return np.where(nvlink, 0.0, load)
    if utilization is None:
        return np.zeros(n)
    if isinstance(utilization, numbers.Real) and not isinstance(utilization, bool):
        if not (math.isfinite(float(utilization)) and float(utilization) >= 0):
            raise InvalidArgumentError(f"utilization: must be finite and >= 0, got {utilization!r}")
        return np.full(n, float(utilization))
    try:
        rho = np.asarray(utilization, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidTypeError(
            f"utilization: expected a number or an array of {n} numbers (one per directed "
            f"link), got {type(utilization).__name__}"
        ) from None
    if rho.shape != (n,):
        raise InvalidArgumentError(
            f"utilization: expected one value per directed link ({n}), got shape {rho.shape}"
        )
    bad = ~np.isfinite(rho) | (rho < 0)
    if bad.any():
        lid = int(np.flatnonzero(bad)[0])
        raise InvalidArgumentError(
            f"utilization[{lid}] (link {fabric.link(lid)!r}): must be finite and >= 0, "
            f"got {rho[lid]!r}"
        )
    return rho


def check_stable(fabric: Fabric, rho: np.ndarray, link_ids: Any) -> None:
    """Raise InvalidArgumentError naming the first of ``link_ids`` with utilisation >= 1."""
    ids = np.asarray(link_ids, dtype=np.int64)
    bad = ids[rho[ids] >= 1.0]
    if len(bad):
        lid = int(bad[0])
        raise InvalidArgumentError(
            f"utilization of link {fabric.link(lid)!r} is {rho[lid]:g}: an M/M/1 queue needs "
            "utilization < 1 (at >= 1 the queue grows without bound)"
        )


# ---------------------------------------------------------------------------- the model


def message_latency(
    fabric: Fabric,
    src: Hashable,
    dst: Hashable,
    size_bytes: float,
    *,
    utilization: Any = None,
    background_load: float | None = None,
    routing: str = "ecmp",
    seed: int = 0,
    samples: int = 10_000,
    mtu_bytes: float = 4096,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> LatencyResult:
    """Latency distribution of one ``size_bytes`` message from ``src`` to ``dst`` under
    background load (see the module docs for the model). ``samples`` draws with a numpy
    Generator seeded by ``seed`` (which also picks the ECMP path).

    Raises InvalidArgumentError naming the argument, node or link at fault (a link with
    utilisation >= 1 on the route: the queue is unstable), UnreachableError if there is no
    path.
    """
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    _validate.choice("routing", routing, ROUTING_POLICIES)
    seed = _validate.seed(seed)
    size = _validate.positive("size_bytes", size_bytes, allow_zero=True)
    mtu = _validate.positive("mtu_bytes", mtu_bytes)
    n = _validate.integer("samples", samples, maximum=MAX_SAMPLES)
    _memory.check(
        n * 8 * 8 * 6,
        f"message_latency(samples={n:,})",  # ~6 hops, ~8 arrays
        "ask for fewer samples",
    )
    qs = tuple(
        _validate.probability(f"quantiles[{i}]", q)
        for i, q in enumerate(_validate.iterable("quantiles", quantiles, "numbers"))
    )
    rho = resolve_utilization(fabric, utilization, background_load)

    route = fabric.route(
        src, dst, policy=_validate.choice("routing", routing, ROUTING_POLICIES), seed=seed
    )
    ids = route.link_ids.astype(np.int64)
    check_stable(fabric, rho, ids)
    cap = fabric.usable_Bps[ids]
    prop_s = fabric.compiled.latency_s[ids]
    ser_s = size / cap
    service_s = mtu / cap
    mean_wait_s = mm1_mean_wait_s(rho[ids], service_s)
    hops = tuple(
        HopLatency(
            link=route.links[k],
            link_id=int(ids[k]),
            probability=float(route.fractions[k]),
            utilization=float(rho[ids[k]]),
            propagation_us=float(prop_s[k] * 1e6),
            serialization_us=float(ser_s[k] * 1e6),
            mean_wait_us=float(mean_wait_s[k] * 1e6),
        )
        for k in range(len(ids))
    )
    p = np.asarray(route.fractions, dtype=np.float64)
    base_s = float(np.dot(p, prop_s + ser_s))
    expected_s = base_s + float(np.dot(p, mean_wait_s))

    rng = np.random.default_rng(seed)
    total_s = _sample_paths(fabric, src, dst, route, rng, n, prop_s + ser_s, rho[ids], service_s)
    samples_us = total_s * 1e6
    samples_us.flags.writeable = False
    qv = np.quantile(samples_us, qs) if qs else np.zeros(0)
    return LatencyResult(
        src=src,
        dst=dst,
        size_bytes=size,
        routing=routing,
        mtu_bytes=mtu,
        samples_us=samples_us,
        quantiles_us={q: float(v) for q, v in zip(qs, np.atleast_1d(qv), strict=True)},
        mean_us=float(samples_us.mean()),
        expected_mean_us=expected_s * 1e6,
        base_us=base_s * 1e6,
        hops=hops,
    )


def _sample_paths(
    fabric: Fabric,
    src: Hashable,
    dst: Hashable,
    route: Any,
    rng: np.random.Generator,
    n: int,
    base_s: np.ndarray,
    rho: np.ndarray,
    service_s: np.ndarray,
) -> np.ndarray:
    """Walk ``n`` samples from the source to the destination over the route's links (one path
    per sample, next hops drawn with the route's fractions) and sum base + M/M/1 wait."""
    total = np.zeros(n)
    ids = route.link_ids
    if not len(ids):
        return total
    c = fabric.compiled
    src_of = c.link_src[ids]
    dst_of = c.link_dst[ids]
    frac = np.asarray(route.fractions, dtype=np.float64)
    # Positions (into the route's arrays) of each node's out-links, and their probabilities.
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for u in np.unique(src_of).tolist():
        pos = np.flatnonzero(src_of == u)
        out[u] = (pos, frac[pos] / frac[pos].sum())
    cur = np.full(n, fabric.index(src), dtype=np.int64)
    end = fabric.index(dst)
    for _ in range(len(ids)):
        active = np.flatnonzero(cur != end)
        if not len(active):
            break
        pos = np.empty(len(active), dtype=np.int64)
        here = cur[active]
        for u in np.unique(here).tolist():
            sel = np.flatnonzero(here == u)
            cand, prob = out[u]
            pos[sel] = cand[0] if len(cand) == 1 else rng.choice(cand, size=len(sel), p=prob)
        total[active] += base_s[pos] + sample_mm1_wait_s(rng, rho[pos], service_s[pos])
        cur[active] = dst_of[pos]
    return total


__all__ = [
    "DEFAULT_QUANTILES",
    "HopLatency",
    "LatencyResult",
    "link_utilization",
    "message_latency",
    "mm1_mean_wait_s",
    "sample_mm1_wait_s",
    "resolve_utilization",
    "check_stable",
]
