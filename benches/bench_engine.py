"""Speed of the engine paths a design comparison uses, and the engine's large-scale figures.

Two ways to run it (use a release build: `maturin develop --release` or `pip install .`):

    pytest benches/bench_engine.py --benchmark-only      # pytest-benchmark table
    python benches/bench_engine.py                       # one pass, a plain table
    python benches/bench_engine.py --quick     # fewer Monte Carlo samples, no 1,024-GPU all-to-all

Nothing here asserts a speed. Cases:

- Rust engine vs the pure-Python reference on the same 256-GPU ring all-reduce (8 leaves x 4
  hosts x 8 GPUs, 256 MiB, steps merged to 4,096 flows so the reference finishes in seconds):
  wall time of each and the ratio; the finish times agree to ~1e-15.
- Ring and hierarchical all-reduce (1 GiB) on a 4,096-GPU rail-optimized fabric
  (`rail_optimized(scalable_units=16, nodes_per_su=32)`): planning + simulation wall time.
- Direct all-to-all among 512 GPUs (261,632 flows, ECMP) and 1,024 GPUs (1,047,552 flows,
  ECMP, then packet spraying), each in a fresh process: wall time and peak RSS
  (`resource.getrusage`, `ru_maxrss`).
- Monte Carlo tail latency: 1,000 samples of a 512-GPU all-reduce under 50 % Poisson
  background, at threads=1 and 2 (samples/s). The job is sized to be feasible: a 64 MiB
  hierarchical all-reduce with steps merged to 2,048 flows, and storage-sized background flows
  (mean 95 MB: ~280 per sample). With web-search sizes (mean 1.7 MB) the same load is ~15,000
  flows per sample and each sample takes tens of seconds.
- The comparison's own paths, on the built-in example (32 H100s): one training step of the
  example job on its 2:1 leaf-spine under 30 % web-search background (8 samples), the 1 GiB
  ring all-reduce behind the busbw column, and the whole example comparison.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import time

import fabricsim as fs
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import run_flowset

PROFILE = "h100-ndr400"
MC_SAMPLES = int(os.environ.get("FABRICSIM_BENCH_SAMPLES", "1000"))
ALL_TO_ALL_TIMEOUT_S = float(os.environ.get("FABRICSIM_BENCH_TIMEOUT", "600"))


# --------------------------------------------------------------------------- workloads


@functools.cache
def ring_256():
    G = fs.leaf_spine(leaves=8, spines=4, hosts_per_leaf=4, gpus_per_host=8, profile=PROFILE)
    fab = fs.Fabric.from_networkx(G, profile=PROFILE)
    flows = Collective("all_reduce", 256 << 20, algorithm="ring", max_flows=4000).plan(fab, "ring")
    return fab, flows


@functools.cache
def pod_4096():
    return fs.Fabric.from_networkx(
        fs.rail_optimized(scalable_units=16, nodes_per_su=32, profile=PROFILE), profile=PROFILE
    )


@functools.cache
def pod_512():
    return fs.Fabric.from_networkx(
        fs.rail_optimized(scalable_units=2, nodes_per_su=32, profile=PROFILE), profile=PROFILE
    )


MC_JOB = Collective("all_reduce", 64 << 20, algorithm="hierarchical", max_flows=1000)
MC_BACKGROUND = fs.Background(load=0.5, sizes="storage")


@functools.cache
def example():
    return fs.load_scenario(fs.cli.scenario.example_path())


def all_reduce_4096(algorithm: str):
    return fs.collective(pod_4096(), "all_reduce", 1 << 30, algorithm=algorithm)


def tail(threads: int, samples: int = MC_SAMPLES):
    return fs.tail_latency(
        pod_512(), MC_JOB, MC_BACKGROUND, samples=samples, seed=1, threads=threads
    )


def example_step():
    sc = example()
    fab = sc.fabrics["leaf-spine 2:1"]
    return fs.step(fab, sc.job, fs.Background(load=0.3, sizes="websearch"), 8, 0)


def example_busbw():
    sc = example()
    fab = sc.fabrics["leaf-spine 2:1"]
    return Collective("all_reduce", 1 << 30, sc.job.rank_to_gpu(fab), algorithm="ring").run(fab)


# A fresh process per all-to-all, so peak RSS is that run's.
_ALL_TO_ALL = textwrap.dedent("""
    import json, resource, sys, time
    import fabricsim as fs
    n, routing = int(sys.argv[1]), sys.argv[2]
    nodes = n // 8
    su = max(1, nodes // 32)
    fab = fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=su, nodes_per_su=nodes // su,
                                                    profile="h100-ndr400"), profile="h100-ndr400")
    coll = fs.Collective("all_to_all", 1 << 30, algorithm="direct", max_flows=2_000_000)
    t0 = time.perf_counter()
    r = coll.run(fab, routing=routing)
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "flows": len(r.flow_src), "events": r.simulation.events,
                      "busbw_GBps": r.busbw_GBps,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def all_to_all(gpus: int, routing: str, timeout_s: float = ALL_TO_ALL_TIMEOUT_S) -> dict:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ALL_TO_ALL, str(gpus), routing],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": None, "timeout_s": timeout_s, "flows": gpus * (gpus - 1)}
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.splitlines()[-1])


