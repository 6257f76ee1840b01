"""Speed figures for the engine targets of issues 3 and 4, measured as ratios / wall time in
one run. Run on a release build:  python benches/bench_engine_targets.py [--quick]

1. Rust engine vs the pure-Python reference on the same 256-GPU scenario (ratio).
2. Ring and hierarchical all-reduce (1 GiB) on a 4,096-GPU rail-optimized fabric (wall time).
3. Direct all-to-all among 1,024 GPUs (1,047,552 flows, ECMP), in a fresh process: wall time
   and peak RSS (skipped with --quick).
4. Monte Carlo: 1,000 samples (100 with --quick) of a 512-GPU all-reduce under 50 % Poisson
   background, threads 1 vs 2: wall time, samples/s and the scaling.

Wall time on a shared VM varies by tens of percent between runs (steal time); CPU time is
printed beside it.
"""

from __future__ import annotations

import os
import sys
import time

import fabricsim as fs
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import run_flowset


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
    print(
        f"256-GPU ring all-reduce, {len(flows):,} flows: Rust {t_rust:.3f} s, Python reference "
        f"{t_ref:.1f} s -> {t_ref / t_rust:,.0f}x faster (max finish-time difference "
        f"{worst:.1e} relative)"
    )


def all_to_all_1024() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_engine import all_to_all

    out = all_to_all(1024, "ecmp")
    if out.get("seconds") is None:
        print(f"1,024-GPU all-to-all (ECMP): not finished after {out['timeout_s']:.0f} s")
    else:
        print(
            f"1,024-GPU direct all-to-all 1 GiB, {out['flows']:,} flows, ECMP, fresh process: "
            f"{out['seconds']:.2f} s wall, peak RSS {out['peak_rss_mb']:.0f} MB, "
            f"{out['events']:,} events"
        )


def big_all_reduce() -> None:
    fab = fs.Fabric.from_networkx(
        fs.rail_optimized(scalable_units=16, nodes_per_su=32), profile="h100"
    )
    for algo in ("ring", "hierarchical"):
        c0, t0 = time.process_time(), time.perf_counter()
        r = fs.collective(fab, "all_reduce", 1 << 30, algorithm=algo)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"4,096-GPU {algo} all-reduce 1 GiB (plan + simulate): {dt:.2f} s wall, {cpu:.2f} s "
            f"CPU ({len(r.flow_src):,} flows, busbw {r.busbw_GBps:.1f} GB/s)"
        )


def monte_carlo(samples: int) -> None:
    fab = fs.Fabric.from_networkx(
        fs.rail_optimized(scalable_units=2, nodes_per_su=32), profile="h100"
    )
    job = Collective("all_reduce", 64 << 20, algorithm="hierarchical", max_flows=20_000)
    bg = fs.Background(load=0.5, sizes="storage")
    per_s = {}
    for threads in (1, 2):
        t0 = time.perf_counter()
        r = fs.tail_latency(fab, job, bg, samples=samples, seed=1, threads=threads)
        dt = time.perf_counter() - t0
        per_s[threads] = samples / dt
        print(
            f"512-GPU all-reduce 64 MiB + 50 % background, {samples} samples, threads="
            f"{threads}: {dt:.1f} s ({samples / dt:.2f} samples/s; p50 "
            f"{r.p50_s * 1e3:.2f} ms, p99 {r.p99_s * 1e3:.2f} ms, unloaded "
            f"{r.unloaded_time_s * 1e3:.2f} ms, {r.bg_generated / samples:,.0f} background "
            "flows/sample)"
        )
    print(f"  threads 2 vs 1: {per_s[2] / per_s[1]:.2f}x samples/s")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    rust_vs_reference()
    big_all_reduce()
    if not quick:
        all_to_all_1024()
    monte_carlo(100 if quick else 1000)
