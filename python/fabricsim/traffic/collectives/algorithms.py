"""NCCL-style algorithms as flow DAGs: ring (multi-channel, PXN rails), chain, double
binary tree, recursive halving-doubling, direct, pairwise and hierarchical. Each writes
its flows into a :class:`~fabricsim.traffic.collectives.plan._Plan`; see the package
docs for what each one does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fabricsim.exceptions import InvalidArgumentError
from fabricsim.traffic.collectives.plan import (
    _Ctx,
    _groups,
    _Plan,
)
from fabricsim.traffic.flows import FlowSet


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
