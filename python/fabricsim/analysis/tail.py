"""Tail latency by Monte Carlo: the distribution, not just the mean.

:func:`tail_latency` runs ``samples`` independent samples of a workload (a collective, or any
traffic matrix) sharing the fabric with background traffic. Each sample draws its own ECMP hash
seed, background arrivals and (with ``placement="random"``) job placement, from
``splitmix64(seed ^ sample)``: the same seed gives the same numbers whatever the thread count.
Samples run in parallel in the Rust core with the GIL released.

Timeline of a sample: background flows arrive from t = 0; the job is released at
``warmup_s`` and the sample ends when its last flow finishes. The default warm-up is long
enough for the background to reach its steady state: ten mean flow times at the offered load,
``10 x E[size] / (NIC rate x (1 - load))``, capped at the job's unloaded time. Arrivals are
generated over a window (``warmup_s + horizon x unloaded time``); a sample whose job outlasts
the window is rerun with a 1.5x longer one. Every endpoint draws arrivals from its own stream, so
a longer window only adds later arrivals: the result equals an unbounded window. Background
flows still running when the job ends are censored: the FCT slowdowns (FCT / FCT alone on an
empty fabric) cover finished flows only.

>>> import fabricsim as fs
>>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2,
...                                             gpus_per_host=1))
>>> coll = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
>>> res = fs.tail_latency(fab, coll, fs.Background(load=0.3), samples=20, seed=1)
>>> len(res.job_time_s), res.p99_s >= res.p50_s >= res.unloaded_time_s
(20, True)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    OverloadWarning,
)
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric
from fabricsim.traffic.background import (
    Background,
    as_background,
    capacity_factor,
    mean_size_bytes,
    nic_Bps,
    offered_utilization,
    size_cdf,
)
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import FlowSet, concat_flowsets, flows_from_matrix, run_flowset
from fabricsim.types import Metric, Routing, TailPlacement

PLACEMENTS = ("fixed", "random")
MAX_THREADS = 1024
MAX_SAMPLES = 10_000_000  # results are held in memory, a few numbers per sample
MAX_BACKGROUND_FLOWS = 2_000_000  # expected per sample; beyond it memory and time run away
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
SIZE_BUCKETS_BYTES = ((0, 1e5, "<100KB"), (1e5, 1e6, "100KB-1MB"), (1e6, 1e7, "1-10MB"),
                      (1e7, np.inf, ">10MB"))


def quantiles(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {k: float("nan") for k in QUANTILES}
    return {k: float(np.quantile(x, q)) for k, q in QUANTILES.items()}


@dataclass(frozen=True, eq=False)
class TailLatencyResult:
    """Distribution of the job's completion time (s) over samples, and of background flows'
    slowdown. Quantiles: ``p50``, ``p90``, ``p99``, ``p999``."""

    job_time_s: np.ndarray
    unloaded_time_s: float
    bg_size_bytes: np.ndarray = field(repr=False)
    bg_slowdown: np.ndarray = field(repr=False)
    bg_sample: np.ndarray = field(repr=False)
    bg_generated: int = 0
    algorithm: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def quantiles_s(self) -> dict[str, float]:
        return quantiles(self.job_time_s)

    @property
    def p50_s(self) -> float:
        return self.quantiles_s["p50"]

    @property
    def p99_s(self) -> float:
        return self.quantiles_s["p99"]

    @property
    def spread_s(self) -> float:
        """max - min over samples."""
        return float(self.job_time_s.max() - self.job_time_s.min())

    @property
    def slowdown_p99(self) -> float:
        """p99 job time / unloaded job time."""
        return self.p99_s / self.unloaded_time_s if self.unloaded_time_s > 0 else float("nan")

    def slowdown_by_size(self) -> dict[str, dict[str, float]]:
        """Background FCT slowdown quantiles per flow-size bucket (plus ``count``)."""
        out = {}
        for lo, hi, name in SIZE_BUCKETS_BYTES:
            m = (self.bg_size_bytes >= lo) & (self.bg_size_bytes < hi)
            q = quantiles(self.bg_slowdown[m])
            q["count"] = int(m.sum())
            out[name] = q
        return out

    def __repr__(self) -> str:
        q = self.quantiles_s
        return (f"<TailLatencyResult {len(self.job_time_s)} samples: job p50 "
                f"{q['p50'] * 1e3:.4g} ms, p99 {q['p99'] * 1e3:.4g} ms (unloaded "
                f"{self.unloaded_time_s * 1e3:.4g} ms), {len(self.bg_slowdown):,} background "
                "flows>")

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        q = self.quantiles_s
        rows = [(k, v * 1e3, v / self.unloaded_time_s if self.unloaded_time_s > 0 else None)
                for k, v in q.items()]
        return html_table(("quantile", "job time (ms)", "slowdown"), rows, caption=repr(self))

    def to_pandas(self, what: str = "samples") -> Any:
        """A DataFrame: ``what="samples"`` (one row per Monte Carlo sample: ``job_time_s``,
        ``slowdown`` vs the unloaded time) or ``"background"`` (one row per finished
        background flow: ``sample``, ``size_bytes``, ``slowdown``)."""
        from fabricsim._display import pandas

        _validate.choice("what", what, ("samples", "background"))
        pd = pandas()
        if what == "samples":
            base = self.unloaded_time_s if self.unloaded_time_s > 0 else math.nan
            return pd.DataFrame({"job_time_s": self.job_time_s,
                                 "slowdown": self.job_time_s / base}).rename_axis("sample")
        return pd.DataFrame({"sample": self.bg_sample, "size_bytes": self.bg_size_bytes,
                             "slowdown": self.bg_slowdown})

    def as_dict(self) -> dict:
        return {
            "samples": len(self.job_time_s),
            "unloaded_time_s": self.unloaded_time_s,
            "algorithm": self.algorithm,
            **{f"{k}_s": v for k, v in self.quantiles_s.items()},
            "background_flows": int(len(self.bg_slowdown)),
            "slowdown_by_size": self.slowdown_by_size(),
        }


def _workload_flows(fabric: Fabric, workload: Any, routing: Routing, seed: int, metric: Metric
                    ) -> tuple[FlowSet, float, str | None]:
    """The job's flow DAG, its unloaded time and (for collectives) the algorithm used."""
    if isinstance(workload, Collective):
        base = workload.run(fabric, routing=routing, seed=seed, metric=metric)
        fs_ = workload.plan(fabric, base.algorithm)
        return fs_, base.time_s, base.algorithm
    if isinstance(workload, (list, tuple, dict, FlowSet)):
        fs_ = flows_from_matrix(fabric, workload)
        alone = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric)
        return fs_, alone.makespan_s, None
    raise InvalidTypeError(
        f"workload: expected a fabricsim.Collective or a traffic matrix, got {type(workload).__name__}")


