"""Every public input and result type pickles, deep-copies and crosses a 2-process pool.

A :class:`fabricsim.Fabric` holds the Rust core's routing state, which does not pickle; it
pickles by rebuilding from its compiled arrays and validated graph (``Fabric.__reduce__``),
and the copy must simulate exactly as the original. Everything holding a fabric (scenarios,
sweeps, designs) inherits that. The pool uses ``spawn``, as ``run_sweep`` does.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import networkx as nx
import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis.sweep import Sweep
from scenario_text import TINY

#: Wall-clock measurements, which differ between two runs of the same simulation.
TIMINGS = {"timings", "route_s", "engine_s"}


def same(a, b, path="obj"):
    """Deep equality that understands arrays (NaN == NaN), graphs, fabrics and dataclasses
    (wall-clock timings of a run are not compared)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, fs.Fabric):
        same(a.compiled, b.compiled, f"{path}.compiled")
        assert a.efficiency == b.efficiency, path
        np.testing.assert_array_equal(a.usable_Bps, b.usable_Bps, err_msg=path)
        return
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
        assert a.dtype == b.dtype, path
        return
    if isinstance(a, nx.Graph):
        assert list(a.nodes(data=True)) == list(b.nodes(data=True)), path
        assert list(a.edges(data=True)) == list(b.edges(data=True)), path
        assert a.graph == b.graph, path
        return
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            if f.name in TIMINGS:
                continue
            same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
        return
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            if k in TIMINGS:
                continue
            same(a[k], b[k], f"{path}[{k!r}]")
        return
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
        return
    if isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
        return
    if hasattr(a, "__dict__") and not isinstance(a, type):
        same(vars(a), vars(b), f"{path}.__dict__")
        return
    assert a == b, f"{path}: {a!r} != {b!r}"


def small_fabric() -> fs.Fabric:
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2), profile="h100-ndr400"
    )


def edge_fabric() -> fs.Fabric:
    G = fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[
            {"name": "a", "capacity_gbps": 100.0, "availability": 0.999},
            {"name": "b", "capacity_gbps": 40.0, "availability": 0.99},
        ],
        sites=[
            {"name": "lyon", "carriers": ["a", "b"], "distance_km": 400.0, "capacity_gbps": 10.0}
        ],
    )
    return fs.Fabric.from_networkx(G)


def flows(fab: fs.Fabric) -> list:
    g = fab.gpus
    return [(g[0], g[5], 64e6), (g[1], g[6], 32e6, 1e-4), (g[2], g[7], 16e6)]


@pytest.fixture(scope="module")
def objects() -> dict:
    """One instance of every public input and result type, from cheap runs."""
    fab = small_fabric()
    g = fab.gpus
    job = fs.TrainingJob(
        params=2e7,
        layers=2,
        hidden_size=256,
        seq_len=512,
        data_parallel=8,
        global_batch_tokens=8192,
    )
    bg = fs.Background(load=0.2, sizes="websearch")
    coll = fs.Collective("all_reduce", 1 << 20, g, algorithm="ring")
    coll_res = coll.run(fab)
    sc = fs.load_scenario(TINY)
    efab = edge_fabric()
    out = {
        "Fabric": fab,
        "Fabric(edge)": efab,
        "Route": fab.route(g[0], g[7]),
        "FlowSet": fs.traffic.flows.flows_from_matrix(fab, flows(fab)),
        "SimulationResult": fs.simulate(fab, flows(fab)),
        "Collective": coll,
        "CollectiveResult": coll_res,
        "PhaseTiming": coll_res.phases[0],
        "sweep_sizes": fs.sweep_sizes(
            fab, "all_reduce", min_bytes=1024, max_bytes=4096, file=False
        ),
        "Background": bg,
        "Background(tenant)": fs.Background(
            pattern="tenant", tenant=fs.Collective("all_to_all", 1 << 20, g[:4])
        ),
        "TailLatencyResult": fs.tail_latency(fab, coll, bg, samples=2, seed=3),
        "TrainingJob": job,
        "StepResult": fs.step(fab, job, bg, samples=2, seed=1),
        "ErosionResult": fs.erosion(fab, job, (0.0, 0.2), samples=2),
        "Comparison": fs.compare({"a": fab}, job, bg, loads=(0.0,), load=0.0, samples=1),
        "Design": fs.Design("a", fab, "spray"),
        "EdgeReport": fs.edge_latency(efab, requests=200),
        "LatencyResult": fs.message_latency(
            fab, g[0], g[7], 4096, background_load=0.3, samples=200
        ),
        "failure_impact": fs.failure_impact(fab, flows(fab), nodes=["spine1"]),
        "fail": fs.fail(fab, nodes=["spine1"]),
        "Scenario": sc,
        "Sweep": Sweep(sc, axes={"spines": [1, 2], "routing": ["ecmp", "spray"]}),
    }
    out["SweepPoint"] = out["Sweep"].points[-1]
    return out


def test_every_type_round_trips_through_pickle_and_deepcopy(objects):
    for name, obj in objects.items():
        for protocol in (pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
            same(obj, pickle.loads(pickle.dumps(obj, protocol)), name)
        same(obj, copy.deepcopy(obj), name)


def _simulate_there(fab: fs.Fabric, matrix: list) -> fs.SimulationResult:
    return fs.simulate(fab, matrix, routing="ecmp", seed=7)


def test_every_type_crosses_a_two_process_pool(objects):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        names = list(objects)
        # copy.copy runs in the worker: the object is unpickled there and pickled back
        back = list(pool.map(copy.copy, [objects[n] for n in names]))
        fab = objects["Fabric"]
        there = pool.submit(_simulate_there, fab, flows(fab)).result()
    for name, obj in zip(names, back, strict=True):
        same(objects[name], obj, name)
    same(_simulate_there(fab, flows(fab)), there, "simulation in a worker")


def test_unpickled_fabric_simulates_identically():
    fab = small_fabric()
    twin = pickle.loads(pickle.dumps(fab))
    assert twin is not fab and twin._engine is not fab._engine
    for routing in ("ecmp", "spray"):
        a = fs.simulate(fab, flows(fab), routing=routing, seed=11)
        b = fs.simulate(twin, flows(twin), routing=routing, seed=11)
        same(a, b, routing)
    g = fab.gpus
    assert twin.paths(g[0], g[7]) == fab.paths(g[0], g[7])
    bg = fs.Background(load=0.3)
    coll = fs.Collective("all_reduce", 1 << 22, g, algorithm="ring")
    np.testing.assert_array_equal(
        fs.tail_latency(fab, coll, bg, samples=3, seed=5).job_time_s,
        fs.tail_latency(twin, coll, bg, samples=3, seed=5).job_time_s,
    )
    # read-only arrays stay read-only, and a deep copy is a fabric of its own
    assert not twin.compiled.link_src.flags.writeable
    assert copy.deepcopy(fab).graph is not fab.graph
