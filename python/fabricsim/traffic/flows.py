"""Run any traffic matrix through the max-min fair flow engine.

A traffic matrix is a list of flows ``(src, dst, size_bytes[, start_s[, deps]])``, the same
kind of input a packet-level simulator's connection matrix takes; ``deps`` lists flows (by
position) that must finish before this one starts. Semantics: DEVELOPERS.md, "Flow engine".

>>> import fabricsim as fs
>>> G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1)
>>> fab = fs.Fabric.from_networkx(G)
>>> a, b = fab.gpus
>>> res = fs.simulate(fab, [(a, b, 50e6), (b, a, 50e6, 0.0, [0])], routing="spray")
>>> round(res.makespan_s * 1e3, 4)  # two back-to-back 1 ms transfers at 400 Gb/s + 2.4 us each
2.0048
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _engine, _memory, _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric
from fabricsim.types import Engine, Metric, Routing

MAX_SIZE_BYTES = 2**63 - 1
#: Start times and delays, at most (s, about 11.6 days): beyond, float64 seconds lose the
#: sub-nanosecond resolution transfers need (a flow at 1e12 s finished when it started).
MAX_TIME_S = 1e6
ENGINES = ("rust", "reference")


@dataclass(frozen=True, eq=False)
class FlowSet:
    """Flows in the engine's flat form: node *indices* of one fabric, predecessor lists in CSR
    form (``dep_idx[dep_ptr[i]:dep_ptr[i+1]]`` must finish before flow ``i`` starts), an
    optional waypoint per flow (``via``, -1 for none), the key ECMP hashes (default: the
    flow's position) and how many times its path latency counts (``latency_scale``, default 1:
    a flow standing for ``g`` pipelined collective steps pays ``g`` latencies).

    ``lanes`` (optional; collectives planned at host granularity): ``(lane_ptr, lane_src,
    lane_dst, lane_via, lane_key)``. Flow ``i`` is then routed as its lanes
    ``lane_ptr[i]:lane_ptr[i+1]`` (e.g. one per rail NIC of its host), each on its own ECMP
    path, moving at one rate split equally over them; its own ``src``, ``dst``, ``via`` and
    ``flow_key`` are not routed. Only the Rust engine runs lanes."""

    src: np.ndarray
    dst: np.ndarray
    size_bytes: np.ndarray
    release_s: np.ndarray
    delay_s: np.ndarray
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    via: np.ndarray
    flow_key: np.ndarray
    latency_scale: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.src)

    def latency_scales(self) -> np.ndarray:
        """``latency_scale`` with its default (1 for every flow) filled in."""
        return np.ones(len(self)) if self.latency_scale is None else self.latency_scale

    @classmethod
    def build(
        cls,
        src: Any,
        dst: Any,
        size_bytes: Any,
        *,
        release_s: Any = None,
        delay_s: Any = None,
        deps: Sequence[Sequence[int]] | tuple[np.ndarray, np.ndarray] | None = None,
        via: Any = None,
        flow_key: Any = None,
        latency_scale: Any = None,
        n_nodes: int | None = None,
    ) -> FlowSet:
        """Validate and pack arrays of node indices. ``deps``: a list of predecessor lists, or
        a ready ``(dep_ptr, dep_idx)`` pair."""
        src = _int_array("src", src)
        dst = _int_array("dst", dst, len(src))
        n = len(src)
        size = _float_array("size_bytes", size_bytes, n)
        bad = ~np.isfinite(size) | (size < 0) | (size >= 2.0**63)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidArgumentError(
                f"flow {i}: size_bytes must be finite, >= 0 and < 2**63, got {float(size[i])!r}"
            )
        release = _times("start_s", release_s, n)
        delay = _times("delay_s", delay_s, n)
        if deps is None:
            dep_ptr, dep_idx = np.zeros(n + 1, np.int64), np.zeros(0, np.int64)
        elif isinstance(deps, tuple) and len(deps) == 2 and isinstance(deps[0], np.ndarray):
            dep_ptr = np.ascontiguousarray(deps[0], dtype=np.int64)
            dep_idx = np.ascontiguousarray(deps[1], dtype=np.int64)
            if (
                len(dep_ptr) != n + 1
                or dep_ptr[0] != 0
                or np.any(np.diff(dep_ptr) < 0)
                or dep_ptr[-1] != len(dep_idx)
            ):
                raise InvalidArgumentError("deps: malformed (dep_ptr, dep_idx) pair")
        else:
            deps = _validate.iterable("deps", deps, "predecessor lists (one per flow)")
            if len(deps) != n:
                raise InvalidArgumentError(
                    f"deps: expected {n} entries (one per flow), got {len(deps)}"
                )
            deps = [
                [] if d is None else _validate.iterable(f"deps[{i}]", d, "flow positions")
                for i, d in enumerate(deps)
            ]
            lens = np.fromiter((len(d) for d in deps), np.int64, n)
            dep_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
            flat = [j for d in deps for j in d]
            for i, d in enumerate(deps):
                bad = [j for j in d if not _validate.is_integer(j)]
                if bad:
                    raise InvalidTypeError(
                        f"deps[{i}]: must be earlier flows' positions (integers, not bools), "
                        f"got {bad[0]!r}"
                    )
            dep_idx = _int_array("deps", flat) if flat else np.zeros(0, np.int64)
        if len(dep_idx) and (dep_idx.min() < 0 or dep_idx.max() >= n):
            raise InvalidArgumentError(f"deps: flow indices must be in 0..{n - 1}")
        via_arr = (
            np.full(n, -1, np.int64) if via is None else _int_array("via", via, n, allow_neg=True)
        )
        if flow_key is None:
            key = np.arange(n, dtype=np.uint64)
        else:
            key = _flow_keys(flow_key, n)
        if n_nodes is not None:
            for what, arr in (("src", src), ("dst", dst)):
                if len(arr) and (arr.min() < 0 or arr.max() >= n_nodes):
                    raise InvalidArgumentError(f"{what}: node indices must be in 0..{n_nodes - 1}")
        scale = None if latency_scale is None else _times("latency_scale", latency_scale, n)
        return cls(src, dst, size, release, delay, dep_ptr, dep_idx, via_arr, key, scale)


def _int_array(what: str, x: Any, n: int | None = None, allow_neg: bool = False) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "b":
        raise InvalidTypeError(f"{what}: expected integers, got booleans ({a.reshape(-1)[:3]})")
    if a.dtype == object or a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise InvalidTypeError(f"{what}: expected integers, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.int64).reshape(-1)
    if n is not None and len(a) != n:
        raise InvalidArgumentError(f"{what}: expected {n} entries, got {len(a)}")
    if not allow_neg and len(a) and a.min() < 0:
        raise InvalidArgumentError(f"{what}: negative index {int(a.min())}")
    return a


def _float_array(what: str, x: Any, n: int) -> np.ndarray:
    raw = np.asarray(x)
    if raw.dtype.kind not in "iuf":  # not bools, strings ("1" would parse) or objects (None)
        if raw.dtype == object and all(_is_number(v) for v in raw.reshape(-1).tolist()):
            # Python ints beyond int64; beyond float64 too they become inf (and fail the checks)
            raw = np.array([_to_float(v) for v in raw.reshape(-1).tolist()])
        else:
            raise InvalidTypeError(f"{what}: expected numbers, got {_first_bad(raw)!r}")
    try:
        a = np.ascontiguousarray(np.asarray(raw, dtype=np.float64)).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise InvalidTypeError(f"{what}: expected numbers") from None
    if a.shape == (1,) and n != 1:
        a = np.full(n, a[0])
    if len(a) != n:
        raise InvalidArgumentError(f"{what}: expected {n} entries, got {len(a)}")
    return a


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _first_bad(a: np.ndarray) -> Any:
    for v in a.reshape(-1).tolist():
        if not _is_number(v):
            return v
    return a.dtype


def _times(what: str, x: Any, n: int) -> np.ndarray:
    if x is None:
        return np.zeros(n)
    a = _float_array(what, x, n)
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgumentError(f"flow {i}: {what} must be finite and >= 0, got {float(a[i])!r}")
    if what != "latency_scale" and len(a) and a.max() > MAX_TIME_S:
        i = int(np.argmax(a))
        raise InvalidArgumentError(
            f"flow {i}: {what} must be in [0, {MAX_TIME_S:g}] s (beyond, float64 seconds lose "
            f"the resolution a transfer needs), got {float(a[i])!r}"
        )
    return a


def _flow_keys(flow_key: Any, n: int) -> np.ndarray:
    """ECMP keys: integers in [0, 2**64) (a negative key used to wrap around silently)."""
    a = np.asarray(flow_key)
    if a.shape != (n,):
        raise InvalidArgumentError(f"flow_key: expected {n} entries, got shape {a.shape}")
    if a.dtype.kind == "u":
        return np.ascontiguousarray(a, dtype=np.uint64)
    if a.dtype.kind == "i":
        if n and a.min() < 0:
            i = int(np.argmin(a))
            raise InvalidArgumentError(
                f"flow_key: must be integers in [0, 2**64), got {int(a[i])} (flow {i})"
            )
        return np.ascontiguousarray(a, dtype=np.uint64)
    if a.dtype == object:
        return np.array(
            [_validate.seed(v, f"flow_key[{i}]") for i, v in enumerate(a.tolist())], dtype=np.uint64
        )
    raise InvalidTypeError(f"flow_key: must be integers in [0, 2**64), got dtype {a.dtype}")


def flows_from_matrix(fabric: Fabric, flows: Any) -> FlowSet:
    """Accept a FlowSet, a list of ``(src, dst, size_bytes[, start_s[, deps]])`` tuples with
    node labels, or a mapping of arrays with keys ``src``, ``dst``, ``size_bytes`` and optional
    ``start_s``, ``deps``, ``delay_s``."""
    if isinstance(flows, FlowSet):
        return flows
    if isinstance(flows, Mapping):
        missing = [k for k in ("src", "dst", "size_bytes") if k not in flows]
        if missing:
            raise InvalidArgumentError(f"flows: missing key(s) {missing}")
        return FlowSet.build(
            _endpoints(fabric, flows["src"], "src"),
            _endpoints(fabric, flows["dst"], "dst"),
            flows["size_bytes"],
            release_s=flows.get("start_s"),
            delay_s=flows.get("delay_s"),
            deps=flows.get("deps"),
        )
    rows = _validate.iterable("flows", flows, "(src, dst, size_bytes[, start_s[, deps]]) tuples")
    src, dst, size, start, deps = [], [], [], [], []
    for i, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or not 3 <= len(row) <= 5:
            raise InvalidArgumentError(
                f"flows[{i}]: expected (src, dst, size_bytes[, start_s[, deps]]), got {row!r}"
            )
        src.append(row[0])
        dst.append(row[1])
        nbytes = row[2]
        if isinstance(nbytes, str):  # "64M", "1GiB"
            nbytes = _validate.size_bytes(nbytes, f"flows[{i}]: size_bytes")
        if not _is_number(nbytes):
            raise InvalidTypeError(
                f"flows[{i}]: size_bytes must be a number or a size string "
                f"like '64M', got {nbytes!r}"
            )
        size.append(nbytes)
        if len(row) > 3 and row[3] is not None and not _is_number(row[3]):
            raise InvalidTypeError(f"flows[{i}]: start_s must be a number, got {row[3]!r}")
        start.append(row[3] if len(row) > 3 and row[3] is not None else 0.0)
        d = row[4] if len(row) > 4 else None
        if d is not None and (isinstance(d, (str, bytes)) or not hasattr(d, "__iter__")):
            raise InvalidTypeError(
                f"flows[{i}]: deps must be a list of earlier flows' positions, got {d!r}"
            )
        deps.append(list(d) if d is not None else [])
    return FlowSet.build(
        _endpoints(fabric, src, "src"),
        _endpoints(fabric, dst, "dst"),
        size,
        release_s=start,
        deps=deps,
    )


def _endpoints(fabric: Fabric, labels: Any, what: str) -> np.ndarray:
    """Node indices of ``labels``, each an endpoint (a GPU or an edge site): traffic starts and
    ends there, switches only forward it."""
    from fabricsim.fabric.schema import ENDPOINT_ROLES

    labels = _validate.iterable(what, labels, "node labels")
    idx = fabric.indices(labels, what)
    mask = getattr(fabric, "_fs_endpoint_mask", None)
    if mask is None:  # once per fabric: np.isin on every call cost a tiny simulate 30 us
        mask = np.isin(fabric.compiled.roles, ENDPOINT_ROLES)
        fabric._fs_endpoint_mask = mask  # type: ignore[attr-defined]
    bad = np.flatnonzero(~mask[idx])
    if len(bad):
        i = int(bad[0])
        roles = fabric.compiled.roles[idx]
        raise InvalidArgumentError(
            f"flows[{i}]: {what} {_validate.printable(repr(labels[i]))} is a switch "
            f"(role {roles[i]!r}); "
            f"flows run between endpoints ({', '.join(ENDPOINT_ROLES)})"
        )
    return idx


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Per-flow times (s) and rates (bytes/s), per-link statistics, as numpy arrays.

    Link arrays are indexed by directed link id (see :meth:`Fabric.link`).

    No field is NaN: a flow that moves nothing over the network (0 bytes, or from a node to
    itself) has rates 0; a 0-byte flow's transfer ends when it starts and it finishes one path
    latency later, a flow from a node to itself finishes when it starts (latency 0)."""

    start_s: np.ndarray
    transfer_end_s: np.ndarray
    finish_s: np.ndarray
    mean_rate_Bps: np.ndarray
    min_rate_Bps: np.ndarray
    max_rate_Bps: np.ndarray
    latency_s: np.ndarray
    link_bytes: np.ndarray
    link_busy_s: np.ndarray
    link_peak_utilization: np.ndarray
    events: int = 0
    timings: dict = field(default_factory=dict)
    #: The fabric and the flows' endpoints (node indices) and sizes, for labelled frames.
    fabric: Any = field(default=None, repr=False)
    flow_src: np.ndarray | None = field(default=None, repr=False)
    flow_dst: np.ndarray | None = field(default=None, repr=False)
    flow_bytes: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        busy = int(np.count_nonzero(self.link_bytes)) if len(self.link_bytes) else 0
        peak = float(self.link_peak_utilization.max()) if len(self.link_peak_utilization) else 0.0
        return (
            f"<SimulationResult {len(self.finish_s)} flows, makespan "
            f"{self.makespan_s * 1e3:.4g} ms; {busy} of {len(self.link_bytes)} links "
            f"used, peak utilisation {peak:.0%}>"
        )

    def _repr_html_(self) -> str:
        from fabricsim._display import html_table

        cols = ("link", "bytes", "busy (s)", "peak utilisation")
        rows = [
            (
                f"{b['link'][0]} -> {b['link'][1]}",
                b["bytes"],
                b["busy_s"],
                f"{b['peak_utilization']:.0%}",
            )
            for b in (self.busiest_links(self.fabric, 10) if self.fabric is not None else [])
        ]
        return html_table(cols, rows, caption=repr(self) + " — busiest links")

    def to_pandas(self, what: str = "flows") -> Any:
        """A DataFrame of the flows (``what="flows"``: ``src``, ``dst`` labels, ``size_bytes``,
        ``start_s``, ``transfer_end_s``, ``finish_s``, ``latency_s``, ``mean_rate_Bps``,
        ``min_rate_Bps``, ``max_rate_Bps``) or of the directed links (``what="links"``: ``link``
        id, ``src``, ``dst`` labels, ``kind``, ``bytes``, ``busy_s``, ``peak_utilization``)."""
        from fabricsim._display import pandas

        _validate.choice("what", what, ("flows", "links"))
        pd = pandas()
        if what == "flows":
            cols: dict[str, Any] = {}
            if self.flow_src is not None and self.flow_dst is not None and self.fabric is not None:
                labels = self.fabric.compiled.nodes
                cols["src"] = [labels[int(i)] for i in self.flow_src]
                cols["dst"] = [labels[int(i)] for i in self.flow_dst]
            if self.flow_bytes is not None:
                cols["size_bytes"] = self.flow_bytes
            for k in (
                "start_s",
                "transfer_end_s",
                "finish_s",
                "latency_s",
                "mean_rate_Bps",
                "min_rate_Bps",
                "max_rate_Bps",
            ):
                cols[k] = getattr(self, k)
            return pd.DataFrame(cols).rename_axis("flow")
        cols = {"link": np.arange(len(self.link_bytes))}
        if self.fabric is not None:
            c = self.fabric.compiled
            labels = c.nodes
            cols["src"] = [labels[int(i)] for i in c.link_src]
            cols["dst"] = [labels[int(i)] for i in c.link_dst]
            cols["kind"] = [c.kind[int(e)] for e in c.link_edge]
        cols.update(
            bytes=self.link_bytes,
            busy_s=self.link_busy_s,
            peak_utilization=self.link_peak_utilization,
        )
        return pd.DataFrame(cols).set_index("link")

    @property
    def makespan_s(self) -> float:
        """When the last flow finished (0.0 for no flows)."""
        return float(self.finish_s.max()) if len(self.finish_s) else 0.0

    def busiest_links(self, fabric: Fabric, top: int = 5) -> list[dict]:
        """The ``top`` links by peak utilisation, with labels and bytes carried."""
        order = np.lexsort((-self.link_bytes, -self.link_peak_utilization))[:top]
        return [
            {
                "link": fabric.link(int(lid)),
                "peak_utilization": float(self.link_peak_utilization[lid]),
                "bytes": float(self.link_bytes[lid]),
                "busy_s": float(self.link_busy_s[lid]),
            }
            for lid in order
            if self.link_bytes[lid] > 0
        ]


