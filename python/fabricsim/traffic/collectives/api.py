"""The public API of collectives: :class:`Collective`, :func:`collective`,
:class:`CollectiveResult` (nccl-tests algbw / busbw) and :func:`sweep_sizes`."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fabricsim import _memory, _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric
from fabricsim.traffic.collectives import tuner
from fabricsim.traffic.collectives.algorithms import build_plan
from fabricsim.traffic.collectives.plan import (
    ALGORITHMS,
    BUSBW_FACTOR,
    DEFAULT_MAX_FLOWS,
    MAX_PIPELINE_CHUNKS,
    MAX_USER_PIPELINE_CHUNKS,
    NCCL_ALGORITHM_NAMES,
    NCCL_ALGORITHMS,
    NCCL_OP_NAMES,
    NCCL_PROTOCOL_NAMES,
    PIPELINE_CHUNK_BYTES,
    SUPPORTED,
    _Ctx,
    check_size,
    normalize_op,
)
from fabricsim.traffic.flows import FlowSet, SimulationResult, run_flowset
from fabricsim.types import Algorithm, Datatype, Engine, Metric, Op, Routing


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseTiming:
    name: str
    start_s: float
    end_s: float
    flows: int
    bytes: float

    @property
    def time_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, eq=False)
class CollectiveResult:
    """One collective on one fabric. Bandwidths in GB/s (1e9 bytes/s), nccl-tests style."""

    op: Op
    algorithm: Algorithm
    size_bytes: int
    n_ranks: int
    channels: int
    time_s: float
    algbw_GBps: float
    busbw_GBps: float
    phases: tuple[PhaseTiming, ...]
    bottlenecks: tuple[dict, ...]
    flow_src: np.ndarray = field(repr=False)
    flow_dst: np.ndarray = field(repr=False)
    flow_bytes: np.ndarray = field(repr=False)
    flow_start_s: np.ndarray = field(repr=False)
    flow_finish_s: np.ndarray = field(repr=False)
    flow_phase: np.ndarray = field(repr=False)
    flow_step: np.ndarray = field(repr=False)
    simulation: SimulationResult = field(repr=False)
    alternatives: dict = field(default_factory=dict)
    #: NCCL protocol the run modelled ("ll", "ll128", "simple"; "simple" without a profile).
    protocol: str = "simple"
    #: Pipeline chunks per channel really used (tree, broadcast / reduce chains, NVLS); None
    #: for algorithms made of whole steps (ring, halving-doubling, direct, ...).
    chunks: int | None = None
    #: What the plan aggregated to fit ``max_flows``, in words (None: flows per GPU, chunk and
    #: step). At scale, tree and NVLS-tree run at host granularity with a host pair's channels
    #: as the lanes of one flow (docs/nccl-model.md).
    aggregation: str | None = None

    @property
    def time_us(self) -> float:
        return self.time_s * 1e6

    def steps(self) -> list[dict]:
        """Per step of every phase: start, end and bytes (from the flows' times)."""
        out = []
        keys = np.stack([self.flow_phase, self.flow_step], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        starts = np.full(len(uniq), np.inf)
        ends = np.full(len(uniq), -np.inf)
        np.minimum.at(starts, inv, self.flow_start_s)
        np.maximum.at(ends, inv, self.flow_finish_s)
        nbytes = np.bincount(inv, weights=self.flow_bytes, minlength=len(uniq))
        for k, (p, s) in enumerate(uniq.tolist()):
            out.append(
                {
                    "phase": self.phases[p].name,
                    "step": s,
                    "start_s": float(starts[k]),
                    "end_s": float(ends[k]),
                    "bytes": float(nbytes[k]),
                }
            )
        return out

    def __repr__(self) -> str:
        alts = ""
        if len(self.alternatives) > 1:
            alts = " (fastest of " + ", ".join(self.alternatives) + ")"
        return (
            f"<CollectiveResult {self.op} {_human(self.size_bytes)} x{self.n_ranks} ranks, "
            f"{self.algorithm}{alts}: {self.time_us:.2f} us, algbw {self.algbw_GBps:.2f} "
            f"GB/s, busbw {self.busbw_GBps:.2f} GB/s>"
        )

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        rows = [(p.name, p.start_s * 1e6, p.end_s * 1e6, p.flows, p.bytes) for p in self.phases]
        return html_table(
            ("phase", "start (us)", "end (us)", "flows", "bytes"), rows, caption=repr(self)
        )

    def to_pandas(self, what: str = "flows") -> Any:
        """A DataFrame: ``what="flows"`` (one row per flow: ``src``, ``dst`` labels, ``bytes``,
        ``phase``, ``step``, ``start_s``, ``finish_s``), ``"steps"`` (:meth:`steps`) or
        ``"summary"`` (one row: :meth:`as_dict` without phases and bottlenecks)."""
        from fabricsim._display import pandas

        _validate.choice("what", what, ("flows", "steps", "summary"))
        pd = pandas()
        if what == "steps":
            return pd.DataFrame(self.steps())
        if what == "summary":
            d = self.as_dict()
            return pd.DataFrame(
                [{k: v for k, v in d.items() if k not in ("phases", "bottlenecks")}]
            )
        fab = self.simulation.fabric
        label = (lambda i: fab.label(int(i))) if fab is not None else int
        names = [p.name for p in self.phases]
        phase_names = sorted(set(self.flow_phase.tolist()))
        name_of = {k: names[j] if j < len(names) else str(k) for j, k in enumerate(phase_names)}
        return pd.DataFrame(
            {
                "src": [label(i) for i in self.flow_src],
                "dst": [label(i) for i in self.flow_dst],
                "bytes": self.flow_bytes,
                "phase": [name_of[int(k)] for k in self.flow_phase],
                "step": self.flow_step,
                "start_s": self.flow_start_s,
                "finish_s": self.flow_finish_s,
            }
        ).rename_axis("flow")

    def as_dict(self) -> dict:
        return {
            "op": self.op,
            "algorithm": self.algorithm,
            "size_bytes": self.size_bytes,
            "n_ranks": self.n_ranks,
            "channels": self.channels,
            "protocol": self.protocol,
            "chunks": self.chunks,
            "aggregation": self.aggregation,
            "time_s": self.time_s,
            "algbw_GBps": self.algbw_GBps,
            "busbw_GBps": self.busbw_GBps,
            "phases": [p.__dict__ for p in self.phases],
            "bottlenecks": [dict(b, link=list(map(str, b["link"]))) for b in self.bottlenecks],
        }


def _resolve_ranks(fabric: Fabric, ranks: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    if ranks is None:
        labels = list(fabric.gpus)
    else:
        labels = _validate.iterable("ranks", ranks, "GPU labels")
    if len(labels) < 2:
        raise InvalidArgumentError(f"ranks: a collective needs at least 2 GPUs, got {len(labels)}")
    idx = fabric.indices(labels, "ranks")
    roles = fabric.compiled.roles[idx]
    bad = np.flatnonzero(roles != "gpu")
    if len(bad):
        raise InvalidArgumentError(
            f"ranks: {labels[int(bad[0])]!r} is not a GPU (role {roles[int(bad[0])]!r})"
        )
    if len(set(idx.tolist())) != len(idx):
        seen: set[int] = set()
        dup = None
        for lab, i in zip(labels, idx.tolist(), strict=False):
            if i in seen:
                dup = lab
                break
            seen.add(i)
        raise InvalidArgumentError(f"ranks: GPU {dup!r} appears more than once")
    # Group by host (order of first appearance), each host's GPUs by rail, like NCCL's rings.
    g = fabric.graph
    host_of: dict = {}
    groups: list[list[tuple]] = []
    for pos, lab in enumerate(labels):
        attrs = g.nodes[lab]
        h = attrs.get("host", ("__own__", lab))
        if h not in host_of:
            host_of[h] = len(groups)
            groups.append([])
        rail = attrs.get("rail")
        groups[host_of[h]].append((rail if isinstance(rail, int) else pos, pos))
    order = [p for grp in groups for _, p in sorted(grp)]
    new_idx = idx[order]
    hosts, at = [], 0
    for grp in groups:
        hosts.append(np.arange(at, at + len(grp), dtype=np.int64))
        at += len(grp)
    return new_idx, hosts


def _default_chunks(size: int) -> int:
    return int(min(MAX_PIPELINE_CHUNKS, max(1, math.ceil(size / PIPELINE_CHUNK_BYTES))))


@dataclass(frozen=True)
class Collective:
    """A collective to run: what, how big, among whom, and how.

    ``profile``: the hardware profile whose NCCL model (protocols, base and per-step
    latencies, NVSwitch reduction rate) applies; None uses the fabric's own
    (:attr:`fabricsim.Fabric.profile`), False none at all (bare wire latencies, Simple
    protocol: the closed forms). ``protocol``: ``"ll"``, ``"ll128"``, ``"simple"`` or
    ``"auto"`` (NCCL's model picks it; Simple without a profile).

    >>> import fabricsim as fs
    >>> G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1)
    >>> fab = fs.Fabric.from_networkx(G)
    >>> res = fs.Collective("all_reduce", 1 << 30, algorithm="ring").run(fab)
    >>> round(res.busbw_GBps, 1)  # 400 Gb/s NICs, non-blocking: the NIC rate
    50.0
    """

    op: Op
    size_bytes: int
    ranks: Sequence[Hashable] | None = None
    algorithm: Algorithm = "auto"
    channels: int | None = None
    profile: Any = None
    pipeline_chunks: int | None = None
    max_flows: int = DEFAULT_MAX_FLOWS
    protocol: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", normalize_op(self.op))
        object.__setattr__(self, "size_bytes", check_size(self.size_bytes))
        _validate.choice("algorithm", self.algorithm, ALGORITHMS)
        if isinstance(self.protocol, str):  # NCCL_PROTO spells them LL, LL128, Simple
            object.__setattr__(self, "protocol", self.protocol.lower())
        _validate.choice("protocol", self.protocol, ("auto",) + tuner.PROTOCOLS)
        if self.algorithm != "auto" and self.algorithm not in SUPPORTED[self.op]:
            raise InvalidArgumentError(
                f"algorithm: {self.algorithm!r} does not build {self.op}; valid for {self.op}: "
                f"{', '.join(('auto',) + SUPPORTED[self.op])}"
            )
        if self.max_flows is None:
            object.__setattr__(self, "max_flows", DEFAULT_MAX_FLOWS)
        for what, v, lo in (
            ("channels", self.channels, 1),
            ("pipeline_chunks", self.pipeline_chunks, 1),
            ("max_flows", self.max_flows, 1000),
        ):
            if v is not None:
                _validate.integer(what, v, minimum=lo)
        if self.ranks is not None and not isinstance(self.ranks, (list, tuple)):
            # a set or a generator: keep it as a tuple (indexable, and iterated only once)
            object.__setattr__(
                self, "ranks", tuple(_validate.iterable("ranks", self.ranks, "GPU labels"))
            )
        if self.channels is not None and self.channels > 64:
            raise InvalidArgumentError(
                f"channels: at most 64 (NCCL's MAXCHANNELS), got {self.channels}"
            )
        if self.pipeline_chunks is not None and self.pipeline_chunks > MAX_USER_PIPELINE_CHUNKS:
            raise InvalidArgumentError(
                f"pipeline_chunks: at most {MAX_USER_PIPELINE_CHUNKS}, got {self.pipeline_chunks}"
            )

    # -- what the model sees ------------------------------------------------------------------
    def _profile(self, fabric: Fabric) -> Any:
        if self.profile is False:
            return None
        if self.profile is None:
            return fabric.profile
        from fabricsim.fabric import profiles

        return profiles.get_profile(self.profile)

    def _base(self, fabric: Fabric) -> _Setup:
        ranks, hosts = _resolve_ranks(fabric, self.ranks)
        root = fabric.index(self.ranks[0]) if self.ranks is not None else int(ranks[0])
        channels = self.channels or max(len(h) for h in hosts)
        return _Setup(fabric, ranks, hosts, int(channels), root, self._profile(fabric))

    def _context(self, setup: _Setup, algorithm: str, protocol: str) -> _Ctx:
        chunks = self.pipeline_chunks or _default_chunks(self.size_bytes)
        ctx = _Ctx(
            setup.fabric,
            setup.ranks,
            setup.hosts,
            setup.channels,
            int(self.max_flows),
            int(chunks),
            setup.root,
            setup.node_host,
            protocol=protocol,
        )
        # what one channel gets of a GPU's NVLink and of its host's NICs (fill times at scale)
        C = setup.channels
        ctx.intra_Bps = setup.intra_GBps * 1e9 / C
        ctx.inter_Bps = setup.inter_GBps * 1e9 / max(C, setup.nics)
        ctx.wire_intra_s, ctx.wire_inter_s = (w * 1e-6 for w in setup.wire_us)
        if setup.prof is None:
            return ctx
        hw = setup.hardware
        model = algorithm if algorithm in tuner.MODEL_ALGORITHMS else "ring"
        if algorithm == "hierarchical" and protocol != "simple":
            raise InvalidArgumentError(
                f"protocol: NCCL has no hierarchical algorithm (fabricsim's composite of "
                f"rings) to pair with {protocol!r}; it runs with 'simple' only"
            )
        if algorithm in _SIMPLE_ONLY and protocol != "simple":
            raise InvalidArgumentError(
                f"protocol: NCCL's model runs {algorithm} with 'simple' only, got {protocol!r}"
            )
        if algorithm in _SIMPLE_ONLY[2:]:
            # PAT / CollNet: NCCL's whole latency once (as for NVLS); their measured kernel
            # efficiency (tuning.cc: PAT x 0.75, CollNet Direct x 0.85 on Hopper) on the wire
            ctx.wire_factor = 1.0 / tuner.wire_efficiency(algorithm, hw)
            ctx.base_s = tuner.latency_us(self.op, algorithm, protocol, hw) * 1e-6
            return ctx
        if algorithm in ("nvls", "nvls_tree"):
            ctx.nvls_factor = setup.nvls_factor
        else:
            simple = tuner.bandwidth_GBps(self.op, model, "simple", hw, setup.channels)
            mine = tuner.bandwidth_GBps(self.op, model, protocol, hw, setup.channels)
            if mine <= 0:
                raise InvalidArgumentError(
                    f"protocol: NCCL's model does not run {algorithm} with {protocol!r}"
                )
            ctx.wire_factor = simple / mine
        intra_us, inter_us = tuner.step_latencies_us(model, protocol, hw)
        base_us = tuner.base_latency_us(self.op, model, protocol, hw)
        if algorithm in ("nvls", "nvls_tree"):
            intra_us = 0.0  # NVLS: the NVSwitch step is the one-off latency (tuning.cc)
            if algorithm == "nvls_tree":
                base_us += tuner.step_latencies_us(model, protocol, hw)[0]
            else:
                inter_us = 0.0
        plateau = 1.0
        if (
            model == "ring"
            and protocol == "simple"
            and hw.n_nodes > 1
            and self.op == "all_reduce"
            and self.size_bytes / (setup.channels * hw.n_ranks) >= 64
        ):
            plateau = tuner.RING_PLATEAU.get(hw.arch, 1.4)
        if model == "ring" and not (self.op in ("broadcast", "reduce") and algorithm == "ring"):
            # Whole-step algorithms run in lockstep here (a step waits for the one before it on
            # every rank), so a rank on a host boundary would pay the network latency at every
            # step; NCCL's ring pipelines slices instead, and its model charges
            # (nsteps - nInterSteps) intra + nInterSteps inter. Every step pays the average,
            # so the steps add up to NCCL's ring latency exactly.
            nsteps, _ = tuner._nsteps(self.op, hw.n_ranks, hw.n_nodes)
            avg = (tuner.latency_us(self.op, "ring", protocol, hw) - base_us) / max(1, nsteps)
            wire = setup.wire_us[1] if hw.n_nodes > 1 else setup.wire_us[0]
            intra_us = inter_us = avg
            wire_intra = wire_inter = wire
        else:
            wire_intra, wire_inter = setup.wire_us
        ctx.base_s = base_us * plateau * 1e-6
        ctx.step_intra_s = max(0.0, intra_us * plateau - wire_intra) * 1e-6
        ctx.step_inter_s = max(0.0, inter_us * plateau - wire_inter) * 1e-6
        return ctx

    def channel_count(self, fabric: Fabric) -> int:
        """The channels :meth:`run` gives its ring, tree and NVLS plans on ``fabric``:
        ``channels`` when given, else one per GPU of the ranks' largest host (NCCL opens about
        one ring per GPU-NIC pair on a rail-optimized node).

        >>> import fabricsim as fs
        >>> G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=4)
        >>> fab = fs.Fabric.from_networkx(G)
        >>> fs.Collective("all_reduce", 1 << 20).channel_count(fab)
        4
        """
        if not isinstance(fabric, Fabric):
            raise InvalidTypeError(
                f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}"
            )
        if self.channels is not None:
            return int(self.channels)
        _, hosts = _resolve_ranks(fabric, self.ranks)
        return int(max(len(h) for h in hosts))

    def choices(self, fabric: Fabric) -> tuple[tuple[str, str], ...]:
        """The (algorithm, protocol) pairs :meth:`run` simulates on ``fabric``, each checked
        as :meth:`run` checks it before planning (the protocol against the algorithm and the
        profile, the plan's memory), without planning or simulating anything. What only the
        plan can tell (an explicit ``algorithm`` the ranks cannot run, e.g. NVLS across
        hosts) is :meth:`plan`'s error.

        >>> import fabricsim as fs
        >>> G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2,
        ...                   profile="h100-ndr400")
        >>> fab = fs.Fabric.from_networkx(G)
        >>> fs.Collective("all_reduce", 1024, algorithm="ring", protocol="LL").choices(fab)
        (('ring', 'll'),)
        """
        if not isinstance(fabric, Fabric):
            raise InvalidTypeError(
                f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}"
            )
        setup = self._base(fabric)
        out = self._choices(setup)
        for algo, proto in out:
            _check_plan_memory(self._context(setup, algo, proto), self.op, algo)
        return tuple(out)

    def candidates(self, fabric: Fabric) -> tuple[str, ...]:
        """The algorithms ``run`` simulates: the one asked for, or for ``"auto"`` those of
        NCCL's own that this fabric and these ranks can run (plus ``hierarchical``), narrowed
        by NCCL's cost model to those within ``tuner.MARGIN`` of its best when a profile
        applies."""
        if self.algorithm != "auto":
            return (self.algorithm,)
        return tuple(a for a, _ in self._choices(self._base(fabric)))

    def _choices(self, setup: _Setup) -> list[tuple[str, str]]:
        """(algorithm, protocol) pairs to simulate. An explicit ``protocol`` that no candidate
        can run is an error, never silently replaced by "simple"."""
        out = self._candidates(setup)
        if self.protocol not in ("auto", "simple"):
            if setup.prof is None:
                raise InvalidArgumentError(
                    f"protocol: {self.protocol!r} needs a hardware profile (NCCL's model gives "
                    "each protocol its bandwidth and latency); without one only 'simple' runs"
                )
            out = [(a, p) for a, p in out if p == self.protocol]
            if not out:
                raise InvalidArgumentError(
                    f"protocol: no algorithm {self.op} can run here takes {self.protocol!r} "
                    "(NVLS, NVLS-tree and hierarchical run 'simple' only)"
                )
        return out

    def _candidates(self, setup: _Setup) -> list[tuple[str, str]]:
        if self.algorithm != "auto":
            return [(self.algorithm, self._protocol_for(setup, self.algorithm))]
        usable = [a for a in AUTO_ALGORITHMS[self.op] if setup.can_run(a, self.op)]
        if "pat" in usable:
            from fabricsim.traffic.collectives.algorithms import pat_steps

            n = len(setup.ranks)
            if n * len(pat_steps(n)) > self.max_flows:  # PAT has no host granularity
                usable.remove("pat")
        if setup.prof is None:  # no model: PAT / CollNet / NVLS are chosen through it
            return [(a, "simple") for a in usable if a not in _SIMPLE_ONLY]
        model_ok = tuner.allowed(self.op, setup.hardware)
        ests = tuner.estimates(
            self.op,
            self.size_bytes,
            setup.hardware,
            channels=setup.channels,
            algorithms=tuple(a for a in usable if a in model_ok),
            protocols=self._protocols(),
        )
        short = tuner.shortlist(ests)
        out = [(e.algorithm, e.protocol) for e in short]
        if "hierarchical" in usable:  # outside NCCL's model: fabricsim's own estimate
            h = tuner.hierarchical_estimate(self.op, self.size_bytes, setup.hardware)
            best = min((e.time_us for e in short), default=math.inf)
            if h is not None and h.time_us <= best * (1.0 + tuner.MARGIN):
                out.append(("hierarchical", "simple"))
        return out or [(usable[0], self._protocol_for(setup, usable[0]))]

    def _protocols(self) -> tuple[str, ...]:
        return tuner.PROTOCOLS if self.protocol == "auto" else (self.protocol,)

    def _protocol_for(self, setup: _Setup, algorithm: str) -> str:
        if self.protocol != "auto":
            return self.protocol
        if setup.prof is None or algorithm in _SIMPLE_ONLY + ("hierarchical",):
            return "simple"
        model = algorithm if algorithm in tuner.MODEL_ALGORITHMS else "ring"
        ests = tuner.estimates(
            self.op, self.size_bytes, setup.hardware, channels=setup.channels, algorithms=(model,)
        )
        best = min(ests, key=lambda e: e.time_us, default=None)
        return "simple" if best is None else best.protocol

    def plan(
        self,
        fabric: Fabric,
        algorithm: str | None = None,
        *,
        protocol: str | None = None,
        lanes: bool = False,
    ) -> FlowSet:
        """The flow DAG this collective becomes (node indices of ``fabric``), for
        ``algorithm`` (default: the first candidate) and ``protocol`` (default: the model's
        best for that algorithm). A tree planned at host granularity keeps a flow per channel;
        ``lanes=True`` gives instead one flow whose lanes are the channels, as :meth:`run`
        simulates it (lanes need the Rust engine, and cannot join other flow sets or go
        through ``tail_latency`` / ``failure_impact``, which refuse them)."""
        setup = self._base(fabric)
        if algorithm is None:
            algorithm, proto = self._choices(setup)[0]
        else:
            proto = self._protocol_for(setup, algorithm)
        proto = protocol or proto
        ctx = self._context(setup, algorithm, proto)
        ctx.lanes = _validate.boolean("lanes", lanes)
        _check_plan_memory(ctx, self.op, algorithm)
        fs_, phase, step, names = build_plan(ctx, self.op, algorithm, self.size_bytes)
        fs_.meta.update(
            phase=phase, step=step, phase_names=names, algorithm=algorithm, protocol=proto
        )
        return fs_

    def run(
        self,
        fabric: Fabric,
        *,
        routing: Routing = "ecmp",
        seed: int = 0,
        metric: Metric = "latency",
        engine: Engine = "rust",
    ) -> CollectiveResult:
        if not isinstance(fabric, Fabric):
            raise InvalidTypeError(
                f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}"
            )
        _validate.choice("routing", routing, ROUTING_POLICIES)
        _validate.choice("metric", metric, METRICS)
        seed = _validate.seed(seed)
        setup = self._base(fabric)
        results: dict[str, CollectiveResult] = {}
        for algo, proto in self._choices(setup):
            ctx = self._context(setup, algo, proto)
            ctx.lanes = True  # at host granularity, a host pair's channels as lanes of one flow
            _check_plan_memory(ctx, self.op, algo)
            fs_, phase, step, names = build_plan(ctx, self.op, algo, self.size_bytes)
            sim = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric, engine=engine)
            results[algo] = _result(
                self,
                fabric,
                ctx,
                _validate.choice("algorithm", algo, ALGORITHMS),
                fs_,
                phase,
                step,
                names,
                sim,
            )
        best = min(results.values(), key=lambda r: r.time_s)
        if len(results) > 1:
            alts = {a: r.time_s for a, r in results.items()}
            object.__setattr__(best, "alternatives", alts)
        return best


