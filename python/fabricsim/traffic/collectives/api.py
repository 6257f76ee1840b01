"""Collective communication on a fabric: NCCL-style algorithms decomposed into flow DAGs.

Every collective becomes flows between GPUs with dependencies, run by the max-min fair engine,
so congestion, oversubscription and ECMP collisions show up in its time. Sizes and bandwidths
follow nccl-tests (doc/PERFORMANCE.md): ``size_bytes`` is the per-rank buffer nccl-tests
prints (for all-gather / reduce-scatter / all-to-all the *whole* buffer, count x type x n);
``algbw = size / time``; ``busbw = algbw x factor`` with factor 2(n-1)/n for all-reduce,
(n-1)/n for all-gather, reduce-scatter and all-to-all, 1 for broadcast, reduce and send/recv.
Bandwidths are GB/s (1e9 bytes/s), as nccl-tests prints them.

Algorithms (``algorithm=``)
---------------------------
``ring``
    NCCL's rings. Ranks are ordered host by host so each ring stays inside a host over NVLink
    and crosses between hosts once per host. ``channels`` rings run side by side, each with
    ``1/channels`` of the data; channel ``c`` enters every host at the GPU on rail
    ``c mod gpus_per_host`` and leaves it through the same rail's NIC (the last GPU hands its
    data over NVLink to that NIC's GPU, as NCCL's PXN does), so the channels spread over all
    of a node's NICs and a rail-optimized node reaches its total NIC bandwidth. A step sends
    one chunk (``size / (n x channels)``) to the ring neighbour; step ``k`` of rank ``i``
    waits for step ``k-1`` of rank ``i-1`` (its input) and of rank ``i`` (the send before it).
    All-reduce is reduce-scatter then all-gather: 2(n-1) steps. Broadcast / reduce are a
    pipelined chain from / to the root in ``pipeline_chunks`` pieces.
``tree``
    NCCL's double binary tree (all-reduce): two complementary binary trees, each carrying half
    the data, reduce up and broadcast down, pipelined in ``pipeline_chunks`` pieces.
``halving_doubling``
    Rabenseifner: reduce-scatter by recursive halving then all-gather by recursive doubling,
    2 log2(n) pairwise-exchange steps. With n not a power of two (all-reduce only), the first
    2r ranks (r = n - 2^floor(log2 n)) first fold pairwise into r ranks and get the result
    back at the end (Thakur, Rabenseifner & Gropp 2005).
``direct``
    Every transfer at once: all-to-all sends ``size / n`` to every peer simultaneously;
    all-gather / reduce-scatter send every chunk straight to its owner; broadcast / reduce
    talk to the root directly; all-reduce is direct reduce-scatter then direct all-gather.
``pairwise``
    All-to-all in n-1 steps; in step k rank i sends ``size / n`` to rank i+k.
``hierarchical``
    All-reduce: reduce-scatter inside each host over NVLink, all-reduce of the 1/g shard across
    hosts among the GPUs of each rail (a ring per rail, all rails at once), all-gather inside
    the host. All-gather / reduce-scatter: the inter-host and intra-host halves of that.
``auto``
    Simulates each algorithm NCCL itself would consider for the op (ring or tree for
    all-reduce, ring for the others, direct for all-to-all and send/recv) and keeps the
    fastest, as NCCL's tuner picks the fastest by its cost model.

Chunking: a ring step is one flow. When ``channels x n x steps`` exceeds ``max_flows``,
consecutive steps of a rank are merged into one flow carrying their bytes that pays their
path latencies (``latency_scale``) and per-step overheads; on an uncongested fabric this is
exact, under contention it smooths the step-by-step lockstep. Tree and chain pipelines use
``pipeline_chunks`` (default: one per 512 KiB of data, between 1 and 64).

A hardware profile adds its per-step software overhead (``base_latency_us``, NCCL's base
latency order of magnitude) as a delay before every step; without a profile it is zero, which
is what the closed-form tests use.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import METRICS, ROUTING_POLICIES, Fabric
from fabricsim.traffic.flows import MAX_SIZE_BYTES, FlowSet, SimulationResult, run_flowset

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce",
       "send_recv")
ALGORITHMS = ("auto", "ring", "tree", "halving_doubling", "direct", "pairwise", "hierarchical")

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
    "all_reduce": ("ring", "tree", "halving_doubling", "direct", "hierarchical"),
    "all_gather": ("ring", "halving_doubling", "direct", "hierarchical"),
    "reduce_scatter": ("ring", "halving_doubling", "direct", "hierarchical"),
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

DEFAULT_MAX_FLOWS = 600_000
PIPELINE_CHUNK_BYTES = 512 * 1024
MAX_PIPELINE_CHUNKS = 64
MAX_USER_PIPELINE_CHUNKS = 4096  # chains are planned as chunks x hops arrays


def normalize_op(op: Any) -> str:
    if not isinstance(op, str):
        raise InvalidTypeError(f"op: expected a string, got {op!r}")
    key = op.strip().lower().replace("-", "_").replace(" ", "_")
    key = {"allreduce": "all_reduce", "allgather": "all_gather", "reducescatter": "reduce_scatter",
           "alltoall": "all_to_all", "sendrecv": "send_recv", "bcast": "broadcast"}.get(key, key)
    return _validate.choice("op", key, OPS)


def check_size(size_bytes: Any, what: str = "size_bytes") -> int:
    """Sizes are whole bytes, 1 .. 2**63 - 1."""
    if isinstance(size_bytes, bool):
        raise InvalidTypeError(f"{what}: expected an integer number of bytes, got {size_bytes!r}")
    if isinstance(size_bytes, float):
        if not math.isfinite(size_bytes) or size_bytes != int(size_bytes):
            raise InvalidArgumentError(
                f"{what}: must be a whole number of bytes, got {size_bytes!r}")
        size_bytes = int(size_bytes)
    if not isinstance(size_bytes, (int, np.integer)):
        raise InvalidTypeError(f"{what}: expected an integer number of bytes, got {size_bytes!r}")
    if not 1 <= size_bytes <= MAX_SIZE_BYTES:
        raise InvalidArgumentError(f"{what}: must be between 1 and 2**63 - 1 bytes, got {size_bytes}")
    return int(size_bytes)


# ---------------------------------------------------------------------------------------------
# Flow DAG assembly
# ---------------------------------------------------------------------------------------------
class _Plan:
    """Accumulates flows (as numpy blocks) and dependency edges, then packs a FlowSet."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []
        self.dep_succ: list[np.ndarray] = []
        self.dep_pred: list[np.ndarray] = []
        self.n = 0
        self.n_conns = 0
        self.phase_names: list[str] = []

    def conns(self, k: int) -> np.ndarray:
        """``k`` fresh connection ids. A connection (NCCL: one queue pair) is hashed once by
        ECMP, so every step it carries takes the same path."""
        ids = np.arange(self.n_conns, self.n_conns + k, dtype=np.int64)
        self.n_conns += k
        return ids

    def phase(self, name: str) -> int:
        self.phase_names.append(name)
        return len(self.phase_names) - 1

    def add(self, src, dst, size, *, phase: int, step, via=None, delay=0.0, scale=1.0,
            conn=None) -> np.ndarray:
        src, dst = np.broadcast_arrays(np.asarray(src, np.int64), np.asarray(dst, np.int64))
        src = src.reshape(-1)
        k = len(src)
        ids = np.arange(self.n, self.n + k, dtype=np.int64)

        def full(x, dtype):
            a = np.asarray(x, dtype=dtype)
            if a.size == k:
                return a.reshape(-1).copy()
            return np.broadcast_to(a, (k,)).copy()

        self.blocks.append({
            "src": src,
            "dst": full(dst, np.int64),
            "size": full(size, np.float64),
            "via": full(-1 if via is None else via, np.int64),
            "delay": full(delay, np.float64),
            "scale": full(scale, np.float64),
            "phase": full(phase, np.int64),
            "step": full(step, np.int64),
            "conn": self.conns(k) if conn is None else full(conn, np.int64),
        })
        self.n += k
        return ids

    def depend(self, succ, pred) -> None:
        """Flows ``succ[i]`` wait for ``pred[i]`` (broadcast together)."""
        succ, pred = np.broadcast_arrays(np.asarray(succ, np.int64), np.asarray(pred, np.int64))
        self.dep_succ.append(succ.reshape(-1))
        self.dep_pred.append(pred.reshape(-1))

    def pack(self) -> tuple[FlowSet, np.ndarray, np.ndarray]:
        cat = {k: np.concatenate([b[k] for b in self.blocks]) for k in self.blocks[0]}
        n = self.n
        if self.dep_succ:
            # One sort of a combined (successor, predecessor) key groups and dedups the edges.
            key = np.concatenate(self.dep_succ).astype(np.int64) * n + np.concatenate(self.dep_pred)
            key.sort()
            keep = np.ones(len(key), bool)
            keep[1:] = key[1:] != key[:-1]
            key = key[keep]
            succ, pred = np.divmod(key, n)
            dep_ptr = np.concatenate([[0], np.cumsum(np.bincount(succ, minlength=n))]).astype(np.int64)
            dep_idx = pred
        else:
            dep_ptr, dep_idx = np.zeros(n + 1, np.int64), np.zeros(0, np.int64)
        fs_ = FlowSet(
            src=cat["src"], dst=cat["dst"], size_bytes=cat["size"],
            release_s=np.zeros(n), delay_s=cat["delay"], dep_ptr=dep_ptr, dep_idx=dep_idx,
            via=cat["via"], flow_key=cat["conn"].astype(np.uint64),
            latency_scale=cat["scale"],
        )
        return fs_, cat["phase"], cat["step"]


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
    overhead_s: float
    max_flows: int
    chunks: int
    root: int  # node index of the first rank given: the root of broadcast / reduce