def run_flowset(
    fabric: Fabric,
    fs_: FlowSet,
    *,
    routing: Routing = "ecmp",
    seed: int = 0,
    metric: Metric = "latency",
    capacity_factor: np.ndarray | None = None,
    engine: Engine = "rust",
) -> SimulationResult:
    """Simulate a packed :class:`FlowSet` (node indices) on ``fabric``."""
    _validate.choice("routing", routing, ROUTING_POLICIES)
    _validate.choice("metric", metric, METRICS)
    _validate.choice("engine", engine, ENGINES)
    seed = _validate.seed(seed)
    if capacity_factor is not None:
        capacity_factor = np.ascontiguousarray(capacity_factor, dtype=np.float64)
    if fs_.lanes is not None and engine != "rust":
        raise InvalidArgumentError(
            "engine: flows made of lanes (a collective planned at host granularity) run on the "
            "'rust' engine only; for the reference, plan the collective with "
            "Collective.plan(..., lanes=False)"
        )
    _memory.check_flows(
        fabric,
        fs_.src if fs_.lanes is None else fs_.lanes[1],
        fs_.dst if fs_.lanes is None else fs_.lanes[2],
        routing,
        metric,
        f"simulating {len(fs_):,} flows ({routing})",
        "route with ECMP instead of spraying (routing='ecmp'), use fewer ranks or GPUs, or "
        "merge flows (a collective's max_flows=)"
        if routing == "spray"
        else "use fewer ranks or GPUs, or merge flows (a collective's max_flows=)",
    )
    if engine == "reference":
        from fabricsim.testing import reference

        c = fabric.compiled
        cap = fabric.usable_Bps if capacity_factor is None else fabric.usable_Bps * capacity_factor
        net = reference.Network(c.num_nodes, c.link_src, c.link_dst, cap, c.latency_s, c.transit)
        deps = [fs_.dep_idx[fs_.dep_ptr[i] : fs_.dep_ptr[i + 1]].tolist() for i in range(len(fs_))]
        d = reference.simulate(
            net,
            fs_.src.tolist(),
            fs_.dst.tolist(),
            fs_.size_bytes.tolist(),
            release_s=fs_.release_s.tolist(),
            delay_s=fs_.delay_s.tolist(),
            deps=deps,
            via=fs_.via.tolist(),
            flow_key=fs_.flow_key.tolist(),
            policy=routing,
            seed=seed,
            metric=metric,
            latency_scale=None if fs_.latency_scale is None else fs_.latency_scale.tolist(),
        )
        # the oracle does not report it: a finished flow's latency is finish - transfer end
        d.setdefault("latency_s", np.asarray(d["finish_s"]) - np.asarray(d["transfer_end_s"]))
        d["events"] = 0
    else:
        out = fabric._engine.simulate(
            fs_, policy=routing, seed=seed, metric=metric, capacity_factor=capacity_factor
        )
        d = {k: getattr(out, k) for k in _engine.SimOutput.__dataclass_fields__}
    _no_nan_rates(d, fs_)
    timings = {k: d[k] for k in ("route_s", "engine_s") if k in d}
    extra = ("timings", "fabric", "flow_src", "flow_dst", "flow_bytes")
    fields = SimulationResult.__dataclass_fields__
    return SimulationResult(
        **{k: d[k] for k in fields if k not in extra},
        timings=timings,
        fabric=fabric,
        flow_src=fs_.src,
        flow_dst=fs_.dst,
        flow_bytes=fs_.size_bytes,
    )