# --------------------------------------------------------------------------- pytest-benchmark


def test_rust_engine_ring_256(benchmark):
    fab, flows = ring_256()
    benchmark.group = "256-GPU ring all-reduce (4,096 flows): Rust vs reference"
    benchmark(run_flowset, fab, flows)


def test_reference_engine_ring_256(benchmark):
    fab, flows = ring_256()
    benchmark.group = "256-GPU ring all-reduce (4,096 flows): Rust vs reference"
    ref = benchmark.pedantic(
        run_flowset, args=(fab, flows), kwargs={"engine": "reference"}, rounds=1, iterations=1
    )
    t0 = time.perf_counter()
    rust = run_flowset(fab, flows)
    t_rust = time.perf_counter() - t0
    benchmark.extra_info["speedup_vs_rust"] = benchmark.stats.stats.mean / t_rust
    benchmark.extra_info["max_finish_diff_s"] = float(abs(rust.finish_s - ref.finish_s).max())


def test_ring_all_reduce_4096(benchmark):
    pod_4096()
    benchmark.group = "4,096-GPU all-reduce 1 GiB"
    r = benchmark.pedantic(all_reduce_4096, args=("ring",), rounds=1, iterations=1)
    benchmark.extra_info.update(flows=len(r.flow_src), busbw_GBps=r.busbw_GBps)


def test_hierarchical_all_reduce_4096(benchmark):
    pod_4096()
    benchmark.group = "4,096-GPU all-reduce 1 GiB"
    r = benchmark.pedantic(all_reduce_4096, args=("hierarchical",), rounds=1, iterations=1)
    benchmark.extra_info.update(flows=len(r.flow_src), busbw_GBps=r.busbw_GBps)


def test_all_to_all_512_ecmp(benchmark):
    benchmark.group = "direct all-to-all (fresh process; peak RSS in extra_info)"
    out = benchmark.pedantic(all_to_all, args=(512, "ecmp"), rounds=1, iterations=1)
    benchmark.extra_info.update(out)


def test_all_to_all_1024_ecmp(benchmark):
    benchmark.group = "direct all-to-all (fresh process; peak RSS in extra_info)"
    out = benchmark.pedantic(all_to_all, args=(1024, "ecmp"), rounds=1, iterations=1)
    benchmark.extra_info.update(out)


def test_all_to_all_1024_spray(benchmark):
    benchmark.group = "direct all-to-all (fresh process; peak RSS in extra_info)"
    out = benchmark.pedantic(all_to_all, args=(1024, "spray"), rounds=1, iterations=1)
    benchmark.extra_info.update(out)


def _tail_bench(benchmark, threads: int):
    pod_512()
    benchmark.group = f"tail_latency: 512-GPU all-reduce + 50% background, {MC_SAMPLES} samples"
    r = benchmark.pedantic(tail, args=(threads,), rounds=1, iterations=1)
    benchmark.extra_info.update(
        samples=MC_SAMPLES,
        samples_per_s=MC_SAMPLES / benchmark.stats.stats.mean,
        p99_ms=r.p99_s * 1e3,
    )


