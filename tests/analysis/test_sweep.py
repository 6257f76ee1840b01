"""Design-space sweeps: points and ids, bad axes, identical rows serially / in local processes /
on a real Dask LocalCluster, resume after a kill, and the summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis import sweep as sw
from fabricsim.analysis.sweep import Sweep, SweepAxisError, run_sweep
from fabricsim.cli import main
from scenario_text import TINY, line_of

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

GRID = (
    TINY
    + """
[sweep.grid]
spines = [1, 2]
routing = ["ecmp", "spray"]
"""
)
# 2 designs x spines (2) x routing (2) x loads (0, 0.3) = 16 points, a few ms each


@pytest.fixture(scope="module")
def scenario():
    return fs.load_scenario(GRID)


@pytest.fixture(scope="module")
def serial(scenario):
    return run_sweep(Sweep(scenario), executor="serial", batch_size=3)


# --------------------------------------------------------------------------- points and ids


def test_points_order_ids_and_columns(scenario):
    s = Sweep(scenario)
    assert len(s) == len(list(s)) == 16
    first = s.points[0]
    assert first.params == {
        "design": "ls 1:1",
        "routing": "ecmp",
        "load": 0.0,
        "seed": 1,
        "samples": 2,
        "fabric.spines": 1,
    }
    # designs outermost, the fabric axis next, the load innermost
    assert [p.params["load"] for p in s.points[:4]] == [0.0, 0.3, 0.0, 0.3]
    assert [p.params["fabric.spines"] for p in s.points[:8]] == [1] * 4 + [2] * 4
    assert s.columns == ["design", "routing", "load", "seed", "samples", "fabric.spines"]
    ids = [p.id for p in s]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)
    # stable: the same parameters give the same id in another sweep (another axis order too)
    other = Sweep(
        scenario, axes={"routing": ["spray", "ecmp"], "spines": [2, 1], "load": [0.3, 0.0]}
    )
    assert {p.id: p.params for p in other} == {p.id: p.params for p in s}
    assert sw.point_id(first.params) == first.id
    assert sw.point_id({**first.params, "seed": 2}) != first.id


def test_fabric_axes_apply_to_the_designs_whose_builder_takes_them():
    text = TINY.replace(
        'name = "ls 2:1"\nbuilder = "leaf_spine"\nleaves = 2\nspines = 2\n'
        "hosts_per_leaf = 2\ngpus_per_host = 2\noversubscription = 2.0\n"
        'routing = "spray"',
        'name = "rail"\nbuilder = "rail_optimized"\nnodes_per_su = 4\ngpus_per_node = 2',
    )
    sc = fs.load_scenario(text)
    s = Sweep(sc, axes={"spines": [1, 2], "load": [0.0]})
    # leaf_spine takes spines; rail_optimized does not (spines_per_su): it does not multiply
    assert [(p.design, p.params.get("fabric.spines")) for p in s] == [
        ("ls 1:1", 1),
        ("ls 1:1", 2),
        ("rail", None),
    ]
    df = run_sweep(s, executor="serial")
    assert df["switches"].tolist() == [3, 4, 4]  # 2 leaves + 1 or 2 spines; 2 rails + 2 spines
    assert df["builder"].tolist() == ["leaf_spine", "leaf_spine", "rail_optimized"]


def test_optics_count_follows_the_dac_reach_rule():
    ls = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=3, hosts_per_leaf=2, gpus_per_host=2)
    )
    assert sw.optics(ls) == 2 * 2 * 3  # leaf-spine cables only: ToR access runs are copper
    ro = fs.Fabric.from_networkx(fs.rail_optimized(nodes_per_su=4, gpus_per_node=2))
    kinds = [k for k in ro.compiled.kind]
    assert sw.optics(ro) == 2 * (kinds.count("fabric") + kinds.count("access"))
    assert sw.cost_proxies(ls) == {"switches": 5, "cables": 8 + 6, "optics": 12}


# --------------------------------------------------------------------------- bad axes


@pytest.mark.parametrize(
    "axes, axis, words",
    [
        ({"spnies": [1]}, "spnies", "unknown field (did you mean 'spines'?)"),
        ({"fabric.radix": [1]}, "fabric.radix", "unknown field"),
        ({"profile": ["h100-ndr400"]}, "profile", "ambiguous: write fabric.profile or job.profile"),
        ({"spines": ["two"]}, "spines", "value 'two': spines"),
        ({"spines": [0]}, "spines", "value 0: spines"),
        ({"load": [0.2, 1.5]}, "load", "value 1.5: load"),
        ({"routing": ["ecmp", "spary"]}, "routing", "unknown value 'spary'"),
        ({"job.layers": [0]}, "job.layers", "value 0: layers: must be an integer >= 1"),
        ({"pattern": ["nope"]}, "pattern", "value 'nope': pattern"),
        ({"samples": []}, "samples", "empty"),
        ({"seed": [1, 1]}, "seed", "the value 1 appears twice"),
        ({"seed": 3}, "seed", "expected a list of values"),
        ({"design": ["ls 3:1"]}, "design", "no design named 'ls 3:1'"),
        (
            {"design": ["ls 1:1"], "fabric.spines": [1], "spines": [2]},
            "spines",
            "sets fabric.spines as 'fabric.spines' does",
        ),
    ],
)
def test_bad_axis_is_one_error_naming_it(scenario, axes, axis, words):
    with pytest.raises(SweepAxisError) as info:
        Sweep(scenario, axes=axes)
    assert info.value.axis == axis
    assert str(info.value).startswith(f"axis {axis!r}: ")
    assert words in str(info.value)
    assert isinstance(info.value, fs.FabricError)


@pytest.mark.parametrize(
    "table, key, words",
    [
        (
            "[sweep.grid]\nspnies = [1, 2]",
            "spnies = ",
            "sweep.grid.spnies: unknown field (did you mean 'spines'?)",
        ),
        ("[sweep.grid]\nspines = []", "spines = []", "sweep.grid.spines: empty"),
        ("[sweep.grid]\nspines = 4", "spines = 4", "sweep.grid.spines: expected an array"),
        ('[sweep.grid]\nspines = [1, "x"]', "spines = [1", "sweep.grid.spines: value 'x'"),
        ("[sweep.grid.job]\nlayers = [0]", "layers = [0]", "sweep.grid.job.layers: value 0:"),
        (
            '[sweep.grid]\ncollective_size_bytes = ["1Gx"]',
            '["1Gx"]',
            "sweep.grid.collective_size_bytes: element 0:",
        ),
        (
            '[[sweep.axis]]\nname = "spnies"\nvalues = [1]',
            'name = "spnies"',
            "sweep.axis[0].name: unknown field",
        ),
        (
            '[[sweep.axis]]\nname = "spines"\nvalues = []',
            'name = "spines"',
            "sweep.axis[0].name: empty",
        ),
        ('[[sweep.axis]]\nname = "spines"', "[[sweep.axis]]", "missing key 'values'"),
    ],
)
def test_bad_axis_in_a_scenario_names_file_line_and_key(table, key, words):
    text = TINY + "\n" + table + "\n"
    with pytest.raises(fs.ScenarioError) as info:
        fs.load_scenario(text)
    msg = str(info.value)
    assert msg.startswith(f"<scenario>:{line_of(text, key)}: "), msg
    assert words in msg, msg


def test_cli_bad_axis_exits_2_before_running(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY + "\n[sweep.grid]\nspines = [2]\nrouting = ['ecmp', 'spary']\n")
    out = tmp_path / "r.parquet"
    assert main(["sweep", str(bad), "--out", str(out), "--local-workers", "1"]) == 2
    cap = capsys.readouterr()
    assert "sweep.grid.routing: value 'spary'" in cap.err and "bad.toml:" in cap.err
    assert cap.out == "" and not out.exists()


def test_combinations_invalid_only_together_become_error_rows(scenario):
    # one host per leaf leaves 4 GPUs for a job that needs 8
    s = Sweep(scenario, axes={"design": ["ls 1:1"], "hosts_per_leaf": [1, 2], "load": [0.0]})
    df = run_sweep(s, executor="serial")
    assert df["error"].iloc[0] == (
        "InvalidArgumentError: design 'ls 1:1' has 4 GPUs but the job needs 8"
    )
    assert np.isnan(df["tokens_per_s_p50"].iloc[0]) and pd.isna(df["error"].iloc[1])
    assert df["tokens_per_s_p50"].iloc[1] > 0
    assert "1 of 2 points failed" in sw.summary(df, s)


# --------------------------------------------------------------------------- identical rows


def test_rows_hold_parameters_and_every_metric(serial, scenario):
    assert len(serial) == 16 and serial["point_id"].is_unique
    assert serial["point_id"].tolist() == [p.id for p in Sweep(scenario)]
    for col in (
        "design",
        "routing",
        "load",
        "seed",
        "samples",
        "fabric.spines",
        "switches",
        "cables",
        "optics",
        "bisection_gbps",
        "busbw_GBps",
        "step_time_p50_s",
        "step_time_p99_s",
        "tokens_per_s_p50",
        "erosion_p50",
        "erosion_p99",
        "mfu_p50",
        "ideal_tokens_per_s",
        "bottleneck",
        "compute_time_s",
        "data_parallel_p50_s",
    ):
        assert col in serial, col
    assert serial["error"].isna().all()
    # a point's row is exactly what fabricsim.compare reports for that design at that load
    p = Sweep(scenario).points[5]
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(
            leaves=2, spines=p.params["fabric.spines"], hosts_per_leaf=2, gpus_per_host=2
        ),
        profile=scenario.job.profile,
    )
    cmp = fs.compare(
        [fs.Design(p.design, fab, p.params["routing"])],
        scenario.job,
        scenario.background,
        load=p.params["load"],
        loads=(p.params["load"],),
        samples=2,
        seed=1,
        collective_size_bytes=16 << 20,
    )
    row = serial.iloc[5]
    for k in ("tokens_per_s_p50", "step_time_p99_s", "busbw_GBps", "erosion_p99", "switches"):
        assert row[k] == cmp.rows[0][k], k


def _slow_until_a_worker_delivers(calls: list, wait_s: float = 1.0):
    """on_rows for a process sweep of points that take milliseconds: this process computes
    one point at a time, the spawned one takes shares of several, so hold this process back
    (a point every ``wait_s``) until a share of several points has come in."""

    def on_rows(rows):
        calls.append(len(rows))
        if max(calls) == 1:
            time.sleep(wait_s)

    return on_rows


def _two_processes(scenario, calls: list):
    """The scenario's sweep in this process and one spawned one, shares of at most 5 points,
    this one slowed until the spawned one has delivered (``calls``: its batch sizes)."""
    return run_sweep(
        Sweep(scenario),
        executor="processes",
        workers=2,
        batch_size=5,
        on_rows=_slow_until_a_worker_delivers(calls),
    )


def test_local_processes_give_identical_rows(scenario, serial):
    calls: list = []
    df = _two_processes(scenario, calls)
    pd.testing.assert_frame_equal(df, serial)
    st = df.attrs["fabricsim.sweep"]
    assert st["executor"] == "processes" and st["workers"] == 2 and st["batch_size"] == 5
    # this process ran single points, the spawned one the rest in shares of at most 5
    here, spawned = st["processes"]
    assert here["pid"] == os.getpid() and spawned["pid"] != os.getpid()
    assert (
        here["points"] >= 1 and spawned["points"] >= 2 and here["points"] + spawned["points"] == 16
    )
    assert 1 < max(calls) <= 5 and sum(calls) == 16 and calls.count(1) >= here["points"]
    assert 0 < spawned["startup_cpu_s"] < spawned["cpu_s"] and spawned["ready_s"] > 0


def test_a_timed_point_divides_its_cpu_time_by_the_threads_it_could_use(monkeypatch):
    """A point timed while other processes take the cores counts its CPU time over the threads
    it could use: with ``threads=None`` that is the Rust core's own pool (here 1 thread, as
    with RAYON_NUM_THREADS=1, on 4 cores: all its CPU time is its time, not a quarter of it),
    never more than the cores."""
    from fabricsim import _engine

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(_engine, "thread_count", lambda: 1)
    cpu0 = time.process_time() - 0.8  # the point used 0.8 s of CPU
    assert sw._point_s(10.0, cpu0, None) == pytest.approx(0.8, abs=0.05)
    assert sw._point_s(10.0, cpu0, 2) == pytest.approx(0.4, abs=0.05)
    assert sw._point_s(0.3, cpu0, None) == 0.3  # the wall time when it is shorter
    monkeypatch.setattr(_engine, "thread_count", lambda: 8)  # 8 threads on 4 cores
    assert sw._point_s(10.0, cpu0, None) == pytest.approx(0.2, abs=0.05)
    assert sw._point_s(10.0, cpu0, 16) == pytest.approx(0.2, abs=0.05)


def test_guided_task_sizes_shrink_towards_the_end():
    assert sw._guided_sizes(16, 2, 5) == [4, 3, 3, 2, 1, 1, 1, 1]
    assert sw._guided_sizes(63, 2, 14, 2) == [14, 13, 9, 7, 5, 4, 3, 2, 2, 2, 2]
    assert sw._guided_sizes(3, 4, 10, 2) == [2, 1]  # never more than are left
    assert sum(sw._guided_sizes(1000, 3, 7)) == 1000


def test_parallel_runs_hand_out_the_costliest_points_first(scenario, tmp_path):
    """Longest processing time first: more samples and a higher background load go out first
    (ties in sweep order), so the last tasks are the cheap points and the workers finish
    together; the frame and the Parquet file are still in sweep order."""
    sweep = fs.Sweep(scenario, axes={"load": [0.0, 0.3, 0.1], "samples": [1, 2]})
    order = sw._costliest_first(sweep.points)
    keys = [(p.params["samples"], p.params["load"]) for p in order]
    assert keys[:2] == [(2, 0.3), (2, 0.3)] and keys[-2:] == [(1, 0.0), (1, 0.0)]
    assert keys == sorted(keys, key=lambda k: k[0] / (1 - k[1]), reverse=True)
    same = [p.index for p in order if (p.params["samples"], p.params["load"]) == (2, 0.3)]
    assert same == sorted(same)
    got = []
    out = tmp_path / "r.parquet"
    df = fs.run_sweep(
        sweep, executor="processes", workers=2, batch_size=1, on_rows=got.extend, out=out
    )
    in_order = [p.id for p in sweep.points]
    assert list(df["point_id"]) == in_order
    assert [r["point_id"] for r in got] != in_order  # they finished costliest first
    assert sorted(r["point_id"] for r in got) == sorted(in_order)
    assert list(pd.read_parquet(out)["point_id"]) == in_order


def _spawned_workers() -> list:
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name == "fabricsim-sweep"]


def _wait_for_the_worker_to_die(calls: list):
    """on_rows that holds this process at its first point until the spawned process (which
    takes a share as soon as it has started, and dies) has ended."""

    def on_rows(rows):
        calls.append(len(rows))
        deadline = time.monotonic() + 60
        while len(calls) == 1 and _spawned_workers() and time.monotonic() < deadline:
            time.sleep(0.02)

    return on_rows


def _until_the_worker_dies(scenario, batch_size: int, calls: list):
    """The scenario's sweep in this process and one spawned one (shares of at most
    ``batch_size``), this one held at its first point until the spawned one has ended."""
    return run_sweep(
        Sweep(scenario),
        executor="processes",
        workers=2,
        batch_size=batch_size,
        on_rows=_wait_for_the_worker_to_die(calls),
    )


def test_a_worker_killed_from_outside_fails_the_sweep_or_loses_nothing(scenario, serial):
    """SIGKILL the spawned process as soon as this one has a point: it has sent no rows yet
    (it is usually still importing, or holds its first share), so the sweep fails naming it;
    had its rows come in, this process would compute the rest and the stats record the
    death."""
    from concurrent.futures.process import BrokenProcessPool

    killed = []

    def kill_the_worker(rows):
        if not killed:
            (child,) = _spawned_workers()
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)
        time.sleep(0.05)

    try:
        df = run_sweep(Sweep(scenario), executor="processes", workers=2, on_rows=kill_the_worker)
    except BrokenProcessPool as e:
        assert f"(pid {killed[0]}) died with exit code -9 before sending" in str(e)
    else:
        pd.testing.assert_frame_equal(df, serial)
        here, died = df.attrs["fabricsim.sweep"]["processes"]
        assert here["points"] == 16
        assert died == {"pid": killed[0], "points": 0, "exitcode": -9}
    assert killed
    assert not _spawned_workers()


def test_a_worker_that_dies_after_its_last_rows_loses_nothing(scenario, serial, monkeypatch):
    """The spawned process sends all its rows, then exits (code 3) without its cost report:
    every row is in, so the sweep returns them and records the exit; it used to raise
    BrokenProcessPool and lose the sweep."""
    import sweep_hooks

    monkeypatch.setattr(sw, "_process_worker", sweep_hooks.exits_after_its_last_rows)
    calls: list = []
    df = _two_processes(scenario, calls)
    pd.testing.assert_frame_equal(df, serial)
    here, died = df.attrs["fabricsim.sweep"]["processes"]
    assert here["pid"] == os.getpid() and died["pid"] != os.getpid()
    assert died["exitcode"] == 3 and died["points"] >= 2
    assert here["points"] + died["points"] == 16 and sum(calls) == 16
    assert not _spawned_workers()


def test_a_worker_killed_holding_a_share_fails_the_sweep_naming_it(scenario, tmp_path, monkeypatch):
    """The spawned process takes a share and is SIGKILLed before sending its rows: the sweep
    fails at once with BrokenProcessPool naming the process, its exit code and the points it
    held; the rows this process computed are in the result file, to resume from."""
    from concurrent.futures.process import BrokenProcessPool

    import sweep_hooks

    monkeypatch.setattr(sw, "_process_worker", sweep_hooks.killed_holding_a_share)
    out = tmp_path / "r.parquet"
    calls: list = []
    with pytest.raises(BrokenProcessPool) as e:
        run_sweep(
            Sweep(scenario),
            executor="processes",
            workers=2,
            batch_size=5,
            out=out,
            on_rows=_wait_for_the_worker_to_die(calls),
        )
    msg = str(e.value)
    died = r"worker process \(pid \d+\) died with exit code -9 before sending the rows of its"
    assert re.search(died + r" \d+ point", msg), msg
    ids = {p.id for p in Sweep(scenario).points}
    held = re.findall(r"[0-9a-f]{16}", msg)
    assert held and set(held) <= ids
    assert len(calls) == 1  # at once, not after this process computed the rest
    written = pd.read_parquet(out)
    assert len(written) == len(calls) and not set(held) & set(written["point_id"])
    assert not _spawned_workers()


def test_a_worker_that_sent_rows_then_lost_an_unannounced_share_fails_the_sweep(
    scenario, monkeypatch
):
    """A spawned process that sent rows, then died holding a share it had not announced: nobody
    knows those points are lost until every point is taken and every spawned process has
    ended; then the sweep fails (it never waits forever)."""
    from concurrent.futures.process import BrokenProcessPool

    import sweep_hooks

    monkeypatch.setattr(
        sw, "_process_worker", sweep_hooks.dies_after_taking_a_second_share_unannounced
    )
    calls: list = []
    with pytest.raises(BrokenProcessPool, match=r"point\(s\) never came back.*exit code 3"):
        _until_the_worker_dies(scenario, 2, calls)
    assert 1 < len(calls) < 16  # this process computed every point left, then gave up
    assert not _spawned_workers()


def test_a_worker_that_fails_at_start_up_fails_the_sweep(scenario, monkeypatch):
    """A spawned process that exits non-zero before doing anything (an import error, a script
    without the ``__main__`` guard) is an error naming it, not a sweep quietly run by this
    process alone."""
    from concurrent.futures.process import BrokenProcessPool

    import sweep_hooks

    monkeypatch.setattr(sw, "_process_worker", sweep_hooks.fails_at_start)
    calls: list = []
    with pytest.raises(BrokenProcessPool, match=r"died with exit code 1 before sending any rows"):
        _until_the_worker_dies(scenario, 1, calls)
    assert not _spawned_workers()


def test_a_worker_that_dies_before_announcing_its_share_fails_the_sweep(scenario, monkeypatch):
    """The window the share announcement cannot close: the spawned process takes a share off
    the shared counter and dies before telling this process. Nobody knows those points are
    lost until every point is taken and every spawned process has ended: then the sweep
    fails (it never waits forever)."""
    from concurrent.futures.process import BrokenProcessPool

    import sweep_hooks

    monkeypatch.setattr(sw, "_process_worker", sweep_hooks.dies_after_taking_a_share_unannounced)

    calls: list = []
    lost = r"point\(s\) never came back.*exit code 3|died with exit code 3 before sending any rows"
    with pytest.raises(BrokenProcessPool, match=lost):
        _until_the_worker_dies(scenario, 5, calls)
    # it sent nothing, so its exit fails the sweep as soon as it is seen (had it sent rows
    # before, this process would compute every point left, then give up: the check below)
    assert 1 <= len(calls) < 16
    assert not _spawned_workers()


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster started as docs/sweeps.md recommends, under sw.DASK_CONFIG."""
    distributed = pytest.importorskip("distributed")
    import dask

    with (
        dask.config.set(sw.DASK_CONFIG),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as c,
    ):
        yield c


