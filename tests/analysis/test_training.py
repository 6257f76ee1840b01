"""Training job model, erosion, design comparison (issue 5)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fabricsim as fs


def small_job(**kw) -> fs.TrainingJob:
    args = dict(
        params=2e8,
        layers=4,
        hidden_size=1024,
        seq_len=1024,
        data_parallel=4,
        global_batch_tokens=4 * 1024,
        profile="h100",
    )
    args.update(kw)
    return fs.TrainingJob(**args)


def fabric(oversubscription=1.0, leaves=4, hosts_per_leaf=4, gpus_per_host=1, spines=2):
    G = fs.leaf_spine(
        leaves=leaves,
        spines=spines,
        hosts_per_leaf=hosts_per_leaf,
        gpus_per_host=gpus_per_host,
        oversubscription=oversubscription,
        profile="h100",
    )
    return fs.Fabric.from_networkx(G, profile="h100")


def test_formulas():
    job = small_job(
        data_parallel=4,
        tensor_parallel=2,
        pipeline_parallel=2,
        layers=4,
        global_batch_tokens=4 * 1024 * 4,
        microbatches=4,
    )
    assert job.gpus == 16
    assert job.flops_per_step == 6 * 2e8 * 4 * 1024 * 4
    assert job.bubble_fraction == pytest.approx(1 / 4)
    peak = fs.profiles.get_profile("h100").peak_tflops_bf16 * 1e12
    assert job.compute_time_s == pytest.approx(job.flops_per_step / (16 * peak * 0.5) * 1.25)
    assert job.grad_bytes_per_group() == int(2e8 * 2 // 4)


def test_groups_follow_megatron_order_and_rails():
    fab = fabric(leaves=2, hosts_per_leaf=2, gpus_per_host=4)
    job = small_job(data_parallel=4, tensor_parallel=4, global_batch_tokens=4 * 1024)
    g = job.groups(fab)
    # a TP group is one host; a DP group takes the same rail on every host
    for grp in g["tensor_parallel"]:
        assert len({fab.graph.nodes[x]["host"] for x in grp}) == 1
    for grp in g["data_parallel"]:
        assert len({fab.graph.nodes[x]["rail"] for x in grp}) == 1
        assert len({fab.graph.nodes[x]["host"] for x in grp}) == 4


def test_ideal_fabric_shows_zero_erosion():
    ideal = fs.ideal_fabric(fabric(oversubscription=2.0))
    e = fs.erosion(
        ideal,
        small_job(data_parallel=8, global_batch_tokens=8 * 1024),
        background_loads=[0.0],
        samples=1,
    )
    assert e.rows[0]["erosion_p50"] == pytest.approx(0.0, abs=1e-12)
    assert e.rows[0]["erosion_p99"] == pytest.approx(0.0, abs=1e-12)


def test_erosion_grows_with_background_load():
    fab = fabric(oversubscription=2.0, leaves=2, hosts_per_leaf=8)
    job = small_job(data_parallel=4, ranks=fab.gpus[:2] + fab.gpus[8:10])
    e = fs.erosion(fab, job, background_loads=[0.0, 0.3, 0.6, 0.9], samples=6, seed=3)
    p50 = [r["erosion_p50"] for r in e.rows]
    assert all(b >= a - 1e-9 for a, b in zip(p50, p50[1:], strict=False)), p50
    assert p50[-1] > p50[0] + 0.01
    assert "erosion p50" in e.table()


def test_more_overlap_never_increases_step_time():
    fab = fabric(oversubscription=2.0)
    times = [
        fs.step(
            fab, small_job(data_parallel=8, global_batch_tokens=8 * 1024, overlap=o)
        ).step_time_p50_s
        for o in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert all(b <= a + 1e-15 for a, b in zip(times, times[1:], strict=False)), times
    assert times[-1] < times[0]


def test_oversubscription_erodes_a_job_that_crosses_leaves_not_one_under_a_leaf():
    """On a 2:1 fabric with the other GPUs busy, a data-parallel job under one leaf never
    touches the uplinks (zero erosion); one spread over two leaves shares them."""
    fab = fabric(oversubscription=2.0, leaves=2, hosts_per_leaf=8)
    leaf0, leaf1 = fab.gpus[:8], fab.gpus[8:]
    under = small_job(data_parallel=4, ranks=leaf0[:4])
    across = small_job(data_parallel=4, ranks=leaf0[:2] + leaf1[:2])
    bg = fs.Background(sizes="websearch")  # on the GPUs each job leaves free
    e_under = fs.erosion(fab, under, [0.6], samples=4, background=bg)
    e_across = fs.erosion(fab, across, [0.6], samples=4, background=bg)
    assert e_under.rows[0]["erosion_p50"] == pytest.approx(0.0, abs=1e-9)
    assert e_across.rows[0]["erosion_p50"] > 0.01


def test_expert_parallel_suffers_more_from_oversubscription_than_data_parallel():
    dp = small_job(data_parallel=8, global_batch_tokens=8 * 1024)
    ep = small_job(data_parallel=8, expert_parallel=8, moe_layers=4, global_batch_tokens=8 * 1024)

    def slowdown(job):
        t = {o: fs.step(fabric(oversubscription=o), job).step_time_p50_s for o in (1.0, 4.0)}
        return t[4.0] / t[1.0]

    assert slowdown(ep) > slowdown(dp) * 1.05


def test_sweeps():
    fab = fabric(oversubscription=1.0)
    job = small_job(data_parallel=8, global_batch_tokens=8 * 1024)
    by_ratio = fs.sweep_oversubscription(fab, job, ratios=(1, 4), background_loads=(0.0,))
    assert set(by_ratio) == {"1:1", "4:1"}
    assert by_ratio["4:1"].rows[0]["step_time_p50_s"] >= by_ratio["1:1"].rows[0]["step_time_p50_s"]
    by_routing = fs.sweep_routing(fab, job, background_loads=(0.0,))
    assert set(by_routing) == {"ecmp", "spray"}


def test_compare_rows_outputs_and_plot(tmp_path):
    job = small_job(data_parallel=8, global_batch_tokens=8 * 1024)
    designs = {
        f"{o:g}:1": fs.leaf_spine(
            leaves=4,
            spines=2,
            hosts_per_leaf=4,
            gpus_per_host=1,
            oversubscription=o,
            profile="h100",
        )
        for o in (1, 4)
    }
    cmp = fs.compare(designs, job, load=0.5, loads=(0.0, 0.5), samples=2)
    rows = {r["design"]: r for r in cmp.rows}
    assert rows["4:1"]["bisection_gbps"] == pytest.approx(rows["1:1"]["bisection_gbps"] / 4)
    assert rows["4:1"]["erosion_p50"] >= rows["1:1"]["erosion_p50"]
    assert rows["1:1"]["switches"] == 6 and rows["1:1"]["gpus"] == 16
    table = cmp.table()
    assert "4:1" in table and "erosion" in table
    # The DP bottleneck is read off the algorithm NCCL's tuner picks; the table says which.
    head = next(line for line in table.splitlines() if line.lstrip().startswith("design"))
    assert "routing" in head and "DP algorithm" in head
    for r in cmp.rows:
        assert r["routing"] == "ecmp"
        assert r["dp_algorithm"] in ("ring", "tree"), r["dp_algorithm"]
        fab = fs.Fabric.from_networkx(designs[r["design"]], profile=job.profile)
        dp_flows = job.communication(fab)["data_parallel"][0]
        assert dp_flows.meta["algorithm"] == r["dp_algorithm"]
    doc = json.loads(cmp.to_json(str(tmp_path / "c.json")))
    assert [r["design"] for r in doc["rows"]] == ["1:1", "4:1"]
    assert cmp.to_csv(str(tmp_path / "c.csv")).splitlines()[0].startswith("design")
    fig = cmp.plot(str(tmp_path / "c.png"))  # written there, and the Figure returned
    assert len(fig.axes) == 2
    assert open(tmp_path / "c.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_jobs_are_named():
    with pytest.raises(fs.InvalidArgumentError, match="pipeline_parallel"):
        small_job(pipeline_parallel=3)
    with pytest.raises(fs.InvalidArgumentError, match="expert_parallel"):
        small_job(expert_parallel=3, moe_layers=1)
    with pytest.raises(fs.InvalidArgumentError, match="overlap"):
        small_job(overlap=1.5)
    with pytest.raises(fs.UnknownNameError):
        small_job(profile="tpu")
    for bad in ("no", 1, [True]):  # not read as True (nor unhashable in the plan cache)
        with pytest.raises(fs.InvalidTypeError, match="sharded_optimizer"):
            small_job(sharded_optimizer=bad)
    assert small_job(sharded_optimizer=np.bool_(True)).sharded_optimizer is True
    with pytest.raises(fs.InvalidArgumentError, match="needs 64 GPUs"):
        small_job(data_parallel=64, global_batch_tokens=64 * 1024).rank_to_gpu(fabric())
    assert np.isfinite(small_job().compute_time_s)


def test_erosion_reports_saturated_points_without_simulating():
    """Issue 13: an overloaded load ran for minutes and left as an ordinary row."""
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2, gpus_per_host=1, oversubscription=4)
    )
    job = fs.TrainingJob(
        params=1e6, layers=2, hidden_size=64, seq_len=64, data_parallel=4, global_batch_tokens=256
    )
    er = fs.erosion(fab, job, (0.0, 0.9), samples=2)
    ok, sat = er.rows
    assert not ok["saturated"] and sat["saturated"] and sat["offered_max"] > 1
    assert sat["step_time_p50_s"] == math.inf and sat["tokens_per_s_p50"] == 0.0
    assert sat["mfu_p50"] == 0.0 and sat["erosion_p50"] == 1.0
    assert "saturated" in er.table()
    with pytest.raises(fs.OverloadError, match="leaf->spine"):
        fs.erosion(fab, job, (0.9,), samples=2, overload="raise")


def test_oversubscription_sweep_keeps_every_builder_argument():
    """_rebuild read a hard-coded list of keyword arguments and dropped the profile."""
    from fabricsim.analysis.training import _rebuild

    for G in (
        fs.leaf_spine(leaves=2, hosts_per_leaf=2, profile="h100-ndr400"),
        fs.rail_optimized(nodes_per_su=2, profile="h100-ndr400"),
    ):
        H = _rebuild(G, 2.0)
        assert fs.builders.params(H)["profile"] == "h100-ndr400"
        assert fs.builders.params(H)["oversubscription"] == 2.0
        same = {
            k: v
            for k, v in fs.builders.params(G).items()
            if k not in ("oversubscription", "uplink_gbps", "leaf_uplink_gbps")
        }
        assert {k: fs.builders.params(H)[k] for k in same} == same


def test_a_fabric_plans_a_jobs_communication_once(monkeypatch):
    """step() runs once per load: the collectives are planned once per fabric and job (the
    plan is the same, so are the numbers), and the plan goes when its fabric does."""
    import gc

    from fabricsim.analysis import training

    calls = []
    plan = fs.TrainingJob.communication

    def counted(job, fab):
        calls.append(job)
        return plan(job, fab)

    fab, job = fabric(leaves=2, hosts_per_leaf=2), small_job()
    fresh = fs.erosion(fab, job, background_loads=[0.0, 0.2], samples=2, seed=1)
    monkeypatch.setattr(fs.TrainingJob, "communication", counted)
    training._PLANNED.clear()
    again = fs.erosion(fab, job, background_loads=[0.0, 0.2, 0.0], samples=2, seed=1)
    # the fabric once, its ideal (non-blocking) copy once
    assert len(calls) == 2
    assert [r["step_time_p50_s"] for r in again.rows] == [
        *(r["step_time_p50_s"] for r in fresh.rows),
        fresh.rows[0]["step_time_p50_s"],
    ]
    other = small_job(data_parallel=2)
    fs.step(fab, other)
    assert len(calls) == 3  # another job is planned on its own
    fs.step(fab, job)
    assert len(calls) == 4  # a fabric keeps its last job's plan only (a sweep over jobs)
    del fab
    gc.collect()
    assert len(training._PLANNED) == 0