#: What ``algorithm="auto"`` considers, before the fabric and NCCL's model narrow it.
AUTO_ALGORITHMS = {
    **NCCL_ALGORITHMS,
    "all_reduce": (
        "ring",
        "tree",
        "nvls",
        "nvls_tree",
        "hierarchical",
        "collnet_direct",
        "collnet_chain",
    ),
    "all_gather": ("ring", "hierarchical", "pat"),
    "reduce_scatter": ("ring", "hierarchical", "pat"),
}

#: Algorithms NCCL's model runs with the Simple protocol only (NVLS first, then PAT / CollNet).
_SIMPLE_ONLY = ("nvls", "nvls_tree", "pat", "collnet_direct", "collnet_chain")

_PIPELINED = ("tree", "nvls", "nvls_tree")


class _Setup:
    """What every candidate of one run shares: ranks, hosts, channels, the profile and the
    hardware summary NCCL's model needs (computed once)."""

    def __init__(
        self,
        fabric: Fabric,
        ranks: np.ndarray,
        hosts: list[np.ndarray],
        channels: int,
        root: int,
        prof: Any,
    ) -> None:
        self.fabric, self.ranks, self.hosts, self.channels = fabric, ranks, hosts, channels
        self.root, self.prof = root, prof
        self.node_host = _node_hosts(fabric)
        self._hw: tuner.Hardware | None = None
        self._switch: dict[int, bool] = {}
        self.wire_us = (0.0, 0.0)
        self.nvls_factor = 1.0
        self._summarize()

    @property
    def hardware(self) -> tuner.Hardware:
        assert self._hw is not None
        return self._hw

    def _summarize(self) -> None:
        fab, c = self.fabric, self.fabric.compiled
        r0 = int(self.ranks[0])
        kinds = _link_kinds(fab)
        usable_GBps = fab.usable_Bps / 1e9
        out0 = c.link_src == r0
        intra = float(usable_GBps[out0 & (kinds == "nvlink")].sum())
        h0 = self.node_host[r0]
        if h0 >= 0:
            inside = self.node_host == h0
            leave = inside[c.link_src] & ~inside[c.link_dst]
        else:
            leave = out0
        inter = float(usable_GBps[leave].sum())
        nics = max(1, len(np.unique(c.link_src[leave])))
        hosts = self.hosts
        H = len(hosts)
        self.intra_GBps = intra if intra > 0 else inter
        self.inter_GBps, self.nics = (inter if inter > 0 else self.intra_GBps), nics
        prof = self.prof
        if prof is not None:
            algbw = getattr(prof, "nvls_algbw_GBps", None)
            nvls = bool(algbw) and all(self.shares_switch(i) for i in range(H))
            if nvls and intra > 0 and algbw:
                self.nvls_factor = max(1.0, intra / float(algbw))
            self._hw = tuner.Hardware(
                n_ranks=len(self.ranks),
                n_nodes=H,
                intra_GBps=self.intra_GBps,
                inter_GBps=inter,
                nics_per_node=nics,
                arch=getattr(prof, "nccl_arch", "hopper"),
                nvls=nvls,
                intra="nvlink" if intra > 0 else "pci",
                sharp=H > 1 and self.has_sharp(),
                nvswitch=H > 1 and all(self.shares_switch(i) for i in range(H)),
            )
        wi = wn = 0.0
        first = hosts[0]
        if len(first) > 1:
            wi = fab.distance(
                fab.label(int(self.ranks[first[0]])), fab.label(int(self.ranks[first[1]]))
            )
        if H > 1:
            wn = fab.distance(fab.label(r0), fab.label(int(self.ranks[hosts[1][0]])))
        self.wire_us = (wi if math.isfinite(wi) else 0.0, wn if math.isfinite(wn) else 0.0)

    def shares_switch(self, i: int) -> bool:
        if i not in self._switch:
            from fabricsim.traffic.collectives.algorithms import _host_switch

            ctx = _Ctx(self.fabric, self.ranks, self.hosts, 1, 1000, 1, self.root, self.node_host)
            self._switch[i] = (
                len(self.hosts[i]) > 1 and _host_switch(ctx, self.hosts[i]) is not None
            )
        return self._switch[i]

    def has_sharp(self) -> bool:
        """Some switch declares SHARP and it reaches every rank (a SHARP tree exists for
        channel 0's heads)."""
        if not hasattr(self, "_sharp"):
            from fabricsim.traffic.collectives.algorithms import sharp_switches, sharp_tree

            ok = bool(sharp_switches(self.fabric)) and len(self.hosts) > 1
            if ok:
                heads = [self.fabric.label(int(self.ranks[h[0]])) for h in self.hosts]
                try:
                    sharp_tree(self.fabric, heads)
                except InvalidArgumentError:
                    ok = False
            self._sharp = ok
        return self._sharp

    def can_run(self, algo: str, op: str) -> bool:
        H = len(self.hosts)
        if algo not in SUPPORTED[op]:
            return False
        if algo == "pat":  # NCCL enables it by default with one rank per node only
            return H == len(self.ranks) and H > 1
        if algo in ("collnet_direct", "collnet_chain"):
            if not self.has_sharp():
                return False
            if algo == "collnet_direct":
                g = len(self.hosts[0])
                return all(len(h) == g for h in self.hosts) and all(
                    self.shares_switch(i) or g == 1 for i in range(H)
                )
            return True
        if algo == "hierarchical":
            g = len(self.hosts[0])
            return H >= 2 and g >= 2 and all(len(h) == g for h in self.hosts)
        if algo == "nvls":
            return H == 1 and self.shares_switch(0)
        if algo == "nvls_tree":
            return H >= 2 and all(self.shares_switch(i) for i in range(H))
        return True