def test_recommended_dask_config_names_real_settings_and_reaches_every_process(cluster):
    import dask
    from distributed import Client

    def default(key):
        found = [dask.config.get(key, default=None, config=d) for d in dask.config.defaults]
        return next((v for v in found if v is not None), None)

    # every key is one of distributed's own settings (a renamed one would silently do nothing)
    dflt = {key: default(key) for key in sw.DASK_CONFIG}
    for key, value in sw.DASK_CONFIG.items():
        assert dflt[key] is not None, key
        assert dflt[key] != value, f"{key}: {value!r} is already distributed's default"
    # the environment-variable form (for `dask scheduler` / `dask worker`) means the same
    parsed = dask.config.collect_env(dict(sw.DASK_ENV))
    for key, value in sw.DASK_CONFIG.items():
        assert dask.config.get(key, config=parsed) == value, key

    def active(dask_worker=None):
        w = dask_worker
        return (
            w.periodic_callbacks["tick"].callback_time,
            "profile" in w.periodic_callbacks,
            w.periodic_callbacks["monitor"].callback_time,
            w.memory_manager.memory_monitor_interval,
        )

    def scheduler_tick(dask_scheduler=None):
        return dask_scheduler.periodic_callbacks["tick"].callback_time

    # what run_sweep and the CLI point out on a cluster started with Dask's defaults
    assert sw.costly_settings(dflt) == [
        "distributed.worker.profile.enabled=True",
        "distributed.admin.tick.interval=20ms",
        "distributed.admin.system-monitor.interval=500ms",
        "distributed.worker.memory.monitor-interval=100ms",
        "distributed.scheduler.worker-saturation=1.1",
    ]
    assert sw.costly_settings(sw.DASK_CONFIG) == []
    assert sw.costly_settings({"distributed.scheduler.worker-saturation": "inf"}) == [
        "distributed.scheduler.worker-saturation=inf"
    ]
    assert sw.costly_settings({"distributed.admin.tick.interval": "2s"}) == []
    assert sw.costly_settings({"distributed.admin.tick.interval": "soon", "other": 1}) == []

    with Client(cluster) as client:
        # tick 1 s, no sampling profiler, system monitor every 5 s, memory every 1 s
        assert set(client.run(active).values()) == {(1000, False, 5000, 1.0)}
        assert client.run_on_scheduler(scheduler_tick) == 1000
        # one task at a time per worker thread
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == 1
        # what the scheduler runs with, not what the config says now (a LocalCluster's
        # scheduler lives in this process, whose config may have moved on since it started)
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.1}):
            assert sw._workers_costly_settings(client) == []
        assert {n.periodic_callbacks["tick"].callback_time for n in cluster.workers.values()} == {
            1000
        }


