"""The public API of collectives: :class:`Collective`, :func:`collective`,
:class:`CollectiveResult` (nccl-tests algbw / busbw) and :func:`sweep_sizes`."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _memory, _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric
from fabricsim.traffic.collectives.algorithms import build_plan
from fabricsim.traffic.collectives.plan import (
    ALGORITHMS,
    BUSBW_FACTOR,
    DEFAULT_MAX_FLOWS,
    MAX_PIPELINE_CHUNKS,
    MAX_USER_PIPELINE_CHUNKS,
    NCCL_ALGORITHMS,
    PIPELINE_CHUNK_BYTES,
    SUPPORTED,
    _Ctx,
    check_size,
    normalize_op,
)
from fabricsim.traffic.flows import FlowSet, SimulationResult, run_flowset


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

    op: str
    algorithm: str
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

    @property
    def algbw_gbps(self) -> float:
        """Same as ``algbw_GBps``: GB/s, the unit nccl-tests prints."""
        return self.algbw_GBps

    @property
    def busbw_gbps(self) -> float:
        """Same as ``busbw_GBps``: GB/s, the unit nccl-tests prints."""
        return self.busbw_GBps

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
            out.append({"phase": self.phases[p].name, "step": s, "start_s": float(starts[k]),
                        "end_s": float(ends[k]), "bytes": float(nbytes[k])})
        return out

    def as_dict(self) -> dict:
        return {
            "op": self.op, "algorithm": self.algorithm, "size_bytes": self.size_bytes,
            "n_ranks": self.n_ranks, "channels": self.channels, "time_s": self.time_s,
            "algbw_GBps": self.algbw_GBps, "busbw_GBps": self.busbw_GBps,
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
            f"ranks: {labels[int(bad[0])]!r} is not a GPU (role {roles[int(bad[0])]!r})")
    if len(set(idx.tolist())) != len(idx):
        seen: set = set()
        dup = next(lab for lab, i in zip(labels, idx.tolist(), strict=False) if i in seen or seen.add(i))
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

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1))
    >>> res = fs.Collective("all_reduce", 1 << 30, algorithm="ring").run(fab)
    >>> round(res.busbw_GBps, 1)  # 400 Gb/s NICs, non-blocking: the NIC rate
    50.0
    """

    op: str
    size_bytes: int
    ranks: Sequence[Hashable] | None = None
    algorithm: str = "auto"
    channels: int | None = None
    profile: Any = None
    pipeline_chunks: int | None = None
    max_flows: int = DEFAULT_MAX_FLOWS

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", normalize_op(self.op))
        object.__setattr__(self, "size_bytes", check_size(self.size_bytes))
        _validate.choice("algorithm", self.algorithm, ALGORITHMS)
        if self.algorithm != "auto" and self.algorithm not in SUPPORTED[self.op]:
            raise InvalidArgumentError(
                f"algorithm: {self.algorithm!r} does not build {self.op}; valid for {self.op}: "
                f"{', '.join(('auto',) + SUPPORTED[self.op])}")
        if self.max_flows is None:
            object.__setattr__(self, "max_flows", DEFAULT_MAX_FLOWS)
        for what, v, lo in (("channels", self.channels, 1),
                            ("pipeline_chunks", self.pipeline_chunks, 1),
                            ("max_flows", self.max_flows, 1000)):
            if v is not None:
                _validate.integer(what, v, minimum=lo)
        if self.ranks is not None and not isinstance(self.ranks, (list, tuple)):
            # a set or a generator: keep it as a tuple (indexable, and iterated only once)
            object.__setattr__(self, "ranks",
                               tuple(_validate.iterable("ranks", self.ranks, "GPU labels")))
        if self.channels is not None and self.channels > 64:
            raise InvalidArgumentError(f"channels: at most 64 (NCCL's MAXCHANNELS), got {self.channels}")
        if self.pipeline_chunks is not None and self.pipeline_chunks > MAX_USER_PIPELINE_CHUNKS:
            raise InvalidArgumentError(
                f"pipeline_chunks: at most {MAX_USER_PIPELINE_CHUNKS}, got {self.pipeline_chunks}")

    def _context(self, fabric: Fabric) -> _Ctx:
        ranks, hosts = _resolve_ranks(fabric, self.ranks)
        overhead = 0.0
        if self.profile is not None:
            from fabricsim.fabric import profiles

            overhead = profiles.get_profile(self.profile).base_latency_us * 1e-6
        channels = self.channels or max(len(h) for h in hosts)
        chunks = self.pipeline_chunks or _default_chunks(self.size_bytes)
        root = fabric.index(self.ranks[0]) if self.ranks is not None else int(ranks[0])
        return _Ctx(fabric, ranks, hosts, int(channels), overhead, int(self.max_flows),
                    int(chunks), int(root))

    def candidates(self, fabric: Fabric) -> tuple[str, ...]:
        if self.algorithm != "auto":
            return (self.algorithm,)
        return NCCL_ALGORITHMS[self.op]

    def plan(self, fabric: Fabric, algorithm: str | None = None) -> FlowSet:
        """The flow DAG this collective becomes (node indices of ``fabric``)."""
        algorithm = algorithm or self.candidates(fabric)[0]
        ctx = self._context(fabric)
        _check_plan_memory(ctx, self.op, algorithm)
        fs_, phase, step, names = build_plan(ctx, self.op, algorithm, self.size_bytes)
        fs_.meta.update(phase=phase, step=step, phase_names=names, algorithm=algorithm)
        return fs_

    def run(self, fabric: Fabric, *, routing: str = "ecmp", seed: int = 0, metric: str = "latency",
            engine: str = "rust") -> CollectiveResult:
        if not isinstance(fabric, Fabric):
            raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
        _validate.choice("routing", routing, ROUTING_POLICIES)
        _validate.choice("metric", metric, METRICS)
        seed = _validate.seed(seed)
        ctx = self._context(fabric)
        results = {}
        for algo in self.candidates(fabric):
            _check_plan_memory(ctx, self.op, algo)
            fs_, phase, step, names = build_plan(ctx, self.op, algo, self.size_bytes)
            sim = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric, engine=engine)
            results[algo] = _result(self, fabric, ctx, algo, fs_, phase, step, names, sim)
        best = min(results.values(), key=lambda r: r.time_s)
        if len(results) > 1:
            alts = {a: r.time_s for a, r in results.items()}
            object.__setattr__(best, "alternatives", alts)
        return best


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
    _memory.check(flows * PLAN_BYTES_PER_FLOW,
                  f"planning a {algorithm} {op} over {n:,} ranks ({flows:,} flows)",
                  "use fewer ranks, or another algorithm (ring, hierarchical) where the op "
                  "has one")


