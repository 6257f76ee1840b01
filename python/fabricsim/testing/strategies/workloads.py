"""Strategies for workloads on a fabric: rank sets, collectives, traffic matrices,
background load and training jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

from fabricsim.analysis.training import TrainingJob
from fabricsim.cli.scenario import COLLECTIVE_DEFAULTS, Scenario
from fabricsim.fabric import profiles as _profiles
from fabricsim.fabric.compiled import Fabric
from fabricsim.testing.strategies._args import (
    _drawn,
    _fabric_arg,
    _int,
    _names,
    _ordered,
    _real,
    _strategy,
)
from fabricsim.testing.strategies.graphs import fat_tree_graphs, leaf_spine_graphs
from fabricsim.traffic.background import PATTERNS, SIZE_DISTRIBUTIONS, Background
from fabricsim.traffic.collectives import ALGORITHMS, OPS, SUPPORTED, Collective


def rank_sets(
    fabric: Fabric, *, min_size: int = 2, max_size: int | None = None
) -> SearchStrategy[list]:
    """Lists of distinct GPU labels of ``fabric`` (a rank order), ``min_size..max_size``
    long (``max_size`` defaults to every GPU)."""
    fabric = _fabric_arg(fabric)
    n = len(fabric.gpus)
    min_size = _int("min_size", min_size, 1)
    max_size = n if max_size is None else _int("max_size", max_size, 1)
    _ordered("min_size", min_size, "max_size", max_size)
    if min_size > n:
        raise InvalidArgument(f"min_size={min_size} is more than the fabric's {n} GPUs")
    return st.lists(
        st.sampled_from(fabric.gpus), min_size=min_size, max_size=min(max_size, n), unique=True
    )


def _hosts(fabric: Fabric) -> dict:
    """GPUs grouped by host as the collectives group them (a GPU without ``host`` alone)."""
    out: dict = {}
    g = fabric.graph
    for gpu in fabric.gpus:
        out.setdefault(g.nodes[gpu].get("host", ("__own__", gpu)), []).append(gpu)
    return out


def _feasible(op: str, algo: str, fabric: Fabric | None) -> bool:
    if algo != "auto" and algo not in SUPPORTED[op]:
        return False
    if algo in ("nvls", "nvls_tree"):  # need NVSwitch hosts: ask for them by name
        return False
    if algo in ("collnet_direct", "collnet_chain"):  # need SHARP switches: likewise
        return False
    if fabric is None:  # ranks=None on an unknown fabric: only rank-count-agnostic algorithms
        return algo != "hierarchical" and not (
            algo == "halving_doubling" and op in ("all_gather", "reduce_scatter")
        )
    if algo == "hierarchical":
        return sum(len(v) >= 2 for v in _hosts(fabric).values()) >= 2
    return True


def collectives(
    fabric: Fabric | None = None,
    *,
    ops: Sequence[str] = OPS,
    algorithms: Sequence[str] = ALGORITHMS,
    min_size_bytes: int = 1,
    max_size_bytes: int = 1 << 24,
    max_channels: int = 4,
) -> SearchStrategy[Collective]:
    """:class:`fabricsim.Collective` objects valid for ``fabric``: an op from ``ops``, an
    algorithm from ``algorithms`` that builds it, ranks (``None`` = every GPU, or a
    :func:`rank_sets` draw) that suit the algorithm (a power of two for halving-doubling
    all-gather / reduce-scatter; two or more hosts with the same number, at least 2, of ranks
    for hierarchical), ``min_size_bytes..max_size_bytes`` bytes and ``channels`` None or
    1..``max_channels``. Without a fabric, ranks are ``None`` and only algorithms that work
    for any rank count are drawn.

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2,
    ...                                             gpus_per_host=2))
    >>> from hypothesis import find
    >>> c = find(collectives(fab, ops=["all_gather"], algorithms=["hierarchical"]),
    ...          lambda c: True)
    >>> c.op, c.algorithm, len(c.ranks), c.size_bytes
    ('all_gather', 'hierarchical', 4, 1)
    """
    if fabric is not None:
        fabric = _fabric_arg(fabric)
        if len(fabric.gpus) < 2:
            raise InvalidArgument(f"fabric={fabric!r} has fewer than 2 GPUs: no collective")
    ops = _names("ops", ops, OPS)
    algorithms = _names("algorithms", algorithms, ALGORITHMS)
    lo = _int("min_size_bytes", min_size_bytes, 1, 2**63 - 1)
    hi = _int("max_size_bytes", max_size_bytes, 1, 2**63 - 1)
    _ordered("min_size_bytes", lo, "max_size_bytes", hi)
    max_channels = _int("max_channels", max_channels, 1, 64)
    pairs = [(op, a) for op in ops for a in algorithms if _feasible(op, a, fabric)]
    if not pairs:
        where = "any fabric" if fabric is None else repr(fabric)
        raise InvalidArgument(
            f"ops={list(ops)!r} and algorithms={list(algorithms)!r}: no algorithm builds any "
            f"of the ops for {where} (see fabricsim.traffic.collectives.SUPPORTED)"
        )

    def build(draw) -> Collective:
        op, algo = draw(st.sampled_from(pairs), label="op, algorithm")
        ranks = None if fabric is None else draw(_ranks_for(fabric, op, algo), label="ranks")
        size = draw(st.integers(lo, hi), label="size_bytes")
        channels = draw(st.none() | st.integers(1, max_channels), label="channels")
        return Collective(op, size, ranks, algo, channels)

    return _drawn(build)


def _ranks_for(fabric: Fabric, op: str, algo: str) -> SearchStrategy:
    gpus = fabric.gpus
    n = len(gpus)
    if algo == "hierarchical":
        hosts = [v for v in _hosts(fabric).values() if len(v) >= 2]

        def hier(draw) -> list:
            chosen = draw(st.lists(st.sampled_from(range(len(hosts))), min_size=2, unique=True))
            g = draw(st.integers(2, min(len(hosts[h]) for h in chosen)))
            out = []
            for h in chosen:
                out += draw(
                    st.lists(st.sampled_from(hosts[h]), min_size=g, max_size=g, unique=True)
                )
            return out

        return _drawn(hier)
    if algo == "halving_doubling" and op in ("all_gather", "reduce_scatter"):
        return st.integers(1, n.bit_length() - 1).flatmap(
            lambda e: st.lists(st.sampled_from(gpus), min_size=1 << e, max_size=1 << e, unique=True)
        )
    return st.none() | rank_sets(fabric, min_size=2)


def traffic_matrices(
    fabric: Fabric,
    *,
    min_flows: int = 0,
    max_flows: int = 8,
    endpoints: Sequence | None = None,
    min_size_bytes: int = 0,
    max_size_bytes: int = 10**8,
    max_start_s: float = 1e-4,
    max_deps: int = 2,
    allow_self: bool = False,
) -> SearchStrategy[list]:
    """Traffic matrices for :func:`fabricsim.simulate`: lists of ``(src, dst, size_bytes)``,
    ``(src, dst, size_bytes, start_s)`` or ``(src, dst, size_bytes, start_s, deps)`` between
    ``endpoints`` (default: the fabric's GPUs), ``src != dst`` unless ``allow_self``, integer
    sizes in ``min_size_bytes..max_size_bytes``, start times in [0, ``max_start_s``] and up to
    ``max_deps`` dependencies on earlier flows (so never a cycle)."""
    fabric = _fabric_arg(fabric)
    min_flows = _int("min_flows", min_flows, 0)
    max_flows = _int("max_flows", max_flows, 0)
    _ordered("min_flows", min_flows, "max_flows", max_flows)
    if endpoints is None:
        ends = list(fabric.gpus)
    else:
        if isinstance(endpoints, str) or not isinstance(endpoints, Iterable):
            raise InvalidArgument(f"endpoints={endpoints!r} must be a list of node labels")
        ends = list(endpoints)
        for e in ends:
            try:
                fabric.index(e)
            except Exception:
                raise InvalidArgument(f"endpoints: {e!r} is not a node of the fabric") from None
    if len(set(ends)) < (1 if allow_self else 2):
        raise InvalidArgument(
            f"endpoints: need at least {1 if allow_self else 2} distinct nodes, got {ends!r}"
        )
    ends = list(dict.fromkeys(ends))
    lo = _int("min_size_bytes", min_size_bytes, 0, 2**63 - 1)
    hi = _int("max_size_bytes", max_size_bytes, 0, 2**63 - 1)
    _ordered("min_size_bytes", lo, "max_size_bytes", hi)
    max_start_s = _real("max_start_s", max_start_s, min_value=0.0, max_value=1e9)
    max_deps = _int("max_deps", max_deps, 0)
    if not isinstance(allow_self, bool):
        raise InvalidArgument(f"allow_self={allow_self!r} must be a bool")
    m = len(ends)

    def build(draw) -> list:
        n = draw(st.integers(min_flows, max_flows), label="flows")
        flows = []
        for i in range(n):
            s = draw(st.integers(0, m - 1))
            if allow_self:
                d = draw(st.integers(0, m - 1))
            else:
                d = (s + 1 + draw(st.integers(0, m - 2))) % m
            row: tuple = (ends[s], ends[d], draw(st.integers(lo, hi)))
            form = draw(st.integers(3, 5))
            if form >= 4:
                row += (draw(st.just(0.0) | st.floats(0.0, max_start_s)),)
            if form == 5:
                row += (
                    draw(
                        st.lists(st.sampled_from(range(i)), max_size=min(i, max_deps), unique=True)
                    )
                    if i
                    else [],
                )
            flows.append(row)
        return flows

    return _drawn(build)


def background_loads(*, min_load: float = 0.0, max_load: float = 0.9) -> SearchStrategy[float]:
    """Background loads (a fraction of each endpoint's NIC capacity) in
    [``min_load``, ``max_load``], within [0, 1); shrinks towards ``min_load``."""
    lo = _real("min_load", min_load, min_value=0.0, max_value=1.0, exclude_max=True)
    hi = _real("max_load", max_load, min_value=0.0, max_value=1.0, exclude_max=True)
    _ordered("min_load", lo, "max_load", hi)
    return st.floats(lo, hi, allow_nan=False)


def size_cdfs(
    *,
    min_points: int = 2,
    max_points: int = 6,
    min_bytes: float = 1e3,
    max_bytes: float = 1e8,
) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Valid empirical flow-size CDFs for :class:`fabricsim.Background` ``sizes=``:
    ``(values_bytes, cdf)`` arrays of ``min_points..max_points`` points, values non-decreasing
    in [``min_bytes``, ``max_bytes``], cdf non-decreasing in [0, 1] and ending at 1."""
    min_points = _int("min_points", min_points, 2)
    max_points = _int("max_points", max_points, 2)
    _ordered("min_points", min_points, "max_points", max_points)
    lo = _real("min_bytes", min_bytes, min_value=0.0, max_value=2.0**63, exclude_min=True)
    hi = _real("max_bytes", max_bytes, min_value=0.0, max_value=2.0**63, exclude_min=True)
    _ordered("min_bytes", lo, "max_bytes", hi)

    def build(draw) -> tuple[np.ndarray, np.ndarray]:
        k = draw(st.integers(min_points, max_points))
        values = sorted(draw(st.lists(st.floats(lo, hi), min_size=k, max_size=k)))
        cdf = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=k - 1, max_size=k - 1)))
        return np.array(values), np.array(cdf + [1.0])

    return _drawn(build)


