"""The one seam between the Python package and the Rust extension ``fabricsim._core``.

No other module imports ``_core``. This module

* owns the compiled fabric the core routes on (:class:`Engine`, one per :class:`Fabric`);
* passes flat numpy arrays in (node and link indices, bytes, seconds) and turns what comes
  back into frozen result objects (:class:`SimOutput`, :class:`MonteCarloOutput`), so no
  string-keyed dict leaves it;
* names the nodes of an unreachable pair by their labels: the core only knows indices, so an
  :class:`UnreachableError` from it is re-raised here with ``src`` / ``dst`` set.

Units follow the core: bytes, bytes/s and seconds.

>>> import numpy as np
>>> eng = Engine(2, np.array([0, 1]), np.array([1, 0]), np.array([1e9, 1e9]),
...              np.array([1e-6, 1e-6]), np.array([False, False]), label=lambda i: f"gpu{i}")
>>> out = eng.simulate(_Flows(np.array([0]), np.array([1]), np.array([1e9])),
...                    policy="ecmp", seed=0, metric="hops")
>>> round(float(out.finish_s[0]), 6)  # 1 GB at 1 GB/s plus 1 us of propagation
1.000001
"""

from __future__ import annotations

import contextvars
import functools
import numbers
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from fabricsim import _core
from fabricsim.exceptions import UnreachableError

__version__: str = _core.__version__

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def thread_count() -> int:
    """Threads in the Rust core's pool (``RAYON_NUM_THREADS`` or the machine's cores)."""
    return _core.thread_count()


#: The thread bound of the calls made in this context (0: none): set by :func:`bounded_threads`
#: and read by every :class:`Engine` call, so that ``threads=1`` given to a public function
#: holds for all the core work it reaches (routing, routing tables, Monte Carlo samples), not
#: only for the Monte Carlo's samples.
_THREADS: contextvars.ContextVar[int] = contextvars.ContextVar("fabricsim_threads", default=0)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def threads_bound() -> int | None:
    """The thread bound of the core calls made here (None: none, the core's own pool)."""
    return _THREADS.get() or None


def threads_in_use(threads: int | None = None) -> int:
    """The threads a core call may use: ``threads`` if given, else the bound of this context,
    else the core's pool (:func:`thread_count`)."""
    return int(threads or _THREADS.get() or thread_count())