def _node_hosts(fabric: Fabric) -> np.ndarray:
    """Host id of every node (-1 for nodes outside any host), cached on the fabric."""
    cached = getattr(fabric, "_fs_node_hosts", None)
    if cached is None:
        ids: dict = {}
        g = fabric.graph
        cached = np.array(
            [
                ids.setdefault(h, len(ids)) if (h := g.nodes[v].get("host")) is not None else -1
                for v in fabric.nodes
            ],
            dtype=np.int64,
        )
        fabric._fs_node_hosts = cached  # type: ignore[attr-defined]
    return cached


def _link_kinds(fabric: Fabric) -> np.ndarray:
    cached = getattr(fabric, "_fs_link_kinds", None)
    if cached is None:
        c = fabric.compiled
        cached = np.asarray([k or "" for k in c.kind], dtype=object)[c.link_edge]
        fabric._fs_link_kinds = cached  # type: ignore[attr-defined]
    return cached


#: Peak bytes per flow while a plan is built (its numpy blocks, their concatenation and the
#: dependency sort): 152 measured (ru_maxrss) on a direct all-to-all of 1,024 GPUs, rounded up.
PLAN_BYTES_PER_FLOW = 200


def _check_plan_memory(ctx: _Ctx, op: str, algorithm: str) -> None:
    """Direct and pairwise plans have a flow per ordered pair of ranks (per phase), not capped
    by ``max_flows``: a 8,192-GPU all-to-all is 67 million flows. Estimate before building."""
    n = len(ctx.ranks)
    if algorithm not in ("direct", "pairwise") or n * (n - 1) < 100_000:
        return
    phases = 2 if op == "all_reduce" else 1
    flows = phases * n * (n - 1)
    _memory.check(
        flows * PLAN_BYTES_PER_FLOW,
        f"planning a {algorithm} {op} over {n:,} ranks ({flows:,} flows)",
        "use fewer ranks, or another algorithm (ring, hierarchical) where the op has one",
    )