def backgrounds(
    *,
    loads: Any = None,
    sizes: Any = None,
    patterns: Sequence[str] = ("uniform", "permutation", "incast"),
    static_fraction: Any = None,
    max_incast_receivers: int = 1,
) -> SearchStrategy[Background]:
    """:class:`fabricsim.Background` objects. ``loads``: a strategy or a number (default
    :func:`background_loads`); ``sizes``: a strategy or a fixed ``sizes=`` value (default: a
    built-in distribution, a fixed size of 10 kB - 10 MB or a :func:`size_cdfs` draw);
    ``patterns`` drawn from (``"tenant"`` adds a small ring all-reduce tenant);
    ``static_fraction``: a strategy or a number (default 0, or up to 0.5);
    ``incast_receivers`` 1..``max_incast_receivers`` (keep it below the endpoint count you
    will use). Small flows at a high load mean many flows: the defaults keep the mean size
    at 10 kB or more."""
    load = _strategy(
        "loads",
        loads,
        background_loads(),
        lambda n, v: _real(n, v, min_value=0.0, max_value=1.0, exclude_max=True),
    )
    size = _strategy(
        "sizes",
        sizes,
        st.sampled_from(sorted(SIZE_DISTRIBUTIONS))
        | st.floats(1e4, 1e7)
        | size_cdfs(min_bytes=1e4),
    )
    patterns = _names("patterns", patterns, PATTERNS)
    static = _strategy(
        "static_fraction",
        static_fraction,
        st.just(0.0) | st.floats(0.0, 0.5),
        lambda n, v: _real(n, v, min_value=0.0, max_value=1.0, exclude_max=True),
    )
    max_rx = _int("max_incast_receivers", max_incast_receivers, 1)

    def build(draw) -> Background:
        pattern = draw(st.sampled_from(patterns), label="pattern")
        kw: dict = {}
        if pattern == "tenant":
            kw["tenant"] = draw(
                collectives(ops=["all_reduce"], algorithms=["ring"], max_size_bytes=1 << 20)
            )
            kw["tenant_repeats"] = draw(st.integers(1, 3))
        if pattern == "incast":
            kw["incast_receivers"] = draw(st.integers(1, max_rx))
        return Background(
            load=draw(load, label="load"),
            sizes=draw(size, label="sizes"),
            pattern=pattern,
            static_fraction=draw(static),
            **kw,
        )

    return _drawn(build)


