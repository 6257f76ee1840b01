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
generated over a window (``warmup_s + horizon x unloaded time``); when a sample's job outlasts
it, the engine pauses at the window's end and takes the arrivals of a window 1.5x as long (each
endpoint draws from its own stream, which goes on where it stopped), so the arrivals are those
of an unbounded window and no sample is ever rerun (their ECMP hash keys follow the order in
which windows generate them, so with ECMP a different ``horizon`` can still route a sample's
later background flows differently: the same seed and horizon give the same answer). Background
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _memory, _validate
from fabricsim._engine import MonteCarloOutput, bounded_threads, threads_in_use
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    OverloadError,
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
from fabricsim.types import JobPlacement, Metric, Routing

#: How the job's GPUs are chosen per sample (not :data:`fabricsim.training.RANK_ORDERS`, the
#: order a training job's ranks take).
JOB_PLACEMENTS = ("fixed", "random")
MAX_THREADS = 1024
MAX_SAMPLES = 10_000_000  # results are held in memory, a few numbers per sample
#: Expected background flows per sample, at most: beyond it memory and time run away. The Rust
#: core stops widening a sample's arrival window at the same figure
#: (``fabricsim_core::montecarlo::MAX_BACKGROUND_FLOWS``; a test holds them equal).
MAX_BACKGROUND_FLOWS = 2_000_000
#: What a run does when the background alone offers some link >= 100 % of its capacity.
OVERLOAD_POLICIES = ("raise", "saturate")
#: Offered load from which a point counts as near saturation: it runs with an event budget.
NEAR_SATURATION = 0.9
#: Work budget per sample of a near-saturated point, as a multiple of one horizon's events:
#: the job's flows plus the background flows expected over the first arrival window, each
#: arriving and leaving once. A sample that needs more (its job outlasts the horizon, the
#: window would be widened) stops and counts as saturated (``job_time_s`` inf).
EVENT_BUDGET_PER_HORIZON = 2.0
#: A work budget to pass as ``tail_latency(work_budget=...)`` (not applied by default: below
#: near saturation a point is stable), in flows the engine re-rates per flow of one
#: horizon (the job's flows plus the background flows expected over the first arrival window).
#: Measured on the built-in example (8 samples, seed 0; docs/reliability.md): at load 0.3 a
#: sample re-rates at most 31 flows per such flow, at 0.6 (46 - 62 % offered) at most 161; at
#: 0.9 (70 % offered on the 1:1 designs) up to 659, 10 - 50 s a point. 250 leaves every point
#: up to 0.6 as it was and bounds the heavily loaded ones; a sample past it makes the point
#: saturated (``saturation == "work budget"``).
WORK_BUDGET_PER_FLOW = 250
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
SIZE_BUCKETS_BYTES = (
    (0, 1e5, "<100KB"),
    (1e5, 1e6, "100KB-1MB"),
    (1e6, 1e7, "1-10MB"),
    (1e7, np.inf, ">10MB"),
)


def quantiles(x: np.ndarray) -> dict[str, float]:
    """Quantiles of ``x`` (NaN for an empty array; a saturated run's ``inf`` stays ``inf``)."""
    if len(x) == 0:
        return {k: float("nan") for k in QUANTILES}
    if np.all(np.isfinite(x)):
        return {k: float(np.quantile(x, q)) for k, q in QUANTILES.items()}
    # "higher" picks a sample: linear interpolation between two infs would give inf - inf = NaN
    return {k: float(np.quantile(x, q, method="higher")) for k, q in QUANTILES.items()}


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
    #: True when the background offers some link >= 100 % of its capacity and the run was
    #: not simulated (``overload="saturate"``): ``job_time_s`` is ``inf`` in every sample.
    saturated: bool = False
    #: The largest offered utilisation of any link by the background (a fraction; 0 without
    #: uniform / permutation background), and that link's ends and tier.
    offered_max: float = 0.0
    offered_link: tuple | None = None
    #: Why the result is saturated: ``"offered load"`` (>= 100 % on a link: not simulated) or
    #: ``"event budget"`` (a near-saturated sample ran out of its work budget); None if not.
    saturation: str | None = None

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
        """max - min over samples (``inf`` for a saturated run)."""
        if self.saturated:
            return float("inf")
        return float(self.job_time_s.max() - self.job_time_s.min())

    @property
    def slowdown_p99(self) -> float:
        """p99 job time / unloaded job time (1.0 for an empty workload, whose times are 0)."""
        return self.p99_s / self.unloaded_time_s if self.unloaded_time_s > 0 else 1.0

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
        return (
            f"<TailLatencyResult {len(self.job_time_s)} samples: job p50 "
            f"{q['p50'] * 1e3:.4g} ms, p99 {q['p99'] * 1e3:.4g} ms (unloaded "
            f"{self.unloaded_time_s * 1e3:.4g} ms), {len(self.bg_slowdown):,} background "
            "flows>"
        )

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        q = self.quantiles_s
        rows = [
            (k, v * 1e3, v / self.unloaded_time_s if self.unloaded_time_s > 0 else None)
            for k, v in q.items()
        ]
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
            return pd.DataFrame(
                {"job_time_s": self.job_time_s, "slowdown": self.job_time_s / base}
            ).rename_axis("sample")
        return pd.DataFrame(
            {
                "sample": self.bg_sample,
                "size_bytes": self.bg_size_bytes,
                "slowdown": self.bg_slowdown,
            }
        )

    def as_dict(self) -> dict:
        return {
            "saturated": self.saturated,
            "saturation": self.saturation,
            "offered_max": self.offered_max,
            "samples": len(self.job_time_s),
            "unloaded_time_s": self.unloaded_time_s,
            "algorithm": self.algorithm,
            **{f"{k}_s": v for k, v in self.quantiles_s.items()},
            "background_flows": int(len(self.bg_slowdown)),
            "slowdown_by_size": self.slowdown_by_size(),
        }


