"""A training job's step on a fabric: compute, the communication it implies, and what the
fabric's congestion does to step time, tokens/s and MFU.

Formulas (per optimizer step; ``N`` = parameters (active ones for MoE), ``T`` = tokens per
step = ``global_batch_tokens``, ``G`` = GPUs = DP x TP x PP):

- **FLOPs** = 6·N·T (forward 2·N·T + backward 4·N·T; Kaplan et al. 2020, "Scaling Laws for
  Neural Language Models", and Narayanan et al. 2021, "Efficient Large-Scale Language Model
  Training on GPU Clusters Using Megatron-LM"; attention FLOPs ignored).
- **Compute time** = FLOPs / (G x peak FLOP/s x compute_efficiency) x (1 + bubble), with the
  1F1B pipeline bubble (PP − 1) / microbatches (Narayanan et al. 2021, sec. 2.2).
- **Data-parallel gradients**: each of the TP x PP data-parallel groups (DP ranks) all-reduces
  its shard of the gradients, N / (TP x PP) x grad_bytes (with a sharded optimizer, ZeRO:
  reduce-scatter + all-gather of the same size; Rajbhandari et al. 2020). All groups run at
  once, so they contend on the fabric as they do in real life.
- **Tensor parallel**: Megatron's 4 all-reduces per layer per microbatch (2 forward, 2
  backward) of ``microbatch_tokens x hidden x act_bytes`` among the TP ranks (inside a host,
  over NVLink), on the critical path. All TP groups run one such all-reduce at once; the step
  pays ``4 x layers/PP x microbatches`` of them.
- **Pipeline parallel**: per microbatch, one activation send forward and one gradient send
  backward across each stage boundary, ``microbatch_tokens x hidden x act_bytes / TP`` per TP
  rank (Megatron's scatter/gather optimisation), ``2 x microbatches`` per step, not
  overlapped (1F1B keeps them on the critical path).
- **Expert parallel** (MoE): per MoE layer and microbatch, 4 all-to-alls (dispatch + combine,
  forward + backward) among the EP ranks of ``microbatch_tokens x hidden x act_bytes x top_k``
  bytes per rank (Lepikhin et al. 2020, GShard; Fedus et al. 2021, Switch Transformer).
- **Overlap**: a fraction ``overlap`` of the data-parallel communication hides behind the
  backward pass (bucketed all-reduce, as PyTorch DDP / Megatron do), but never more than the
  compute time: exposed = TP + PP + EP + DP·(1 − overlap) + max(0, DP·overlap − compute).
- **Step time** = compute + exposed communication; **tokens/s** = T / step time;
  **busy fraction** = compute / step time; **MFU** = 6·N·T / (G x peak x step time).

Placement (``ranks=`` the GPUs to use, default all of the fabric's; ``placement="rail"``,
the default) follows Megatron's rank order with the GPUs
sorted host by host and by rail: TP ranks are neighbours inside a host, so a data-parallel
group takes the same local GPU (the same rail) on every host. ``"linear"`` keeps the fabric's
GPU order; ``"random"`` shuffles it (seeded).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim._engine import bounded_threads
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import Fabric
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import FlowSet, concat_flowsets, run_flowset
from fabricsim.types import Metric, Op, RankOrder, Routing

#: How a job's ranks are laid on the GPUs (``TrainingJob.placement``); not
#: :data:`fabricsim.analysis.tail.JOB_PLACEMENTS`, which re-draws a job's GPUs per sample.
RANK_ORDERS = ("rail", "linear", "random")
#: What tables print in place of a saturated point's numbers.
SATURATED_MARK = "saturated"
COMPONENTS = ("data_parallel", "tensor_parallel", "pipeline_parallel", "expert_parallel")


@dataclass(frozen=True)
class TrainingJob:
    """A transformer training job and how it is parallelised. See the module docs.

    >>> import fabricsim as fs
    >>> job = fs.TrainingJob(params=7e9, layers=32, hidden_size=4096, data_parallel=4,
    ...                      tensor_parallel=2, global_batch_tokens=1 << 20)
    >>> job.gpus, round(job.flops_per_step / 1e15, 1)
    (8, 44.0)
    """

    params: float
    layers: int
    hidden_size: int
    seq_len: int = 4096
    global_batch_tokens: int = 4 * 1024 * 1024
    data_parallel: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    expert_parallel: int = 1
    moe_layers: int = 0
    top_k: int = 2
    microbatches: int | None = None
    profile: Any = "h100-ndr400"
    compute_efficiency: float = 0.5
    grad_bytes: int = 2
    act_bytes: int = 2
    overlap: float = 0.0
    sharded_optimizer: bool = False
    placement: RankOrder = "rail"
    placement_seed: int = 0
    max_flows_per_collective: int = 50_000
    ranks: tuple | None = None

    def __post_init__(self) -> None:
        _validate.positive("params", self.params)
        for name in (
            "layers",
            "hidden_size",
            "seq_len",
            "global_batch_tokens",
            "data_parallel",
            "tensor_parallel",
            "pipeline_parallel",
            "expert_parallel",
            "top_k",
            "grad_bytes",
            "act_bytes",
        ):
            _validate.integer(name, getattr(self, name))
        _validate.integer("moe_layers", self.moe_layers, minimum=0)
        if self.moe_layers > self.layers:
            raise InvalidArgumentError(
                f"moe_layers ({self.moe_layers}) exceeds layers ({self.layers})"
            )
        if self.microbatches is not None:
            _validate.integer("microbatches", self.microbatches)
        _validate.positive("compute_efficiency", self.compute_efficiency, upper=1.0)
        _validate.positive("overlap", self.overlap, upper=1.0, allow_zero=True)
        object.__setattr__(
            self,
            "sharded_optimizer",
            _validate.boolean("sharded_optimizer", self.sharded_optimizer),
        )
        _validate.choice("placement", self.placement, RANK_ORDERS)
        _validate.seed(self.placement_seed, "placement_seed")
        _validate.integer("max_flows_per_collective", self.max_flows_per_collective, minimum=1000)
        if self.layers % self.pipeline_parallel:
            raise InvalidArgumentError(
                f"pipeline_parallel ({self.pipeline_parallel}) must divide layers ({self.layers})"
            )
        if self.data_parallel % self.expert_parallel:
            raise InvalidArgumentError(
                f"expert_parallel ({self.expert_parallel}) must divide data_parallel "
                f"({self.data_parallel}): experts are spread over data-parallel ranks"
            )
        if self.expert_parallel > 1 and self.moe_layers == 0:
            raise InvalidArgumentError("expert_parallel > 1 needs moe_layers > 0")
        if self.global_batch_tokens % (self.data_parallel * self.seq_len):
            raise InvalidArgumentError(
                f"global_batch_tokens ({self.global_batch_tokens}) must be a multiple of "
                f"data_parallel x seq_len ({self.data_parallel * self.seq_len})"
            )
        # Derived sizes must be whole bytes a collective accepts: say which input is too big
        # (not the size_bytes of a collective the caller never wrote).
        grad = self.params * self.grad_bytes / (self.tensor_parallel * self.pipeline_parallel)
        if grad > _validate.MAX_SIZE_BYTES:
            raise InvalidArgumentError(
                f"params: {self.params:.3g} parameters x grad_bytes {self.grad_bytes} make "
                f"{grad:.3g} bytes of gradients per data-parallel group, more than a collective "
                "carries (2**63 - 1 bytes)"
            )
        act = self.microbatch_tokens * self.hidden_size * self.act_bytes * self.top_k
        if act > _validate.MAX_SIZE_BYTES:
            raise InvalidArgumentError(
                f"hidden_size: microbatch activations of {act:.3g} bytes (tokens x hidden_size x "
                "act_bytes x top_k) exceed what a collective carries (2**63 - 1 bytes)"
            )
        from fabricsim.fabric import profiles

        profiles.get_profile(self.profile)
        if self.ranks is not None:
            object.__setattr__(
                self, "ranks", tuple(_validate.iterable("ranks", self.ranks, "GPU labels"))
            )
            if len(self.ranks) != self.gpus:
                raise InvalidArgumentError(
                    f"ranks: the job needs {self.gpus} GPUs, {len(self.ranks)} given"
                )
            if len(set(self.ranks)) != len(self.ranks):
                raise InvalidArgumentError("ranks: a GPU appears more than once")

    # -- derived quantities ---------------------------------------------------------------------
    @property
    def gpus(self) -> int:
        return self.data_parallel * self.tensor_parallel * self.pipeline_parallel

    @property
    def n_microbatches(self) -> int:
        """Microbatches per step per DP rank (default: one sequence each)."""
        per_rank = self.global_batch_tokens // (self.data_parallel * self.seq_len)
        return self.microbatches or max(1, per_rank)

    @property
    def microbatch_tokens(self) -> int:
        return self.global_batch_tokens // (self.data_parallel * self.n_microbatches)

    @property
    def flops_per_step(self) -> float:
        return 6.0 * self.params * self.global_batch_tokens

    @property
    def peak_flops(self) -> float:
        from fabricsim.fabric import profiles

        return profiles.get_profile(self.profile).peak_tflops_bf16 * 1e12

    @property
    def bubble_fraction(self) -> float:
        return (self.pipeline_parallel - 1) / self.n_microbatches

    @property
    def compute_time_s(self) -> float:
        ideal = self.flops_per_step / (self.gpus * self.peak_flops * self.compute_efficiency)
        return ideal * (1.0 + self.bubble_fraction)

    def grad_bytes_per_group(self) -> int:
        return max(
            1, int(self.params * self.grad_bytes // (self.tensor_parallel * self.pipeline_parallel))
        )

    # -- placement and communication ----------------------------------------------------------
    def rank_to_gpu(self, fabric: Fabric) -> list:
        """GPU label of each global rank (Megatron order: TP fastest, then DP, then PP), taken
        from ``ranks`` when given, else from all of the fabric's GPUs, in placement order."""
        gpus = list(fabric.gpus)
        if self.ranks is not None:
            roles = fabric.compiled.roles[fabric.indices(self.ranks, "ranks")]
            bad = [r for r, role in zip(self.ranks, roles, strict=True) if role != "gpu"]
            if bad:
                raise InvalidArgumentError(f"ranks: {bad[0]!r} is not a GPU")
            gpus = [g for g in gpus if g in set(self.ranks)]
        if len(gpus) < self.gpus:
            raise InvalidArgumentError(
                f"job: needs {self.gpus} GPUs (DP {self.data_parallel} x TP {self.tensor_parallel}"
                f" x PP {self.pipeline_parallel}) but the fabric has {len(gpus)}"
            )
        if self.placement == "rail":
            g = fabric.graph

            def key(item):
                pos, lab = item
                a = g.nodes[lab]
                rail = a.get("rail")
                return (str(a.get("host", lab)), rail if isinstance(rail, int) else pos)

            order = [lab for _, lab in sorted(enumerate(gpus), key=key)]
            # keep hosts in fabric order
            first: dict = {}
            for pos, lab in enumerate(gpus):
                first.setdefault(str(g.nodes[lab].get("host", lab)), pos)
            order.sort(key=lambda lab: first[str(g.nodes[lab].get("host", lab))])
            gpus = order
        elif self.placement == "random":
            rng = np.random.default_rng(self.placement_seed)
            gpus = [gpus[i] for i in rng.permutation(len(gpus))]
        return gpus[: self.gpus]

    def groups(self, fabric: Fabric) -> dict[str, list[list]]:
        """GPU labels of every TP, DP, PP-boundary and EP group."""
        r2g = self.rank_to_gpu(fabric)
        TP, DP, PP, EP = (
            self.tensor_parallel,
            self.data_parallel,
            self.pipeline_parallel,
            self.expert_parallel,
        )

        def rank(tp, dp, pp):
            return (pp * DP + dp) * TP + tp

        tp_groups = [[r2g[rank(t, d, p)] for t in range(TP)] for p in range(PP) for d in range(DP)]
        dp_groups = [[r2g[rank(t, d, p)] for d in range(DP)] for p in range(PP) for t in range(TP)]
        pp_pairs = [
            [r2g[rank(t, d, p)], r2g[rank(t, d, p + 1)]]
            for p in range(PP - 1)
            for d in range(DP)
            for t in range(TP)
        ]
        ep_groups = [
            [r2g[rank(t, e0 + e, p)] for e in range(EP)]
            for p in range(PP)
            for t in range(TP)
            for e0 in range(0, DP, EP)
        ]
        return {
            "tensor_parallel": tp_groups,
            "data_parallel": dp_groups,
            "pipeline_parallel": pp_pairs,
            "expert_parallel": ep_groups,
        }

    def communication(self, fabric: Fabric) -> dict[str, tuple[FlowSet, int]]:
        """Per component: the flows of one round of it (all groups at once) and how many
        rounds the step needs. Components with nothing to send are left out."""
        groups = self.groups(fabric)
        out: dict[str, tuple[FlowSet, int]] = {}
        mf = self.max_flows_per_collective

        def union(colls):
            algos = [c.algorithm if c.algorithm != "auto" else _auto(c, fabric) for c in colls]
            fs_ = concat_flowsets(
                [c.plan(fabric, a, lanes=False) for c, a in zip(colls, algos, strict=True)]
            )
            fs_.meta["algorithm"] = "+".join(sorted(set(algos)))
            return fs_

        if self.data_parallel > 1:
            size = self.grad_bytes_per_group()
            ops: tuple[Op, ...] = (
                ("reduce_scatter", "all_gather") if self.sharded_optimizer else ("all_reduce",)
            )
            colls = [
                Collective(op, size, grp, max_flows=mf)
                for grp in groups["data_parallel"]
                for op in ops[:1]
            ]
            fs_dp = union(colls)
            if len(ops) == 2:
                ag = union(
                    [
                        Collective("all_gather", size, grp, max_flows=mf)
                        for grp in groups["data_parallel"]
                    ]
                )
                algo = f"{fs_dp.meta['algorithm']}, then {ag.meta['algorithm']}"
                fs_dp = concat_flowsets([fs_dp, ag], sequential=True)
                fs_dp.meta["algorithm"] = algo
            out["data_parallel"] = (fs_dp, 1)
        act = self.microbatch_tokens * self.hidden_size * self.act_bytes
        layers_per_stage = self.layers // self.pipeline_parallel
        if self.tensor_parallel > 1:
            colls = [
                Collective("all_reduce", act, grp, max_flows=mf)
                for grp in groups["tensor_parallel"]
            ]
            out["tensor_parallel"] = (union(colls), 4 * layers_per_stage * self.n_microbatches)
        if self.pipeline_parallel > 1:
            size = max(1, act // self.tensor_parallel)
            colls = [
                Collective("send_recv", size, pair, max_flows=mf)
                for pair in groups["pipeline_parallel"]
            ]
            # send_recv on a pair sends both ways: one forward activation, one backward grad
            out["pipeline_parallel"] = (union(colls), self.n_microbatches)
        if self.expert_parallel > 1:
            moe_per_stage = max(1, self.moe_layers // self.pipeline_parallel)
            size = act * self.top_k
            colls = [
                Collective("all_to_all", size, grp, max_flows=mf)
                for grp in groups["expert_parallel"]
            ]
            out["expert_parallel"] = (union(colls), 4 * moe_per_stage * self.n_microbatches)
        return out


#: Each fabric's last planned job communication: :func:`step` runs once per load of an erosion
#: sweep (and ``compare`` asks again for the bottleneck), and planning the collectives (NCCL's
#: tuner runs every candidate algorithm) costs tens of milliseconds each time. Fabrics are
#: immutable and jobs frozen, so a plan holds for as long as its fabric lives; one job per
#: fabric, so that a sweep over job fields on one fabric does not pile up plans.
_PLANNED: weakref.WeakKeyDictionary[Fabric, tuple[TrainingJob, dict[str, tuple[FlowSet, int]]]] = (
    weakref.WeakKeyDictionary()
)


def planned_communication(job: TrainingJob, fabric: Fabric) -> dict[str, tuple[FlowSet, int]]:
    """``job.communication(fabric)``, planned again only when the job differs from the last
    one planned on this fabric (the flow sets are shared: read them, do not change them)."""
    last = _PLANNED.get(fabric)
    try:
        if last is not None and last[0] == job:
            return last[1]
    except (TypeError, ValueError):  # a field that does not compare (e.g. an array)
        return job.communication(fabric)
    comms = job.communication(fabric)
    _PLANNED[fabric] = (job, comms)
    return comms


def _auto(c: Collective, fabric: Fabric) -> str:
    return c.run(fabric).algorithm if len(c.candidates(fabric)) > 1 else c.candidates(fabric)[0]


@dataclass(frozen=True, eq=False)
class StepResult:
    """One training step (or its distribution over Monte Carlo samples)."""

    compute_time_s: float
    comm_time_s: dict  # component -> array of per-sample times for the whole step (s)
    exposed_comm_s: np.ndarray
    step_time_s: np.ndarray
    tokens_per_s: np.ndarray
    busy_fraction: np.ndarray
    mfu: np.ndarray
    job: TrainingJob = field(repr=False)
    #: with ``step(..., facility=...)``: the facility's clocks and stragglers behind these
    #: samples (a :class:`fabricsim.analysis.facility.SiteStep`), else None.
    site: Any = field(default=None, repr=False)
    #: True when the background saturates a link (offered >= 100 %): nothing was simulated,
    #: step times are ``inf`` and tokens/s, busy fraction and MFU 0 (``overload="saturate"``).
    saturated: bool = False
    #: The largest offered utilisation of a link by the background (a fraction).
    offered_max: float = 0.0
    #: Why it is saturated: "offered load", "event budget" or "work budget" (see
    #: :func:`fabricsim.tail_latency`); None if it is not.
    saturation: str | None = None

    def _q(self, x, q):
        if np.all(np.isfinite(x)):
            return float(np.quantile(x, q))
        return float(np.quantile(x, q, method="higher"))  # all-inf samples: inf, not NaN

    @property
    def step_time_p50_s(self) -> float:
        return self._q(self.step_time_s, 0.5)

    @property
    def step_time_p99_s(self) -> float:
        return self._q(self.step_time_s, 0.99)

    @property
    def tokens_per_s_p50(self) -> float:
        return self._q(self.tokens_per_s, 0.5)

    @property
    def tokens_per_s_p99(self) -> float:
        """Tokens/s at the p99 step time (the slow tail)."""
        return self.job.global_batch_tokens / self.step_time_p99_s

    def __repr__(self) -> str:
        return (
            f"<StepResult {len(self.step_time_s)} sample(s): step p50 "
            f"{self.step_time_p50_s * 1e3:.2f} ms, p99 {self.step_time_p99_s * 1e3:.2f} ms, "
            f"compute {self.compute_time_s * 1e3:.2f} ms, "
            f"{self.tokens_per_s_p50:,.0f} tokens/s>"
        )

    def as_dict(self) -> dict:
        return {
            "saturated": self.saturated,
            "saturation": self.saturation,
            "offered_max": self.offered_max,
            "compute_time_s": self.compute_time_s,
            **{f"{k}_p50_s": float(np.median(v)) for k, v in self.comm_time_s.items()},
            "exposed_comm_p50_s": float(np.median(self.exposed_comm_s)),
            "step_time_p50_s": self.step_time_p50_s,
            "step_time_p99_s": self.step_time_p99_s,
            "tokens_per_s_p50": self.tokens_per_s_p50,
            "tokens_per_s_p99": self.tokens_per_s_p99,
            "busy_fraction_p50": float(np.median(self.busy_fraction)),
            "mfu_p50": float(np.median(self.mfu)),
            **(
                {}
                if self.site is None
                else {
                    "gpu_clock_fraction": self.site.clock_fraction,
                    "straggler_p50": self.site.straggler_p50,
                    "straggler_p99": self.site.straggler_p99,
                    "tail_dominant": self.site.dominant,
                }
            ),
        }


@bounded_threads
def step(
    fabric: Fabric,
    job: TrainingJob,
    background: Any = None,
    samples: int = 1,
    seed: int = 0,
    *,
    routing: Routing = "ecmp",
    metric: Metric = "latency",
    threads: int | None = None,
    facility: Any = None,
    overload: str = "raise",
) -> StepResult:
    """Run one training step's communication through the engine (with ``background``
    traffic over ``samples`` Monte Carlo samples) and combine it with compute. See the module
    docs for every formula. With ``facility`` (a :class:`fabricsim.Facility`) each sample's
    compute runs at the site's power-capped clocks and waits for its slowest GPU (see
    :mod:`fabricsim.analysis.facility`); ``as_dict()`` then also reports the straggler p50/p99
    and which of the network and the stragglers dominates the p99 step. A background that
    offers some link >= 100 % of its capacity raises :class:`fabricsim.OverloadError`
    (``overload="raise"``) or gives a result marked ``saturated`` without simulating
    (``overload="saturate"``); see :func:`fabricsim.tail_latency`."""
    from fabricsim.analysis.tail import tail_latency
    from fabricsim.traffic.background import as_background

    if not isinstance(job, TrainingJob):
        raise InvalidTypeError(f"job: expected a fabricsim.TrainingJob, got {type(job).__name__}")
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    from fabricsim.analysis.tail import OVERLOAD_POLICIES

    _validate.choice("overload", overload, OVERLOAD_POLICIES)
    if facility is not None:
        from fabricsim.analysis.facility import Facility

        if not isinstance(facility, Facility):
            raise InvalidTypeError(
                f"facility: expected a fabricsim.Facility, got {type(facility).__name__}"
            )
    bg = as_background(background)
    samples = _validate.integer("samples", samples)
    comms = planned_communication(job, fabric)
    per_component: dict[str, np.ndarray] = {}
    offered = 0.0
    for name, (flows, rounds) in comms.items():
        quiet = bg is None or (bg.load == 0 and bg.static_fraction == 0 and bg.pattern != "tenant")
        if quiet and samples == 1:
            t = run_flowset(fabric, flows, routing=routing, seed=seed, metric=metric).makespan_s
            times = np.full(samples, t)
        else:
            res = tail_latency(
                fabric,
                flows,
                None if quiet else bg,
                samples,
                seed,
                routing=routing,
                metric=metric,
                threads=threads,
                overload=overload,
            )
            offered = max(offered, res.offered_max)
            if res.saturated:
                return _saturated(job, samples, offered, res.saturation)
            times = res.job_time_s
        per_component[name] = times * rounds
    if facility is None:
        return replace(_combine(job, per_component, samples), offered_max=offered)
    from fabricsim.analysis.facility import Facility, combine_site

    if not isinstance(facility, Facility):
        raise InvalidTypeError(
            f"facility: expected a fabricsim.Facility, got {type(facility).__name__}"
        )
    site = combine_site(job, facility, per_component, samples=samples, seed=seed)
    t_site = site.step_time_s
    return StepResult(
        compute_time_s=float(np.median(site.compute_s)),
        comm_time_s=per_component,
        exposed_comm_s=site.exposed_comm_s,
        step_time_s=t_site,
        tokens_per_s=job.global_batch_tokens / t_site,
        busy_fraction=site.compute_s / t_site,
        mfu=job.flops_per_step / (job.gpus * job.peak_flops * t_site),
        job=job,
        site=site,
        offered_max=offered,
    )


def _saturated(
    job: TrainingJob, samples: int, offered: float, saturation: str | None
) -> StepResult:
    inf, zero = np.full(samples, np.inf), np.zeros(samples)
    return StepResult(
        compute_time_s=job.compute_time_s,
        comm_time_s={},
        exposed_comm_s=inf,
        step_time_s=inf,
        tokens_per_s=zero,
        busy_fraction=zero,
        mfu=zero,
        job=job,
        saturated=True,
        offered_max=offered,
        saturation=saturation,
    )


def exposed_comm(
    job: TrainingJob, comm: dict[str, np.ndarray], compute: Any, samples: int
) -> np.ndarray:
    """Communication time not hidden behind compute, per sample (see the module docs):
    TP + PP + EP + DP·(1 − overlap) + max(0, DP·overlap − compute). ``compute`` is the compute
    time, one number or one per sample (the facility model's stragglers)."""
    zero = np.zeros(samples)
    dp = comm.get("data_parallel", zero)
    critical = sum((comm.get(k, zero) for k in COMPONENTS if k != "data_parallel"), zero)
    hidden = dp * job.overlap
    return critical + dp * (1 - job.overlap) + np.maximum(0.0, hidden - compute)


def _combine(job: TrainingJob, comm: dict[str, np.ndarray], samples: int) -> StepResult:
    compute = job.compute_time_s
    exposed = exposed_comm(job, comm, compute, samples)
    step_time = compute + exposed
    return StepResult(
        compute_time_s=compute,
        comm_time_s=comm,
        exposed_comm_s=exposed,
        step_time_s=step_time,
        tokens_per_s=job.global_batch_tokens / step_time,
        busy_fraction=compute / step_time,
        mfu=job.flops_per_step / (job.gpus * job.peak_flops * step_time),
        job=job,
    )


def ideal_fabric(fabric: Fabric) -> Fabric:
    """The same GPUs, hosts, NVLink and NICs, with every NIC on one non-blocking switch: the
    reference "ideal non-blocking fabric" erosion is measured against."""
    import networkx as nx

    G = fabric.graph
    H = nx.Graph()
    H.add_node("ideal-switch", role="leaf")
    for n, a in G.nodes(data=True):
        if a.get("role") in ("gpu", "nvswitch"):
            H.add_node(n, **a)
    for u, v, a in G.edges(data=True):
        if u in H and v in H:
            H.add_edge(u, v, **a)
    for g in fabric.gpus:
        # each GPU keeps its NIC rate (its widest non-NVLink link) and access latency
        nic = [
            (a["capacity_gbps"], a["latency_us"])
            for _, _, a in G.edges(g, data=True)
            if a.get("kind") != "nvlink"
        ]
        cap, lat = (
            max(nic)
            if nic
            else (
                max(a["capacity_gbps"] for *_, a in G.edges(g, data=True)),
                min(a["latency_us"] for *_, a in G.edges(g, data=True)),
            )
        )
        H.add_edge(g, "ideal-switch", capacity_gbps=cap, latency_us=lat, kind="access")
    # the same NCCL model (profile) as the real fabric, so only the network differs
    return Fabric.from_networkx(
        H, efficiency=fabric.efficiency, profile=False if fabric.profile is None else fabric.profile
    )


@dataclass(frozen=True, eq=False)
class ErosionResult:
    """Step time and tokens/s against background load, and the throughput lost compared with
    the ideal non-blocking fabric (``1 - tokens/s / ideal tokens/s``)."""

    name: str
    loads: tuple
    rows: tuple  # dicts, one per load
    ideal_step_time_s: float
    ideal_tokens_per_s: float

    def to_pandas(self) -> Any:
        """One row per load: ``load``, step time and tokens/s quantiles, ``erosion_p50`` /
        ``erosion_p99``, MFU, per-component communication times (s); ``df.attrs`` holds the
        design name and the ideal fabric's step time and tokens/s."""
        from fabricsim._display import pandas

        df = pandas().DataFrame([dict(r) for r in self.rows])
        df.insert(0, "design", self.name)
        df.attrs.update(
            name=self.name,
            ideal_step_time_s=self.ideal_step_time_s,
            ideal_tokens_per_s=self.ideal_tokens_per_s,
        )
        return df

    def plot(self, path: str | None = None, *, ax: Any = None) -> Any:
        """:func:`plot_erosion` of this one design; returns the Figure."""
        return plot_erosion([self], path, ax=ax)

    def __repr__(self) -> str:
        worst = max((r["erosion_p50"] for r in self.rows), default=float("nan"))
        return (
            f"<ErosionResult {self.name!r}: {len(self.rows)} loads "
            f"{min(self.loads):g}..{max(self.loads):g}, ideal "
            f"{self.ideal_tokens_per_s:,.0f} tokens/s, erosion p50 up to {worst:.1%}>"
        )

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        cols = (
            "load",
            "step p50 (ms)",
            "step p99 (ms)",
            "tokens/s p50",
            "erosion p50",
            "erosion p99",
            "MFU p50",
        )
        rows = [
            (
                r["load"],
                r["step_time_p50_s"] * 1e3,
                r["step_time_p99_s"] * 1e3,
                r["tokens_per_s_p50"],
                f"{r['erosion_p50']:.1%}",
                f"{r['erosion_p99']:.1%}",
                f"{r['mfu_p50']:.1%}",
            )
            for r in self.rows
        ]
        return html_table(cols, rows, caption=repr(self))

    def table(self) -> str:
        head = (
            f"{'load':>5} {'step p50 (ms)':>14} {'step p99 (ms)':>14} {'tokens/s p50':>14} "
            f"{'erosion p50':>12} {'erosion p99':>12} {'MFU p50':>8}"
        )
        lines = [
            f"# {_validate.printable(self.name)}: "
            f"ideal step {self.ideal_step_time_s * 1e3:.2f} ms, "
            f"{self.ideal_tokens_per_s:,.0f} tokens/s",
            head,
        ]
        for r in self.rows:
            if r.get("saturated"):
                lines.append(
                    f"{r['load']:>5.2f} {SATURATED_MARK:>14} {SATURATED_MARK:>14} "
                    f"{0:>14,.0f} {'-':>12} {'-':>12} {'-':>8}   <- " + _why(r)
                )
                continue
            lines.append(
                f"{r['load']:>5.2f} {r['step_time_p50_s'] * 1e3:>14.2f} "
                f"{r['step_time_p99_s'] * 1e3:>14.2f} {r['tokens_per_s_p50']:>14,.0f} "
                f"{r['erosion_p50']:>11.1%} {r['erosion_p99']:>11.1%} "
                f"{r['mfu_p50']:>7.1%}"
            )
        if any(r.get("saturated") for r in self.rows):
            lines.append(
                f"({SATURATED_MARK}: the background alone offers some link >= 100 % of "
                "its capacity, so its queue grows without bound and the point is not "
                "simulated; or queues are so long that a sample ran out of its "
                "event or work budget. Step time inf, tokens/s 0)"
            )
        return "\n".join(lines)


def _why(row: dict) -> str:
    """Why a row is saturated, for tables."""
    if row.get("saturation") not in (None, "offered load"):
        return (
            f"a link is offered {row['offered_max']:.0%} of its capacity: a sample ran out "
            f"of its {row['saturation']}"
        )
    return f"the background offers a link {row['offered_max']:.0%} of its capacity"


@bounded_threads
def erosion(
    fabric: Fabric,
    job: TrainingJob,
    background_loads=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    samples: int = 20,
    seed: int = 0,
    *,
    background: Any = None,
    routing: Routing = "ecmp",
    metric: Metric = "latency",
    threads: int | None = None,
    name: str = "fabric",
    progress: bool = False,
    facility: Any = None,
    overload: str = "saturate",
) -> ErosionResult:
    """Step time, tokens/s and erosion (throughput lost vs the ideal non-blocking fabric) at
    each background load, at p50 and p99. ``background``: a :class:`fabricsim.Background`
    template (sizes, pattern, endpoints); its ``load`` is replaced by each load in turn.
    ``facility``: run every step (the ideal one too, so erosion stays the network's share) at
    that site's clocks and stragglers; the rows then report them (see :func:`step`).

    A load at which the background offers some link >= 100 % of its capacity is a saturated
    point: it is not simulated, and its row says ``saturated: True`` with step times ``inf``,
    tokens/s and MFU 0 and erosion 1 (``overload="raise"`` raises
    :class:`fabricsim.OverloadError` instead). Every row gives ``offered_max``, the largest
    offered utilisation of a link."""
    from fabricsim.traffic.background import Background, as_background

    loads = tuple(
        _validate.probability("background_loads", x)
        for x in _validate.iterable("background_loads", background_loads, "loads")
    )
    if not loads:
        raise InvalidArgumentError("background_loads: must give at least one load, got ()")
    template = as_background(background) or Background()
    ideal = step(
        ideal_fabric(fabric),
        job,
        None,
        1 if facility is None else samples,
        seed,
        routing=routing,
        metric=metric,
        facility=facility,
    )
    ideal_t = float(np.median(ideal.step_time_s))
    ideal_tps = job.global_batch_tokens / ideal_t
    rows = []
    bar = None
    if progress:
        from fabricsim._progress import progress_bar

        bar = progress_bar(len(loads), f"erosion {name}")
    for load in loads:
        bg = replace(template, load=load) if load > 0 else None
        # every load, 0 included, samples ECMP hash seeds the same way
        res = step(
            fabric,
            job,
            bg,
            samples,
            seed,
            routing=routing,
            metric=metric,
            threads=threads,
            facility=facility,
            overload=overload,
        )
        d = res.as_dict()
        d["load"] = load
        d["erosion_p50"] = 1.0 - d["tokens_per_s_p50"] / ideal_tps
        d["erosion_p99"] = 1.0 - d["tokens_per_s_p99"] / ideal_tps
        rows.append(d)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return ErosionResult(name, loads, tuple(rows), ideal_t, ideal_tps)


def plot_erosion(
    results: list[ErosionResult] | dict | ErosionResult, path: str | None = None, *, ax: Any = None
) -> Any:
    """Tokens/s (p50) and p99 step time against background load, one line per design, on two
    axes side by side: ``ax`` (a pair of matplotlib axes) or a new figure. Returns the Figure;
    with ``path`` it is also written there (PNG, SVG, ... by the extension). The matplotlib
    backend is left as it is (a notebook keeps its own)."""
    from fabricsim._display import axes

    if isinstance(results, ErosionResult):
        items = [results]
    else:
        items = list(results.values()) if isinstance(results, dict) else list(results)
    fig, (ax1, ax2) = axes(ax, ncols=2, figsize=(11, 4.2))
    any_saturated = False
    for r in items:
        ok = [row for row in r.rows if not row.get("saturated")]
        sat = [row for row in r.rows if row.get("saturated")]
        line = ax1.plot(
            [row["load"] for row in ok],
            [row["tokens_per_s_p50"] for row in ok],
            marker="o",
            label=r.name,
        )[0]
        ax2.plot(
            [row["load"] for row in ok],
            [row["step_time_p99_s"] * 1e3 for row in ok],
            marker="o",
            label=r.name,
            color=line.get_color(),
        )
        if sat:
            # saturated points: tokens/s 0 on the left; on the right a cross on the top edge
            # (the step time has no finite value)
            any_saturated = True
            ax1.plot(
                [row["load"] for row in sat],
                [0.0] * len(sat),
                linestyle="none",
                marker="x",
                markersize=9,
                color=line.get_color(),
            )
            ax2.plot(
                [row["load"] for row in sat],
                [1.0] * len(sat),
                linestyle="none",
                marker="x",
                markersize=9,
                color=line.get_color(),
                transform=ax2.get_xaxis_transform(),
                clip_on=False,
            )
    if any_saturated:
        ax1.plot(
            [], [], linestyle="none", marker="x", color="gray", label="saturated (not simulated)"
        )
    ax1.set_xlabel("east-west background load (fraction of NIC capacity)")
    ax1.set_ylabel("tokens/s (p50)")
    ax1.set_title("Training throughput")
    ax2.set_xlabel("east-west background load (fraction of NIC capacity)")
    ax2.set_ylabel("step time p99 (ms)")
    ax2.set_title("Tail step time")
    for a in (ax1, ax2):
        a.grid(True, alpha=0.3)
        a.legend()
    if ax is None:
        fig.tight_layout()
    if path is not None:
        from fabricsim._files import write_atomic

        fmt = _image_format(path)
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format=fmt))
        if ax is None:  # a figure we made only to write: free it (it still displays)
            import matplotlib.pyplot as plt

            plt.close(fig)
    return fig