def _result(
    coll: Collective,
    fabric: Fabric,
    ctx: _Ctx,
    algo: Algorithm,
    fs_: FlowSet,
    phase,
    step,
    names,
    sim: SimulationResult,
) -> CollectiveResult:
    n = len(ctx.ranks)
    t = sim.makespan_s
    algbw = coll.size_bytes / t / 1e9 if t > 0 else math.inf
    phases = []
    for p, name in enumerate(names):
        m = phase == p
        if not m.any():
            continue
        phases.append(
            PhaseTiming(
                name,
                float(sim.start_s[m].min()),
                float(sim.finish_s[m].max()),
                int(m.sum()),
                float(fs_.size_bytes[m].sum()),
            )
        )
    cap = fabric.usable_Bps
    mean_util = sim.link_bytes / (cap * t) if t > 0 else np.zeros_like(cap)
    order = np.argsort(-mean_util, kind="stable")[:5]
    kinds = fabric.compiled.kind
    bottlenecks = tuple(
        {
            "link": fabric.link(int(lid)),
            "kind": kinds[int(fabric.compiled.link_edge[lid])],
            "mean_utilization": float(mean_util[lid]),
            "peak_utilization": float(sim.link_peak_utilization[lid]),
            "bytes": float(sim.link_bytes[lid]),
        }
        for lid in order
        if sim.link_bytes[lid] > 0
    )
    # only these algorithms split the data over channels; the others run one connection per
    # pair of ranks, so they report the one channel they use
    channels = ctx.channels if algo in ("ring", "tree", "nvls", "nvls_tree") + _SIMPLE_ONLY else 1
    return CollectiveResult(
        op=coll.op,
        algorithm=algo,
        size_bytes=coll.size_bytes,
        n_ranks=n,
        channels=channels,
        protocol=ctx.protocol,
        chunks=ctx.chunks_used or None,
        aggregation=ctx.aggregation,
        time_s=t,
        algbw_GBps=algbw,
        busbw_GBps=algbw * BUSBW_FACTOR[coll.op](n),
        phases=tuple(phases),
        bottlenecks=bottlenecks,
        flow_src=fs_.src,
        flow_dst=fs_.dst,
        flow_bytes=fs_.size_bytes,
        flow_start_s=sim.start_s,
        flow_finish_s=sim.finish_s,
        flow_phase=phase,
        flow_step=step,
        simulation=sim,
    )


