"""NCCL-style algorithms as flow DAGs: ring (multi-channel, PXN rails), chain, double
binary tree, recursive halving-doubling, direct, pairwise and hierarchical. Each writes
its flows into a :class:`~fabricsim.traffic.collectives.plan._Plan`; see the package
docs for what each one does."""

from __future__ import annotations

import weakref
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
            order = np.concatenate(
                [np.roll(np.asarray(h, dtype=np.int64), -(c % len(h))) for h in ctx.hosts]
            )
        via = np.full(n, -1, dtype=np.int64)
        if not single_host:
            # The last GPU of each host hands its data over NVLink to the GPU owning the rail
            # NIC the channel uses, which sends it to the next host (rail-local traffic).
            pos = 0
            for h in ctx.hosts:
                first, last = int(order[pos]), int(order[pos + len(h) - 1])
                if len(h) > 1 and (
                    _nvswitches(ctx, first, nvswitches) & _nvswitches(ctx, last, nvswitches)
                ):
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


def _ring(
    plan: _Plan,
    ctx: _Ctx,
    ranks: np.ndarray,
    orders: np.ndarray,
    vias: np.ndarray,
    phases: Sequence[tuple[str, int]],
    bytes_per_step: float,
    after: np.ndarray | None = None,
) -> np.ndarray:
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
            ids = plan.add(
                src,
                dst,
                bytes_per_step * g,
                phase=pid,
                step=step0,
                via=vias,
                pay=float(g),
                scale=float(g),
                conn=conn,
            ).reshape(C, n)
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