def _no_nan_rates(d: dict, fs_: FlowSet) -> None:
    """Rates of flows that move nothing (0 bytes, or src == dst: no network bytes) are 0; a
    flow whose transfer is shorter than float64 resolves (a 1e-320-byte flow) has its mean rate
    equal to its one rate."""
    nothing = (fs_.size_bytes == 0) | (fs_.src == fs_.dst)
    for k in ("mean_rate_Bps", "min_rate_Bps", "max_rate_Bps"):
        a = np.array(d[k], dtype=np.float64, copy=True)
        a[nothing] = 0.0
        d[k] = a
    mean, top = d["mean_rate_Bps"], d["max_rate_Bps"]
    bad = np.isnan(mean)
    mean[bad] = top[bad]


def simulate(
    fabric: Fabric,
    flows: Any,
    *,
    routing: Routing = "ecmp",
    seed: int = 0,
    metric: Metric = "latency",
    engine: Engine = "rust",
) -> SimulationResult:
    """Run a traffic matrix on ``fabric`` and return per-flow start/finish times.

    ``flows``: a list of ``(src, dst, size_bytes[, start_s[, deps]])`` with node labels, a
    mapping of arrays, or a :class:`FlowSet`. ``routing``: ``"ecmp"`` (seeded per-flow hash)
    or ``"spray"``. ``engine="reference"`` runs the pure-Python oracle instead of Rust.
    """
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    return run_flowset(
        fabric,
        flows_from_matrix(fabric, flows),
        routing=routing,
        seed=seed,
        metric=metric,
        engine=engine,
    )


