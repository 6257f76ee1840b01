"""The public API of collectives: :class:`Collective`, :func:`collective`,
:class:`CollectiveResult` (nccl-tests algbw / busbw) and :func:`sweep_sizes`."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fabricsim import _validate
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

    def __repr__(self) -> str:
        alts = ""
        if len(self.alternatives) > 1:
            alts = " (fastest of " + ", ".join(self.alternatives) + ")"
        return (f"<CollectiveResult {self.op} {_human(self.size_bytes)} x{self.n_ranks} ranks, "
                f"{self.algorithm}{alts}: {self.time_us:.2f} us, algbw {self.algbw_GBps:.2f} "
                f"GB/s, busbw {self.busbw_GBps:.2f} GB/s>")

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        rows = [(p.name, p.start_s * 1e6, p.end_s * 1e6, p.flows, p.bytes) for p in self.phases]
        return html_table(("phase", "start (us)", "end (us)", "flows", "bytes"), rows,
                          caption=repr(self))

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
            return pd.DataFrame([{k: v for k, v in d.items()
                                  if k not in ("phases", "bottlenecks")}])
        fab = self.simulation.fabric
        label = (lambda i: fab.label(int(i))) if fab is not None else int
        names = [p.name for p in self.phases]
        phase_names = sorted(set(self.flow_phase.tolist()))
        name_of = {k: names[j] if j < len(names) else str(k) for j, k in enumerate(phase_names)}
        return pd.DataFrame({
            "src": [label(i) for i in self.flow_src], "dst": [label(i) for i in self.flow_dst],
            "bytes": self.flow_bytes, "phase": [name_of[int(k)] for k in self.flow_phase],
            "step": self.flow_step, "start_s": self.flow_start_s,
            "finish_s": self.flow_finish_s}).rename_axis("flow")

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
        if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
            raise InvalidTypeError(f"ranks: expected a list of GPU nodes, got {ranks!r}")
        labels = list(ranks)
    if len(labels) < 2:
        raise InvalidArgumentError(f"ranks: a collective needs at least 2 GPUs, got {len(labels)}")
    idx = fabric.indices(labels, "ranks")
    roles = fabric.compiled.roles[idx]
    bad = np.flatnonzero(roles != "gpu")
    if len(bad):
        raise InvalidArgumentError(
            f"ranks: {labels[int(bad[0])]!r} is not a GPU (role {roles[int(bad[0])]!r})")
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

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1))
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
        for what, v, lo in (("channels", self.channels, 1), ("pipeline_chunks", self.pipeline_chunks, 1),
                            ("max_flows", self.max_flows, 1000)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo):
                raise InvalidArgumentError(f"{what}: must be an integer >= {lo}, got {v!r}")
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
        fs_, phase, step, names = build_plan(self._context(fabric), self.op, algorithm, self.size_bytes)
        fs_.meta.update(phase=phase, step=step, phase_names=names, algorithm=algorithm)
        return fs_

    def run(self, fabric: Fabric, *, routing: Routing = "ecmp", seed: int = 0, metric: Metric = "latency",
            engine: Engine = "rust") -> CollectiveResult:
        if not isinstance(fabric, Fabric):
            raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
        _validate.choice("routing", routing, ROUTING_POLICIES)
        _validate.choice("metric", metric, METRICS)
        seed = _validate.seed(seed)
        ctx = self._context(fabric)
        results = {}
        for algo in self.candidates(fabric):
            algo = _validate.choice("algorithm", algo, ALGORITHMS)
            fs_, phase, step, names = build_plan(ctx, self.op, algo, self.size_bytes)
            sim = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric, engine=engine)
            results[algo] = _result(self, fabric, ctx, algo, fs_, phase, step, names, sim)
        best = min(results.values(), key=lambda r: r.time_s)
        if len(results) > 1:
            alts = {a: r.time_s for a, r in results.items()}
            object.__setattr__(best, "alternatives", alts)
        return best


def _result(coll: Collective, fabric: Fabric, ctx: _Ctx, algo: Algorithm, fs_: FlowSet, phase, step,
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
) -> CollectiveResult:
    """Time one collective on ``fabric``: ``op`` of ``size_bytes`` (nccl-tests size) among
    ``ranks`` (GPU labels; default every GPU) with ``algorithm`` (``"auto"`` picks the fastest).

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=4, gpus_per_host=1))
    >>> r = fs.collective(fab, "all_gather", 1 << 30, algorithm="ring")
    >>> r.algorithm, round(r.busbw_GBps)  # 400 Gb/s NICs: 50 GB/s less the per-step latency
    ('ring', 50)
    """
    return Collective(op, size_bytes, ranks, algorithm, channels, profile, pipeline_chunks,
                      max_flows).run(fabric, routing=routing, seed=seed, metric=metric, engine=engine)


#: nccl-tests' ``-d`` data types and their sizes in bytes (nccl-tests src/common.cu,
#: ``test_typenames``; bfloat16 from NCCL 2.10).
DATATYPES: dict[str, int] = {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "int64": 8,
                             "uint64": 8, "half": 2, "float": 4, "double": 8, "bfloat16": 2}
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
        return [{"size_bytes": r.size_bytes,
                 "count": _count(self.op, r.size_bytes, self.n_ranks, self.word_bytes),
                 "type": self.datatype, "redop": redop, "root": root, "time_us": r.time_us,
                 "algbw_GBps": r.algbw_GBps, "busbw_GBps": r.busbw_GBps,
                 "algorithm": r.algorithm, "op": r.op, "n_ranks": r.n_ranks,
                 "channels": r.channels} for r in self.results]

    def table(self, *, title: str | None = None) -> str:
        """The sweep in nccl-tests' layout (src/common.cu of NVIDIA/nccl-tests): size, count,
        type, redop, root, then time / algbw / busbw / #wrong out of place and in place, and
        the ``# Avg bus bandwidth`` footer, so nccl-tests log parsers read it. The model does
        not tell in-place from out-of-place (both columns show the same run) and checks no
        data, so ``#wrong`` is ``N/A`` (what nccl-tests prints with ``-c 0``)."""
        head = title if title is not None else (
            f"# fabricsim {self.op}: {self.n_ranks} ranks, algorithm {self.algorithm}, "
            f"routing {self.routing}, seed {self.seed}")
        lines = [head, "#"] if head else []
        # The format strings of nccl-tests' Reporter (src/common.cu), kept as printf formats.
        lines.append("# %10s  %12s  %8s  %6s  %6s           out-of-place                       "  # noqa: UP031
                     "in-place          " % ("", "", "", "", ""))
        lines.append("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s" % (  # noqa: UP031
            "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong",
            "time", "algbw", "busbw", "#wrong"))
        lines.append("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s" % (  # noqa: UP031
            "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
            "(GB/s)", ""))
        for row in self.rows():
            one = "  %7s  %6.2f  %6.2f  %5s" % (  # noqa: UP031
                _nccl_time(row["time_us"]), row["algbw_GBps"], row["busbw_GBps"], "N/A")
            lines.append("%12li  %12li  %8s  %6s  %6i" % (  # noqa: UP031
                row["size_bytes"], row["count"], row["type"], row["redop"], row["root"])
                + one + one)
        lines.append(f"# Avg bus bandwidth    : {self.avg_busbw_GBps:g} ")
        lines.append("#")
        return "\n".join(lines)

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
        a.plot([r["size_bytes"] for r in rows], [r["busbw_GBps"] for r in rows], marker="o",
               label=f"fabricsim {self.op}")
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
        return (f"<SizeSweep {self.op} x{self.n_ranks} ranks: {len(self)} sizes "
                f"{_human(lo)}..{_human(hi)}, peak busbw "
                f"{max(r.busbw_GBps for r in self.results):.1f} GB/s>")

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        cols = ("size (B)", "count", "type", "algorithm", "time (us)", "algbw (GB/s)",
                "busbw (GB/s)")
        rows = [(r["size_bytes"], r["count"], r["type"], r["algorithm"], r["time_us"],
                 r["algbw_GBps"], r["busbw_GBps"]) for r in self.rows()]
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
) -> SizeSweep:
    """Run ``op`` at every size from ``min_bytes`` to ``max_bytes`` (x ``step_factor``), as
    nccl-tests' ``-b min -e max -f factor`` does; sizes may be strings (``"8"``, ``"8G"``).
    ``datatype`` is nccl-tests' ``-d`` name (it sets the ``count`` and ``type`` columns);
    ``dtype_bytes`` (older API) picks the type of that size instead.

    Returns a :class:`SizeSweep` (a sequence of :class:`CollectiveResult`; ``.table()`` is the
    nccl-tests table). Prints nothing unless ``file`` is a stream (``file=sys.stdout``), where
    each row appears as its size finishes. ``progress=True`` shows a progress bar.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=4, gpus_per_host=1))
    >>> sweep = fs.sweep_sizes(fab, "all_gather", min_bytes="1M", max_bytes="4M")
    >>> [r.size_bytes for r in sweep], sweep[0].op
    ([1048576, 2097152, 4194304], 'all_gather')
    """
    op = normalize_op(op)
    lo, hi = check_size(min_bytes, "min_bytes"), check_size(max_bytes, "max_bytes")
    if hi < lo:
        raise InvalidArgumentError(f"max_bytes ({hi}) must be >= min_bytes ({lo})")
    if isinstance(step_factor, bool) or not isinstance(step_factor, int) or step_factor < 2:
        raise InvalidArgumentError(f"step_factor: must be an integer >= 2, got {step_factor!r}")
    if dtype_bytes is not None:
        if isinstance(dtype_bytes, bool) or dtype_bytes not in (1, 2, 4, 8):
            raise InvalidArgumentError(f"dtype_bytes: must be one of 1, 2, 4, 8, got "
                                       f"{dtype_bytes!r}")
        by_size: dict[int, Datatype] = {1: "int8", 2: "half", 4: "float", 8: "double"}
        datatype = by_size[dtype_bytes]
    _validate.choice("datatype", datatype, DATATYPES)
    _validate.choice("routing", routing, ROUTING_POLICIES)
    seed = _validate.seed(seed)
    if file is not None and file is not False and not hasattr(file, "write"):
        raise InvalidTypeError(f"file: expected a stream with write() (e.g. sys.stdout) or None, "
                               f"got {type(file).__name__}")
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    # Check the whole request (algorithm for this op, ranks, channels) before any output.
    probe = Collective(op, lo, ranks, algorithm, channels, profile)
    ranks_n = len(_resolve_ranks(fabric, probe.ranks)[0])
    sizes = []
    s = lo
    while s <= hi:
        sizes.append(s)
        s *= step_factor
    out = file if file not in (None, False) else None
    empty = SizeSweep(op, ranks_n, algorithm, routing, seed, datatype, ())
    if out is not None:
        head = empty.table().splitlines()[:-2]  # title and column headers, no footer
        print("\n".join(head), file=out, flush=True)
    results = []
    bar = None
    if progress:
        from fabricsim._progress import progress_bar

        bar = progress_bar(len(sizes), f"{op} sweep")
    try:
        for size in sizes:
            r = collective(fabric, op, size, ranks, algorithm, channels, profile, routing, seed)
            results.append(r)
            if out is not None:
                one = replace(empty, results=(r,))
                print(one.table().splitlines()[-3], file=out, flush=True)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    sweep = replace(empty, results=tuple(results))
    if out is not None:
        print("\n".join(sweep.table().splitlines()[-2:]), file=out, flush=True)
    return sweep