def _workload_flows(
    fabric: Fabric, workload: Any, routing: Routing, seed: int, metric: Metric
) -> tuple[FlowSet, float, str | None]:
    """The job's flow DAG, its unloaded time and (for collectives) the algorithm used."""
    if isinstance(workload, Collective):
        base = workload.run(fabric, routing=routing, seed=seed, metric=metric)
        fs_ = workload.plan(fabric, base.algorithm, lanes=False)
        unloaded_s = base.time_s
        if base.aggregation is not None and "lanes" in base.aggregation:
            # run() simulated a host pair's channels as lanes of one flow; the samples run a
            # flow per channel, so the unloaded time is that plan's, or slowdowns could be < 1
            alone = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric)
            unloaded_s = alone.makespan_s
        return fs_, unloaded_s, base.algorithm
    if isinstance(workload, FlowSet) and workload.lanes is not None:
        raise InvalidArgumentError(
            "workload: a flow set made of lanes (Collective.plan(..., lanes=True)) cannot run "
            "in the Monte Carlo; plan it with lanes=False (a flow per channel)"
        )
    if isinstance(workload, (list, tuple, dict, FlowSet)):
        fs_ = flows_from_matrix(fabric, workload)
        alone = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric)
        return fs_, alone.makespan_s, None
    raise InvalidTypeError(
        "workload: expected a fabricsim.Collective or a traffic matrix, got "
        f"{type(workload).__name__}"
    )