def bounded_threads(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a public function with a ``threads`` keyword: a positive integer given there
    bounds every core call the function makes, directly or through others, to that many
    threads (1: the calling thread). Without it (None) the enclosing call's bound holds, if
    any. Invalid values pass through unbounded, for the function's own check to name."""

    @functools.wraps(fn)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        threads = kwargs.get("threads")
        # any integer (numpy's too), not a bool: what the functions' own checks accept
        if not isinstance(threads, numbers.Integral) or isinstance(threads, bool) or threads < 1:
            return fn(*args, **kwargs)
        token = _THREADS.set(int(threads))
        try:
            return fn(*args, **kwargs)
        finally:
            _THREADS.reset(token)

    return call


class FlowArrays(Protocol):
    """What the engine needs of a flow set (``fabricsim.traffic.flows.FlowSet`` has it)."""

    @property
    def src(self) -> I64: ...
    @property
    def dst(self) -> I64: ...
    @property
    def size_bytes(self) -> F64: ...
    @property
    def release_s(self) -> F64: ...
    @property
    def delay_s(self) -> F64: ...
    @property
    def dep_ptr(self) -> I64: ...
    @property
    def dep_idx(self) -> I64: ...
    @property
    def via(self) -> I64: ...
    @property
    def flow_key(self) -> npt.NDArray[np.uint64]: ...
    @property
    def latency_scale(self) -> F64 | None: ...
    @property
    def lanes(self) -> tuple[I64, I64, I64, I64, npt.NDArray[np.uint64]] | None: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class _Flows:
    """Independent flows released at 0 (the module example's minimal :class:`FlowArrays`)."""

    src: I64
    dst: I64
    size_bytes: F64

    def __len__(self) -> int:
        return len(self.src)

    @property
    def release_s(self) -> F64:
        return np.zeros(len(self))

    @property
    def delay_s(self) -> F64:
        return np.zeros(len(self))

    @property
    def dep_ptr(self) -> I64:
        return np.zeros(len(self) + 1, np.int64)

    @property
    def dep_idx(self) -> I64:
        return np.zeros(0, np.int64)

    @property
    def via(self) -> I64:
        return np.full(len(self), -1, np.int64)

    @property
    def flow_key(self) -> npt.NDArray[np.uint64]:
        return np.arange(len(self), dtype=np.uint64)

    @property
    def latency_scale(self) -> F64 | None:
        return None


@dataclass(frozen=True, eq=False)
class SimOutput:
    """What one run of the flow engine returns: per-flow times (s) and rates (bytes/s), per-link
    statistics indexed by directed link id, and how long routing and the engine took."""

    start_s: F64
    transfer_end_s: F64
    finish_s: F64
    mean_rate_Bps: F64
    min_rate_Bps: F64
    max_rate_Bps: F64
    latency_s: F64
    link_bytes: F64
    link_busy_s: F64
    link_peak_utilization: F64
    events: int
    route_s: float
    engine_s: float
    #: Re-rating searches found too narrow and run again (since 0.2.0 a batch may run up to
    #: four: three retries through the links found too narrow, then one through everything).
    searches_widened: int = 0
    groups_merged: int = 0
    flows_rerated: int = 0


@dataclass(frozen=True, eq=False)
class MonteCarloOutput:
    """Per-sample job times (s) and the finished background flows' sizes, FCT slowdowns and
    sample numbers; ``bg_generated`` counts every background flow generated; ``flows_rerated``
    is each sample's work (flows the engine re-rated; empty when
    ``budget_exhausted``)."""

    job_time_s: F64
    bg_size_bytes: F64
    bg_slowdown: F64
    bg_sample: I64
    bg_generated: int
    flows_rerated: I64
    #: Some sample ran out of its event or work budget: every job time is inf.
    budget_exhausted: bool

    @classmethod
    def saturated(cls, samples: int) -> MonteCarloOutput:
        """A point out of budget: ``samples`` job times of inf and no background statistics."""
        return cls(
            job_time_s=np.full(samples, np.inf),
            bg_size_bytes=np.zeros(0),
            bg_slowdown=np.zeros(0),
            bg_sample=np.zeros(0, np.int64),
            bg_generated=0,
            flows_rerated=np.zeros(0, np.int64),
            budget_exhausted=True,
        )

    @classmethod
    def concat(cls, parts: Sequence[MonteCarloOutput]) -> MonteCarloOutput:
        """The output of one run from the outputs of its consecutive chunks of samples (run
        with ``first_sample`` at each chunk's start, so ``bg_sample`` already counts from the
        point's first sample), none of them out of budget (one that is makes the whole point
        :meth:`saturated`)."""
        return cls(
            job_time_s=np.concatenate([p.job_time_s for p in parts]),
            bg_size_bytes=np.concatenate([p.bg_size_bytes for p in parts]),
            bg_slowdown=np.concatenate([p.bg_slowdown for p in parts]),
            bg_sample=np.concatenate([p.bg_sample for p in parts]),
            bg_generated=sum(p.bg_generated for p in parts),
            flows_rerated=np.concatenate([p.flows_rerated for p in parts]),
            budget_exhausted=False,
        )


class Engine:
    """A fabric compiled for the Rust core: routing, simulation and Monte Carlo on it.

    ``label`` maps a node index to its label, to name nodes in errors.
    """

    def __init__(
        self,
        n_nodes: int,
        link_src: I64,
        link_dst: I64,
        capacity_Bps: F64,
        latency_s: F64,
        transit: npt.NDArray[np.bool_],
        label: Callable[[int], Hashable],
    ) -> None:
        self._label = label
        self._core = _core.CoreFabric(
            n_nodes,
            np.ascontiguousarray(link_src, dtype=np.int64),
            np.ascontiguousarray(link_dst, dtype=np.int64),
            np.ascontiguousarray(capacity_Bps, dtype=np.float64),
            np.ascontiguousarray(latency_s, dtype=np.float64),
            np.ascontiguousarray(transit, dtype=bool),
        )

    def _unreachable(self, err: UnreachableError) -> UnreachableError:
        s = getattr(err, "src_index", None)
        d = getattr(err, "dst_index", None)
        if s is None or d is None:
            return err
        src, dst = self._label(s), self._label(d)
        e = UnreachableError(f"no path from {src!r} to {dst!r}")
        e.src, e.dst = src, dst
        return e

    def distance(self, src: int, dst: int, metric: str) -> int | None:
        """Routing distance (hops, or ns along the lowest-latency path); None if unreachable."""
        return self._core.distance(src, dst, metric)

    def paths(self, src: int, dst: int, metric: str, limit: int) -> list[list[int]]:
        """Every equal-cost shortest path as lists of directed link ids (at most ``limit``)."""
        try:
            return self._core.paths(src, dst, metric, limit)
        except UnreachableError as e:
            raise self._unreachable(e) from None

    def route(
        self,
        src: int,
        dst: int,
        policy: str,
        seed: int,
        flow_key: int,
        metric: str,
        via: int | None,
    ) -> tuple[I64, F64, float]:
        """(link ids, fraction of the flow on each, propagation latency in s) of one flow."""
        try:
            return self._core.route(src, dst, policy, seed, flow_key, metric, via)
        except UnreachableError as e:
            raise self._unreachable(e) from None

    def precompute(self, dsts: I64 | None, metric: str) -> int:
        """Build the routing tables toward ``dsts`` (all nodes if None); returns their count."""
        return self._core.precompute(dsts, metric, threads=_THREADS.get())

    def offered_link_bytes(
        self,
        src: I64,
        dst: I64,
        size_bytes: F64,
        *,
        via: I64 | None = None,
        flow_key: npt.NDArray[np.uint64] | None = None,
        policy: str = "ecmp",
        seed: int = 0,
        metric: str = "hops",
    ) -> F64:
        """Bytes each directed link carries when the flows are routed (no simulation)."""
        k = len(src)
        via = np.full(k, -1, np.int64) if via is None else via
        flow_key = np.arange(k, dtype=np.uint64) if flow_key is None else flow_key
        try:
            return self._core.offered_link_bytes(
                src,
                dst,
                size_bytes,
                via,
                flow_key,
                policy=policy,
                seed=seed,
                metric=metric,
                threads=_THREADS.get(),
            )
        except UnreachableError as e:
            raise self._unreachable(e) from None

    def simulate(
        self,
        flows: FlowArrays,
        *,
        policy: str,
        seed: int,
        metric: str,
        capacity_factor: F64 | None = None,
    ) -> SimOutput:
        """Run the max-min fair flow engine on ``flows`` (routed as their lanes if they
        have some)."""
        lanes = getattr(flows, "lanes", None)
        lane_kw: dict[str, Any] = {}
        if lanes is not None:
            names = ("lane_ptr", "lane_src", "lane_dst", "lane_via", "lane_key")
            lane_kw = dict(zip(names, lanes, strict=True))
        try:
            d = self._core.simulate(
                flows.src,
                flows.dst,
                flows.size_bytes,
                flows.release_s,
                flows.delay_s,
                flows.dep_ptr,
                flows.dep_idx,
                flows.via,
                flows.flow_key,
                policy,
                seed,
                metric,
                capacity_factor,
                flows.latency_scale,
                threads=_THREADS.get(),
                **lane_kw,
            )
        except UnreachableError as e:
            raise self._unreachable(e) from None
        return SimOutput(
            **{k: d[k] for k in SimOutput.__dataclass_fields__ if k in d},
        )

    def monte_carlo(
        self,
        template: FlowArrays,
        latency_scale: F64,
        job_flows: int,
        samples: int,
        seed: int,
        policy: str,
        metric: str,
        vary_hash: bool,
        placement_pool: I64 | None,
        capacity_factor: F64 | None,
        threads: int,
        first_sample: int = 0,
        **background: Any,
    ) -> MonteCarloOutput:
        """``samples`` independent runs of ``template`` (the job is its first ``job_flows``
        flows) with background arrivals (``bg_*`` keywords, see ``_core.pyi``): samples number
        ``first_sample`` to ``first_sample + samples - 1`` of the point, each seeded by its
        number. ``threads``: 0 for the bound of this context (:func:`bounded_threads`), if any,
        else the core's default."""
        t = template
        try:
            out = _core.monte_carlo(
                self._core,
                t.src,
                t.dst,
                t.via,
                t.flow_key,
                t.size_bytes,
                t.release_s,
                t.delay_s,
                t.dep_ptr,
                t.dep_idx,
                latency_scale,
                job_flows,
                samples,
                seed,
                policy,
                metric,
                vary_hash,
                placement_pool,
                capacity_factor,
                threads or min(_THREADS.get(), samples),
                first_sample=first_sample,
                **background,
            )
        except UnreachableError as e:
            raise self._unreachable(e) from None
        return MonteCarloOutput(
            job_time_s=out["job_time_s"],
            bg_size_bytes=out["bg_size_bytes"],
            bg_slowdown=out["bg_slowdown"],
            bg_sample=out["bg_sample"],
            bg_generated=int(out["bg_generated"]),
            flows_rerated=out["flows_rerated"],
            budget_exhausted=bool(out["budget_exhausted"]),
        )