def collective(
    fabric: Fabric,
    op: Op,
    size_bytes: int,
    ranks: Sequence[Hashable] | None = None,
    algorithm: Algorithm = "auto",
    channels: int | None = None,
    profile: Any = None,
    routing: Routing = "ecmp",
    seed: int = 0,
    *,
    metric: Metric = "latency",
    pipeline_chunks: int | None = None,
    max_flows: int = DEFAULT_MAX_FLOWS,
    engine: Engine = "rust",
    protocol: str = "auto",
) -> CollectiveResult:
    """Time one collective on ``fabric``: ``op`` of ``size_bytes`` (nccl-tests size) among
    ``ranks`` (GPU labels; default every GPU) with ``algorithm`` (``"auto"`` picks the fastest).

    >>> import fabricsim as fs
    >>> G = fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=4, gpus_per_host=1)
    >>> fab = fs.Fabric.from_networkx(G)
    >>> r = fs.collective(fab, "all_gather", 1 << 30, algorithm="ring")
    >>> r.algorithm, round(r.busbw_GBps)  # 400 Gb/s NICs: 50 GB/s less the per-step latency
    ('ring', 50)
    """
    return Collective(
        op, size_bytes, ranks, algorithm, channels, profile, pipeline_chunks, max_flows, protocol
    ).run(fabric, routing=routing, seed=seed, metric=metric, engine=engine)