def _result(coll: Collective, fabric: Fabric, ctx: _Ctx, algo: str, fs_: FlowSet, phase, step,
            names, sim: SimulationResult) -> CollectiveResult:
    n = len(ctx.ranks)
    t = sim.makespan_s
    algbw = coll.size_bytes / t / 1e9 if t > 0 else math.inf
    phases = []
    for p, name in enumerate(names):
        m = phase == p
        if not m.any():
            continue
        phases.append(PhaseTiming(name, float(sim.start_s[m].min()), float(sim.finish_s[m].max()),
                                  int(m.sum()), float(fs_.size_bytes[m].sum())))
    cap = fabric.usable_Bps
    mean_util = sim.link_bytes / (cap * t) if t > 0 else np.zeros_like(cap)
    order = np.argsort(-mean_util, kind="stable")[:5]
    kinds = fabric.compiled.kind
    bottlenecks = tuple(
        {"link": fabric.link(int(lid)), "kind": kinds[int(fabric.compiled.link_edge[lid])],
         "mean_utilization": float(mean_util[lid]),
         "peak_utilization": float(sim.link_peak_utilization[lid]),
         "bytes": float(sim.link_bytes[lid])}
        for lid in order if sim.link_bytes[lid] > 0
    )
    return CollectiveResult(
        op=coll.op, algorithm=algo, size_bytes=coll.size_bytes, n_ranks=n, channels=ctx.channels,
        time_s=t, algbw_GBps=algbw, busbw_GBps=algbw * BUSBW_FACTOR[coll.op](n),
        phases=tuple(phases), bottlenecks=bottlenecks,
        flow_src=fs_.src, flow_dst=fs_.dst, flow_bytes=fs_.size_bytes,
        flow_start_s=sim.start_s, flow_finish_s=sim.finish_s, flow_phase=phase, flow_step=step,
        simulation=sim,
    )