@bounded_threads
def tail_latency(
    fabric: Fabric,
    workload: Any,
    background: Any = None,
    samples: int = 100,
    seed: int = 0,
    *,
    routing: Routing = "ecmp",
    metric: Metric = "latency",
    placement: JobPlacement = "fixed",
    vary_hash: bool = True,
    threads: int | None = None,
    warmup_s: float | None = None,
    horizon: float = 2.0,
    overload: str = "raise",
    event_budget: int | None = None,
    work_budget: int | None = None,
    progress: bool = False,
) -> TailLatencyResult:
    """Distribution of ``workload``'s completion time under ``background`` over ``samples``
    Monte Carlo samples (see the module docs for the timeline and what varies per sample).

    ``workload``: a :class:`~fabricsim.Collective` or a traffic matrix. ``background``: a
    :class:`~fabricsim.Background`, a load in [0, 1) (uniform Poisson, web-search sizes), or
    None. Background endpoints default to the GPUs the job does not use, or every GPU when the
    job uses them all. ``placement="random"`` re-draws the job's GPUs every sample.

    Overload: before simulating, each link's offered load is computed from routing alone
    (uniform and permutation background). If some link is offered >= 100 % of its capacity
    its queue grows for as long as the run lasts, so there is no answer to give:
    ``overload="raise"`` (the default) raises :class:`fabricsim.OverloadError` naming the link,
    its tier and the offered percentage; ``overload="saturate"`` returns at once a result with
    ``saturated=True`` and ``job_time_s`` = ``inf`` (nothing is simulated). Near saturation
    (some link offered >= :data:`NEAR_SATURATION`) queues are long and a run is slow: each
    sample then has a work budget, ``event_budget``: by default
    :data:`EVENT_BUDGET_PER_HORIZON` x the events of one horizon (the job's flows and the
    background flows expected over the first window), counted in the engine's interrupt polls
    (about one per event); ``0``: none; an integer sets it for every run. A sample that
    exceeds it stops with ``job_time_s = inf`` and the result is ``saturated`` too
    (``saturation == "event budget"``). Below near saturation a point is stable and runs to
    the end unless the caller sets ``work_budget``, a budget of flows re-rated by the engine
    (e.g. :data:`WORK_BUDGET_PER_FLOW` x the flows of one horizon; ``0``: none); past it the
    point is ``saturated`` with ``saturation == "work budget"``.
    A point that runs out of either budget is saturated as a whole: every sample's
    ``job_time_s`` is ``inf`` (the other samples stop too). Budgets count work, not time: the
    same seed gives the same answer on any machine and with any thread count.

    ``progress=True`` shows a progress bar (``tqdm.auto`` when installed) over the samples:
    they then run in chunks of a few per thread, each sample seeded by its number in the
    point, so the result is the same as without the bar (each chunk sets up its routing
    again, which costs a little time on large fabrics).

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2,
    ...                                             gpus_per_host=1, oversubscription=4))
    >>> job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    >>> r = fs.tail_latency(fab, job, 0.9, samples=2, overload="saturate")
    >>> r.saturated, round(r.offered_max, 2), r.p99_s
    (True, 2.4, inf)
    """
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    _validate.choice("routing", routing, ROUTING_POLICIES)
    _validate.choice("metric", metric, METRICS)
    _validate.choice("placement", placement, JOB_PLACEMENTS)
    _validate.choice("overload", overload, OVERLOAD_POLICIES)
    seed = _validate.seed(seed)
    progress = _validate.boolean("progress", progress)
    samples = _validate.integer("samples", samples, maximum=MAX_SAMPLES)
    if threads is not None:
        threads = _validate.integer("threads", threads, maximum=MAX_THREADS)
    horizon = _validate.real("horizon", horizon, minimum=0.0, min_open=True, maximum=1e9)
    if event_budget is not None:
        event_budget = _validate.integer("event_budget", event_budget, minimum=0, maximum=2**63 - 1)
    if work_budget is not None:
        work_budget = _validate.integer("work_budget", work_budget, minimum=0, maximum=2**63 - 1)
    bg: Background | None = as_background(background)

    job, unloaded_s, algorithm = _workload_flows(fabric, workload, routing, seed, metric)
    job_nodes = np.unique(np.concatenate([job.src, job.dst]))
    gpus = fabric.compiled.gpus
    endpoints = None
    if bg is not None:
        if bg.endpoints is not None:
            endpoints = fabric.indices(bg.endpoints, "background endpoints")
            if len(np.unique(endpoints)) != len(endpoints):
                dup = next(
                    e
                    for i, e in enumerate(bg.endpoints)
                    if fabric.index(e) in endpoints[:i].tolist()
                )
                raise InvalidArgumentError(f"background endpoints: {dup!r} appears more than once")
        else:
            others = np.setdiff1d(gpus, job_nodes)
            endpoints = others if (len(others) >= 2 and placement == "fixed") else gpus
    if warmup_s is None:
        warmup_s = 0.0
        if bg is not None and bg.dynamic and endpoints is not None and len(endpoints):
            nic = float(nic_Bps(fabric, endpoints).min())
            steady = 10.0 * bg.mean_size_bytes / (nic * (1.0 - bg.load))
            warmup_s = min(unloaded_s, steady)
    warmup_s = _validate.real("warmup_s", warmup_s, minimum=0.0, maximum=1e9)
    job = FlowSet(
        job.src,
        job.dst,
        job.size_bytes,
        job.release_s + warmup_s,
        job.delay_s,
        job.dep_ptr,
        job.dep_idx,
        job.via,
        job.flow_key,
        job.latency_scales(),
    )
    template = job
    bg_kwargs: dict[str, Any] = {}
    offered: tuple[float, tuple | None] = (0.0, None)
    expected = 0.0  # background flows expected over the first arrival window
    if bg is not None:
        assert endpoints is not None  # set whenever there is a background
        if bg.pattern == "tenant":
            tenant = bg.tenant
            if tenant.ranks is None:
                tenant = Collective(
                    tenant.op,
                    tenant.size_bytes,
                    [fabric.label(int(i)) for i in endpoints],
                    tenant.algorithm,
                    tenant.channels,
                    tenant.profile,
                    tenant.pipeline_chunks,
                    tenant.max_flows,
                )
            tr = tenant.run(fabric, routing=routing, seed=seed, metric=metric)
            plan = tenant.plan(fabric, tr.algorithm, lanes=False)
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
                    "load, a shorter horizon or warmup_s"
                )
            if bg.pattern in ("uniform", "permutation"):
                offered = _check_overload(fabric, endpoints, inject, bg, metric, overload)
                if offered[0] >= 1.0:
                    return TailLatencyResult(
                        job_time_s=np.full(samples, np.inf),
                        unloaded_time_s=float(unloaded_s),
                        bg_size_bytes=np.zeros(0),
                        bg_slowdown=np.zeros(0),
                        bg_sample=np.zeros(0, np.int64),
                        algorithm=algorithm,
                        meta={
                            "samples": samples,
                            "seed": seed,
                            "routing": routing,
                            "placement": placement,
                            "warmup_s": warmup_s,
                            "background": bg,
                        },
                        saturated=True,
                        offered_max=offered[0],
                        offered_link=offered[1],
                        saturation="offered load",
                    )
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
    _check_memory(fabric, template, bg_kwargs, routing, metric, samples, threads)
    near = offered[0] >= NEAR_SATURATION
    if event_budget is not None:
        budget = event_budget
    elif near:
        budget = int(EVENT_BUDGET_PER_HORIZON * (len(template) + expected))
    else:
        budget = 0
    if budget:
        bg_kwargs["event_budget"] = int(budget)
    if work_budget is not None:
        work = work_budget
    else:
        # Below near saturation a point is stable: no budget unless the caller asks for one (a
        # default one marked stable points at 44 % offered "saturated": a lie, not a bound).
        work = 0
    if work:
        bg_kwargs["work_budget"] = int(work)
    # Which budget a saturated point ran out of (both set only when the caller sets both).
    budget_name = {
        (True, False): "event budget",
        (False, True): "work budget",
        (True, True): "event or work budget",
    }.get((bool(budget), bool(work)), "budget")
    latency_scale = np.ascontiguousarray(template.latency_scales(), np.float64)

    def run(first: int, n: int) -> MonteCarloOutput:
        return fabric._engine.monte_carlo(
            template,
            latency_scale,
            len(job),
            n,
            seed,
            routing,
            metric,
            bool(vary_hash),
            pool,
            cap,
            min(int(threads or 0), n),
            first_sample=first,
            **bg_kwargs,
        )

    if progress:
        out = _run_in_chunks(run, int(samples), threads)
    else:
        out = run(0, int(samples))
    if out.budget_exhausted and overload == "raise":
        u, v, tier = offered[1] if offered[1] is not None else (None, None, "?")
        amount = f"event budget ({budget:,} polls)" if budget else ""
        if work:
            amount += (" or " if amount else "") + f"work budget ({work:,} re-rated flows)"
        arg = {"event budget": "event_budget", "work budget": "work_budget"}.get(
            budget_name, "event_budget / work_budget"
        )
        err = OverloadError(
            f"background: at load {bg.load if bg is not None else 0:g} the {tier} link "
            f"{_validate.printable(repr(u))} -> {_validate.printable(repr(v))} is offered "
            f"{offered[0]:.0%} of its capacity and queues are so long that a sample ran out "
            f"of its {amount}, so the point counts as saturated; lower the load, add "
            "capacity on that tier, pass overload='saturate' to get the point marked "
            f"saturated, or a larger {arg} (0: none) to wait for it."
        )
        err.link, err.tier, err.offered = (u, v), tier, offered[0]
        raise err
    return TailLatencyResult(
        job_time_s=out.job_time_s,
        unloaded_time_s=float(unloaded_s),
        bg_size_bytes=out.bg_size_bytes,
        bg_slowdown=out.bg_slowdown,
        bg_sample=out.bg_sample,
        bg_generated=out.bg_generated,
        algorithm=algorithm,
        meta={
            "samples": int(samples),
            "seed": seed,
            "routing": routing,
            "placement": placement,
            "warmup_s": float(warmup_s),
            "background": bg,
        },
        offered_max=offered[0],
        offered_link=offered[1],
        saturated=bool(out.budget_exhausted),
        saturation=budget_name if out.budget_exhausted else None,
    )