def _ring_orders(ctx: _Ctx) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: the ring (positions into ctx.ranks) and each position's PXN waypoint."""
    n = len(ctx.ranks)
    orders, vias = [], []
    single_host = len(ctx.hosts) == 1
    sizes = {len(h) for h in ctx.hosts}
    grid = np.asarray(ctx.hosts, dtype=np.int64) if len(sizes) == 1 else None
    nvswitches: dict[int, set] = {}  # rank position -> the NVSwitches it attaches to
    for c in range(ctx.channels):
        if grid is not None:  # equal hosts: rotate every host's GPUs at once
            order = np.roll(grid, -(c % grid.shape[1]), axis=1).ravel()
        else:
            order = np.concatenate([np.roll(np.asarray(h, dtype=np.int64), -(c % len(h)))
                                    for h in ctx.hosts])
        via = np.full(n, -1, dtype=np.int64)
        if not single_host:
            # The last GPU of each host hands its data over NVLink to the GPU owning the rail
            # NIC the channel uses, which sends it to the next host (rail-local traffic).
            pos = 0
            for h in ctx.hosts:
                first, last = int(order[pos]), int(order[pos + len(h) - 1])
                if len(h) > 1 and (_nvswitches(ctx, first, nvswitches)
                                   & _nvswitches(ctx, last, nvswitches)):
                    via[pos + len(h) - 1] = ctx.ranks[first]
                pos += len(h)
        orders.append(order)
        vias.append(via)
    return np.stack(orders), np.stack(vias)