def collective(
    fabric: Fabric,
    op: str,
    size_bytes: int,
    ranks: Sequence[Hashable] | None = None,
    algorithm: str = "auto",
    channels: int | None = None,
    profile: Any = None,
    routing: str = "ecmp",
    seed: int = 0,
    *,
    metric: str = "latency",
    pipeline_chunks: int | None = None,
    max_flows: int = DEFAULT_MAX_FLOWS,
    engine: str = "rust",
) -> CollectiveResult:
    """Time one collective on ``fabric``: ``op`` of ``size_bytes`` (nccl-tests size) among
    ``ranks`` (GPU labels; default every GPU) with ``algorithm`` (``"auto"`` picks the fastest).

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=4, gpus_per_host=1))
    >>> r = fs.collective(fab, "all_gather", 1 << 30, algorithm="ring")
    >>> r.algorithm, round(r.busbw_GBps, 2)
    ('ring', 50.0)
    """
    return Collective(op, size_bytes, ranks, algorithm, channels, profile, pipeline_chunks,
                      max_flows).run(fabric, routing=routing, seed=seed, metric=metric, engine=engine)


def _human(nbytes: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= div and nbytes % div == 0:
            return f"{nbytes // div} {unit}"
    return f"{nbytes} B"


def sweep_sizes(
    fabric: Fabric,
    op: str = "all_reduce",
    *,
    min_bytes: int = 8,
    max_bytes: int = 8 << 30,
    step_factor: int = 2,
    ranks: Sequence[Hashable] | None = None,
    algorithm: str = "auto",
    channels: int | None = None,
    profile: Any = None,
    routing: str = "ecmp",
    seed: int = 0,
    dtype_bytes: int = 4,
    file: Any = None,
    progress: bool = False,
) -> list[CollectiveResult]:
    """Run ``op`` at every size from ``min_bytes`` to ``max_bytes`` (x ``step_factor``) and
    print an nccl-tests-style table (size, count, type, time, algbw, busbw) to ``file``
    (stdout by default; pass ``file=False`` to print nothing). Returns the results."""
    import sys

    op = normalize_op(op)
    lo, hi = check_size(min_bytes, "min_bytes"), check_size(max_bytes, "max_bytes")
    if hi < lo:
        raise InvalidArgumentError(f"max_bytes ({hi}) must be >= min_bytes ({lo})")
    step_factor = _validate.integer("step_factor", step_factor, minimum=2)
    dtype_bytes = _validate.integer("dtype_bytes", dtype_bytes, maximum=64)
    sizes = []
    s = lo
    while s <= hi:
        sizes.append(s)
        s *= step_factor
    out = sys.stdout if file is None else file
    if ranks is not None:
        ranks = _validate.iterable("ranks", ranks, "GPU labels")
    n = len(ranks) if ranks is not None else len(fabric.gpus)
    if out is not False:
        print(f"# fabricsim {op}  ranks={n}  algorithm={algorithm}  routing={routing}", file=out)
        print(f"#{'size':>12} {'count':>12} {'type':>6} {'algorithm':>16} {'time(us)':>12} "
              f"{'algbw(GB/s)':>12} {'busbw(GB/s)':>12}", file=out)
    results = []
    bar = _progress(len(sizes), f"{op} sweep") if progress else None
    for size in sizes:
        r = collective(fabric, op, size, ranks, algorithm, channels, profile, routing, seed)
        results.append(r)
        if out is not False:
            count = size // dtype_bytes
            print(f" {size:>12} {count:>12} {'float':>6} {r.algorithm:>16} {r.time_us:>12.2f} "
                  f"{r.algbw_GBps:>12.2f} {r.busbw_GBps:>12.2f}", file=out)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return results


def _progress(total: int, desc: str):
    from fabricsim._progress import ProgressBar

    return ProgressBar(total, desc)