#: nccl-tests' ``-d`` data types and their sizes in bytes (nccl-tests src/common.cu,
#: ``test_typenames``; bfloat16 from NCCL 2.10).
DATATYPES: dict[str, int] = {
    "int8": 1,
    "uint8": 1,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "half": 2,
    "float": 4,
    "double": 8,
    "bfloat16": 2,
}
#: Ops nccl-tests prints a reduction operator for (``redop`` column; the others say ``none``).
REDUCING_OPS = ("all_reduce", "reduce_scatter", "reduce")
#: Ops with a root (nccl-tests prints the root rank; the others print -1).
ROOTED_OPS = ("broadcast", "reduce")


def _count(op: str, size_bytes: int, n_ranks: int, word_bytes: int) -> int:
    """nccl-tests' ``count`` column: elements per rank's buffer argument (``paramCount`` of
    getCollByteCount): the whole buffer for all-reduce / broadcast / reduce / send-recv, one
    rank's share for all-gather, reduce-scatter and all-to-all."""
    per_rank = op in ("all_gather", "reduce_scatter", "all_to_all")
    return size_bytes // word_bytes // (n_ranks if per_rank else 1)


def _nccl_time(us: float) -> str:
    # nccl-tests BenchTime: %7.0f from 10 ms, %7.1f from 100 us, else %7.2f.
    if us >= 10000.0:
        return f"{us:7.0f}"
    if us >= 100.0:
        return f"{us:7.1f}"
    return f"{us:7.2f}"