def tail_latency(
    fabric: Fabric,
    workload: Any,
    background: Any = None,
    samples: int = 100,
    seed: int = 0,
    *,
    routing: Routing = "ecmp",
    metric: Metric = "latency",
    placement: TailPlacement = "fixed",
    vary_hash: bool = True,
    threads: int | None = None,
    warmup_s: float | None = None,
    horizon: float = 2.0,
) -> TailLatencyResult:
    """Distribution of ``workload``'s completion time under ``background`` over ``samples``
    Monte Carlo samples (see the module docs for the timeline and what varies per sample).

    ``workload``: a :class:`~fabricsim.Collective` or a traffic matrix. ``background``: a
    :class:`~fabricsim.Background`, a load in [0, 1) (uniform Poisson, web-search sizes), or
    None. Background endpoints default to the GPUs the job does not use, or every GPU when the
    job uses them all. ``placement="random"`` re-draws the job's GPUs every sample.
    """
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    _validate.choice("routing", routing, ROUTING_POLICIES)
    _validate.choice("metric", metric, METRICS)
    _validate.choice("placement", placement, PLACEMENTS)
    seed = _validate.seed(seed)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) \
            or not 1 <= samples <= MAX_SAMPLES:
        raise InvalidArgumentError(
            f"samples: must be an integer in 1..{MAX_SAMPLES:,}, got {samples!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= MAX_THREADS):
        raise InvalidArgumentError(
            f"threads: must be an integer in 1..{MAX_THREADS} or None, got {threads!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float)) \
            or not 0 < horizon <= 1e9:  # comparisons, not np.isfinite: 10**400 is an int too
        raise InvalidArgumentError(f"horizon: must be a number in (0, 1e9], got {horizon!r}")
    horizon = float(horizon)
    bg: Background | None = as_background(background)

    job, unloaded_s, algorithm = _workload_flows(fabric, workload, routing, seed, metric)
    job_nodes = np.unique(np.concatenate([job.src, job.dst]))
    gpus = fabric.compiled.gpus
    endpoints = None
    if bg is not None:
        if bg.endpoints is not None:
            endpoints = fabric.indices(bg.endpoints, "background endpoints")
            if len(np.unique(endpoints)) != len(endpoints):
                dup = next(e for i, e in enumerate(bg.endpoints)
                           if fabric.index(e) in endpoints[:i].tolist())
                raise InvalidArgumentError(
                    f"background endpoints: {dup!r} appears more than once")
        else:
            others = np.setdiff1d(gpus, job_nodes)
            endpoints = others if (len(others) >= 2 and placement == "fixed") else gpus
    if warmup_s is None:
        warmup_s = 0.0
        if bg is not None and bg.dynamic and endpoints is not None and len(endpoints):
            nic = float(nic_Bps(fabric, endpoints).min())
            steady = 10.0 * bg.mean_size_bytes / (nic * (1.0 - bg.load))
            warmup_s = min(unloaded_s, steady)
    if isinstance(warmup_s, bool) or not isinstance(warmup_s, (int, float)) \
            or not 0 <= warmup_s <= 1e9:
        raise InvalidArgumentError(f"warmup_s: must be a number in [0, 1e9] s, got {warmup_s!r}")
    warmup_s = float(warmup_s)
    job = FlowSet(job.src, job.dst, job.size_bytes, job.release_s + warmup_s, job.delay_s,
                  job.dep_ptr, job.dep_idx, job.via, job.flow_key, job.latency_scales())
    template = job
    bg_kwargs: dict[str, Any] = {}
    if bg is not None:
        assert endpoints is not None  # set whenever there is a background
        if bg.pattern == "tenant":
            tenant = bg.tenant
            if tenant.ranks is None:
                tenant = Collective(tenant.op, tenant.size_bytes,
                                    [fabric.label(int(i)) for i in endpoints], tenant.algorithm,
                                    tenant.channels, tenant.profile, tenant.pipeline_chunks,
                                    tenant.max_flows)
            tr = tenant.run(fabric, routing=routing, seed=seed, metric=metric)
            plan = tenant.plan(fabric, tr.algorithm)
            tflows = concat_flowsets([plan] * bg.tenant_repeats, sequential=True)
            template = concat_flowsets([job, tflows])
        elif bg.load > 0:
            if len(endpoints) < 2:
                raise InvalidArgumentError("background: needs at least 2 endpoints")
            values, cdf = size_cdf(bg.sizes)
            inject = nic_Bps(fabric, endpoints)
            end_s = float(warmup_s + horizon * unloaded_s)
            expected = bg.load * float(inject.sum()) / mean_size_bytes(values, cdf) * end_s
            if expected > MAX_BACKGROUND_FLOWS:
                raise InvalidArgumentError(
                    f"background: about {expected:.3g} background flows per sample (load "
                    f"{bg.load:g} of {len(endpoints)} endpoints' NICs, mean flow size "
                    f"{mean_size_bytes(values, cdf):.3g} bytes, over {end_s:.3g} s); at most "
                    f"{MAX_BACKGROUND_FLOWS:,} are simulated: use larger flows (sizes=), a lower "
                    "load, a shorter horizon or warmup_s")
            if bg.pattern in ("uniform", "permutation"):
                _warn_if_overloaded(fabric, endpoints, inject, bg, metric)
            bg_kwargs = dict(
                bg_endpoints=np.ascontiguousarray(endpoints, np.int64),
                bg_inject_bps=inject,
                bg_load=float(bg.load),
                bg_pattern=bg.pattern,
                bg_receivers=int(bg.incast_receivers),
                bg_size_values=np.ascontiguousarray(values, np.float64),
                bg_size_cdf=np.ascontiguousarray(cdf, np.float64),
                bg_start_s=0.0,
                bg_end_s=end_s,
            )
    cap = capacity_factor(fabric, bg.static_fraction) if bg is not None else None
    pool = np.ascontiguousarray(gpus, np.int64) if placement == "random" else None
    out = fabric._engine.monte_carlo(
        template, np.ascontiguousarray(template.latency_scales(), np.float64), len(job),
        int(samples), seed, routing, metric, bool(vary_hash), pool, cap,
        min(int(threads or 0), int(samples)), **bg_kwargs)
    return TailLatencyResult(
        job_time_s=out.job_time_s,
        unloaded_time_s=float(unloaded_s),
        bg_size_bytes=out.bg_size_bytes,
        bg_slowdown=out.bg_slowdown,
        bg_sample=out.bg_sample,
        bg_generated=out.bg_generated,
        algorithm=algorithm,
        meta={"samples": int(samples), "seed": seed, "routing": routing, "placement": placement,
              "warmup_s": float(warmup_s), "background": bg},
    )


def _warn_if_overloaded(fabric: Fabric, endpoints: np.ndarray, inject: np.ndarray, bg: Any,
                        metric: str) -> None:
    """Warn when the background alone offers a link more than it carries (e.g. uniform traffic
    across a 4:1 oversubscribed tier at load above 0.25): its queue then grows for as long as
    the job runs, and so does the run."""
    cap = capacity_factor(fabric, bg.static_fraction)
    util, sampled = offered_utilization(fabric, endpoints, inject, bg.load, metric=metric,
                                        capacity_factor=cap)
    limit = 1.1 if sampled else 1.0 + 1e-9  # a sample of pairs estimates each link's share
    over = np.flatnonzero(util > limit)
    if len(over) == 0:
        return
    worst = int(over[np.argmax(util[over])])
    u, v = fabric.link(worst)[:2]
    warnings.warn(
        f"background: at load {bg.load:g} the {bg.pattern} traffic offers {len(over)} links more "
        f"than their capacity (the most: {util[worst]:.0%} of {u!r} -> {v!r}); their queues grow "
        "for as long as the job runs, so results depend on the horizon and the run can take "
        "minutes. Lower the load or add capacity on that tier.",
        OverloadWarning, stacklevel=3)
