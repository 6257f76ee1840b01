"""The vocabulary of collectives and the flow-DAG builder every algorithm writes into:
ops, algorithms, nccl-tests bus-bandwidth factors, which algorithm runs which op, and
:class:`_Plan` (flows as numpy blocks plus dependency edges, packed into a FlowSet).

>>> BUSBW_FACTOR["all_reduce"](8)  # nccl-tests: busbw = algbw x 2(n-1)/n
1.75
>>> SUPPORTED["all_to_all"]  # the algorithms that run an all-to-all
('direct', 'pairwise')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim.exceptions import InvalidTypeError
from fabricsim.fabric.compiled import Fabric
from fabricsim.traffic.flows import FlowSet
from fabricsim.types import Algorithm, Op

OPS: tuple[Op, ...] = (
    "all_reduce",
    "all_gather",
    "reduce_scatter",
    "all_to_all",
    "broadcast",
    "reduce",
    "send_recv",
)
ALGORITHMS: tuple[Algorithm, ...] = (
    "auto",
    "ring",
    "tree",
    "halving_doubling",
    "direct",
    "pairwise",
    "hierarchical",
    "nvls",
    "nvls_tree",
    "pat",
    "collnet_direct",
    "collnet_chain",
)

#: nccl-tests bus-bandwidth factor per op (n = ranks).
BUSBW_FACTOR = {
    "all_reduce": lambda n: 2.0 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}

#: Which algorithms build each op.
SUPPORTED = {
    "all_reduce": (
        "ring",
        "tree",
        "halving_doubling",
        "direct",
        "hierarchical",
        "nvls",
        "nvls_tree",
        "collnet_direct",
        "collnet_chain",
    ),
    "all_gather": ("ring", "halving_doubling", "direct", "hierarchical", "pat"),
    "reduce_scatter": ("ring", "halving_doubling", "direct", "hierarchical", "pat"),
    "all_to_all": ("direct", "pairwise"),
    "broadcast": ("ring", "direct"),
    "reduce": ("ring", "direct"),
    "send_recv": ("direct",),
}

#: What ``algorithm="auto"`` chooses among: the algorithms NCCL itself runs for each op
#: (its tuner picks ring or tree for all-reduce; rings for the others; all-to-all and
#: send/recv are grouped point-to-point). The MPI-style ones are there to ask for by name.
NCCL_ALGORITHMS = {
    "all_reduce": ("ring", "tree"),
    "all_gather": ("ring",),
    "reduce_scatter": ("ring",),
    "all_to_all": ("direct",),
    "broadcast": ("ring",),
    "reduce": ("ring",),
    "send_recv": ("direct",),
}

#: NCCL's own spelling of the algorithms, protocols and collectives fabricsim shares with it
#: (NVIDIA/nccl src/init.cc ``ncclAlgoStr``, ``ncclProtoStr``, ``ncclFuncStr``): the names
#: ``NCCL_ALGO`` / ``NCCL_PROTO`` take (case-insensitively) and ``NCCL_DEBUG_SUBSYS=TUNING``
#: prints. All-to-all and send/recv are grouped point-to-point calls in NCCL (no ``ncclFunc``).
NCCL_ALGORITHM_NAMES = {
    "tree": "Tree",
    "ring": "Ring",
    "collnet_direct": "CollNetDirect",
    "collnet_chain": "CollNetChain",
    "nvls": "NVLS",
    "nvls_tree": "NVLSTree",
    "pat": "PAT",
}
NCCL_PROTOCOL_NAMES = {"ll": "LL", "ll128": "LL128", "simple": "Simple"}
NCCL_OP_NAMES = {
    "all_reduce": "AllReduce",
    "all_gather": "AllGather",
    "reduce_scatter": "ReduceScatter",
    "broadcast": "Broadcast",
    "reduce": "Reduce",
    "all_to_all": "AllToAll",
    "send_recv": "SendRecv",
}

DEFAULT_MAX_FLOWS = 600_000
PIPELINE_CHUNK_BYTES = 512 * 1024
MAX_PIPELINE_CHUNKS = 64
MAX_USER_PIPELINE_CHUNKS = 4096  # chains are planned as chunks x hops arrays


def normalize_op(op: Any) -> Op:
    if not isinstance(op, str):
        raise InvalidTypeError(f"op: expected a string, got {op!r}")
    key = op.strip().lower().replace("-", "_").replace(" ", "_")
    key = {
        "allreduce": "all_reduce",
        "allgather": "all_gather",
        "reducescatter": "reduce_scatter",
        "alltoall": "all_to_all",
        "sendrecv": "send_recv",
        "bcast": "broadcast",
    }.get(key, key)
    return _validate.choice("op", key, OPS)


def check_size(size_bytes: Any, what: str = "size_bytes") -> int:
    """Sizes are whole bytes, 1 .. 2**63 - 1; size strings (``"64M"``, ``"1GiB"``) too."""
    return _validate.size_bytes(size_bytes, what)


class _Plan:
    """Accumulates flows (as numpy blocks) and dependency edges, then packs a FlowSet."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []
        self.dep_succ: list[np.ndarray] = []
        self.dep_pred: list[np.ndarray] = []
        self.n = 0
        self.n_conns = 0
        self.phase_names: list[str] = []
        # flows routed as lanes: (first flow id, lane sources, lane destinations, lane keys),
        # each k flows x m lanes
        self.lane_blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def conns(self, k: int) -> np.ndarray:
        """``k`` fresh connection ids. A connection (NCCL: one queue pair) is hashed once by
        ECMP, so every step it carries takes the same path."""
        ids = np.arange(self.n_conns, self.n_conns + k, dtype=np.int64)
        self.n_conns += k
        return ids

    def phase(self, name: str) -> int:
        self.phase_names.append(name)
        return len(self.phase_names) - 1

    def add(
        self,
        src,
        dst,
        size,
        *,
        phase: int | np.ndarray,
        step,
        via=None,
        delay=0.0,
        scale=1.0,
        conn=None,
        pay=1.0,
        lanes=None,
    ) -> np.ndarray:
        """Flows ``src -> dst`` of ``size`` bytes. ``pay``: how many step latencies of the
        protocol model the flow pays before it starts (a merged ring flow pays one per step it
        stands for; in a pipeline only the first chunk on each hop pays). ``lanes``: a pair of
        (flows x m) node arrays: each flow is routed as these m lanes (their own connections),
        its rate split equally over them (``src``/``dst`` then only name it)."""
        src, dst = np.broadcast_arrays(np.asarray(src, np.int64), np.asarray(dst, np.int64))
        src = src.reshape(-1)
        k = len(src)
        ids = np.arange(self.n, self.n + k, dtype=np.int64)

        def full(x, dtype):
            a = np.asarray(x, dtype=dtype)
            if a.size == k:
                return a.reshape(-1).copy()
            return np.broadcast_to(a, (k,)).copy()

        self.blocks.append(
            {
                "src": src,
                "dst": full(dst, np.int64),
                "size": full(size, np.float64),
                "via": full(-1 if via is None else via, np.int64),
                "delay": full(delay, np.float64),
                "scale": full(scale, np.float64),
                "phase": full(phase, np.int64),
                "step": full(step, np.int64),
                "conn": self.conns(k) if conn is None else full(conn, np.int64),
                "pay": full(pay, np.float64),
            }
        )
        if lanes is not None:
            ls, ld = (np.asarray(x, np.int64).reshape(k, -1) for x in lanes)
            keys = self.conns(ls.size).reshape(ls.shape)
            self.lane_blocks.append((self.n, ls, ld, keys))
        self.n += k
        return ids

    def depend(self, succ, pred) -> None:
        """Flows ``succ[i]`` wait for ``pred[i]`` (broadcast together)."""
        succ, pred = np.broadcast_arrays(np.asarray(succ, np.int64), np.asarray(pred, np.int64))
        self.dep_succ.append(succ.reshape(-1))
        self.dep_pred.append(pred.reshape(-1))

    def pack(self, ctx: _Ctx | None = None) -> tuple[FlowSet, np.ndarray, np.ndarray]:
        """The FlowSet. With a context, its protocol model applies: flow sizes x
        ``ctx.wire_factor``, each flow waits ``pay`` x its step latency (intra- or inter-host)
        before it starts, and the flows that wait for nothing wait the base latency."""
        cat = {k: np.concatenate([b[k] for b in self.blocks]) for k in self.blocks[0]}
        n = self.n
        if ctx is not None and ctx.wire_factor != 1.0:
            cat["size"] = cat["size"] * ctx.wire_factor
        if ctx is not None and (ctx.step_intra_s or ctx.step_inter_s):
            host = ctx.node_host
            hs, hd = host[cat["src"]], host[cat["dst"]]
            intra = (hs == hd) & (hs >= 0)
            cat["delay"] = cat["delay"] + cat["pay"] * np.where(
                intra, ctx.step_intra_s, ctx.step_inter_s
            )
        if self.dep_succ:
            # One sort of a combined (successor, predecessor) key groups and dedups the edges.
            key = np.concatenate(self.dep_succ).astype(np.int64) * n + np.concatenate(self.dep_pred)
            key.sort()
            keep = np.ones(len(key), bool)
            keep[1:] = key[1:] != key[:-1]
            key = key[keep]
            succ, pred = np.divmod(key, n)
            dep_ptr = np.concatenate([[0], np.cumsum(np.bincount(succ, minlength=n))]).astype(
                np.int64
            )
            dep_idx = pred
        else:
            dep_ptr, dep_idx = np.zeros(n + 1, np.int64), np.zeros(0, np.int64)
        if ctx is not None and ctx.base_s:
            first = dep_ptr[1:] == dep_ptr[:-1]
            cat["delay"] = cat["delay"] + np.where(first, ctx.base_s, 0.0)
        lanes = self._lanes(cat) if self.lane_blocks else None
        fs_ = FlowSet(
            src=cat["src"],
            dst=cat["dst"],
            size_bytes=cat["size"],
            release_s=np.zeros(n),
            delay_s=cat["delay"],
            dep_ptr=dep_ptr,
            dep_idx=dep_idx,
            via=cat["via"],
            flow_key=cat["conn"].astype(np.uint64),
            latency_scale=cat["scale"],
            lanes=lanes,
        )
        return fs_, cat["phase"], cat["step"]

    def _lanes(
        self, cat: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """FlowSet lanes: a flow added without lanes is its own one lane."""
        counts = np.ones(self.n, np.int64)
        for first, ls, _, _ in self.lane_blocks:
            counts[first : first + len(ls)] = ls.shape[1]
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        src, dst = np.repeat(cat["src"], counts), np.repeat(cat["dst"], counts)
        via, key = np.repeat(cat["via"], counts), np.repeat(cat["conn"], counts)
        for first, ls, ld, keys in self.lane_blocks:
            at = (ptr[first : first + len(ls), None] + np.arange(ls.shape[1])).ravel()
            src[at], dst[at], via[at], key[at] = ls.ravel(), ld.ravel(), -1, keys.ravel()
        return ptr, src, dst, via, key.astype(np.uint64)


def _groups(steps: int, max_groups: int) -> np.ndarray:
    """Split ``steps`` consecutive steps into at most ``max_groups`` near-equal groups."""
    g = max(1, min(steps, max_groups))
    base, extra = divmod(steps, g)
    return np.array([base + (1 if j < extra else 0) for j in range(g)], dtype=np.int64)


@dataclass
class _Ctx:
    fabric: Fabric
    ranks: np.ndarray  # node indices, in ring order (host-grouped)
    hosts: list[np.ndarray]  # positions into ranks, per host, sorted by rail
    channels: int
    max_flows: int
    chunks: int
    root: int  # node index of the first rank given: the root of broadcast / reduce
    node_host: np.ndarray  # host id of every fabric node (-1: none)
    protocol: str = "simple"
    wire_factor: float = 1.0  # bytes on the wire per byte of data (protocol, relative to Simple)
    step_intra_s: float = 0.0  # extra wait per intra-host step (model latency - wire latency)
    step_inter_s: float = 0.0  # extra wait per inter-host step
    base_s: float = 0.0  # once per collective
    nvls_factor: float = 1.0  # NVLink bytes per byte through the NVSwitch (its reduction rate)
    chunks_used: int = 0  # set by the pipelined algorithms: the chunks they really used
    # at scale (pipelines planned as streaming flows): one GPU's NVLink and NIC rates and the
    # wire latency of an intra- / inter-host hop
    intra_Bps: float = 1.0
    inter_Bps: float = 1.0
    wire_intra_s: float = 0.0
    wire_inter_s: float = 0.0
    #: at host granularity, carry a host pair's channels (one per rail NIC) in one flow of
    #: one lane per channel (Collective.run; Collective.plan keeps a flow per channel)
    lanes: bool = False
    #: what the plan aggregated, in words (None: a flow per GPU, chunk and step)
    aggregation: str | None = None