def training_job_kwargs(
    *,
    max_gpus: int = 16,
    profiles: Sequence[str] = ("h100-ndr400", "a100-hdr200", "b200-xdr800"),
    moe: bool = True,
) -> SearchStrategy[dict]:
    """Keyword arguments of a valid :class:`fabricsim.TrainingJob` using at most
    ``max_gpus`` GPUs (data x tensor x pipeline parallel): layers divisible by the pipeline
    stages, the global batch a multiple of data-parallel x sequence length, expert
    parallelism (with ``moe``) dividing data parallelism over some MoE layers. The dict form
    lets you change a field before ``fs.TrainingJob(**kwargs)``; :func:`training_jobs` draws
    the jobs themselves.

    >>> from hypothesis import find
    >>> kw = find(training_job_kwargs(max_gpus=8), lambda kw: kw["data_parallel"] > 1)
    >>> kw["data_parallel"], kw["tensor_parallel"], kw["pipeline_parallel"]
    (2, 1, 1)
    """
    max_gpus = _int("max_gpus", max_gpus, 1)

    valid = _profiles.list_profiles()
    if isinstance(profiles, str) or not isinstance(profiles, Iterable) or not list(profiles):
        raise InvalidArgument(f"profiles={profiles!r} must be a non-empty list of profile names")
    for p in profiles:
        try:
            _profiles.get_profile(p)
        except Exception:
            raise InvalidArgument(
                f"profiles: unknown profile {p!r}; valid: {', '.join(valid)}"
            ) from None
    profiles = list(profiles)
    if not isinstance(moe, bool):
        raise InvalidArgument(f"moe={moe!r} must be a bool")

    def divisors(n: int) -> list[int]:
        return [d for d in range(1, n + 1) if n % d == 0]

    def build(draw) -> dict:
        tp = draw(st.sampled_from([t for t in (1, 2, 4, 8) if t <= max_gpus]))
        pp = draw(st.integers(1, max(1, min(4, max_gpus // tp))))
        dp = draw(st.integers(1, max(1, max_gpus // (tp * pp))))
        layers = pp * draw(st.integers(1, 8))
        hidden = 128 * draw(st.integers(1, 64))
        seq_len = draw(st.sampled_from([512, 1024, 2048, 4096]))
        seqs_per_rank = draw(st.integers(1, 8))
        kw = {
            "params": draw(st.sampled_from([1e8, 1e9, 7e9, 70e9]) | st.floats(1e6, 1e12)),
            "layers": layers,
            "hidden_size": hidden,
            "seq_len": seq_len,
            "global_batch_tokens": dp * seq_len * seqs_per_rank,
            "data_parallel": dp,
            "tensor_parallel": tp,
            "pipeline_parallel": pp,
            "profile": draw(st.sampled_from(profiles)),
            "compute_efficiency": draw(st.floats(0.1, 1.0)),
            "overlap": draw(st.just(0.0) | st.floats(0.0, 1.0)),
            "sharded_optimizer": draw(st.booleans()),
            "placement": draw(st.sampled_from(["rail", "linear", "random"])),
            "placement_seed": draw(st.integers(0, 2**32)),
        }
        if draw(st.booleans()):
            kw["microbatches"] = draw(st.integers(1, 8))
        if moe and draw(st.booleans()):
            kw["moe_layers"] = draw(st.integers(1, layers))
            kw["expert_parallel"] = draw(st.sampled_from(divisors(dp)))
            kw["top_k"] = draw(st.integers(1, 2))
        return kw

    return _drawn(build)


def training_jobs(
    *,
    max_gpus: int = 16,
    profiles: Sequence[str] = ("h100-ndr400", "a100-hdr200", "b200-xdr800"),
    moe: bool = True,
) -> SearchStrategy[TrainingJob]:
    """Valid :class:`fabricsim.TrainingJob` objects using at most ``max_gpus`` GPUs (the
    arguments of :func:`training_job_kwargs`, which draws their keyword arguments).

    >>> from hypothesis import find
    >>> job = find(training_jobs(max_gpus=8), lambda j: j.data_parallel > 1)
    >>> type(job).__name__, job.gpus
    ('TrainingJob', 2)
    """
    return training_job_kwargs(max_gpus=max_gpus, profiles=profiles, moe=moe).map(
        lambda kw: TrainingJob(**kw)
    )


def scenarios(
    *,
    max_designs: int = 2,
    max_gpus: int = 8,
    max_samples: int = 2,
) -> SearchStrategy[Scenario]:
    """Small runnable :class:`fabricsim.Scenario` objects, as :func:`fabricsim.load_scenario`
    returns them: 1 to ``max_designs`` leaf-spine / fat-tree designs (ECMP or spraying), a
    dense training job that fits the smallest one (2 to ``max_gpus`` GPUs), a background
    template, a load sweep with its headline load, ``1..max_samples`` samples.

    >>> from hypothesis import find
    >>> sc = find(scenarios(), lambda s: len(s.fabrics) == 2)
    >>> list(sc.fabrics), sc.job.gpus <= min(len(f.gpus) for f in sc.fabrics.values())
    (['design0', 'design1'], True)
    """

    max_designs = _int("max_designs", max_designs, 1)
    max_gpus = _int("max_gpus", max_gpus, 2)
    max_samples = _int("max_samples", max_samples, 1)
    graphs = leaf_spine_graphs(
        max_leaves=2, max_spines=2, max_hosts_per_leaf=2, max_gpus_per_host=2
    ) | fat_tree_graphs(max_k=2)

    def build(draw) -> Scenario:

        n = draw(st.integers(1, max_designs), label="designs")
        fabrics, routing = {}, {}
        for i in range(n):
            fabrics[f"design{i}"] = Fabric.from_networkx(draw(graphs))
            routing[f"design{i}"] = draw(st.sampled_from(["ecmp", "spray"]))
        fit = min(max_gpus, *(len(f.gpus) for f in fabrics.values()))
        # compare() times an all-reduce over the job's GPUs: at least two
        job = draw(training_jobs(max_gpus=fit, moe=False).filter(lambda j: j.gpus >= 2))
        loads = sorted(
            set(draw(st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.3]), min_size=1, max_size=3)))
        )
        return Scenario(
            fabrics=fabrics,
            routing=routing,
            job=job,
            background=draw(backgrounds(loads=st.just(0.0), patterns=("uniform",))),
            loads=tuple(loads),
            load=draw(st.sampled_from(loads)),
            samples=draw(st.integers(1, max_samples)),
            seed=draw(st.integers(0, 2**32)),
            collective_size_bytes=draw(st.sampled_from([1 << 20, 1 << 24])),
            collective=dict(COLLECTIVE_DEFAULTS),
            source="<hypothesis>",
        )

    return _drawn(build)