def _nvswitches(ctx: _Ctx, pos: int, cache: dict[int, set]) -> set:
    if pos not in cache:
        g = ctx.fabric.graph
        label = ctx.fabric.label(int(ctx.ranks[pos]))
        cache[pos] = {v for v in g[label] if g.nodes[v].get("role") == "nvswitch"}
    return cache[pos]


def _ring(plan: _Plan, ctx: _Ctx, ranks: np.ndarray, orders: np.ndarray, vias: np.ndarray,
          phases: Sequence[tuple[str, int]], bytes_per_step: float,
          after: np.ndarray | None = None) -> np.ndarray:
    """Ring steps over ``orders`` (channels x n positions into ``ranks``). ``phases``: (name,
    steps) run back to back. ``after[c, i, :]`` (flow ids, -1 for none): what position i of
    channel c waits for before its first step. Returns, per (channel, position), the two flows
    after which that rank is done: its last send and its last receive (shape C x n x 2)."""
    C, n = orders.shape
    total_steps = sum(s for _, s in phases)
    budget_groups = max(1, ctx.max_flows // max(1, C * n))
    prev = None
    step0 = 0
    src = ranks[orders]
    dst = np.roll(src, -1, axis=1)
    conn = plan.conns(C * n)
    for name, steps in phases:
        pid = plan.phase(name)
        share = max(1, (budget_groups * steps) // max(1, total_steps))
        for g in _groups(steps, share).tolist():
            ids = plan.add(src, dst, bytes_per_step * g, phase=pid, step=step0, via=vias,
                           delay=ctx.overhead_s * g, scale=float(g), conn=conn).reshape(C, n)
            if prev is not None:
                # the input from the previous rank's last step, and this rank's own last send
                plan.depend(ids, np.roll(prev, 1, axis=1))
                plan.depend(ids, prev)
            elif after is not None:
                for j in range(after.shape[2]):
                    mask = after[:, :, j] >= 0
                    plan.depend(ids[mask], after[:, :, j][mask])
            prev = ids
            step0 += g
    assert prev is not None
    return np.stack([prev, np.roll(prev, 1, axis=1)], axis=2)


def _chain(plan: _Plan, ctx: _Ctx, path: np.ndarray, size: float, name: str) -> None:
    """Pipelined chain along ``path`` (node indices) in ctx.chunks pieces (broadcast/reduce)."""
    pid = plan.phase(name)
    K = ctx.chunks
    hops = len(path) - 1
    ids = np.empty((K, hops), dtype=np.int64)
    conn = plan.conns(hops)
    for k in range(K):
        ids[k] = plan.add(path[:-1], path[1:], size / K, phase=pid, step=k, delay=ctx.overhead_s,
                          conn=conn)
    # piece k on hop h waits for piece k on hop h-1 (data) and piece k-1 on hop h (order)
    plan.depend(ids[:, 1:], ids[:, :-1])
    plan.depend(ids[1:, :], ids[:-1, :])


def _binary_tree(n: int, mirror: bool) -> np.ndarray:
    """Parent (position) of each position in a balanced in-order binary tree over 0..n-1;
    ``mirror`` builds NCCL's complementary tree on the reversed positions, so ranks that are
    inner nodes in one tree are mostly leaves in the other. Root's parent is -1."""
    parent = np.full(n, -1, dtype=np.int64)

    def build(lo: int, hi: int, up: int) -> None:
        if lo > hi:
            return
        mid = (lo + hi + 1) // 2
        parent[mid] = up
        build(lo, mid - 1, mid)
        build(mid + 1, hi, mid)

    build(0, n - 1, -1)
    if mirror:
        rev = np.arange(n)[::-1]
        p2 = np.full(n, -1, dtype=np.int64)
        p2[rev] = np.where(parent >= 0, rev[np.maximum(parent, 0)], -1)
        parent = p2
    return parent


def _tree_allreduce(plan: _Plan, ctx: _Ctx, size: float) -> None:
    n, K = len(ctx.ranks), ctx.chunks
    piece = size / 2 / K
    for t, mirror in enumerate((False, True)):
        parent = _binary_tree(n, mirror)
        kids = np.flatnonzero(parent >= 0)
        up_phase = plan.phase(f"tree{t} reduce")
        down_phase = plan.phase(f"tree{t} broadcast")
        up = np.full((K, n), -1, dtype=np.int64)
        down = np.full((K, n), -1, dtype=np.int64)
        up_conn, down_conn = plan.conns(len(kids)), plan.conns(len(kids))
        for k in range(K):
            up[k, kids] = plan.add(ctx.ranks[kids], ctx.ranks[parent[kids]], piece,
                                   phase=up_phase, step=k, delay=ctx.overhead_s, conn=up_conn)
            down[k, kids] = plan.add(ctx.ranks[parent[kids]], ctx.ranks[kids], piece,
                                     phase=down_phase, step=k, delay=ctx.overhead_s,
                                     conn=down_conn)
        par = parent[kids]
        inner = parent[par] >= 0  # the child's parent is not the root
        # reduce: a rank sends piece k up once piece k arrived from every child
        plan.depend(up[:, par[inner]], up[:, kids[inner]])
        # broadcast: a rank forwards piece k down once it received piece k
        plan.depend(down[:, kids[inner]], down[:, par[inner]])
        # the root sends piece k down once all its children reduced piece k into it
        root_kids = kids[~inner]
        for c in root_kids:
            for c2 in root_kids:
                plan.depend(down[:, c], up[:, c2])
        # pieces go in order on every tree edge
        plan.depend(up[1:, kids], up[:-1, kids])
        plan.depend(down[1:, kids], down[:-1, kids])


def _exchange_steps(plan, ctx, pairs_sizes, name, prev_in, prev_out):
    """Pairwise exchange steps: ``pairs_sizes`` is a list of (partner array, bytes) per step.
    Rank i's send in a step waits for what it received and sent in the previous step, and for
    its partner to be done with its own previous step (a sendrecv needs both sides ready)."""
    n = len(ctx.ranks)
    pid = plan.phase(name)
    pos = np.arange(n)
    for s, (partner, nbytes) in enumerate(pairs_sizes):
        active = partner >= 0
        ids = np.full(n, -1, dtype=np.int64)
        ids[active] = plan.add(ctx.ranks[pos[active]], ctx.ranks[partner[active]], nbytes,
                               phase=pid, step=s, delay=ctx.overhead_s)
        recv = np.full(n, -1, dtype=np.int64)
        recv[partner[active]] = ids[active]
        safe = np.where(active, partner, 0)
        for p in (prev_in, prev_out, prev_in[safe], prev_out[safe]):
            m = active & (p >= 0)
            plan.depend(ids[m], p[m])
        prev_in = np.where(recv >= 0, recv, prev_in)
        prev_out = np.where(ids >= 0, ids, prev_out)
    return prev_in, prev_out


def _halving_doubling(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    n = len(ctx.ranks)
    p2 = 1 << (n.bit_length() - 1)
    r = n - p2
    if r and op != "all_reduce":
        raise InvalidArgumentError(
            f"algorithm: halving_doubling {op} needs a power-of-two rank count, got {n}; "
            "use 'ring' or 'direct'")
    none = np.full(n, -1, dtype=np.int64)
    prev_in, prev_out = none.copy(), none.copy()
    # Non-power-of-two fold: among the first 2r ranks, each even rank gives its vector to the
    # odd one after it; the p2 survivors are the odd ones among the first 2r plus the rest.
    survivors = np.concatenate([np.arange(1, 2 * r, 2), np.arange(2 * r, n)]).astype(np.int64)
    if r:
        partner = none.copy()
        partner[np.arange(0, 2 * r, 2)] = np.arange(1, 2 * r, 2)
        prev_in, prev_out = _exchange_steps(plan, ctx, [(partner, size)], "fold", prev_in, prev_out)
    logp = p2.bit_length() - 1
    steps_rs, steps_ag = [], []
    for k in range(logp):
        dist = p2 >> (k + 1)  # halving: partner at distance p2/2, p2/4, ...
        part = none.copy()
        vr = np.arange(p2)
        part[survivors] = survivors[vr ^ dist]
        steps_rs.append((part, size / (2 ** (k + 1))))
    for k in reversed(range(logp)):
        dist = p2 >> (k + 1)
        part = none.copy()
        vr = np.arange(p2)
        part[survivors] = survivors[vr ^ dist]
        steps_ag.append((part, size / (2 ** (k + 1))))
    if op in ("all_reduce", "reduce_scatter"):
        prev_in, prev_out = _exchange_steps(plan, ctx, steps_rs, "reduce-scatter (halving)",
                                            prev_in, prev_out)
    if op in ("all_reduce", "all_gather"):
        prev_in, prev_out = _exchange_steps(plan, ctx, steps_ag, "all-gather (doubling)",
                                            prev_in, prev_out)
    if r:
        partner = none.copy()
        partner[np.arange(1, 2 * r, 2)] = np.arange(0, 2 * r, 2)
        _exchange_steps(plan, ctx, [(partner, size)], "unfold", prev_in, prev_out)


def _direct(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    n = len(ctx.ranks)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    if op == "all_to_all":
        plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("all-to-all"), step=0,
                 delay=ctx.overhead_s)
    elif op in ("all_gather", "reduce_scatter"):
        plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase(op.replace("_", "-")),
                 step=0, delay=ctx.overhead_s)
    elif op == "all_reduce":
        rs = plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("reduce-scatter"),
                      step=0, delay=ctx.overhead_s)
        # a zero-byte local flow per rank marks "every piece of my shard has arrived"
        ready = plan.add(ctx.ranks, ctx.ranks, 0.0, phase=plan.phase("reduce"), step=1)
        plan.depend(ready[j], rs)
        ag = plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("all-gather"),
                      step=2, delay=ctx.overhead_s)
        plan.depend(ag, ready[i])
    elif op == "broadcast":
        others = ctx.ranks[ctx.ranks != ctx.root]
        plan.add(ctx.root, others, size, phase=plan.phase("broadcast"), step=0,
                 delay=ctx.overhead_s)
    elif op == "reduce":
        others = ctx.ranks[ctx.ranks != ctx.root]
        plan.add(others, ctx.root, size, phase=plan.phase("reduce"), step=0,
                 delay=ctx.overhead_s)
    elif op == "send_recv":
        plan.add(ctx.ranks, np.roll(ctx.ranks, -1), size, phase=plan.phase("send/recv"), step=0,
                 delay=ctx.overhead_s)


