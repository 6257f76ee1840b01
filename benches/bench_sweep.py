"""A 64-point sweep of the built-in example run serially, in 2 local processes and on a
2-worker Dask LocalCluster: wall times, speed-ups, Dask's per-task overhead, what this VM's two
cores allow at most, and a paper estimate of 10,000 points on N workers from the measured
per-point cost.

    python benches/bench_sweep.py                 # run_sweep's own batch sizes (the default)
    python benches/bench_sweep.py --batch-size 4  # at most 4 points a task

The sweep: the example's 4 designs x routing (ecmp, spray) x seed (0, 1) x its 4 background
loads = 64 points, each a `fabricsim.compare` of one design at one load with the example's 8
Monte Carlo samples, one Rust thread per point (the parallelism is across points, so every
path does the same work; rows are checked identical). Targets (issue 15): both parallel paths
>= 1.7x the serial wall time on 2 cores (local processes with their start-up included), Dask's
per-task overhead < 5 % of a task. This prints the measurements; it asserts nothing (the
machine may be shared: the load average is shown).

Dask runs three times, each on a fresh 2-worker LocalCluster: with only Dask's sampling
profiler off (what docs/sweeps.md recommended first), with `fabricsim.analysis.sweep.
DASK_CONFIG` (profiler off, event-loop tick 1 s, system monitor 5 s, memory monitor 1 s: what
docs/sweeps.md recommends now), and with Dask's defaults. For each it reports the CPU its
processes use while idle (3 s) and during the sweep: the workers', and this process's, which
holds the cluster's scheduler and nannies and computes the sweep's first point.

On a shared machine the wall-clock speed-ups say little (other processes take the cores), so
the CPU time each path used is measured too, and the ceiling: the same 16 points computed by
one warmed-up process alone, then by two at once; 2 / (how much longer each takes when both
run) is the most any 2-process path can reach on this machine.

Dask's per-task overhead is measured two ways: (a) 200 empty tasks (a batch of no points)
through the same client, wall time per task x workers = the scheduler round trip a task
pays; (b) for the real sweep, 1 - (sum of task compute times) / (workers x wall time), which
also counts the start-up of the first task and the idle tail at the end.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import tempfile
import time

import fabricsim as fs
from fabricsim.analysis.sweep import (
    DASK_CONFIG,
    MIN_DASK_TASK_S,
    TARGET_TASK_S,
    Sweep,
    _guided_sizes,
    _size_for,
    run_batch,
    run_sweep,
)

AXES = {"routing": ["ecmp", "spray"], "seed": [0, 1]}


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<48} {dt:7.2f} s", flush=True)
    return out, dt


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _ceiling_worker(go, out) -> None:
    """A warmed-up process: import, build the sweep, run one point; then on ``go`` time the
    same 16 points (one in 4 of the sweep, every load equally) and report its CPU and wall
    seconds."""
    sweep = Sweep(fs.load_scenario(fs.cli.scenario.example_path()), axes=AXES)
    points = [sweep.points[4 * k + k % 4] for k in range(16)]
    run_batch(sweep, points[:1])
    out.put("ready")
    go.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    run_batch(sweep, points)
    out.put((time.process_time() - c0, time.perf_counter() - t0))


def ceiling(reps: int = 2) -> dict[str, tuple[float, float]]:
    """16 points in one process alone and in each of two processes running at once, the best
    of ``reps`` alternations: {"wall": (alone_s, together_s), "cpu": (alone_s, together_s)}
    (together: the mean of the two). On a quiet machine the wall times give the ceiling; on a
    shared one the CPU times still show what the two cores cost each other."""
    ctx = multiprocessing.get_context("spawn")
    best = {(k, n): math.inf for k in ("cpu", "wall") for n in (1, 2)}
    for _ in range(reps):
        for n in (1, 2):
            go, out = ctx.Event(), ctx.Queue()
            procs = [ctx.Process(target=_ceiling_worker, args=(go, out)) for _ in range(n)]
            for p in procs:
                p.start()
            for _ in procs:
                out.get()
            go.set()
            got = [out.get() for _ in procs]
            for p in procs:
                p.join()
            for k, i in (("cpu", 0), ("wall", 1)):
                best[k, n] = min(best[k, n], sum(g[i] for g in got) / n)
    return {k: (best[k, 1], best[k, 2]) for k in ("cpu", "wall")}


def dask_run(sweep, batch_size, serial, *, config: dict, label: str, empty: bool = False):
    """Start a 2-worker LocalCluster under the Dask ``config``, measure what its own processes
    use while idle (3 s), run the sweep on it and measure the CPU of the workers and of this
    process (which holds the cluster's scheduler and nannies, and computes the first point)."""
    import dask
    import pandas as pd
    from distributed import Client, LocalCluster, get_task_stream

    with dask.config.set(config):
        (cluster, client), t_up = timed(
            f"LocalCluster start ({label})",
            lambda: (
                (
                    c := LocalCluster(
                        n_workers=2,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                    )
                ),
                Client(c),
            ),
        )
    try:
        client.run(lambda: __import__("fabricsim") and None)  # import on both workers
        time.sleep(0.5)
        c0, w0, t0 = own_cpu(), client.run(time.process_time), time.perf_counter()
        time.sleep(3.0)
        idle = (own_cpu() - c0, client.run(time.process_time), time.perf_counter() - t0)
        idle_pct = (
            100 * idle[0] / idle[2],
            [100 * (idle[1][w] - w0[w]) / idle[2] for w in w0],
        )
        w0, c0 = client.run(time.process_time), own_cpu()
        with get_task_stream(client) as stream:
            end0 = time.time()
            df, t = timed(
                f"2-worker Dask LocalCluster, {label}",
                lambda: run_sweep(sweep, executor=client, batch_size=batch_size),
            )
            end = time.time()
        # Each worker's idle tail: from the end of its last task to the end of the sweep.
        last: dict[str, float] = {}
        for task in stream.data:
            for ss in task["startstops"]:
                if ss["action"] == "compute":
                    last[task["worker"]] = max(last.get(task["worker"], end0), ss["stop"])
        tails = sorted(end - v for v in last.values())
        here = own_cpu() - c0
        w1 = client.run(time.process_time)
        cpu = [w1[w] - w0[w] for w in w0]
        pd.testing.assert_frame_equal(df, serial)
        st = df.attrs["fabricsim.sweep"]
        t_empty = None
        if empty:
            handle = client.scatter(sweep, broadcast=True, hash=False)
            n_empty = 200
            t0 = time.perf_counter()
            futs = [
                client.submit(run_batch, handle, [], 1, key=f"empty-{i}", pure=False)
                for i in range(n_empty)
            ]
            client.gather(futs)
            t_empty = (time.perf_counter() - t0) / n_empty
    finally:
        client.close()
        cluster.close()
    return {
        "wall": t,
        "cpu": cpu,
        "here": here,
        "idle_pct": idle_pct,
        "stats": st,
        "up": t_up,
        "empty": t_empty,
        "tails": tails,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=None)
    args = ap.parse_args()
    import pandas as pd

    sc = fs.load_scenario(fs.cli.scenario.example_path())
    sweep = Sweep(sc, axes=AXES)
    b = args.batch_size
    print(
        f"{len(sweep)} points ({sweep!r}), batches: {b or 'run_sweep picks them'}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"fabricsim {fs.__version__}"
    )

    c0 = own_cpu()
    serial, t_serial = timed(
        "serial (this process)", lambda: run_sweep(sweep, executor="serial", batch_size=b)
    )
    cpu_serial = own_cpu() - c0
    per_point = t_serial / len(sweep)
    cpu_point = cpu_serial / len(sweep)

    c0, k0 = own_cpu(), children_cpu()
    procs, t_procs = timed(
        "2 local processes (spawn start-up included)",
        lambda: run_sweep(sweep, executor="processes", workers=2, batch_size=b),
    )
    cpu_here, cpu_child = own_cpu() - c0, children_cpu() - k0
    pd.testing.assert_frame_equal(procs, serial)
    here, *spawned = procs.attrs["fabricsim.sweep"]["processes"]

    noprof = dask_run(
        sweep,
        b,
        serial,
        config={"distributed.worker.profile.enabled": False},
        label="profiler off only",
    )
    rec = dask_run(sweep, b, serial, config=dict(DASK_CONFIG), label="DASK_CONFIG", empty=True)
    dflt = dask_run(sweep, b, serial, config={}, label="Dask's defaults")
    runs = (("DASK_CONFIG", rec), ("profiler off only", noprof), ("Dask's defaults", dflt))

    print("  the ceiling: 16 points, one warmed-up process alone, then two at once ...")
    ceil = ceiling()
    for k in ("wall", "cpu"):
        alone, together = ceil[k]
        print(
            f"  {k + ' time':>48} {alone:7.2f} s alone, {together:7.2f} s each of two at once "
            f"(x{together / alone:.3f})"
        )

    st = rec["stats"]
    task_s = st["task_s"] / st["tasks"]
    busy = st["task_s"] / (2 * rec["wall"])
    print()
    print(
        f"per point (serial, one thread): {per_point:.3f} s wall, {cpu_point:.3f} s CPU; "
        f"Dask (DASK_CONFIG): {st['tasks']} tasks of up to {st['batch_size']} points, "
        f"{task_s:.2f} s a task"
    )
    ceil_x = 2 * ceil["wall"][0] / ceil["wall"][1]
    ceil_cpu = 2 * ceil["cpu"][0] / ceil["cpu"][1]
    print(
        f"speed-up vs serial, wall clock: 2 processes {t_serial / t_procs:.2f}x, Dask "
        + ", ".join(f"{t_serial / r['wall']:.2f}x ({name})" for name, r in runs)
        + f"; target >= 1.7x; the ceiling on this machine now: {ceil_x:.2f}x by the "
        f"wall clock, {ceil_cpu:.2f}x by CPU time (load average now {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores)"
    )
    sp = spawned[0] if spawned else None
    print(
        f"CPU used: serial {cpu_serial:.1f} s; 2 processes {cpu_here + cpu_child:.1f} s in all: "
        f"this one {cpu_here:.1f} s ({here['points']} points, then {here['idle_s']:.2f} s "
        "waiting for the last share)"
        + (
            f", the spawned one {cpu_child:.1f} s ({sp['points']} points; ready "
            f"{sp['ready_s']:.2f} s after the start, having used {sp['startup_cpu_s']:.2f} s "
            "CPU to start)"
            if sp
            else ""
        )
    )
    for name, r in runs:
        print(
            f"  Dask, {name + ':':<18} workers {' + '.join(f'{c:.2f}' for c in r['cpu'])} s, "
            f"this process (scheduler, nannies, client, first point) {r['here']:.2f} s; "
            f"idle cluster: this process {r['idle_pct'][0]:.1f} %, workers "
            f"{' + '.join(f'{c:.1f}' for c in r['idle_pct'][1])} % of a core; workers idle at "
            f"the end {' / '.join(f'{x:.3f}' for x in r['tails'])} s"
        )
    startup = sp["startup_cpu_s"] if sp else 0.0
    print(
        f"CPU a point: serial {cpu_point:.3f} s; in the 2 processes "
        f"{(cpu_here + cpu_child - startup) / len(sweep):.3f} s (x"
        f"{(cpu_here + cpu_child - startup) / cpu_serial:.3f}, start-up left out); on Dask, "
        "workers and this process: "
        + ", ".join(
            f"{(sum(r['cpu']) + r['here']) / len(sweep):.3f} s "
            f"(x{(sum(r['cpu']) + r['here']) / cpu_serial:.3f}, {name})"
            for name, r in runs
        )
    )
    print(
        f"speed-up with a core per worker (serial CPU / CPU per core): 2 processes "
        f"{cpu_serial / ((cpu_here + cpu_child) / 2):.2f}x (balanced halves), Dask "
        + ", ".join(f"{cpu_serial / max(r['cpu']):.2f}x ({name})" for name, r in runs)
        + " (the busier worker); on 2 cores with the scheduler and nannies in this process: "
        "Dask "
        + ", ".join(
            f"{cpu_serial / ((sum(r['cpu']) + r['here']) / 2):.2f}x ({name})" for name, r in runs
        )
    )
    overhead_task = rec["empty"] * 2
    print(
        f"Dask per-task overhead: (a) {overhead_task * 1e3:.1f} ms per empty task = "
        f"{overhead_task / task_s:.2%} of a task (target < 5 %); (b) the points' compute "
        f"time (the workers' tasks and the first point, computed here) = {busy:.1%} of 2 x the "
        f"sweep's wall time (so {1 - busy:.1%} start-up, scheduling and idle tail)"
    )

    # The driver rewrites the whole Parquet file on each flush (at most once a second): how
    # long that takes at 10,000 rows bounds how many results one driver can take in.
    big = pd.concat([serial] * math.ceil(10_000 / len(serial)), ignore_index=True)[:10_000]
    big["point_id"] = [f"{i:016x}" for i in range(len(big))]
    from fabricsim.analysis.sweep import ResultsFile

    with tempfile.TemporaryDirectory() as d:
        rf = ResultsFile(os.path.join(d, "r.parquet"), sweep.fingerprint)
        rf.rows = {r["point_id"]: r for r in big.to_dict("records")}
        rf._dirty = True
        _, t_flush = timed("rewrite a 10,000-row results file", rf.flush)

    print()
    print(
        f"paper scale-out, 10,000 points on N dedicated worker cores: 10,000 x "
        f"{cpu_point:.3f} s (the serial CPU time a point) / N / {busy:.3f} (the measured "
        "Dask busy fraction); tasks as run_sweep sizes them (up to ~2 s, shrinking at the end):"
    )
    print(f"  {'workers':>8} {'largest':>7} {'tasks':>7} {'estimate':>10}")
    for n in (1, 2, 16, 64, 256, 1024):
        largest = _size_for(cpu_point, TARGET_TASK_S)
        sizes = _guided_sizes(
            10_000, n, largest, min(largest, _size_for(cpu_point, MIN_DASK_TASK_S))
        )
        batch, tasks = max(sizes), len(sizes)
        est = 10_000 * cpu_point / n / (busy if n > 1 else 1.0)
        when = f"{est / 60:.1f} min" if est >= 120 else f"{est:.0f} s"
        print(f"  {n:>8} {batch:>7} {tasks:>7} {when:>10}")
    print(
        f"(at this run's contended wall time a point, {per_point:.3f} s, multiply by "
        f"{per_point / cpu_point:.1f}; LocalCluster start-up {rec['up']:.1f} s not included; "
        f"load average {os.getloadavg()[0]:.2f} at the end)"
    )


if __name__ == "__main__":
    main()
