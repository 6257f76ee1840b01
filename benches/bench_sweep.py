"""A 64-point sweep of the built-in example run serially, in 2 local processes and on a
2-worker Dask LocalCluster: wall times, speed-ups, Dask's per-task overhead, and a paper
estimate of 10,000 points on N workers from the measured per-point cost.

    python benches/bench_sweep.py                 # batches of 4 points (about 1 s per task)
    python benches/bench_sweep.py --batch-size 8

The sweep: the example's 4 designs x routing (ecmp, spray) x seed (0, 1) x its 4 background
loads = 64 points, each a `fabricsim.compare` of one design at one load with the example's 8
Monte Carlo samples, one Rust thread per point (the parallelism is across points, so every
path does the same work; rows are checked identical). Targets (issue 15): both parallel paths
>= 1.7x the serial time on 2 cores, Dask's per-task overhead < 5 % of a task. This prints
the measurements; it asserts nothing (the machine may be shared: the load average is shown).

On a shared machine the wall-clock speed-ups say little (other processes take the cores), so
the CPU time each path used is measured too (this process for serial; the pool's children;
each Dask worker), and the speed-up the two workers would reach with a core each is
estimated as serial CPU / the busier worker's CPU (start-up included).

Dask's per-task overhead is measured two ways: (a) 200 empty tasks (a batch of no points)
through the same client, wall time per task x workers = the scheduler round trip a task
pays; (b) for the real sweep, 1 - (sum of task compute times) / (workers x wall time), which
also counts the start-up of the first task and the idle tail at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time

import fabricsim as fs
from fabricsim.analysis.sweep import Sweep, run_batch, run_sweep

AXES = {"routing": ["ecmp", "spray"], "seed": [0, 1]}


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<44} {dt:7.2f} s", flush=True)
    return out, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    import pandas as pd
    from distributed import Client, LocalCluster

    sc = fs.load_scenario(fs.cli.scenario.example_path())
    sweep = Sweep(sc, axes=AXES)
    b = args.batch_size
    print(
        f"{len(sweep)} points ({sweep!r}), batches of {b}; {os.cpu_count()} cores, load "
        f"average {os.getloadavg()[0]:.2f} at start; fabricsim {fs.__version__}"
    )

    c0 = time.process_time()
    serial, t_serial = timed(
        "serial (this process)", lambda: run_sweep(sweep, executor="serial", batch_size=b)
    )
    cpu_serial = time.process_time() - c0
    per_point = serial.attrs["fabricsim.sweep"]["task_s"] / len(sweep)
    cpu_point = cpu_serial / len(sweep)

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    k0 = children_cpu()
    procs, t_procs = timed(
        "2 local processes (spawn start-up included)",
        lambda: run_sweep(sweep, executor="processes", workers=2, batch_size=b),
    )
    cpu_procs = children_cpu() - k0
    pd.testing.assert_frame_equal(procs, serial)

    (cluster, client), t_up = timed(
        "LocalCluster start (2 workers x 1 thread)",
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
        w0 = client.run(time.process_time)
        dask_df, t_dask = timed(
            "2-worker Dask LocalCluster (cluster running)",
            lambda: run_sweep(sweep, executor=client, batch_size=b),
        )
        w1 = client.run(time.process_time)
        cpu_workers = [w1[w] - w0[w] for w in w0]
        pd.testing.assert_frame_equal(dask_df, serial)
        st = dask_df.attrs["fabricsim.sweep"]
        handle = client.scatter(sweep, broadcast=True, hash=False)
        n_empty = 200
        t0 = time.perf_counter()
        futs = [
            client.submit(run_batch, handle, [], 1, key=f"empty-{i}", pure=False)
            for i in range(n_empty)
        ]
        client.gather(futs)
        t_empty = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()

    task_s = st["task_s"] / st["tasks"]
    overhead_task = t_empty / n_empty * 2
    busy = st["task_s"] / (2 * t_dask)
    print()
    print(
        f"per point (serial, one thread): {per_point:.3f} s; a task of {b} points: "
        f"{task_s:.2f} s on a Dask worker"
    )
    print(
        f"speed-up vs serial, wall clock: 2 processes {t_serial / t_procs:.2f}x, Dask "
        f"{t_serial / t_dask:.2f}x (target >= 1.7x; load average now "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)"
    )
    print(
        f"CPU used: serial {cpu_serial:.1f} s ({cpu_point:.3f} s a point); 2 processes "
        f"{cpu_procs:.1f} s in all (spawn and imports included); Dask workers "
        f"{' + '.join(f'{c:.1f}' for c in cpu_workers)} s"
    )
    print(
        f"speed-up with a core per worker (serial CPU / the busier worker's CPU): 2 processes "
        f"{cpu_serial / (cpu_procs / 2):.2f}x (balanced halves), Dask "
        f"{cpu_serial / max(cpu_workers):.2f}x"
    )
    print(
        f"Dask per-task overhead: (a) {overhead_task * 1e3:.1f} ms per empty task = "
        f"{overhead_task / task_s:.2%} of a task (target < 5 %); (b) workers busy "
        f"{busy:.1%} of the sweep's wall time (so {1 - busy:.1%} start-up, scheduling and "
        "idle tail)"
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
        "Dask busy fraction); batches of ~2 s as run_sweep picks them:"
    )
    print(f"  {'workers':>8} {'batch':>6} {'tasks':>7} {'estimate':>10}")
    for n in (1, 2, 16, 64, 256, 1024):
        batch = max(1, min(round(2.0 / cpu_point), math.ceil(10_000 / (2 * n))))
        tasks = math.ceil(10_000 / batch)
        est = 10_000 * cpu_point / n / (busy if n > 1 else 1.0)
        when = f"{est / 60:.1f} min" if est >= 120 else f"{est:.0f} s"
        print(f"  {n:>8} {batch:>6} {tasks:>7} {when:>10}")
    print(
        f"(at this run's contended wall time a point, {per_point:.3f} s, multiply by "
        f"{per_point / cpu_point:.1f}; LocalCluster start-up {t_up:.1f} s not included; load "
        f"average {os.getloadavg()[0]:.2f} at the end)"
    )


if __name__ == "__main__":
    main()
