"""Resource safety: the GIL is released while the engine runs (simulate and the Monte Carlo
tail_latency), repeated calls do not leak, and memory grows linearly with the flows, at a
bounded cost per flow (docs/resources.md records peak RSS for the largest scenarios).

Ctrl-C is covered by tests/test_engine.py.
"""

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import fabricsim as fs

PAGE = 4096


def rss_bytes() -> int:
    """Current resident set size (Linux /proc/self/statm: resident pages x page size)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


needs_proc = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")


# ------------------------------------------------------------------------------ GIL


def ticks_while(work: Callable[[], object]) -> tuple[float, np.ndarray]:
    """Run ``work`` in a thread while this thread ticks; return the run's duration and the
    gaps between ticks during it."""
    box: dict = {}

    def run() -> None:
        box["t0"] = time.perf_counter()
        box["out"] = work()
        box["t1"] = time.perf_counter()

    th = threading.Thread(target=run)
    ticks = []
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())
        x = 0
        for i in range(200):  # pure-Python work: needs the GIL
            x += i
    th.join()
    t0, t1 = box["t0"], box["t1"]
    during = np.array([t for t in ticks if t0 <= t <= t1])
    return t1 - t0, np.diff(np.concatenate([[t0], during, [t1]]))


def assert_gil_free(make_work: Callable[[int], Callable[[], object]], start: int) -> None:
    """Grow the work until a run lasts >= 0.3 s, then check the ticking thread never stalled
    for a quarter of it (up to 2**14 x ``start``: a faster engine or machine must not make the
    test fail, as 2**8 once did for tail_latency on a quiet machine)."""
    size = start
    for _ in range(14):
        dur, gaps = ticks_while(make_work(size))
        if dur >= 0.3:
            break
        size *= 2
    else:
        pytest.fail("could not make the engine run >= 0.3 s")
    assert len(gaps) > 100, f"only {len(gaps)} ticks in a {dur:.2f} s run: GIL held?"
    assert gaps.max() < dur / 4, f"the ticking thread stalled {gaps.max():.3f} s of {dur:.3f} s"


def test_gil_released_during_simulate():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=4, spines=4, hosts_per_leaf=8, gpus_per_host=1)
    )
    gi = fab.indices(fab.gpus)

    def make(m: int) -> Callable[[], object]:
        rng = np.random.default_rng(1)
        src = rng.integers(0, len(gi), m)
        dst = (src + rng.integers(1, len(gi), m)) % len(gi)
        flows = fs.FlowSet.build(
            gi[src], gi[dst], rng.uniform(1e6, 1e8, m), release_s=rng.uniform(0, 0.02, m)
        )
        return lambda: fs.simulate(fab, flows)

    assert_gil_free(make, 1000)


def test_gil_released_during_tail_latency():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=4, gpus_per_host=2)
    )
    job = fs.Collective("all_to_all", 4 << 20, algorithm="direct")
    bg = fs.Background(load=0.5, sizes="websearch")
    assert_gil_free(
        lambda samples: lambda: fs.tail_latency(fab, job, bg, samples=samples, threads=1), 2
    )


# ------------------------------------------------------------------------------ leaks


@needs_proc
def test_no_leak_across_repeated_calls():
    """1,000 calls through the binding (results, Monte Carlo, errors raised by the core)
    after a warm-up: RSS stays put."""
    G = fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=1, gpus_per_host=2)
    fab = fs.Fabric.from_networkx(G)
    a, b, c = fab.gpus[:3]
    H = G.copy()
    H.add_node("site", role="edge_site")  # no links: unreachable
    lonely = fs.Fabric.from_networkx(H)
    ring = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    bg = fs.Background(load=0.3, sizes="websearch")
    cycle = fs.FlowSet.build(fab.indices([a, b]), fab.indices([b, a]), [1e3, 1e3], deps=[[1], [0]])
    calls = [
        lambda: fs.simulate(fab, [(a, c, 1e6), (c, b, 1e6, 0.0, [0])]),
        lambda: fs.Fabric.from_networkx(G),
        lambda: ring.run(fab),
        lambda: fs.tail_latency(fab, ring, None, samples=2),
        lambda: fs.simulate(fab, cycle),  # DependencyCycleError from the core
        lambda: fs.tail_latency(fab, ring, bg, samples=2),
        lambda: fs.simulate(lonely, [(a, "site", 1e3)]),  # UnreachableError from the core
        lambda: fab.paths(a, c),
    ]

    def run(n: int) -> None:
        for i in range(n):
            try:
                calls[i % len(calls)]()
            except (fs.DependencyCycleError, fs.UnreachableError):
                pass

    run(200)  # warm-up: caches, allocator pools, lazily built routing tables
    gc.collect()
    before = rss_bytes()
    run(1000)
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 4 << 20, f"RSS grew {grown / 2**20:.1f} MiB over 1,000 calls"


# ------------------------------------------------------------------------------ memory bound

PEAK = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import fabricsim as fs
    m = int(sys.argv[1])
    fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=4, spines=4, hosts_per_leaf=8,
                                                gpus_per_host=1))
    gi = fab.indices(fab.gpus)
    rng = np.random.default_rng(0)
    src = rng.integers(0, len(gi), m)
    dst = (src + rng.integers(1, len(gi), m)) % len(gi)
    flows = fs.FlowSet.build(gi[src], gi[dst], np.full(m, 1e6),
                             release_s=np.sort(rng.uniform(0, m * 2e-6, m)))
    kib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = kib()
    res = fs.simulate(fab, flows)
    print(json.dumps({"before_kib": before, "peak_kib": kib(), "flows": m}))
""")