def _pairwise(plan: _Plan, ctx: _Ctx, size: float) -> None:
    n = len(ctx.ranks)
    pos = np.arange(n)
    steps = [((pos + k) % n, size / n) for k in range(1, n)]
    none = np.full(n, -1, dtype=np.int64)
    _exchange_steps(plan, ctx, steps, "all-to-all (pairwise)", none, none.copy())


def _hierarchical(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    hosts = ctx.hosts
    g = len(hosts[0])
    if any(len(h) != g for h in hosts) or g < 2 or len(hosts) < 2:
        raise InvalidArgumentError(
            "algorithm: hierarchical needs at least 2 hosts with the same number (>= 2) of ranks "
            f"each; got hosts of sizes {sorted({len(h) for h in hosts})}")
    H, n = len(hosts), len(ctx.ranks)
    grid = np.stack(hosts)  # H x g positions; column r = the host's r-th GPU (rail order)
    none = np.full_like(grid, -1)

    def intra(phases, step_bytes, after):  # one NVLink ring per host, all hosts at once
        return _ring(plan, ctx, ctx.ranks, grid, none, phases, step_bytes, after)

    def inter(phases, step_bytes, after):  # one ring per rail across hosts, all rails at once
        done = _ring(plan, ctx, ctx.ranks, grid.T, none.T,
                     phases, step_bytes, None if after is None else after.transpose(1, 0, 2))
        return done.transpose(1, 0, 2)

    if op == "all_reduce":
        done = intra([("intra-host reduce-scatter (NVLink)", g - 1)], size / g, None)
        done = inter([("inter-host reduce-scatter (per rail)", H - 1),
                      ("inter-host all-gather (per rail)", H - 1)], size / n, done)
        intra([("intra-host all-gather (NVLink)", g - 1)], size / g, done)
    elif op == "reduce_scatter":
        done = intra([("intra-host reduce-scatter (NVLink)", g - 1)], size / g, None)
        inter([("inter-host reduce-scatter (per rail)", H - 1)], size / n, done)
    elif op == "all_gather":
        done = inter([("inter-host all-gather (per rail)", H - 1)], size / n, None)
        intra([("intra-host all-gather (NVLink)", g - 1)], size / g, done)


def _ring_collective(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    n = len(ctx.ranks)
    C = ctx.channels
    if op in ("broadcast", "reduce"):
        # the chain starts (broadcast) or ends (reduce) at the root, the first rank given
        root_pos = int(np.flatnonzero(ctx.ranks == ctx.root)[0])
        path = np.roll(ctx.ranks, -root_pos)
        _chain(plan, ctx, path if op == "broadcast" else path[::-1], size, op)
        return
    orders, vias = _ring_orders(ctx)
    chunk = size / (n * C)
    if op == "all_reduce":
        phases = [("reduce-scatter", n - 1), ("all-gather", n - 1)]
    elif op == "reduce_scatter":
        phases = [("reduce-scatter", n - 1)]
    else:
        phases = [("all-gather", n - 1)]
    _ring(plan, ctx, ctx.ranks, orders, vias, phases, chunk)


def build_plan(ctx: _Ctx, op: str, algorithm: str, size: int) -> tuple[FlowSet, np.ndarray, np.ndarray, list[str]]:
    plan = _Plan()
    if algorithm == "ring":
        _ring_collective(plan, ctx, op, size)
    elif algorithm == "tree":
        _tree_allreduce(plan, ctx, size)
    elif algorithm == "halving_doubling":
        _halving_doubling(plan, ctx, op, size)
    elif algorithm == "direct":
        _direct(plan, ctx, op, size)
    elif algorithm == "pairwise":
        _pairwise(plan, ctx, size)
    elif algorithm == "hierarchical":
        _hierarchical(plan, ctx, op, size)
    fs_, phase, step = plan.pack()
    return fs_, phase, step, plan.phase_names


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
            fs_, phase, step, names = build_plan(ctx, self.op, algo, self.size_bytes)
            sim = run_flowset(fabric, fs_, routing=routing, seed=seed, metric=metric, engine=engine)
            results[algo] = _result(self, fabric, ctx, algo, fs_, phase, step, names, sim)
        best = min(results.values(), key=lambda r: r.time_s)
        if len(results) > 1:
            alts = {a: r.time_s for a, r in results.items()}
            object.__setattr__(best, "alternatives", alts)
        return best


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
    if isinstance(step_factor, bool) or not isinstance(step_factor, int) or step_factor < 2:
        raise InvalidArgumentError(f"step_factor: must be an integer >= 2, got {step_factor!r}")
    sizes = []
    s = lo
    while s <= hi:
        sizes.append(s)
        s *= step_factor
    out = sys.stdout if file is None else file
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