def _run_in_chunks(
    run: Callable[[int, int], MonteCarloOutput], samples: int, threads: int | None
) -> MonteCarloOutput:
    """``run(first, n)`` over consecutive chunks of about a twentieth of the samples (a
    multiple of the thread count, so every thread stays busy), with a progress bar; the chunks
    stop at the first one out of budget (the point is then saturated, as in one run)."""
    from fabricsim._progress import progress_bar

    per = threads_in_use(threads)
    step = per * max(1, math.ceil(samples / (20 * per)))
    parts: list[MonteCarloOutput] = []
    bar = progress_bar(samples, "tail_latency samples")
    try:
        for first in range(0, samples, step):
            n = min(step, samples - first)
            out = run(first, n)
            bar.update(n)
            if out.budget_exhausted:  # the point is saturated, whatever the other chunks give
                return MonteCarloOutput.saturated(samples)
            parts.append(out)
    finally:
        bar.close()
    return MonteCarloOutput.concat(parts)


def _check_memory(
    fabric: Fabric,
    template: FlowSet,
    bg_kwargs: dict,
    routing: str,
    metric: str,
    samples: int,
    threads: int | None,
) -> None:
    """Samples run in parallel, each holding its flows' routes: estimate before starting."""
    limit = _memory.limit_bytes()
    if limit is None:
        return
    n_bg = 0.0
    if bg_kwargs:
        ends = bg_kwargs["bg_endpoints"]
        values, cdf = bg_kwargs["bg_size_values"], bg_kwargs["bg_size_cdf"]
        n_bg = (
            bg_kwargs["bg_load"]
            * float(bg_kwargs["bg_inject_bps"].sum())
            / mean_size_bytes(values, cdf)
            * bg_kwargs["bg_end_s"]
        )
        pairs = np.random.default_rng(0).integers(0, len(ends), (2, 16))
        per_bg = _memory.route_entries(fabric, ends[pairs[0]], ends[pairs[1]], routing, metric) / 16
    else:
        per_bg = 0.0
    entries = _memory.route_entries(fabric, template.src, template.dst, routing, metric)
    flows = len(template) + n_bg
    per_sample = (
        entries + n_bg * per_bg
    ) * _memory.BYTES_PER_ROUTE_ENTRY + flows * _memory.BYTES_PER_FLOW
    parallel = min(samples, threads_in_use(threads))
    _memory.check(
        per_sample * parallel,
        f"tail_latency: {parallel} samples at once of {flows:,.0f} flows each",
        "use fewer threads, a lower load or larger background flows (sizes=), fewer "
        "ranks, or ECMP instead of spraying",
    )