def _budget_chunks(ctx: _Ctx, flows_per_chunk: int) -> int:
    """ctx.chunks, fewer if that many chunks of ``flows_per_chunk`` flows exceed max_flows."""
    k = max(1, min(ctx.chunks, ctx.max_flows // max(1, flows_per_chunk)))
    ctx.chunks_used = k
    return k


def _pipeline(
    plan: _Plan,
    src: np.ndarray,
    dst: np.ndarray,
    size,
    phase,
    K: int,
    succ: np.ndarray,
    pred: np.ndarray,
    via=None,
    pay: bool = True,
) -> np.ndarray:
    """E edges ``src[e] -> dst[e]`` each carrying K chunks of ``size`` (per edge) bytes, one
    connection per edge. Chunk k of edge ``succ[i]`` waits for chunk k of edge ``pred[i]``
    (the data it forwards), and every edge sends its chunks in order, one at a time (first
    in, first out: chunks sharing a link at once would all finish together at the end and
    break the pipeline). On a chain of equal links this is the textbook pipeline,
    (hops + K - 1) x (alpha + chunk / B); each chunk waits for the previous one's wire
    latency too (stop-and-wait; NCCL keeps up to 8 steps in flight, so with a latency that is
    large against a chunk's transfer time this is pessimistic). Only chunk 0 pays the
    model's step latency (a pipeline pays it once per hop). Returns flow ids (K x E)."""
    E = len(src)
    ids = np.empty((K, E), dtype=np.int64)
    conn = plan.conns(E)
    for k in range(K):
        ids[k] = plan.add(
            src,
            dst,
            size,
            phase=phase,
            step=k,
            via=via,
            conn=conn,
            pay=1.0 if (pay and k == 0) else 0.0,
        )
    if len(succ):
        plan.depend(ids[:, succ], ids[:, pred])
    if K > 1:
        plan.depend(ids[1:], ids[:-1])
    return ids


def _bcast_reduce(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    """Broadcast / reduce as NCCL runs them: ``channels`` pipelined rings (chains) from / to
    the root, each with 1/channels of the data in ``pipeline_chunks`` pieces; channel c follows
    ring order c, so its inter-host hops leave through rail c's NIC (PXN), as the rings do."""
    n, C = len(ctx.ranks), ctx.channels
    orders, vias = _ring_orders(ctx)
    root_pos = int(np.flatnonzero(ctx.ranks == ctx.root)[0])
    K = _budget_chunks(ctx, C * (n - 1))
    src, dst, via = [], [], []
    for c in range(C):
        r = int(np.flatnonzero(orders[c] == root_pos)[0])
        order = np.roll(orders[c], -r)
        v = np.roll(vias[c], -r)
        if op == "broadcast":
            src.append(ctx.ranks[order[:-1]])
            dst.append(ctx.ranks[order[1:]])
            via.append(v[:-1])
        else:  # reduce: from the far end back to the root
            rev = order[::-1]
            src.append(ctx.ranks[rev[:-1]])
            dst.append(ctx.ranks[rev[1:]])
            via.append(np.full(n - 1, -1, dtype=np.int64))
    hops = n - 1
    e = np.arange(C * hops).reshape(C, hops)
    succ, pred = e[:, 1:].ravel(), e[:, :-1].ravel()
    _pipeline(
        plan,
        np.concatenate(src),
        np.concatenate(dst),
        size / (C * K),
        plan.phase(op),
        K,
        succ,
        pred,
        via=np.concatenate(via),
    )


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
    """NCCL's tree: a double binary tree between hosts and a chain inside each host, on
    ``channels`` channels. Each channel carries 1/channels of the data, half of it on a
    binary tree and half on its mirror (a host that is inner in one tree is mostly a leaf in
    the other, so every NIC carries about 2 shares instead of an inner node's 3). Channel
    c's chain in every host starts at the GPU on rail ``c mod gpus`` (the head), which talks
    to the parent and child hosts through its own NIC. Reduce goes up (chain tail -> head ->
    parent head), broadcast comes down the same way, pipelined in chunks."""
    n, C = len(ctx.ranks), ctx.channels
    hosts = ctx.hosts
    H = len(hosts)
    K = _budget_chunks(ctx, 4 * (n - 1) * C)
    if K < ctx.chunks and H > 1:
        _tree_fluid(plan, ctx, size)
        return
    src: list[int] = []
    dst: list[int] = []
    up_flag: list[bool] = []
    succ: list[int] = []
    pred: list[int] = []

    def edge(u: int, v: int, up: bool, after: list[int]) -> int:
        e = len(src)
        src.append(u)
        dst.append(v)
        up_flag.append(up)
        for p in after:
            succ.append(e)
            pred.append(p)
        return e

    for v in range(2 * C):  # per channel, the tree and its mirror, half of its share each
        c = v // 2
        parent = _binary_tree(H, mirror=(v % 2 == 1))
        chains = [np.roll(h, -(c % len(h))) for h in hosts]
        children: list[list[int]] = [[] for _ in range(H)]
        for h in range(H):
            if parent[h] >= 0:
                children[int(parent[h])].append(h)
        # up: chain tail -> ... -> head, then head -> parent's head once the children are in
        arrive_up: list[list[int]] = [[] for _ in range(H)]  # up edges into each host's head
        order = _postorder(parent, children)
        up_edge: dict[int, int] = {}
        for h in order:
            ch = chains[h]
            last: list[int] = []
            for j in range(len(ch) - 1, 0, -1):
                last = [edge(int(ch[j]), int(ch[j - 1]), True, last)]
            arrive_up[h] = last + [up_edge[k] for k in children[h]]
            if parent[h] >= 0:
                up_edge[h] = edge(
                    int(chains[h][0]), int(chains[int(parent[h])][0]), True, arrive_up[h]
                )
        # down: root head has the result once everything arrived; heads pass it to the child
        # hosts' heads and down their own chain
        has: dict[int, list[int]] = {}
        for h in reversed(order):  # parents before children
            if parent[h] < 0:
                has[h] = arrive_up[h]
            ch = chains[h]
            for k in children[h]:
                has[k] = [edge(int(ch[0]), int(chains[k][0]), False, has[h])]
            prev = has[h]
            for j in range(1, len(ch)):
                prev = [edge(int(ch[j - 1]), int(ch[j]), False, prev)]
    pos_src, pos_dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    flag = np.asarray(up_flag)
    phase = np.where(flag, plan.phase("tree reduce (up)"), plan.phase("tree broadcast (down)"))
    _pipeline(
        plan,
        ctx.ranks[pos_src],
        ctx.ranks[pos_dst],
        size / (2 * C * K),
        phase,
        K,
        np.asarray(succ, np.int64),
        np.asarray(pred, np.int64),
    )


def _tree_fluid(plan: _Plan, ctx: _Ctx, size: float) -> None:
    """The tree planned at host granularity, for when its chunks do not fit max_flows.

    NCCL at scale streams a deep pipeline of many small chunks; as flows that is
    chunks x edges, far beyond the budget at thousands of hosts, and a few big chunks would
    stall the pipeline instead. So each inter-host tree edge becomes one flow carrying its
    channel's whole share, all edges streaming at once (max-min shares every link among
    them, so congestion and oversubscription still act), each starting when the first of
    ``pipeline_chunks`` chunks would reach it: along its longest path, per hop, a chunk's
    transfer at the channel's share of the NIC (NVLink inside a host), the wire latency and
    the model's step latency. The intra-host chains (NVLink, which no other flow of the
    collective competes for) are not flows: their hops are in those start times, a zero-byte
    marker per host and channel waits for the result to reach the host and then for its
    chain, and one marker per host keeps the time at least the NVLink streaming time (every
    GPU sends about 2 (g-1)/g of the data up and down the chains). On 8 nodes it lands
    within a few % of the chunk-by-chunk plan (tests/traffic/test_nccl.py)."""
    hosts = ctx.hosts
    H, C = len(hosts), ctx.channels
    ctx.chunks_used = K = ctx.chunks
    chunk = size / (2 * C * K)
    intra = chunk / ctx.intra_Bps + ctx.wire_intra_s + ctx.step_intra_s
    inter = chunk / ctx.inter_Bps + ctx.wire_inter_s + ctx.step_inter_s
    chain = np.array([(len(h) - 1) * intra for h in hosts])
    # the last chunk down a chain: its transfer and wire per hop (the step latency was paid
    # by the first chunk)
    tail = np.array([(len(h) - 1) * (chunk / ctx.intra_Bps + ctx.wire_intra_s) for h in hosts])
    g = max(len(h) for h in hosts)
    floor = 2.0 * size * (g - 1) / g / (ctx.intra_Bps * C)
    up_ph, dn_ph, mk_ph = (
        plan.phase("tree reduce (up)"),
        plan.phase("tree broadcast (down)"),
        plan.phase("tree chains (inside the hosts)"),
    )
    trees = [_host_tree(H, mirror=(t == 1)) for t in (0, 1)]
    heads = _heads(ctx)
    for grp in _lane_groups(ctx, "tree edge"):  # channels, or every channel as lanes
        for parent, children, order in trees:  # the tree and its mirror, half the share each
            ready = np.zeros(H)  # the head has its subtree's sum
            for h in order:
                ready[h] = max([chain[h]] + [ready[k] + inter for k in children[h]])
            has = np.zeros(H)  # the head has the result
            for h in reversed(order):
                if parent[h] < 0:
                    has[h] = ready[h]
                for k in children[h]:
                    has[k] = has[h] + inter
            _fluid_edges(
                plan, heads, grp, parent, size / (2 * C), ready, has, tail, (up_ph, dn_ph, mk_ph)
            )
    # NVLink / NVSwitch streaming time, once per host (on the GPU that heads channel 0)
    first = np.array([int(ctx.ranks[h[0]]) for h in hosts], dtype=np.int64)
    plan.add(first, first, 0.0, phase=mk_ph, step=2, delay=floor, pay=0.0)


def _host_tree(H: int, mirror: bool) -> tuple[np.ndarray, list[list[int]], list[int]]:
    """A binary tree over H hosts (:func:`_binary_tree`): parents, children, post-order."""
    parent = _binary_tree(H, mirror=mirror)
    children: list[list[int]] = [[] for _ in range(H)]
    for h in np.flatnonzero(parent >= 0).tolist():
        children[int(parent[h])].append(h)
    return parent, children, _postorder(parent, children)


def _heads(ctx: _Ctx) -> np.ndarray:
    """Channels x hosts: the GPU heading channel c in each host (rail ``c mod gpus``)."""
    return np.array(
        [[int(ctx.ranks[h[c % len(h)]]) for h in ctx.hosts] for c in range(ctx.channels)],
        dtype=np.int64,
    ).reshape(ctx.channels, len(ctx.hosts))


def _lane_groups(ctx: _Ctx, what: str) -> list[list[int]]:
    """The channels each host-granularity flow carries: one each, or (``ctx.lanes``) all of
    them at once, one lane per channel, recorded in ``ctx.aggregation``."""
    C = ctx.channels
    if not ctx.lanes or C == 1:
        ctx.aggregation = f"host granularity: one flow per {what} and channel"
        return [[c] for c in range(C)]
    ctx.aggregation = (
        f"host granularity, rails as lanes: one flow per {what} carrying its {C} channels, "
        f"one lane per channel on the NIC of the channel's head GPU (each lane its own ECMP "
        f"path), all lanes at one max-min rate"
    )
    return [list(range(C))]


def _fluid_edges(
    plan: _Plan,
    heads: np.ndarray,
    grp: list[int],
    parent: np.ndarray,
    share: float,
    up_start: np.ndarray,
    dn_start: np.ndarray,
    tail,
    phases: tuple[int, int, int],
) -> None:
    """The inter-host edges of one host tree for the channels ``grp`` (lanes of one flow when
    there are several): up flows child -> parent from ``up_start[child]``, down flows
    parent -> child from ``dn_start[parent]``, each carrying ``share`` per channel; then a
    marker per host, ``tail`` after the result reached it (after the root's last input, for
    the root)."""
    up_ph, dn_ph, mk_ph = phases
    kids = np.flatnonzero(parent >= 0)
    par = parent[kids]
    head = heads[grp[0]]
    up_lanes = dn_lanes = None
    if len(grp) > 1:
        hg = heads[grp]  # lanes x hosts
        up_lanes = (hg[:, kids].T, hg[:, par].T)
        dn_lanes = (hg[:, par].T, hg[:, kids].T)
    m = len(grp)
    up = plan.add(
        head[kids],
        head[par],
        share * m,
        phase=up_ph,
        step=0,
        delay=up_start[kids],
        pay=0.0,
        lanes=up_lanes,
    )
    dn = plan.add(
        head[par],
        head[kids],
        share * m,
        phase=dn_ph,
        step=0,
        delay=dn_start[par],
        pay=0.0,
        lanes=dn_lanes,
    )
    root = int(np.flatnonzero(parent < 0)[0])
    mk = plan.add(head, head, 0.0, phase=mk_ph, step=1, delay=tail, pay=0.0)
    plan.depend(mk[kids], dn)
    plan.depend(np.full(int((par == root).sum()), mk[root]), up[par == root])


def _postorder(parent: np.ndarray, children: list[list[int]]) -> list[int]:
    """Hosts children-first (every host after all of its descendants)."""
    roots = [int(h) for h in np.flatnonzero(parent < 0)]
    out: list[int] = []
    stack = [(r, False) for r in roots]
    while stack:
        h, done = stack.pop()
        if done:
            out.append(h)
            continue
        stack.append((h, True))
        stack.extend((k, False) for k in children[h])
    return out


def _host_switch(ctx: _Ctx, positions: np.ndarray) -> int | None:
    """The NVSwitch every rank at ``positions`` attaches to (node index), or None."""
    attached = _gpu_nvswitches(ctx.fabric)
    common: set | None = None
    for p in positions.tolist():
        sw = attached.get(int(ctx.ranks[p]), set())
        common = set(sw) if common is None else common & sw
    if not common:
        return None
    fab = ctx.fabric
    return fab.index(sorted((fab.label(v) for v in common), key=str)[0])


def _gpu_nvswitches(fabric) -> dict[int, set[int]]:
    """Per GPU (node index), the NVSwitches it links to, from the compiled links (cached on
    the fabric: a 131,072-GPU fabric asks for every host's switch)."""
    cached = getattr(fabric, "_fs_gpu_nvswitches", None)
    if cached is None:
        c = fabric.compiled
        roles = np.asarray(c.roles)
        src, dst = np.asarray(c.link_src), np.asarray(c.link_dst)
        m = (roles[src] == "gpu") & (roles[dst] == "nvswitch")
        cached = {}
        for u, v in zip(src[m].tolist(), dst[m].tolist(), strict=True):
            cached.setdefault(u, set()).add(v)
        fabric._fs_gpu_nvswitches = cached
    return cached


def _nvls(plan: _Plan, ctx: _Ctx, size: float) -> None:
    """NVLS (NVLink SHARP) all-reduce inside one NVSwitch host: every GPU sends its buffer to
    the switch once, the switch reduces, and multicasts the result back: each GPU's NVLink
    carries the size once per direction (its channels split it), pipelined in chunks. The
    switch's reduction rate enters as ``ctx.nvls_factor`` NVLink bytes per byte."""
    if len(ctx.hosts) != 1:
        raise InvalidArgumentError(
            f"algorithm: nvls runs inside one NVSwitch host; the ranks span {len(ctx.hosts)} "
            "hosts (use 'nvls_tree')"
        )
    sw = _host_switch(ctx, ctx.hosts[0])
    if sw is None:
        raise InvalidArgumentError("algorithm: nvls needs the ranks to share an NVSwitch")
    n, C = len(ctx.ranks), ctx.channels
    K = _budget_chunks(ctx, 2 * n * C + 1)
    piece = size / (C * K) * ctx.nvls_factor
    gpus = np.repeat(ctx.ranks, C)
    up_ph, bar_ph, down_ph = (
        plan.phase("NVLS reduce (into the switch)"),
        plan.phase("NVLS switch reduction"),
        plan.phase("NVLS multicast (out of the switch)"),
    )
    up_conn, down_conn = plan.conns(len(gpus)), plan.conns(len(gpus))
    prev_up = prev_down = None
    for k in range(K):
        up = plan.add(gpus, sw, piece, phase=up_ph, step=k, conn=up_conn, pay=0.0)
        bar = plan.add(sw, sw, 0.0, phase=bar_ph, step=k, pay=0.0)
        plan.depend(np.repeat(bar, len(up)), up)
        down = plan.add(sw, gpus, piece, phase=down_ph, step=k, conn=down_conn, pay=0.0)
        plan.depend(down, np.repeat(bar, len(down)))
        if prev_up is not None:
            plan.depend(up, prev_up)
            plan.depend(down, prev_down)
        prev_up, prev_down = up, down


def _nvls_tree(plan: _Plan, ctx: _Ctx, size: float) -> None:
    """NVLS-tree across NVSwitch hosts: inside each host every GPU sends its buffer to the
    switch, which reduces it and hands channel c's share (1/channels) to the head GPU on rail
    ``c mod gpus``; the heads of every host run channel c's binary tree (even channels one
    tree, odd ones its mirror) over their NICs; each head then gives the result back to the
    switch, which multicasts the whole buffer to the host's GPUs. Pipelined in chunks."""
    hosts = ctx.hosts
    H, C = len(hosts), ctx.channels
    if H < 2:
        raise InvalidArgumentError(
            "algorithm: nvls_tree needs ranks on at least 2 hosts (use 'nvls' inside one host)"
        )
    sws = []
    for h in hosts:
        sw = _host_switch(ctx, h)
        if sw is None:
            raise InvalidArgumentError(
                "algorithm: nvls_tree needs the ranks of every host to share an NVSwitch"
            )
        sws.append(sw)
    n = len(ctx.ranks)
    per_chunk = 2 * n + 2 * H + 2 * C * H + 4 * C * (H - 1)
    K = _budget_chunks(ctx, per_chunk)
    if K < ctx.chunks:
        _nvls_tree_fluid(plan, ctx, size)
        return
    f = ctx.nvls_factor
    whole, share = size / K * f, size / (C * K) * f  # NVLink bytes (the switch's rate)
    net_share = size / (2 * C * K)  # on the network: half of the channel's share per tree
    gpu_h = np.concatenate([np.full(len(h), i, dtype=np.int64) for i, h in enumerate(hosts)])
    gpus = ctx.ranks[np.concatenate(hosts)]
    sw_of = np.asarray(sws, dtype=np.int64)
    heads = np.array([[int(ctx.ranks[h[c % len(h)]]) for h in hosts] for c in range(C)])
    ph = [
        plan.phase(x)
        for x in (
            "NVLS reduce (into the switch)",
            "NVLS switch reduction",
            "NVLS share to the NIC GPU",
            "tree reduce (up)",
            "tree broadcast (down)",
            "NVLS result into the switch",
            "NVLS switch barrier",
            "NVLS multicast (out of the switch)",
        )
    ]
    trees = []  # per channel, the double binary tree: the tree and its mirror, half each
    for t in range(2):
        parent = _binary_tree(H, mirror=(t == 1))
        kids = np.flatnonzero(parent >= 0)
        trees.append((parent, kids))
    conn_a, conn_e = plan.conns(n), plan.conns(n)
    conn_b, conn_d = plan.conns(C * H), plan.conns(C * H)
    conn_up = [plan.conns(len(trees[v % 2][1])) for v in range(2 * C)]
    conn_dn = [plan.conns(len(trees[v % 2][1])) for v in range(2 * C)]
    prev: dict[str, np.ndarray] = {}

    def ordered(name: str, ids: np.ndarray) -> None:
        if name in prev:
            plan.depend(ids, prev[name])
        prev[name] = ids

    for k in range(K):
        pay = 1.0 if k == 0 else 0.0
        a = plan.add(gpus, sw_of[gpu_h], whole, phase=ph[0], step=k, conn=conn_a, pay=0.0)
        bar1 = plan.add(sw_of, sw_of, 0.0, phase=ph[1], step=k, pay=0.0)
        plan.depend(bar1[gpu_h], a)
        b = plan.add(
            np.tile(sw_of, C), heads.ravel(), share, phase=ph[2], step=k, conn=conn_b, pay=0.0
        ).reshape(C, H)
        plan.depend(b, np.tile(bar1, (C, 1)))
        d_all = np.empty((C, H), dtype=np.int64)
        for v in range(2 * C):
            c = v // 2
            parent, kids = trees[v % 2]
            hd = heads[c]
            up = plan.add(
                hd[kids], hd[parent[kids]], net_share, phase=ph[3], step=k, conn=conn_up[v], pay=pay
            )
            up_of = np.full(H, -1, dtype=np.int64)
            up_of[kids] = up
            # a head sends up once its own share and its children's are in
            plan.depend(up, b[c, kids])
            inner = parent[parent[kids]] >= 0  # the child's parent is not the root
            plan.depend(up_of[parent[kids][inner]], up[inner])  # child -> parent's up
            dn = plan.add(
                hd[parent[kids]], hd[kids], net_share, phase=ph[4], step=k, conn=conn_dn[v], pay=pay
            )
            dn_of = np.full(H, -1, dtype=np.int64)
            dn_of[kids] = dn
            root = int(np.flatnonzero(parent < 0)[0])
            root_in = np.concatenate([[b[c, root]], up[parent[kids] == root]])
            for r_in in root_in.tolist():
                plan.depend(dn[parent[kids] == root], r_in)
            deep = parent[kids] != root
            plan.depend(dn[deep], dn_of[parent[kids][deep]])
            ordered(f"up{v}", up)
            ordered(f"dn{v}", dn)
            # the head returns the result to its switch once it has it from both trees
            if v % 2 == 0:
                d = plan.add(
                    hd, sw_of, share, phase=ph[5], step=k, conn=conn_d[c * H : (c + 1) * H], pay=0.0
                )
                d_all[c] = d
            d = d_all[c]
            plan.depend(d[kids], dn)
            for r_in in root_in.tolist():
                plan.depend(d[root], r_in)
        bar2 = plan.add(sw_of, sw_of, 0.0, phase=ph[6], step=k, pay=0.0)
        plan.depend(np.tile(bar2, C), d_all.ravel())
        e = plan.add(sw_of[gpu_h], gpus, whole, phase=ph[7], step=k, conn=conn_e, pay=0.0)
        plan.depend(e, bar2[gpu_h])
        for name, ids in (("a", a), ("b", b.ravel()), ("d", d_all.ravel()), ("e", e)):
            ordered(name, ids)


def _nvls_tree_fluid(plan: _Plan, ctx: _Ctx, size: float) -> None:
    """NVLS-tree planned at host granularity (see :func:`_fluid`): the inter-host tree edges
    of every channel stream their share at once, each starting when its first chunk would
    reach it; the NVSwitch phases (into the switch and the share to the head; result back
    and the multicast) are in those start times and in a marker per host, which also keeps
    the time at least the NVSwitch streaming time (size x nvls_factor over NVLink)."""
    hosts = ctx.hosts
    H, C = len(hosts), ctx.channels
    ctx.chunks_used = K = ctx.chunks
    f = ctx.nvls_factor
    nvl = ctx.intra_Bps * C  # one GPU's NVLink
    chunk = size / K
    # into the switch (a whole chunk) then its share to the head; and the way back
    cost_in = (chunk * f + chunk / C * f) / nvl + 2 * ctx.wire_intra_s
    cost_out = cost_in
    hop = chunk / (2 * C) / ctx.inter_Bps + ctx.wire_inter_s + ctx.step_inter_s
    floor = size * f / nvl
    up_ph, dn_ph, mk_ph = (
        plan.phase("tree reduce (up)"),
        plan.phase("tree broadcast (down)"),
        plan.phase("NVLS multicast (out of the switch)"),
    )
    trees = [_host_tree(H, mirror=(t == 1)) for t in (0, 1)]
    heads = _heads(ctx)
    for grp in _lane_groups(ctx, "tree edge"):  # channels, or every channel as lanes
        for parent, children, order in trees:  # the tree and its mirror, half the share each
            ready = np.zeros(H)  # the head has its subtree's sum
            for h in order:
                ready[h] = max([cost_in] + [ready[k] + hop for k in children[h]])
            has = np.zeros(H)  # the head has the result
            for h in reversed(order):
                if parent[h] < 0:
                    has[h] = ready[h]
                for k in children[h]:
                    has[k] = has[h] + hop
            _fluid_edges(
                plan,
                heads,
                grp,
                parent,
                size / (2 * C),
                ready,
                has,
                cost_out,
                (up_ph, dn_ph, mk_ph),
            )
    # NVLink / NVSwitch streaming time, once per host (on the GPU that heads channel 0)
    first = np.array([int(ctx.ranks[h[0]]) for h in hosts], dtype=np.int64)
    plan.add(first, first, 0.0, phase=mk_ph, step=2, delay=floor, pay=0.0)


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
        ids[active] = plan.add(
            ctx.ranks[pos[active]], ctx.ranks[partner[active]], nbytes, phase=pid, step=s
        )
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
            "use 'ring' or 'direct'"
        )
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
        prev_in, prev_out = _exchange_steps(
            plan, ctx, steps_rs, "reduce-scatter (halving)", prev_in, prev_out
        )
    if op in ("all_reduce", "all_gather"):
        prev_in, prev_out = _exchange_steps(
            plan, ctx, steps_ag, "all-gather (doubling)", prev_in, prev_out
        )
    if r:
        partner = none.copy()
        partner[np.arange(1, 2 * r, 2)] = np.arange(0, 2 * r, 2)
        _exchange_steps(plan, ctx, [(partner, size)], "unfold", prev_in, prev_out)


def _direct(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    n = len(ctx.ranks)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    if op == "all_to_all":
        plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("all-to-all"), step=0)
    elif op in ("all_gather", "reduce_scatter"):
        plan.add(
            ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase(op.replace("_", "-")), step=0
        )
    elif op == "all_reduce":
        rs = plan.add(
            ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("reduce-scatter"), step=0
        )
        # a zero-byte local flow per rank marks "every piece of my shard has arrived"
        ready = plan.add(ctx.ranks, ctx.ranks, 0.0, phase=plan.phase("reduce"), step=1)
        plan.depend(ready[j], rs)
        ag = plan.add(ctx.ranks[i], ctx.ranks[j], size / n, phase=plan.phase("all-gather"), step=2)
        plan.depend(ag, ready[i])
    elif op == "broadcast":
        others = ctx.ranks[ctx.ranks != ctx.root]
        plan.add(ctx.root, others, size, phase=plan.phase("broadcast"), step=0)
    elif op == "reduce":
        others = ctx.ranks[ctx.ranks != ctx.root]
        plan.add(others, ctx.root, size, phase=plan.phase("reduce"), step=0)
    elif op == "send_recv":
        plan.add(ctx.ranks, np.roll(ctx.ranks, -1), size, phase=plan.phase("send/recv"), step=0)


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
            f"each; got hosts of sizes {sorted({len(h) for h in hosts})}"
        )
    H, n = len(hosts), len(ctx.ranks)
    grid = np.stack(hosts)  # H x g positions; column r = the host's r-th GPU (rail order)
    none = np.full_like(grid, -1)

    def intra(phases, step_bytes, after):  # one NVLink ring per host, all hosts at once
        return _ring(plan, ctx, ctx.ranks, grid, none, phases, step_bytes, after)

    def inter(phases, step_bytes, after):  # one ring per rail across hosts, all rails at once
        done = _ring(
            plan,
            ctx,
            ctx.ranks,
            grid.T,
            none.T,
            phases,
            step_bytes,
            None if after is None else after.transpose(1, 0, 2),
        )
        return done.transpose(1, 0, 2)

    if op == "all_reduce":
        done = intra([("intra-host reduce-scatter (NVLink)", g - 1)], size / g, None)
        done = inter(
            [
                ("inter-host reduce-scatter (per rail)", H - 1),
                ("inter-host all-gather (per rail)", H - 1),
            ],
            size / n,
            done,
        )
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
        _bcast_reduce(plan, ctx, op, size)
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


# ---------------------------------------------------------------------------------------------
# PAT (NCCL >= 2.23) and CollNet (SHARP)
# ---------------------------------------------------------------------------------------------
def pat_steps(n: int) -> list[tuple[int, int]]:
    """PAT's all-gather as (distance, blocks) per step: the Bruck algorithm with its dimensions
    reversed (Jeaugey, "PAT: a new algorithm for all-gather and reduce-scatter operations at
    scale", 2025; NCCL's ``PatAGAlgorithm``). Each rank's block travels down a shifted
    binomial tree: the first step sends one block to the rank farthest away (distance
    2^(L-1)), every later step halves the distance and sends what has been gathered, so the
    large transfers go to near ranks and the far ones carry a single block. Reduce-scatter
    runs the same steps in reverse. Any ``n >= 2``; the blocks add up to ``n - 1``.

    >>> pat_steps(8)
    [(4, 1), (2, 2), (1, 4)]
    >>> pat_steps(6)
    [(4, 1), (2, 1), (1, 3)]
    """
    L = max(1, (n - 1).bit_length())
    have = [0]  # offsets (relative to the receiver) of the blocks a rank holds
    out = []
    for s in range(L):
        d = 1 << (L - 1 - s)
        sent = [o + d for o in have if o + d < n]
        out.append((d, len(sent)))
        have = have + sent
    return out


def _pat(plan: _Plan, ctx: _Ctx, op: str, size: float) -> None:
    """PAT all-gather / reduce-scatter: ``log2(n)`` steps per channel (:func:`pat_steps`); in
    all-gather step s rank i sends its gathered blocks to rank ``i - d_s``, in reduce-scatter
    (the steps reversed) its partial sums to rank ``i + d_s``. A rank's send waits for what it
    received in the step before and for its own previous send. ``channels`` copies run side
    by side with ``1/channels`` of the data each (fewer if ``channels x n x steps`` flows do
    not fit ``max_flows``; the result reports the channels used)."""
    if op not in ("all_gather", "reduce_scatter"):
        raise InvalidArgumentError(f"algorithm: pat builds all_gather and reduce_scatter, not {op}")
    n = len(ctx.ranks)
    steps = pat_steps(n)
    if op == "reduce_scatter":
        steps = steps[::-1]
    if n * len(steps) > ctx.max_flows:
        raise InvalidArgumentError(
            f"max_flows: PAT over {n:,} ranks is {n * len(steps):,} flows on one channel "
            f"({len(steps)} steps), more than max_flows = {ctx.max_flows:,}: raise max_flows "
            "or use another algorithm (ring, or auto)"
        )
    C = max(1, min(ctx.channels, ctx.max_flows // max(1, n * len(steps))))
    ctx.channels = C
    block = size / (n * C)
    pos = np.arange(n)
    name = "PAT all-gather" if op == "all_gather" else "PAT reduce-scatter"
    pid = plan.phase(name)
    src = np.tile(ctx.ranks, C)
    sign = -1 if op == "all_gather" else 1
    prev: np.ndarray | None = None
    prev_d = 0
    for k, (d, blocks) in enumerate(steps):
        peer = ctx.ranks[(pos + sign * d) % n]
        ids = plan.add(src, np.tile(peer, C), blocks * block, phase=pid, step=k).reshape(C, n)
        if prev is not None:
            # what rank i received in the step before came from rank i - sign * d_prev
            plan.depend(ids, np.roll(prev, sign * prev_d, axis=1))
            plan.depend(ids, prev)
        prev, prev_d = ids, d


def sharp_switches(fabric) -> frozenset:
    """Labels of the switches that declare SHARP (``sharp=True``, or 1 as GML writes it; the
    schema allows it on switches only), cached on the fabric."""
    cached = getattr(fabric, "_fs_sharp", None)
    if cached is None:
        g = fabric.graph
        cached = frozenset(v for v, d in g.nodes(data=True) if d.get("sharp"))
        fabric._fs_sharp = cached
    return cached


_NOT_SWITCH = ("gpu", "nvswitch", "nic", "edge_site")


def _attach_switch(g, gpu) -> object | None:
    """The first switch a GPU's traffic reaches: through its NIC when it shares one."""
    for v in sorted(g[gpu], key=str):
        role = g.nodes[v].get("role")
        if role == "nic":
            for w in sorted(g[v], key=str):
                if g.nodes[w].get("role") not in _NOT_SWITCH:
                    return w
        elif role not in _NOT_SWITCH:
            return v
    return None


#: Per fabric graph (weakly held): the switch-only hop distances from each SHARP switch, so
#: that the CollNet set-up, each of its shares and each channel's rotation search them once.
_BFS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _switch_bfs(g, root) -> dict:
    """Hop distance from ``root`` to every switch, through switches only (cached per graph;
    the caller must not modify the result)."""
    per_graph = _BFS_CACHE.setdefault(g, {})
    if root not in per_graph:
        per_graph[root] = _switch_bfs_uncached(g, root)
    return per_graph[root]


def _switch_bfs_uncached(g, root) -> dict:
    dist = {root: 0}
    frontier = [root]
    while frontier:
        nxt = []
        for u in frontier:
            for v in g[u]:
                if v not in dist and g.nodes[v].get("role") not in _NOT_SWITCH:
                    dist[v] = dist[u] + 1
                    nxt.append(v)
        frontier = nxt
    return dist


def sharp_tree(fabric, heads: Sequence, rotate: int = 0) -> dict:
    """The SHARP aggregation tree over ``heads`` (GPU labels): ``{node: parent}`` for every
    head and every aggregating switch except the root (parent None for the root).

    The root is the SHARP switch closest to all the heads' first switches (fewest hops to
    the farthest, then in total; ties taken in turn by ``rotate``, so that the trees of
    different channels spread over the top tier). Every head and switch sends to the first
    SHARP switch on its shortest path to the root (next hops also taken in turn by
    ``rotate``): a leaf that declares SHARP reduces its hosts' data once and sends one stream
    up, as SHARP's aggregation trees do (Graham et al., "Scalable Hierarchical Aggregation
    Protocol", COMHPC 2016). Raises :class:`~fabricsim.exceptions.InvalidArgumentError` when
    no SHARP switch reaches every head."""
    g = fabric.graph
    sharp = sharp_switches(fabric)
    if not sharp:
        raise InvalidArgumentError(
            "algorithm: collnet needs switches that declare SHARP (node attribute sharp=True, "
            "or sharp=True in the builder)"
        )
    attach = []
    for h in heads:
        a = _attach_switch(g, h)
        if a is None:
            raise InvalidArgumentError(f"algorithm: collnet: GPU {h!r} reaches no switch")
        attach.append(a)
    best, ties = None, []
    for r in sorted(sharp, key=str):
        dist = _switch_bfs(g, r)
        if any(a not in dist for a in attach):
            continue
        key = (max(dist[a] for a in attach), sum(dist[a] for a in attach))
        if best is None or key < best:
            best, ties = key, [(r, dist)]
        elif key == best:
            ties.append((r, dist))
    if not ties:
        raise InvalidArgumentError(
            "algorithm: collnet: no SHARP switch reaches every rank's first switch"
        )
    root, dist = ties[rotate % len(ties)]

    def first_sharp_up(x):
        # walk down the distance to the root; the first SHARP switch met is the parent
        while x != root:
            nxt = sorted((v for v in g[x] if dist.get(v, -1) == dist[x] - 1), key=str)
            x = nxt[rotate % len(nxt)]
            if x in sharp:
                return x
        return root

    parent: dict = {root: None}
    todo = []
    for h, a in zip(heads, attach, strict=True):
        p = a if a in sharp else first_sharp_up(a)
        parent[h] = p
        todo.append(p)
    while todo:
        x = todo.pop()
        if x in parent:
            continue
        p = first_sharp_up(x)
        parent[x] = p
        todo.append(p)
    return parent


def _collnet(plan: _Plan, ctx: _Ctx, size: float, direct: bool) -> None:
    """CollNet (SHARP) all-reduce: the switches reduce. Inside each host the data is first
    gathered by head GPUs (Direct: every GPU sends head j its j-th share over NVLink, one
    head per NIC; Chain: channel c's share is reduced along a chain ending at the GPU on rail
    ``c``); each head sends its share up its SHARP tree once (:func:`sharp_tree`: the switches
    reduce what their children send and pass one stream up), the root's result comes back
    down the same tree, and each head hands it to its host's GPUs (Direct: to every GPU;
    Chain: down the chain). Pipelined in ``pipeline_chunks`` chunks; when the chunks do not
    fit ``max_flows``, planned as streams (every network edge carrying its whole share at
    once from the time its first chunk would arrive; the NVLink part as start times and a
    per-host floor), as the tree is at scale."""
    hosts = ctx.hosts
    H = len(hosts)
    if H < 2:
        raise InvalidArgumentError(
            "algorithm: collnet needs ranks on at least 2 hosts (inside one host use 'nvls')"
        )
    g_sizes = {len(h) for h in hosts}
    g = max(g_sizes)
    fab = ctx.fabric
    label = fab.label
    if direct:
        nics = _host_nics(ctx, hosts[0])
        nH = max(1, min(g, nics))
        if len(g_sizes) != 1 or g % nH:
            raise InvalidArgumentError(
                "algorithm: collnet_direct needs hosts with the same number of ranks"
            )
        shares = [
            (np.array([int(ctx.ranks[h[j * (g // nH)]]) for h in hosts]), 1.0 / nH)
            for j in range(nH)
        ]
    else:
        C = ctx.channels
        shares = [
            (np.array([int(ctx.ranks[h[c % len(h)]]) for h in hosts]), 1.0 / C) for c in range(C)
        ]
    src: list[int] = []
    dst: list[int] = []
    frac: list[float] = []
    phase: list[int] = []
    succ: list[int] = []
    pred: list[int] = []
    net: list[bool] = []
    head_in: list[tuple[int, int]] = []  # (head node, the down edge that brings the result)
    ph_in, ph_up, ph_red, ph_dn, ph_out = (
        plan.phase(x)
        for x in (
            "CollNet share to the heads (inside the hosts)",
            "CollNet up to the SHARP switches",
            "SHARP reduction (in the switch)",
            "CollNet result down from the switches",
            "CollNet result to the GPUs (inside the hosts)",
        )
    )

    def edge(u: int, v: int, f: float, ph: int, after: list[int], is_net: bool) -> int:
        e = len(src)
        src.append(u)
        dst.append(v)
        frac.append(f)
        phase.append(ph)
        net.append(is_net)
        for p in after:
            succ.append(e)
            pred.append(p)
        return e

    host_pos = [ctx.ranks[h] for h in hosts]
    for j, (heads, f) in enumerate(shares):
        # inside each host: everyone's share reaches the head
        into: dict[int, list[int]] = {}
        for hi, members in enumerate(host_pos):
            head = int(heads[hi])
            if direct:
                into[head] = [edge(int(m), head, f, ph_in, [], False) for m in members if m != head]
            else:
                chain = np.roll(members, -int(np.flatnonzero(members == head)[0]))
                last: list[int] = []
                for x in range(len(chain) - 1, 0, -1):
                    last = [edge(int(chain[x]), int(chain[x - 1]), f, ph_in, last, False)]
                into[head] = last
        tree = sharp_tree(fab, [label(int(h)) for h in heads], rotate=j)
        idx = {lab: fab.index(lab) for lab in tree}
        children: dict = {}
        for x, p in tree.items():
            if p is not None:
                children.setdefault(p, []).append(x)
        root = next(x for x, p in tree.items() if p is None)
        # up: children before parents (each node's stream waits for its children's)
        order: list = []
        stack = [(root, False)]
        while stack:
            x, done = stack.pop()
            if done:
                order.append(x)
                continue
            stack.append((x, True))
            stack.extend((k, False) for k in children.get(x, []))
        sent: dict = {}
        for x in order:
            after = [sent[k] for k in children.get(x, [])] + into.get(idx[x], [])
            if tree[x] is None:  # the root reduces (a zero-byte marker in the switch)
                sent[x] = edge(idx[x], idx[x], 0.0, ph_red, after, True)
            else:
                sent[x] = edge(idx[x], idx[tree[x]], f, ph_up, after, True)
        # down: parents before children; heads hand the result to their host's GPUs
        got = {root: sent[root]}
        for x in reversed(order):
            for k in children.get(x, []):
                got[k] = edge(idx[x], idx[k], f, ph_dn, [got[x]], True)
            if x in children or idx[x] not in into:
                continue
            head = idx[x]
            head_in.append((head, got[x]))
            members = host_pos[int(np.flatnonzero(heads == head)[0])]
            if direct:
                for m in members.tolist():
                    if m != head:
                        edge(head, m, f, ph_out, [got[x]], False)
            else:
                chain = np.roll(members, -int(np.flatnonzero(members == head)[0]))
                prev = got[x]
                for x2 in range(1, len(chain)):
                    prev = edge(int(chain[x2 - 1]), int(chain[x2]), f, ph_out, [prev], False)
    src_a, dst_a = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    frac_a, phase_a = np.asarray(frac), np.asarray(phase, np.int64)
    succ_a, pred_a = np.asarray(succ, np.int64), np.asarray(pred, np.int64)
    C0 = ctx.channels  # what ctx.intra_Bps was computed for (one channel's share of NVLink)
    ctx.channels = len(shares)  # Direct: one share per head (NIC); Chain: the channels
    K = _budget_chunks(ctx, len(src))
    if K >= ctx.chunks or K >= 8:
        _pipeline(plan, src_a, dst_a, size * frac_a / K, phase_a, K, succ_a, pred_a, pay=False)
        return
    # streams: each edge carries its whole share, from the time its first chunk would arrive
    ctx.chunks_used = K = ctx.chunks
    is_net = np.asarray(net)
    rate = np.where(is_net, ctx.inter_Bps, ctx.intra_Bps)
    wire = np.where(is_net, ctx.wire_inter_s, ctx.wire_intra_s)
    wf = ctx.wire_factor  # the bytes on the wire per byte of data
    hop = size * frac_a * wf / K / rate + wire
    start = np.zeros(len(src))
    by_succ = np.argsort(succ_a, kind="stable")  # edges were made after their predecessors
    for e_s, e_p in zip(succ_a[by_succ].tolist(), pred_a[by_succ].tolist(), strict=True):
        start[e_s] = max(start[e_s], start[e_p] + hop[e_p])
    kept = np.flatnonzero(is_net)
    flow_of = np.full(len(src), -1, dtype=np.int64)
    flow_of[kept] = plan.add(
        src_a[kept],
        dst_a[kept],
        (size * frac_a)[kept],
        phase=phase_a[kept],
        step=0,
        delay=start[kept],
        pay=0.0,
    )
    # inside the hosts: once the result reaches a head, the last chunk's way to the GPUs
    # (one NVLink hop for Direct, the chain for Chain), then the NVLink streaming time
    g_hops = 1 if direct else g - 1
    heads_a = np.array([h for h, _ in head_in], dtype=np.int64)
    down = np.array([flow_of[e] for _, e in head_in], dtype=np.int64)
    tail = g_hops * (size * wf / (len(shares) * K) / ctx.intra_Bps + ctx.wire_intra_s)
    mk = plan.add(heads_a, heads_a, 0.0, phase=ph_out, step=1, delay=tail, pay=0.0)
    plan.depend(mk, down)
    stream = 2.0 * size * wf * (g - 1) / g / (ctx.intra_Bps * C0)
    firsts = np.array([int(ctx.ranks[h[0]]) for h in hosts], dtype=np.int64)
    plan.add(firsts, firsts, 0.0, phase=ph_out, step=2, delay=stream, pay=0.0)


def _host_nics(ctx: _Ctx, positions: np.ndarray) -> int:
    """How many distinct NICs (first hops off the host: a ``nic`` node, or the GPU's own
    port) the host's GPUs at ``positions`` use."""
    g = ctx.fabric.graph
    ports = set()
    for p in positions.tolist():
        gpu = ctx.fabric.label(int(ctx.ranks[p]))
        nic = [v for v in g[gpu] if g.nodes[v].get("role") == "nic"]
        ports.add(nic[0] if nic else gpu)
    return len(ports)


def build_plan(
    ctx: _Ctx, op: str, algorithm: str, size: int
) -> tuple[FlowSet, np.ndarray, np.ndarray, list[str]]:
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
    elif algorithm == "nvls":
        _nvls(plan, ctx, size)
    elif algorithm == "nvls_tree":
        _nvls_tree(plan, ctx, size)
    elif algorithm == "pat":
        _pat(plan, ctx, op, size)
    elif algorithm in ("collnet_direct", "collnet_chain"):
        _collnet(plan, ctx, size, direct=algorithm == "collnet_direct")
    fs_, phase, step = plan.pack(ctx)
    return fs_, phase, step, plan.phase_names
