"""Speed figures for the engine targets of issues 3 and 4, measured as ratios / wall time in
one run. Run on a release build:  python benches/bench_engine_targets.py [--quick]

1. Rust engine vs the pure-Python reference on the same 256-GPU scenario (ratio).
2. Ring and hierarchical all-reduce (1 GiB) on a 4,096-GPU rail-optimized fabric (wall time).
3. Monte Carlo: samples/s of a 512-GPU all-reduce under 50 % Poisson background, threads 1 vs 2.
"""

from __future__ import annotations

import sys
import time

import fabricsim as fs
from fabricsim.collectives import Collective
from fabricsim.flows import run_flowset


def rust_vs_reference() -> None:
    G = fs.leaf_spine(leaves=8, spines=4, hosts_per_leaf=4, gpus_per_host=8, profile="h100")
    fab = fs.Fabric.from_networkx(G, profile="h100")
    coll = Collective("all_reduce", 256 << 20, algorithm="ring", max_flows=4000)
    flows = coll.plan(fab, "ring")
    t0 = time.perf_counter()
    rust = run_flowset(fab, flows)
    t_rust = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = run_flowset(fab, flows, engine="reference")
    t_ref = time.perf_counter() - t0
    worst = float(abs(rust.finish_s - ref.finish_s).max() / ref.finish_s.max())
    print(f"256-GPU ring all-reduce, {len(flows):,} flows: Rust {t_rust:.3f} s, Python reference "
          f"{t_ref:.1f} s -> {t_ref / t_rust:,.0f}x faster (max finish-time difference "
          f"{worst:.1e} relative)")


def big_all_reduce() -> None:
    fab = fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=16, nodes_per_su=32),
                                  profile="h100")
    for algo in ("ring", "hierarchical"):
        t0 = time.perf_counter()
        r = fs.collective(fab, "all_reduce", 1 << 30, algorithm=algo)
        dt = time.perf_counter() - t0
        print(f"4,096-GPU {algo} all-reduce 1 GiB: {dt:.2f} s wall ({len(r.flow_src):,} flows,"
              f" busbw {r.busbw_GBps:.1f} GB/s)")


def monte_carlo(samples: int) -> None:
    fab = fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=2, nodes_per_su=32),
                                  profile="h100")
    job = Collective("all_reduce", 64 << 20, algorithm="hierarchical", max_flows=20_000)
    bg = fs.Background(load=0.5, sizes="storage")
    for threads in (1, 2):
        t0 = time.perf_counter()
        r = fs.tail_latency(fab, job, bg, samples=samples, seed=1, threads=threads)
        dt = time.perf_counter() - t0
        print(f"512-GPU all-reduce 64 MiB + 50 % background, {samples} samples, threads="
              f"{threads}: {dt:.1f} s ({samples / dt:.2f} samples/s; p50 "
              f"{r.p50_s * 1e3:.2f} ms, p99 {r.p99_s * 1e3:.2f} ms, unloaded "
              f"{r.unloaded_time_s * 1e3:.2f} ms, {r.bg_generated / samples:,.0f} background "
              "flows/sample)")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    rust_vs_reference()
    big_all_reduce()
    monte_carlo(10 if quick else 40)