@dataclass(frozen=True, eq=False)
class SizeSweep(Sequence):
    """The results of :func:`sweep_sizes`, one :class:`CollectiveResult` per size (it is a
    sequence of them), with nccl-tests' table (:meth:`table`), a DataFrame
    (:meth:`to_pandas`) and a bus-bandwidth plot (:meth:`plot`)."""

    op: Op
    n_ranks: int
    algorithm: Algorithm
    routing: Routing
    seed: int
    datatype: Datatype
    results: tuple[CollectiveResult, ...]
    #: The protocol asked for ("auto": NCCL's model picks it per size; each result says which).
    protocol: str = "auto"
    #: The channels asked for (None: :meth:`Collective.channel_count`'s default).
    channels: int | None = None

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i):
        return self.results[i]

    @property
    def word_bytes(self) -> int:
        return DATATYPES[self.datatype]

    @property
    def avg_busbw_GBps(self) -> float:
        """Mean bus bandwidth over the sizes (nccl-tests' ``# Avg bus bandwidth``), GB/s."""
        return float(np.mean([r.busbw_GBps for r in self.results])) if self.results else 0.0

    def rows(self) -> list[dict]:
        """One dict per size: the nccl-tests columns plus the algorithm fabricsim ran."""
        redop = "sum" if self.op in REDUCING_OPS else "none"
        root = 0 if self.op in ROOTED_OPS else -1
        return [
            {
                "size_bytes": r.size_bytes,
                "count": _count(self.op, r.size_bytes, self.n_ranks, self.word_bytes),
                "type": self.datatype,
                "redop": redop,
                "root": root,
                "time_us": r.time_us,
                "algbw_GBps": r.algbw_GBps,
                "busbw_GBps": r.busbw_GBps,
                "algorithm": r.algorithm,
                "op": r.op,
                "n_ranks": r.n_ranks,
                "channels": r.channels,
                "protocol": r.protocol,
            }
            for r in self.results
        ]

    def table(self, *, title: str | None = None, tuning: bool = False) -> str:
        """The sweep in nccl-tests' layout (src/common.cu of NVIDIA/nccl-tests): size, count,
        type, redop, root, then time / algbw / busbw / #wrong out of place and in place, and
        the ``# Avg bus bandwidth`` footer, so nccl-tests log parsers read it. The model does
        not tell in-place from out-of-place (both columns show the same run) and checks no
        data, so ``#wrong`` is ``N/A`` (what nccl-tests prints with ``-c 0``).

        ``tuning=True`` puts before each row what ran at that size, in the words NCCL logs it
        with ``NCCL_DEBUG_SUBSYS=TUNING`` (src/enqueue.cc), as a ``#`` comment so log parsers
        skip it: ``#  AllReduce: 1024 Bytes -> Algo Ring proto LL channel{Lo..Hi}={0..1}``
        (the size is the row's, as nccl-tests counts it). All-to-all and send/recv get none
        (NCCL runs them as point-to-point calls, which it logs otherwise); an algorithm NCCL
        does not have is named as fabricsim's."""
        lines = self._head(title)
        for row in self.rows():
            lines += self._row_lines(row, tuning)
        lines.append(f"# Avg bus bandwidth    : {self.avg_busbw_GBps:g} ")
        lines.append("#")
        return "\n".join(lines)

    def _head(self, title: str | None) -> list[str]:
        channels = "auto" if self.channels is None else str(self.channels)
        head = (
            title
            if title is not None
            else (
                f"# fabricsim {self.op}: {self.n_ranks} ranks, algorithm {self.algorithm}, "
                f"protocol {self.protocol}, channels {channels}, routing {self.routing}, "
                f"seed {self.seed}"
            )
        )
        lines = [head, "#"] if head else []
        # The format strings of nccl-tests' Reporter (src/common.cu), kept as printf formats.
        lines.append(
            "# %10s  %12s  %8s  %6s  %6s           out-of-place                       "  # noqa: UP031
            "in-place          " % ("", "", "", "", "")
        )
        lines.append(
            "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s"  # noqa: UP031 (nccl-tests' printf layout)
            % (  # noqa: UP031
                "size",
                "count",
                "type",
                "redop",
                "root",
                "time",
                "algbw",
                "busbw",
                "#wrong",
                "time",
                "algbw",
                "busbw",
                "#wrong",
            )
        )
        lines.append(
            "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s"  # noqa: UP031 (nccl-tests' printf layout)
            % (  # noqa: UP031
                "(B)",
                "(elements)",
                "",
                "",
                "",
                "(us)",
                "(GB/s)",
                "(GB/s)",
                "",
                "(us)",
                "(GB/s)",
                "(GB/s)",
                "",
            )
        )
        return lines

    def _row_lines(self, row: dict, tuning: bool) -> list[str]:
        one = "  %7s  %6.2f  %6.2f  %5s" % (  # noqa: UP031
            _nccl_time(row["time_us"]),
            row["algbw_GBps"],
            row["busbw_GBps"],
            "N/A",
        )
        line = (
            "%12li  %12li  %8s  %6s  %6i"  # noqa: UP031 (nccl-tests' printf layout)
            % (  # noqa: UP031
                row["size_bytes"],
                row["count"],
                row["type"],
                row["redop"],
                row["root"],
            )
            + one
            + one
        )
        if not tuning or self.op in ("all_to_all", "send_recv"):
            # NCCL runs these as grouped point-to-point calls and logs no TUNING line for them
            return [line]
        algo = NCCL_ALGORITHM_NAMES.get(row["algorithm"])
        if algo is None:  # one of fabricsim's own (pairwise, hierarchical, ...): say so
            algo = f"{row['algorithm']} (fabricsim's, not an NCCL algorithm)"
        proto = NCCL_PROTOCOL_NAMES[row["protocol"]]
        note = (
            f"#  {NCCL_OP_NAMES[self.op]}: {row['size_bytes']} Bytes -> Algo {algo} "
            f"proto {proto} channel{{Lo..Hi}}={{0..{row['channels'] - 1}}}"
        )
        return [note, line]

    def to_pandas(self):
        """One row per size: ``size_bytes``, ``count``, ``type``, ``redop``, ``root``,
        ``time_us``, ``algbw_GBps``, ``busbw_GBps``, ``algorithm``, ``op``, ``n_ranks``,
        ``channels``."""
        from fabricsim._display import pandas

        return pandas().DataFrame(self.rows())

    def plot(self, ax=None):
        """Bus bandwidth (GB/s) against size (log scale) on ``ax`` (default: a new figure);
        returns the Figure."""
        from fabricsim._display import axes

        fig, (a,) = axes(ax)
        rows = self.rows()
        a.plot(
            [r["size_bytes"] for r in rows],
            [r["busbw_GBps"] for r in rows],
            marker="o",
            label=f"fabricsim {self.op}",
        )
        a.set_xscale("log", base=2)
        a.set_xlabel("size (bytes)")
        a.set_ylabel("bus bandwidth (GB/s)")
        a.set_title(f"{self.op}, {self.n_ranks} ranks")
        a.grid(True, alpha=0.3)
        a.legend()
        return fig

    def __repr__(self) -> str:
        if not self.results:
            return f"<SizeSweep {self.op}: no sizes>"
        lo, hi = self.results[0].size_bytes, self.results[-1].size_bytes
        return (
            f"<SizeSweep {self.op} x{self.n_ranks} ranks: {len(self)} sizes "
            f"{_human(lo)}..{_human(hi)}, peak busbw "
            f"{max(r.busbw_GBps for r in self.results):.1f} GB/s>"
        )

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        cols = (
            "size (B)",
            "count",
            "type",
            "algorithm",
            "time (us)",
            "algbw (GB/s)",
            "busbw (GB/s)",
        )
        rows = [
            (
                r["size_bytes"],
                r["count"],
                r["type"],
                r["algorithm"],
                r["time_us"],
                r["algbw_GBps"],
                r["busbw_GBps"],
            )
            for r in self.rows()
        ]
        return html_table(cols, rows, caption=repr(self))