def test_dask_local_cluster_gives_identical_rows(cluster, scenario, serial):
    from distributed import Client

    with Client(cluster) as client:
        df = run_sweep(Sweep(scenario), executor=client, batch_size=2)
        pd.testing.assert_frame_equal(df, serial)
        assert df.attrs["fabricsim.sweep"]["executor"] == "dask"
        assert df.attrs["fabricsim.sweep"]["dask_costly_settings"] == []
        # 16 points in batches of 2, the last four of 1 so that the workers finish together
        assert df.attrs["fabricsim.sweep"]["tasks"] == 10
        assert len(client.scheduler_info()["workers"]) == 2
    # a scheduler address works the same (run_sweep opens and closes its own client)
    df = run_sweep(Sweep(scenario), executor=cluster.scheduler_address, batch_size=4)
    pd.testing.assert_frame_equal(df, serial)


def test_a_dask_worker_killed_mid_sweep_loses_no_point(cluster, scenario, serial, tmp_path):
    from distributed import Client

    out = tmp_path / "r.parquet"
    with Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_a_busy_worker(rows):
            if killed:
                return
            busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])

        df = run_sweep(
            Sweep(scenario), executor=client, batch_size=2, out=out, on_rows=kill_a_busy_worker
        )
    assert killed, "no worker was busy to kill"
    # the scheduler ran the dead worker's tasks again elsewhere: every row, once, identical
    pd.testing.assert_frame_equal(df, serial)
    assert sorted(pd.read_parquet(out)["point_id"]) == sorted(serial["point_id"])