def _check_overload(
    fabric: Fabric, endpoints: np.ndarray, inject: np.ndarray, bg: Any, metric: str, overload: str
) -> tuple[float, tuple | None]:
    """The largest offered utilisation of any link by the background alone, and that link
    ``(u, v, tier)``. At >= 100 % (e.g. uniform traffic across a 4:1 oversubscribed tier at
    load above 0.25) the link's queue grows for as long as the job runs: with
    ``overload="raise"`` that raises :class:`OverloadError`; with ``"saturate"`` the caller
    reports the point as saturated. From :data:`NEAR_SATURATION` on, a warning says that the
    point is close to it."""
    cap = capacity_factor(fabric, bg.static_fraction)
    util, sampled = offered_utilization(
        fabric, endpoints, inject, bg.load, metric=metric, capacity_factor=cap
    )
    if len(util) == 0:
        return 0.0, None
    worst = int(np.argmax(util))
    # a sample of pairs estimates each link's share: allow for its error before calling it
    margin = 1.1 if sampled else 1.0 - 1e-9
    top = float(util[worst]) / margin
    u, v = fabric.link(worst)[:2]
    roles = fabric.compiled.roles
    tier = (
        f"{roles[int(fabric.compiled.link_src[worst])]}->"
        f"{roles[int(fabric.compiled.link_dst[worst])]}"
    )
    where = (u, v, tier)
    if top >= 1.0:
        n_over = int(np.sum(util >= margin))
        if overload == "raise":
            err = OverloadError(
                f"background: at load {bg.load:g} the {bg.pattern} traffic offers the {tier} "
                f"link {_validate.printable(repr(u))} -> {_validate.printable(repr(v))} "
                f"{util[worst]:.0%} of its capacity ({n_over} links >= 100 %): its queue would "
                "grow for as long as the job runs, so there is no steady state to report. Lower "
                "the load, add capacity on that tier, or pass overload='saturate' to get the "
                "point marked saturated."
            )
            err.link, err.tier, err.offered = (u, v), tier, float(util[worst])
            raise err
        return max(1.0, float(util[worst])), where
    if top >= NEAR_SATURATION:
        warnings.warn(
            f"background: at load {bg.load:g} the {bg.pattern} traffic offers the {tier} link "
            f"{_validate.printable(repr(u))} -> {_validate.printable(repr(v))} "
            f"{util[worst]:.0%} of its capacity: close to saturation, queues are long and the "
            "run is slow.",
            OverloadWarning,
            stacklevel=4,  # the caller of tail_latency (behind its bounded_threads wrapper)
        )
    return float(util[worst]), where