def concat_flowsets(parts: Sequence[FlowSet], *, sequential: bool = False) -> FlowSet:
    """One flow set running ``parts`` together (dependencies and ECMP keys renumbered so each
    part keeps its own). ``sequential=True`` runs them back to back instead: a zero-byte local
    marker flow after each part waits for all of it, and the next part's first flows wait for
    the marker."""
    if not parts:
        raise InvalidArgumentError("concat_flowsets: nothing to join")
    if any(p.lanes is not None for p in parts):
        raise InvalidArgumentError(
            "concat_flowsets: a part has lanes (a collective planned for its own run); join "
            "plans from Collective.plan(..., lanes=False), which have none"
        )
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("src", "dst", "size", "rel", "dly", "via", "key", "scale")
    }
    ptrs, idxs = [np.zeros(1, np.int64)], []
    n_total, deps_total, key_base = 0, 0, 0
    marker = -1

    def push(src, dst, size, rel, dly, via, key, scale, dep_ptr, dep_idx):
        nonlocal n_total, deps_total
        for k, v in zip(cols, (src, dst, size, rel, dly, via, key, scale), strict=True):
            cols[k].append(np.asarray(v))
        ptrs.append(np.asarray(dep_ptr[1:], np.int64) + deps_total)
        idxs.append(np.asarray(dep_idx, np.int64))
        deps_total += int(dep_ptr[-1])
        n_total += len(src)

    for fs_ in parts:
        n = len(fs_)
        dep_ptr, dep_idx = fs_.dep_ptr, fs_.dep_idx + n_total
        if sequential and marker >= 0:
            # every root of this part also waits for the previous part's marker
            lens = np.diff(fs_.dep_ptr)
            roots = lens == 0
            new_lens = lens + roots
            dep_ptr = np.concatenate([[0], np.cumsum(new_lens)]).astype(np.int64)
            new_idx = np.full(int(dep_ptr[-1]), marker, np.int64)
            keep = np.repeat(~roots, new_lens)  # slots of non-roots hold their own deps
            new_idx[keep] = dep_idx
            dep_idx = new_idx
        push(
            fs_.src,
            fs_.dst,
            fs_.size_bytes,
            fs_.release_s,
            fs_.delay_s,
            fs_.via,
            fs_.flow_key + np.uint64(key_base),
            fs_.latency_scales(),
            dep_ptr,
            dep_idx,
        )
        key_base += int(fs_.flow_key.max()) + 1 if n else 0
        if sequential:
            node = fs_.src[:1] if n else np.zeros(1, np.int64)
            start = n_total - n
            push(
                node,
                node,
                np.zeros(1),
                np.zeros(1),
                np.zeros(1),
                np.full(1, -1, np.int64),
                np.zeros(1, np.uint64),
                np.ones(1),
                np.array([0, n], np.int64),
                np.arange(start, start + n, dtype=np.int64),
            )
            marker = n_total - 1
    cat = np.concatenate
    return FlowSet(
        cat(cols["src"]).astype(np.int64),
        cat(cols["dst"]).astype(np.int64),
        cat(cols["size"]).astype(np.float64),
        cat(cols["rel"]).astype(np.float64),
        cat(cols["dly"]).astype(np.float64),
        cat(ptrs),
        cat(idxs) if idxs else np.zeros(0, np.int64),
        cat(cols["via"]).astype(np.int64),
        cat(cols["key"]).astype(np.uint64),
        cat(cols["scale"]).astype(np.float64),
    )