def _human(nbytes: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= div and nbytes % div == 0:
            return f"{nbytes // div} {unit}"
    return f"{nbytes} B"


def sweep_sizes(
    fabric: Fabric,
    op: Op = "all_reduce",
    *,
    min_bytes: int | str = 8,
    max_bytes: int | str = 8 << 30,
    step_factor: int = 2,
    ranks: Sequence[Hashable] | None = None,
    algorithm: Algorithm = "auto",
    channels: int | None = None,
    profile: Any = None,
    routing: Routing = "ecmp",
    seed: int = 0,
    datatype: Datatype = "float",
    dtype_bytes: int | None = None,
    file: Any = None,
    progress: bool = False,
    protocol: str = "auto",
    tuning: bool = False,
) -> SizeSweep:
    """Run ``op`` at every size from ``min_bytes`` to ``max_bytes`` (x ``step_factor``), as
    nccl-tests' ``-b min -e max -f factor`` does; sizes may be strings (``"8"``, ``"8G"``).
    ``datatype`` is nccl-tests' ``-d`` name (it sets the ``count`` and ``type`` columns);
    ``dtype_bytes`` (older API) picks the type of that size instead.

    Returns a :class:`SizeSweep` (a sequence of :class:`CollectiveResult`; ``.table()`` is the
    nccl-tests table). Prints nothing unless ``file`` is a stream (``file=sys.stdout``), where
    each row appears as its size finishes. ``progress=True`` shows a progress bar.
    ``protocol`` is :class:`Collective`'s (``"auto"``, ``"ll"``, ``"ll128"``, ``"simple"``;
    NCCL's spellings too); ``tuning=True`` prints before each row the algorithm, protocol and
    channels that ran (:meth:`SizeSweep.table`).

    >>> import fabricsim as fs
    >>> G = fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=4, gpus_per_host=1)
    >>> fab = fs.Fabric.from_networkx(G)
    >>> sweep = fs.sweep_sizes(fab, "all_gather", min_bytes="1M", max_bytes="4M")
    >>> [r.size_bytes for r in sweep], sweep[0].op
    ([1048576, 2097152, 4194304], 'all_gather')
    """
    op = normalize_op(op)
    lo, hi = check_size(min_bytes, "min_bytes"), check_size(max_bytes, "max_bytes")
    if hi < lo:
        raise InvalidArgumentError(f"max_bytes ({hi}) must be >= min_bytes ({lo})")
    step_factor = _validate.integer("step_factor", step_factor, minimum=2)
    if dtype_bytes is not None:
        if isinstance(dtype_bytes, bool) or dtype_bytes not in (1, 2, 4, 8):
            raise InvalidArgumentError(
                f"dtype_bytes: must be one of 1, 2, 4, 8, got {dtype_bytes!r}"
            )
        by_size: dict[int, Datatype] = {1: "int8", 2: "half", 4: "float", 8: "double"}
        datatype = by_size[dtype_bytes]
    _validate.choice("datatype", datatype, DATATYPES)
    _validate.choice("routing", routing, ROUTING_POLICIES)
    seed = _validate.seed(seed)
    if file is not None and file is not False and not hasattr(file, "write"):
        raise InvalidTypeError(
            f"file: expected a stream with write() (e.g. sys.stdout) or None, "
            f"got {type(file).__name__}"
        )
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    if ranks is not None:
        ranks = _validate.iterable("ranks", ranks, "GPU labels")
    tuning = _validate.boolean("tuning", tuning)
    # Check the whole request (algorithm for this op, protocol, ranks, channels) before any
    # output.
    probe = Collective(op, lo, ranks, algorithm, channels, profile, protocol=protocol)
    probe.choices(fabric)
    protocol = probe.protocol
    ranks_n = len(_resolve_ranks(fabric, probe.ranks)[0])
    sizes = []
    s = lo
    while s <= hi:
        sizes.append(s)
        s *= step_factor
    out = file if file not in (None, False) else None
    empty = SizeSweep(op, ranks_n, algorithm, routing, seed, datatype, (), protocol, channels)
    if out is not None:
        print("\n".join(empty._head(None)), file=out, flush=True)
    results = []
    bar = None
    if progress:
        from fabricsim._progress import progress_bar

        bar = progress_bar(len(sizes), f"{op} sweep")
    try:
        for size in sizes:
            r = collective(
                fabric,
                op,
                size,
                ranks,
                algorithm,
                channels,
                profile,
                routing,
                seed,
                protocol=protocol,
            )
            results.append(r)
            if out is not None:
                rows = replace(empty, results=(r,)).rows()
                print("\n".join(empty._row_lines(rows[0], tuning)), file=out, flush=True)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    sweep = replace(empty, results=tuple(results))
    if out is not None:
        print("\n".join(sweep.table(tuning=tuning).splitlines()[-2:]), file=out, flush=True)
    return sweep