def _image_format(path: str) -> str:
    """The image format of ``path``'s suffix, if matplotlib writes it (else an error naming the
    formats it does)."""
    from pathlib import Path

    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(str(path)).suffix.lower().lstrip(".")
    if suffix not in known:
        raise InvalidArgumentError(
            f"path: unknown image format {suffix or '(no suffix)'!r} in {str(path)!r}; "
            f"valid: {', '.join(sorted(known))}"
        )
    return suffix


def _rebuild(G, oversubscription: float):
    """The same builder design with another oversubscription ratio. The builder's keyword
    arguments are read from its signature (as the scenario loader reads them), so every one
    the graph recorded, the hardware profile included, carries over."""
    import inspect

    from fabricsim.fabric import builders

    builder = G.graph.get("builder")
    params = builders.params(G)
    fns: dict[str, Any] = {
        "leaf_spine": builders.leaf_spine,
        "rail_optimized": builders.rail_optimized,
    }
    if builder not in fns:
        raise InvalidArgumentError(
            f"oversubscription sweep: needs a fabric built by leaf_spine or rail_optimized "
            f"(this one: {builder!r})"
        )
    params.pop("uplink_gbps", None)  # derived from the ratio
    params["oversubscription"] = oversubscription
    if builder == "rail_optimized" and params.get("scalable_units", 1) == 1:
        params.pop("cores", None)  # recorded as 0; one SU has no core tier to size
    keys = [
        name
        for name, p in inspect.signature(fns[builder]).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    return fns[builder](**{k: params[k] for k in keys if k in params})


def sweep_oversubscription(
    fabric: Fabric,
    job: TrainingJob,
    ratios=(1.0, 2.0, 4.0),
    background_loads=(0.0, 0.3, 0.6, 0.9),
    samples: int = 10,
    seed: int = 0,
    **kwargs: Any,
) -> dict[str, ErosionResult]:
    """Erosion of ``job`` on the same design rebuilt at each leaf-uplink oversubscription
    ratio (fabrics from :func:`fabricsim.leaf_spine` / :func:`fabricsim.rail_optimized`)."""
    out = {}
    for r in ratios:
        r = _validate.positive("ratios", r)
        fab = Fabric.from_networkx(_rebuild(fabric.graph, r), efficiency=fabric.efficiency)
        name = f"{r:g}:1"
        out[name] = erosion(fab, job, background_loads, samples, seed, name=name, **kwargs)
    return out


def sweep_routing(
    fabric: Fabric,
    job: TrainingJob,
    routings: Sequence[Routing] = ("ecmp", "spray"),
    background_loads=(0.0, 0.3, 0.6, 0.9),
    samples: int = 10,
    seed: int = 0,
    **kwargs: Any,
) -> dict[str, ErosionResult]:
    """Erosion of ``job`` on ``fabric`` under each routing policy (ECMP hashing vs spraying)."""
    return {
        r: erosion(fabric, job, background_loads, samples, seed, routing=r, name=r, **kwargs)
        for r in routings
    }
