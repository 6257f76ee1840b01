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

from fabricsim.traffic.collectives.api import (
    DATATYPES,
    Collective,
    CollectiveResult,
    PhaseTiming,
    SizeSweep,
    collective,
    sweep_sizes,
)
from fabricsim.traffic.collectives.plan import (
    ALGORITHMS,
    BUSBW_FACTOR,
    DEFAULT_MAX_FLOWS,
    NCCL_ALGORITHMS,
    OPS,
    SUPPORTED,
    check_size,
    normalize_op,
)

__all__ = [
    "ALGORITHMS",
    "BUSBW_FACTOR",
    "DATATYPES",
    "DEFAULT_MAX_FLOWS",
    "NCCL_ALGORITHMS",
    "OPS",
    "SUPPORTED",
    "Collective",
    "CollectiveResult",
    "PhaseTiming",
    "SizeSweep",
    "check_size",
    "collective",
    "normalize_op",
    "sweep_sizes",
]
