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
    All-reduce is reduce-scatter then all-gather: 2(n-1) steps. Broadcast / reduce are
    ``channels`` pipelined chains from / to the root (ring order ``c`` for channel ``c``, so
    they too leave every host through different NICs), each with ``1/channels`` of the data
    in ``pipeline_chunks`` pieces.
``tree``
    NCCL's tree (all-reduce): a double binary tree between hosts and a chain inside each
    host, on ``channels`` channels, each carrying half of its share on a binary tree and
    half on the mirrored one. Channel ``c``'s chain in each host starts at the GPU on rail
    ``c mod gpus`` (the head), which talks to the parent and child hosts through its own
    NIC; reduce goes up, the result comes down, pipelined in ``pipeline_chunks`` pieces. At
    thousands of hosts (chunks x hops beyond ``max_flows``) it is planned at host
    granularity: one streaming flow per inter-host edge (docs/nccl-model.md).
``nvls``
    NVLink SHARP inside one NVSwitch host: every GPU sends its buffer to the switch once, the
    switch reduces and multicasts the result back (each GPU's NVLink carries the size once
    per direction), pipelined; the switch's reduction rate is the profile's
    ``nvls_algbw_GBps``.
``nvls_tree``
    NVLS inside each host, then channel ``c``'s share crosses hosts on a double binary tree
    of the rail-``c`` GPUs (their NICs), then the switch multicasts the result; planned at
    host granularity at scale, as the tree is.
``pat``
    NCCL's PAT (Parallel Aggregated Trees, NCCL >= 2.23) for all-gather / reduce-scatter:
    the Bruck algorithm with its dimensions reversed, log2(n) steps in which the farthest
    transfer carries one block and the largest go to near ranks. ``auto`` considers it with
    one GPU per host, as NCCL does.
``collnet_direct``, ``collnet_chain``
    CollNet all-reduce with SHARP: switches that declare ``sharp=True`` reduce. Inside each
    host the shares reach head GPUs (Direct: one per NIC, straight over NVLink; Chain: along
    a chain per channel); each head sends its share up a SHARP tree once and gets the result
    once; the heads hand it back out. ``auto`` considers them where the hardware declares
    SHARP.
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
    Without a profile: simulates each algorithm NCCL would consider that the ranks can run
    (ring or tree for all-reduce, plus ``hierarchical``; ring for the others; direct for
    all-to-all and send/recv) and keeps the fastest. With a profile (the fabric's, or
    ``profile=``): NCCL's own cost model (:mod:`~fabricsim.traffic.collectives.tuner`, from
    ``src/graph/tuning.cc``) is evaluated over (algorithm, protocol, channels), including
    NVLS / NVLS-tree where every host's ranks share an NVSwitch and the profile has an NVLS
    rate, PAT with one GPU per host and CollNet where switches declare SHARP; the
    algorithms whose best model time is within ``tuner.MARGIN`` of the best are simulated
    with their best protocol (``hierarchical``, outside NCCL's model, always is), and the
    fastest simulated one is kept. The result reports the protocol, the channels
    and the pipeline chunks it used.

Chunking: a ring step is one flow. When ``channels x n x steps`` exceeds ``max_flows``,
consecutive steps of a rank are merged into one flow carrying their bytes that pays their
path latencies (``latency_scale``) and per-step overheads; on an uncongested fabric this is
exact, under contention it smooths the step-by-step lockstep. Tree and chain pipelines use
``pipeline_chunks`` (default: one per 512 KiB of data, between 1 and 64).

Protocols and latencies (with a profile; see ``docs/nccl-model.md``): the protocol's
bandwidth relative to Simple (NCCL's model) scales the bytes every flow puts on the wire;
NCCL's base latency of the (algorithm, protocol) delays the flows that start the collective;
its per-step NVLink / network latencies (less the fabric's own wire latency) delay every
whole step of the ring family (at NCCL's average per step, so the steps add up to NCCL's ring
latency), and the first chunk on every hop of a pipelined algorithm. Without a profile
(``profile=False``, or a fabric without one) all of that is zero and the protocol is Simple:
the path the closed-form tests use.
"""

from fabricsim.traffic.collectives import tuner
from fabricsim.traffic.collectives.api import (
    AUTO_ALGORITHMS,
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
    "AUTO_ALGORITHMS",
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
    "tuner",
]