def peak_growth_kib(m: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(m)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    return d["peak_kib"] - d["before_kib"]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_memory_grows_linearly_with_flows():
    """The engine's peak memory is O(flows) at a bounded cost per flow (docs/resources.md:
    about 300 bytes per flow in a simulation, measured here)."""
    small, large = 10_000, 40_000
    per_flow = (peak_growth_kib(large) - peak_growth_kib(small)) * 1024 / (large - small)
    assert per_flow < 1024, f"{per_flow:.0f} bytes of peak RSS per flow"


# ------------------------------------------------------------------------------ memory guards


def test_sprayed_all_to_all_on_1024_gpus_under_2_gib_raises_resource_error():
    """Issue 13: under a 2 GiB address-space limit a sprayed all-to-all on 1,024 GPUs ended
    in Rust's 'memory allocation of ... bytes failed' and SIGABRT (exit 134), killing the
    interpreter. Now the estimate made before routing raises fs.ResourceError (a MemoryError)
    naming it, and the interpreter goes on."""
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import fabricsim as fs
        fab = fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=4, nodes_per_su=32))
        assert len(fab.gpus) == 1024
        try:
            fs.collective(fab, "all_to_all", 1 << 26, routing="spray")
            print("FINISHED")
        except fs.ResourceError as e:
            assert isinstance(e, MemoryError) and isinstance(e, fs.FabricError)
            print("RESOURCE", e.estimate_bytes, e.limit_bytes, e)
        print("ALIVE", sum(range(10)))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    out = proc.stdout
    assert "RESOURCE" in out and "ALIVE 45" in out, out + proc.stderr[-2000:]
    estimate, limit = out.split("RESOURCE ", 1)[1].split(" ")[:2]
    assert int(estimate) > int(limit) > 0
    assert "GiB of memory" in out and "ECMP instead of spraying" in out