def test_tail_latency_threads_1(benchmark):
    _tail_bench(benchmark, 1)


def test_tail_latency_threads_2(benchmark):
    _tail_bench(benchmark, 2)


def test_example_training_step(benchmark):
    example()
    benchmark.group = "built-in example paths"
    benchmark.pedantic(example_step, rounds=3, iterations=1)


def test_example_busbw_collective(benchmark):
    example()
    benchmark.group = "built-in example paths"
    benchmark.pedantic(example_busbw, rounds=3, iterations=1)


def test_example_comparison(benchmark):
    sc = example()
    benchmark.group = "built-in example paths"
    benchmark.pedantic(fs.run_scenario, args=(sc,), rounds=1, iterations=1)


# --------------------------------------------------------------------------- script


def _timed(fn, *args, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv) -> None:
    quick = "--quick" in argv
    samples = 50 if quick else MC_SAMPLES
    rows = []

    def row(what, seconds, figure):
        rows.append((what, "-" if seconds is None else f"{seconds:.3f}", figure))
        print(f"{what}: {rows[-1][1]} s  {figure}", file=sys.stderr, flush=True)

    fab, flows = ring_256()
    t_rust, rust = _timed(run_flowset, fab, flows, repeat=5)
    t_ref, ref = _timed(lambda: run_flowset(fab, flows, engine="reference"))
    diff = float(abs(rust.finish_s - ref.finish_s).max() / ref.finish_s.max())
    row(f"256-GPU ring all-reduce, {len(flows):,} flows: Rust engine (best of 5)", t_rust, "")
    row(
        "  ... pure-Python reference",
        t_ref,
        f"Rust {t_ref / t_rust:,.0f}x faster; finish times agree to {diff:.0e} (relative)",
    )

    t, _ = _timed(pod_4096)
    row("4,096-GPU rail-optimized fabric: build + compile", t, "")
    for algo in ("ring", "hierarchical"):
        t, r = _timed(all_reduce_4096, algo)
        row(
            f"4,096-GPU {algo} all-reduce 1 GiB (plan + simulate)",
            t,
            f"{len(r.flow_src):,} flows, busbw {r.busbw_GBps:.1f} GB/s",
        )

    cases = [(512, "ecmp")] + ([] if quick else [(1024, "ecmp"), (1024, "spray")])
    for n, routing in cases:
        out = all_to_all(n, routing)
        if out.get("seconds") is None:
            row(
                f"all-to-all {n} GPUs ({out['flows']:,} flows, {routing})",
                None,
                f"not finished after {out['timeout_s']:.0f} s",
            )
        else:
            row(
                f"all-to-all {n} GPUs ({out['flows']:,} flows, {routing}), fresh process",
                out["seconds"],
                f"peak RSS {out['peak_rss_mb']:.0f} MB, {out['events']} events",
            )

    pod_512()
    for threads in (1, 2):
        t, r = _timed(tail, threads, samples)
        row(
            f"tail_latency {samples} samples, 512-GPU all-reduce + 50% bg, threads={threads}",
            t,
            f"{samples / t:.1f} samples/s (p50 {r.p50_s * 1e3:.2f} ms, p99 "
            f"{r.p99_s * 1e3:.2f} ms, unloaded {r.unloaded_time_s * 1e3:.2f} ms, "
            f"{r.bg_generated / samples:.0f} bg flows/sample)",
        )

    example()
    t, r = _timed(example_step, repeat=3)
    row(
        "example: training step, leaf-spine 2:1, 30% bg, 8 samples (best of 3)",
        t,
        f"step p50 {r.step_time_p50_s * 1e3:.2f} ms",
    )
    t, r = _timed(example_busbw, repeat=3)
    row(
        "example: 1 GiB ring all-reduce on 32 GPUs (best of 3)", t, f"busbw {r.busbw_GBps:.1f} GB/s"
    )
    t, _ = _timed(fs.run_scenario, example())
    row("example: whole comparison (fabricsim compare)", t, "")

    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'seconds':>9}  figure")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 6}")
    for what, sec, fig in rows:
        print(f"{what:<{width}}  {sec:>9}  {fig}")


if __name__ == "__main__":
    main(sys.argv[1:])
