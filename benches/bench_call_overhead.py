"""Per-call overhead of the Rust core: many tiny calls on a 2-GPU fabric, where the work itself
takes a few microseconds and what is left is the cost of crossing into Rust (argument checks,
conversions, releasing the GIL, the worker hand-off, results back to Python).

    python benches/bench_call_overhead.py [--calls N]

Prints the median and 90th percentile per-call wall time in microseconds of ``Fabric.paths``,
``Fabric.route`` and a 2-flow ``simulate`` (10,000 calls each by default). Run on a release
build (``maturin develop --release``). Target: median < 50 us.
"""

from __future__ import annotations

import argparse
import statistics
import time

import networkx as nx
import numpy as np

import fabricsim as fs


def two_gpus() -> fs.Fabric:
    """Two GPUs joined by one NVLink: the smallest fabric a flow can cross (2 nodes)."""
    G = nx.Graph()
    G.add_node("gpu0", role="gpu")
    G.add_node("gpu1", role="gpu")
    G.add_edge("gpu0", "gpu1", capacity_gbps=400.0, latency_us=0.6, kind="nvlink")
    return fs.Fabric.from_networkx(G)


def per_call_us(call, n: int) -> tuple[float, float]:
    for _ in range(min(n, 200)):  # warm up: routing tables, caches, branch predictors
        call()
    times = np.empty(n)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        call()
        times[i] = clock() - t0
    return statistics.median(times) / 1e3, float(np.percentile(times, 90)) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000)
    n = ap.parse_args().calls
    fab = two_gpus()
    flows = fs.FlowSet.build(
        fab.indices(["gpu0", "gpu1"]), fab.indices(["gpu1", "gpu0"]), [1e6, 2e6]
    )
    cases = {
        "Fabric.paths": lambda: fab.paths("gpu0", "gpu1"),
        "Fabric.route": lambda: fab.route("gpu0", "gpu1"),
        "simulate (2 flows)": lambda: fs.simulate(fab, flows),
    }
    print(f"{n:,} calls each on a 2-GPU fabric (wall time per call, us)")
    for name, call in cases.items():
        med, p90 = per_call_us(call, n)
        print(f"{name:<20} median {med:8.1f}   p90 {p90:8.1f}")


if __name__ == "__main__":
    main()