@pytest.mark.skipif(sys.platform != "linux", reason="needs fork (Linux)")
def test_a_process_forked_after_the_thread_pool_started_does_not_hang():
    """multiprocessing forks by default on Linux: a child inherits the parent's rayon pool
    without its threads, and routing a collective there waited forever. A forked child now
    routes on its own thread (Monte Carlo samples build a pool per call) and gets the
    parent's numbers."""
    script = textwrap.dedent("""
        import multiprocessing as mp
        import fabricsim as fs
        from fabricsim._engine import thread_count
        fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=4, spines=2, hosts_per_leaf=2))
        def work(_=None):
            a2a = fs.Collective("all_to_all", 1 << 20).run(fab).time_s  # > 64 connections
            mc = fs.tail_latency(fab, fs.Collective("all_reduce", 1 << 20, algorithm="ring"),
                                 0.3, samples=4, seed=1)
            return (a2a, mc.job_time_s.tolist(), thread_count())
        here = work()
        with mp.get_context("fork").Pool(2) as pool:
            there = pool.map_async(work, range(2)).get(timeout=120)
        assert [t[:2] for t in there] == [here[:2]] * 2, (here, there)
        print("SAME", len(fab.gpus))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "SAME 64" in proc.stdout


def test_a_call_given_threads_uses_no_more_threads_than_that():
    """``threads=1`` (a sweep's default: its parallelism is across points) held only for the
    Monte Carlo's samples: the routing tables, the template's routes and a collective's
    routing still ran on rayon's global pool, one thread per core, and the samples on a pool
    of their own. Measured per OS thread (``/proc/self/task/*/schedstat``, ns of CPU) in a
    fresh process: a ``tail_latency`` or ``fs.step`` call given ``threads=1`` on a fabric large
    enough to route in parallel runs on the calling thread and the core's hand-off worker
    only (the caller waits while the worker runs the Monte Carlo): no other thread gains CPU,
    and no thread that came and went did any of the work (the process's CPU equals the sum
    over the threads that remain). With ``threads=2`` at most two more threads work, never
    the global pool's. The numbers are the same whatever the threads."""
    script = textwrap.dedent("""
        import json, os, time
        import fabricsim as fs
        from fabricsim._engine import thread_count

        def tasks():
            out = {}
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/schedstat") as f:
                        ns = int(f.read().split()[0])
                    with open(f"/proc/self/task/{tid}/comm") as f:
                        name = f.read().strip()
                except OSError:  # ended meanwhile
                    continue
                out[int(tid)] = (name, ns)
            return out

        before = tasks()
        thread_count()  # starts rayon's global pool, as any earlier unbounded call would
        time.sleep(0.1)
        global_pool = sorted(set(tasks()) - set(before))
        fab = lambda: fs.Fabric.from_networkx(fs.fat_tree(k=8, gpus_per_host=2))
        job = fs.TrainingJob(params=1e8, layers=4, hidden_size=1024, seq_len=512,
                             data_parallel=64, tensor_parallel=2, global_batch_tokens=1 << 15)
        a2a = fs.Collective("all_to_all", 1 << 16)
        calls = {
            "tail_latency": lambda f, t: fs.tail_latency(f, a2a, 0.2, samples=2, seed=1,
                                                         threads=t).job_time_s.tolist(),
            "step": lambda f, t: fs.step(f, job, 0.2, samples=2, seed=1,
                                         threads=t).step_time_s.tolist(),
        }
        calls["step"](fab(), 1)  # the hand-off worker exists from here on
        out = {"global_pool": global_pool, "main": os.getpid(), "runs": []}
        for threads in (1, 2):
            for name, call in calls.items():
                f = fab()  # no routing tables yet: they are built inside the call
                b = tasks()
                c0 = time.process_time()
                result = call(f, threads)
                cpu = time.process_time() - c0
                a = tasks()
                gained = {t: a[t][1] - b.get(t, ("", 0))[1] for t in a}
                out["runs"].append({
                    "call": name, "threads": threads, "result": result, "cpu_s": cpu,
                    "unaccounted_s": cpu - sum(gained.values()) / 1e9,
                    "worked": [[t, a[t][0], g / 1e9, t in b] for t, g in gained.items() if g],
                })
        out["unbounded"] = {name: call(fab(), None) for name, call in calls.items()}
        print(json.dumps(out))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "RAYON_NUM_THREADS": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["global_pool"]) == 3  # RAYON_NUM_THREADS
    for run in out["runs"]:
        what = (run["call"], run["threads"], run["worked"], run["unaccounted_s"])
        assert run["cpu_s"] > 0.02, what  # real work was measured
        assert run["result"] == out["unbounded"][run["call"]], what
        # no thread that ended during the call did part of it (10 ms: reading /proc)
        assert abs(run["unaccounted_s"]) < 0.01, what
        others = {
            t: (name, s)
            for t, name, s, existed in run["worked"]
            if t != out["main"] and not (name == "fabricsim-core" and existed)
        }
        assert not set(others) & set(out["global_pool"]), what
        assert len(others) <= (0 if run["threads"] == 1 else 2), what


def test_allocation_the_estimate_missed_is_a_resource_error_not_an_abort():
    """Issue 13: the Rust core's hot-path allocations (routed flows, the engine's per-flow and
    per-link state, a Monte Carlo sample's arrays) are reserved fallibly. With the Python-side
    estimate switched off (set_memory_limit(0)), a sprayed all-to-all on 1,024 GPUs under an
    address-space limit 3 GiB above the process's size fails while concatenating its routes:
    before, Rust printed "memory allocation of ... bytes failed" and the child died with
    SIGABRT; now it is fs.ResourceError naming what and how much, and the interpreter goes on.
    (The routes themselves, about 2.5 GiB, are still allocated infallibly, route by route.)"""
    script = textwrap.dedent("""
        import resource
        import fabricsim as fs
        fab = fs.Fabric.from_networkx(fs.rail_optimized(scalable_units=4, nodes_per_su=32))
        fs.collective(fab, "all_reduce", 1 << 20)  # worker threads started, tables built
        status = open("/proc/self/status").read().split("VmSize:")[1]
        limit = int(status.split()[0]) * 1024 + (3 << 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        fs.set_memory_limit(0)  # no estimate: the allocation itself must fail cleanly
        try:
            fs.collective(fab, "all_to_all", 1 << 26, routing="spray")
            print("FINISHED")
        except fs.ResourceError as e:
            assert isinstance(e, MemoryError) and isinstance(e, fs.FabricError)
            print("RESOURCE", e.estimate_bytes, e)
        print("ALIVE", sum(range(10)))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    out = proc.stdout
    assert "RESOURCE" in out and "ALIVE 45" in out, out + proc.stderr[-2000:]
    assert int(out.split("RESOURCE ", 1)[1].split(" ")[0]) > 1 << 20
    assert "out of memory: allocating" in out and "routed flows" in out
    assert "ECMP instead of spraying" in out


def test_memory_limit_can_be_set_and_names_what_to_change():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=4, spines=4, hosts_per_leaf=8, gpus_per_host=4)
    )
    try:
        fs.set_memory_limit(1 << 20)  # 1 MiB: a 16,256-flow all-to-all needs more
        with pytest.raises(fs.ResourceError, match=r"16,256 flows \(ecmp\).*1 MiB"):
            fs.collective(fab, "all_to_all", 1 << 20)
    finally:
        fs.set_memory_limit(None)
    assert fs.collective(fab, "all_to_all", 1 << 20).time_s > 0


def test_plans_and_monte_carlo_runs_are_estimated_before_they_allocate():
    """A direct all-to-all's plan has a flow per ordered pair of ranks (not capped by
    max_flows), and tail_latency holds one sample's routes per thread: both are estimated
    against the limit before anything is built."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=5, spines=2, hosts_per_leaf=8, gpus_per_host=8)
    )
    small = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    )
    try:
        fs.set_memory_limit(1 << 20)
        with pytest.raises(
            fs.ResourceError,
            match=r"planning a direct all_to_all over 320 "
            r"ranks \(102,080 flows\)",
        ):
            fs.Collective("all_to_all", 1 << 20).plan(fab)
        fs.set_memory_limit(1000)
        with pytest.raises(fs.ResourceError, match=r"tail_latency: \d+ samples at once"):
            fs.tail_latency(small, fs.Collective("all_reduce", 1 << 20), 0.3, samples=2)
    finally:
        fs.set_memory_limit(None)