def test_cli_on_a_dask_scheduler(cluster, serial, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "r.parquet"
    assert (
        main(
            [
                "sweep",
                str(grid),
                "--scheduler",
                cluster.scheduler_address,
                "--out",
                str(out),
                "--batch-size",
                "3",
                "--progress",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    assert f"running on the Dask cluster at {cluster.scheduler_address}" in cap.out
    assert "note: the Dask cluster" not in cap.out  # started under DASK_CONFIG
    assert "16/16" in cap.err  # the progress bar
    df = pd.read_parquet(out).set_index("point_id").loc[serial["point_id"]].reset_index()
    pd.testing.assert_frame_equal(df, serial)


def test_dask_writes_parquet_that_resumes_locally(cluster, scenario, serial, tmp_path):
    out = tmp_path / "r.parquet"
    half = Sweep(scenario, axes={"spines": [1], "routing": ["ecmp", "spray"]})
    run_sweep(half, executor=cluster.scheduler_address, out=out, batch_size=2)
    df = run_sweep(Sweep(scenario), executor="serial", out=out)
    assert df.attrs["fabricsim.sweep"]["skipped"] == 8
    assert df.attrs["fabricsim.sweep"]["ran"] == 8
    pd.testing.assert_frame_equal(df, serial)
    on_disk = pd.read_parquet(out)
    assert sorted(on_disk["point_id"]) == sorted(serial["point_id"])


# --------------------------------------------------------------------------- resume


KILLED = textwrap.dedent("""
    import sys, time
    import fabricsim as fs
    from fabricsim.analysis.sweep import Sweep, run_sweep
    sc = fs.load_scenario(open(sys.argv[1]).read())
    # slow each batch down so that the parent can kill the sweep part-way
    run_sweep(Sweep(sc), executor="serial", batch_size=1, out=sys.argv[2],
              on_rows=lambda rows: time.sleep(0.25))
""")


def test_resume_after_a_kill_neither_repeats_nor_loses_points(tmp_path, scenario, serial):
    (tmp_path / "grid.toml").write_text(GRID)
    (tmp_path / "killed.py").write_text(KILLED)
    out = tmp_path / "r.parquet"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "killed.py"), str(tmp_path / "grid.toml"), str(out)],
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert out.exists(), "the sweep wrote nothing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = pd.read_parquet(out)
    assert 0 < len(before) < 16 and before["point_id"].is_unique
    ran = []
    df = run_sweep(
        Sweep(scenario),
        executor="serial",
        out=out,
        on_rows=lambda rows: ran.extend(r["point_id"] for r in rows),
    )
    assert not set(ran) & set(before["point_id"])  # nothing repeated
    assert len(ran) == 16 - len(before)  # nothing lost
    assert df.attrs["fabricsim.sweep"]["skipped"] == len(before)
    pd.testing.assert_frame_equal(df, serial)
    after = pd.read_parquet(out)
    assert after["point_id"].is_unique and len(after) == 16
    # and a third run has nothing left to do
    again = run_sweep(Sweep(scenario), executor="serial", out=out)
    assert again.attrs["fabricsim.sweep"]["ran"] == 0


def test_an_interrupted_sweep_keeps_every_finished_point(tmp_path, scenario, serial):
    out = tmp_path / "r.parquet"
    done = []

    def interrupt(rows):
        done.extend(rows)
        if len(done) >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(Sweep(scenario), executor="serial", batch_size=3, out=out, on_rows=interrupt)
    kept = pd.read_parquet(out)
    assert sorted(kept["point_id"]) == sorted(r["point_id"] for r in done)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    pd.testing.assert_frame_equal(run_sweep(Sweep(scenario), executor="serial", out=out), serial)


def test_resume_refuses_a_file_of_another_sweep(tmp_path, scenario):
    out = tmp_path / "r.parquet"
    run_sweep(
        Sweep(scenario, axes={"design": ["ls 1:1"], "load": [0.0]}), executor="serial", out=out
    )
    other = fs.load_scenario(GRID.replace("params = 2e7", "params = 3e7"))
    with pytest.raises(fs.InvalidArgumentError, match="holds another sweep"):
        run_sweep(Sweep(other), executor="serial", out=out)
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(fs.InvalidArgumentError, match="not a readable Parquet file"):
        run_sweep(Sweep(other), executor="serial", out=tmp_path / "x.parquet")


# --------------------------------------------------------------------------- without Dask


def test_without_dask_it_runs_locally_and_says_what_to_install(
    monkeypatch, scenario, tmp_path, capsys
):
    monkeypatch.setitem(sys.modules, "distributed", None)
    s = Sweep(scenario, axes={"design": ["ls 1:1"], "load": [0.0]})
    with pytest.raises(ImportError, match=r"pip install 'fabricsim\[dask\]'"):
        run_sweep(s, executor="tcp://127.0.0.1:8786")
    with pytest.raises(fs.InvalidTypeError, match="executor: expected"):
        run_sweep(s, executor=object())
    assert len(run_sweep(s)) == 1  # the default: local processes
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    assert main(["sweep", str(grid), "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "pip install 'fabricsim[dask]'" in capsys.readouterr().err
    assert main(["sweep", str(grid), "--local-workers", "1", "--no-progress"]) == 0
    assert "to run on a Dask cluster: pip install 'fabricsim[dask]'" in capsys.readouterr().out


def test_bad_run_arguments(scenario):
    s = Sweep(scenario, axes={"design": ["ls 1:1"], "load": [0.0]})
    with pytest.raises(fs.UnknownNameError, match="executor: unknown value 'threads'"):
        run_sweep(s, executor="threads")
    with pytest.raises(fs.InvalidTypeError, match="executor: expected"):
        run_sweep(s, executor=3)
    with pytest.raises(fs.InvalidArgumentError, match="batch_size: must be an integer >= 1"):
        run_sweep(s, batch_size=0)
    with pytest.raises(fs.InvalidArgumentError, match="out: the directory .* does not exist"):
        run_sweep(s, executor="serial", out="/nonexistent-dir/r.parquet")
    with pytest.raises(fs.InvalidTypeError, match="sweep: expected a fabricsim.Sweep"):
        run_sweep([], executor="serial")
    with pytest.raises(fs.InvalidTypeError, match="base: expected a fabricsim.Scenario"):
        Sweep({"fabrics": {}})


# --------------------------------------------------------------------------- summary, CLI


def test_pareto_front():
    g = pd.DataFrame(
        {
            "tokens_per_s_p50": [10.0, 9.0, 8.0, 8.0, 12.0],
            "switches": [4, 2, 2, 3, 8],
            "cables": [10, 5, 6, 5, 20],
            "optics": [8, 0, 0, 0, 16],
        }
    )
    front = sw.pareto_front(g)
    # row 2 is beaten by row 1 (more tokens, fewer cables); row 3 by row 1 (fewer switches)
    assert front.index.tolist() == [1, 0, 4]


def test_summary_best_design_per_load_and_front(serial, scenario):
    text = sw.summary(serial, Sweep(scenario))
    assert "best design per load" in text and "Pareto front at load 0.3" in text
    g = sw.designs_table(serial, Sweep(scenario).columns)
    for load in (0.0, 0.3):
        best = g[g["load"] == load]["tokens_per_s_p50"].max()
        assert f"{best:,.0f}" in text


def test_cli_sweep_writes_parquet_plot_and_resumes(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out, png = tmp_path / "r.parquet", tmp_path / "p.png"
    args = ["sweep", str(grid), "--out", str(out), "--local-workers", "1", "--no-progress"]
    assert main(args + ["--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "16 points: 2 designs x axes fabric.spines (2), routing (2) x loads 0, 0.3" in text
    assert "best design per load" in text and "Pareto front" in text
    assert f"wrote {out} (16 rows" in text and png.stat().st_size > 10_000
    df = pd.read_parquet(out)
    assert len(df) == 16 and df["point_id"].is_unique
    meta = json.loads(
        __import__("pyarrow.parquet").parquet.read_schema(out).metadata[b"fabricsim.sweep"]
    )
    assert meta["fingerprint"] == Sweep(fs.load_scenario(grid)).fingerprint
    assert main(args) == 0
    assert f"0 points ran in 0.0 s; 16 were already in {out}" in capsys.readouterr().out


def test_doctests():
    import doctest

    from fabricsim.fabric import compiled

    assert doctest.testmod(sw).failed == 0
    assert doctest.testmod(compiled).failed == 0  # Fabric.__reduce__'s pickling example
