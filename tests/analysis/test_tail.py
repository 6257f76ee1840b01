"""Tail latency by Monte Carlo, background traffic, ECMP collision statistics (issue 4)."""

from __future__ import annotations

import numpy as np
import pytest

import fabricsim as fs

NIC_GBPS = 400.0
B = NIC_GBPS * 1e9 / 8


def switch(n: int) -> fs.Fabric:
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=n, gpus_per_host=1, nic_gbps=NIC_GBPS)
    )


def two_leaves(spines: int, per_leaf: int, oversubscription: float = 1.0) -> fs.Fabric:
    return fs.Fabric.from_networkx(
        fs.leaf_spine(
            leaves=2,
            spines=spines,
            hosts_per_leaf=per_leaf,
            gpus_per_host=1,
            nic_gbps=NIC_GBPS,
            oversubscription=oversubscription,
        )
    )


def permutation(fab: fs.Fabric, per_leaf: int, size: float) -> list:
    a, b = fab.gpus[:per_leaf], fab.gpus[per_leaf : 2 * per_leaf]
    return [(s, d, size) for s, d in zip(a, b, strict=True)]


def test_uncongested_collective_has_zero_spread():
    fab = switch(8)
    job = fs.Collective("all_reduce", 8 << 20, algorithm="ring")
    r = fs.tail_latency(fab, job, None, samples=16, seed=3)
    assert r.spread_s == 0.0
    assert np.all(r.job_time_s == r.unloaded_time_s)
    assert r.quantiles_s["p50"] == r.quantiles_s["p999"] == r.unloaded_time_s


def test_ecmp_paths_used_match_balls_into_bins():
    """8 flows hashed onto 8 spines: expected spines in use M(1 - (1 - 1/M)^N) = 5.25."""
    M = N = 8
    fab = two_leaves(spines=M, per_leaf=N)
    flows = permutation(fab, N, 1.0)
    used = []
    for seed in range(400):
        spines = {
            fab.route(s, d, seed=seed, flow_key=k).links[1][1] for k, (s, d, _) in enumerate(flows)
        }
        used.append(len(spines))
    expected = M * (1 - (1 - 1 / M) ** N)
    se = np.std(used) / np.sqrt(len(used))
    assert abs(np.mean(used) - expected) < 4 * se + 0.05, (np.mean(used), expected)


def test_ecmp_collision_stretch_matches_expected_max_load():
    """A synchronous permutation ends with its most loaded uplink: time = maxload x S/B + lat.
    Over many hash seeds the mean max load matches balls into bins (about 2.6 for N = M = 8)."""
    M = N = 8
    size = 64e6
    fab = two_leaves(spines=M, per_leaf=N)
    r = fs.tail_latency(fab, permutation(fab, N, size), None, samples=400, seed=11)
    lat = 4 * 0.6e-6
    max_load = (r.job_time_s - lat) / (size / B)
    assert np.allclose(max_load, np.round(max_load), atol=1e-6)  # whole numbers of flows
    # oracle: balls into bins drawn directly
    bins = np.random.default_rng(0).integers(0, M, size=(20_000, N))
    oracle = np.array([np.bincount(row, minlength=M).max() for row in bins])
    se = max_load.std() / np.sqrt(len(max_load)) + oracle.std() / np.sqrt(len(oracle))
    assert abs(max_load.mean() - oracle.mean()) < 4 * se, (max_load.mean(), oracle.mean())
    assert 2.3 < max_load.mean() < 2.9
    assert r.spread_s > 0


def test_spraying_removes_the_spread():
    fab = two_leaves(spines=8, per_leaf=8)
    r = fs.tail_latency(fab, permutation(fab, 8, 64e6), None, samples=50, seed=11, routing="spray")
    assert r.spread_s == 0.0
    assert r.p50_s == pytest.approx(64e6 / B + 4 * 0.6e-6, rel=1e-9)


def test_four_to_one_oversubscription_slows_a_cross_leaf_permutation_four_times():
    size = 256e6
    times = {}
    for ratio in (1.0, 4.0):
        fab = two_leaves(spines=4, per_leaf=4, oversubscription=ratio)
        times[ratio] = fs.simulate(fab, permutation(fab, 4, size), routing="spray").makespan_s
    lat = 4 * 0.6e-6
    assert (times[4.0] - lat) / (times[1.0] - lat) == pytest.approx(4.0, rel=1e-9)


def test_same_seed_same_numbers_whatever_the_thread_count():
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=2.0)
    ranks = [fab.gpus[0], fab.gpus[1], fab.gpus[4], fab.gpus[5]]
    others = [g for g in fab.gpus if g not in ranks]
    job = fs.Collective("all_reduce", 4 << 20, ranks, algorithm="ring")
    bg = fs.Background(load=0.5, sizes="websearch", endpoints=others)
    a = fs.tail_latency(fab, job, bg, samples=6, seed=5, threads=1)
    b = fs.tail_latency(fab, job, bg, samples=6, seed=5, threads=2)
    c = fs.tail_latency(fab, job, bg, samples=6, seed=6, threads=2)
    assert np.array_equal(a.job_time_s, b.job_time_s)
    assert np.array_equal(a.bg_slowdown, b.bg_slowdown)
    assert not np.array_equal(a.job_time_s, c.job_time_s)


def test_background_load_stretches_the_job_and_background_flows():
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=2.0)
    ranks = [fab.gpus[0], fab.gpus[1], fab.gpus[4], fab.gpus[5]]
    others = [g for g in fab.gpus if g not in ranks]
    job = fs.Collective("all_reduce", 16 << 20, ranks, algorithm="ring")
    quiet = fs.tail_latency(fab, job, None, samples=1, seed=1)
    loaded = fs.tail_latency(fab, job, fs.Background(load=0.6, endpoints=others), samples=8, seed=1)
    assert loaded.job_time_s.min() >= quiet.unloaded_time_s * (1 - 1e-12)
    assert loaded.p50_s > quiet.p50_s * 1.05
    assert np.all(loaded.bg_slowdown >= 1.0)
    buckets = loaded.slowdown_by_size()
    assert sum(b["count"] for b in buckets.values()) == len(loaded.bg_slowdown) > 0


def test_static_background_takes_capacity_away():
    fab = switch(4)
    job = [(fab.gpus[0], fab.gpus[1], 100e6)]
    base = fs.tail_latency(fab, job, None, samples=1).p50_s
    half = fs.tail_latency(fab, job, fs.Background(static_fraction=0.5), samples=1).p50_s
    lat = 2 * 0.6e-6
    assert (half - lat) / (base - lat) == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("pattern", ["uniform", "permutation", "incast"])
def test_patterns_run_and_load_the_fabric(pattern):
    fab = two_leaves(spines=2, per_leaf=4)
    job = fs.Collective("all_gather", 4 << 20, fab.gpus[:2], algorithm="ring")
    bg = fs.Background(load=0.5, pattern=pattern, endpoints=fab.gpus[2:], incast_receivers=1)
    r = fs.tail_latency(fab, job, bg, samples=4, seed=2)
    assert r.bg_generated > 0
    assert np.all(np.isfinite(r.job_time_s))


def test_tenant_pattern_runs_another_collective_alongside():
    fab = two_leaves(spines=1, per_leaf=4, oversubscription=4.0)
    job = fs.Collective("all_reduce", 32 << 20, [fab.gpus[0], fab.gpus[4]], algorithm="ring")
    tenant = fs.Collective("all_to_all", 64 << 20, algorithm="direct")
    alone = fs.tail_latency(fab, job, None, samples=1)
    shared = fs.tail_latency(
        fab,
        job,
        fs.Background(pattern="tenant", tenant=tenant, endpoints=fab.gpus[1:4] + fab.gpus[5:]),
        samples=2,
    )
    assert shared.p50_s > alone.p50_s


def test_random_placement_moves_the_job():
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=2.0)
    job = fs.Collective("all_reduce", 16 << 20, fab.gpus[:4], algorithm="ring")
    r = fs.tail_latency(fab, job, None, samples=24, seed=4, placement="random")
    # some placements keep the ring under one leaf, others cross the 2:1 uplinks
    assert r.spread_s > 0
    assert r.job_time_s.min() == pytest.approx(r.unloaded_time_s, rel=1e-9)


def test_bad_arguments_are_named():
    fab = switch(4)
    job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    with pytest.raises(fs.InvalidArgumentError, match="samples"):
        fs.tail_latency(fab, job, None, samples=0)
    with pytest.raises(fs.InvalidArgumentError, match="load"):
        fs.Background(load=1.0)
    with pytest.raises(fs.UnknownNameError, match="placement"):
        fs.tail_latency(fab, job, None, placement="anywhere")
    with pytest.raises(fs.InvalidArgumentError, match="cdf"):
        fs.Background(load=0.5, sizes=(np.array([1.0, 2.0]), np.array([0.5, 0.4])))
    with pytest.raises(fs.UnknownNameError, match="websearch"):
        fs.Background(load=0.5, sizes="webscale")


# ------------------------------------------------------------------------------ overload
def test_offered_utilization_matches_the_uniform_closed_form():
    """Uniform background among 8 GPUs on two leaves (4 each), 4:1 oversubscribed: a leaf's
    GPUs send 4/7 of their load across, so its uplinks (one NIC's worth in all) carry
    4 x load x NIC x 4/7, spread evenly over the spines: utilisation 16/7 x load."""
    from fabricsim.traffic.background import nic_Bps, offered_utilization

    fab = two_leaves(spines=2, per_leaf=4, oversubscription=4.0)
    gpus = fab.indices(fab.gpus)
    for load in (0.2, 0.5):
        util, sampled = offered_utilization(fab, gpus, nic_Bps(fab, gpus), load)
        assert not sampled
        up = [fab.links_of_edge(f"leaf{i}", f"spine{s}")[0] for i in range(2) for s in range(2)]
        # 16/7 x load NICs' worth of traffic over two uplinks of half a NIC each
        nic_per_uplink = (
            fab.usable_Bps[fab.links_of_edge(fab.gpus[0], "leaf0")[0]] / fab.usable_Bps[up[0]]
        )
        assert nic_per_uplink == pytest.approx(2.0)
        assert util[up] == pytest.approx(16 / 7 * load * nic_per_uplink / 2, rel=1e-12)
        # each GPU's NIC carries exactly the load it offers
        assert util[fab.links_of_edge(fab.gpus[0], "leaf0")[0]] == pytest.approx(load)


def test_tail_latency_refuses_a_background_that_overloads_a_tier():
    """Issue 13: an overloaded point used to run for minutes with only a warning; now it is an
    OverloadError naming the link, its tier and the offered load, or (overload="saturate") a
    result marked saturated, returned at once without simulating."""
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=4.0)
    job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    with pytest.raises(fs.OverloadError, match=r"leaf->spine link 'leaf\d' -> 'spine\d' 114%") as e:
        fs.tail_latency(fab, job, fs.Background(load=0.5, sizes=1e5), samples=1, seed=0)
    assert e.value.tier == "leaf->spine" and e.value.offered == pytest.approx(8 / 7)
    r = fs.tail_latency(
        fab, job, fs.Background(load=0.5, sizes=1e5), samples=3, seed=0, overload="saturate"
    )
    assert r.saturated and r.offered_max == pytest.approx(8 / 7)
    assert np.all(np.isinf(r.job_time_s)) and r.p99_s == np.inf and r.p50_s == np.inf
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", fs.OverloadWarning)
        ok = fs.tail_latency(fab, job, fs.Background(load=0.3, sizes=1e5), samples=1, seed=0)
    assert not ok.saturated and 0 < ok.offered_max < 0.9


def test_max_background_flows_is_one_figure_in_python_and_rust():
    """Issue 12: the cap was 2e6 in tail.py and 4e6 in the Rust core's montecarlo.rs."""
    import re
    from pathlib import Path

    from fabricsim.analysis import tail

    src = Path(__file__).resolve().parents[2] / "rust" / "fabricsim-core" / "src"
    found = [
        m
        for f in sorted(src.rglob("*.rs"))
        for m in re.findall(r"const MAX_BACKGROUND_FLOWS: f64 = ([0-9.e_]+);", f.read_text())
    ]
    assert len(found) == 1, found
    assert float(found[0].replace("_", "")) == tail.MAX_BACKGROUND_FLOWS


def test_job_placements_and_rank_orders_are_two_names():
    """Issue 12: PLACEMENTS meant fixed/random in tail.py and rail/linear/random in
    training.py."""
    from fabricsim.analysis import tail, training

    assert tail.JOB_PLACEMENTS == ("fixed", "random")
    assert training.RANK_ORDERS == ("rail", "linear", "random")
    assert not hasattr(tail, "PLACEMENTS") and not hasattr(training, "PLACEMENTS")


def test_event_budget_bounds_a_sample_and_marks_it_saturated():
    """Issue 13: near saturation a run has a work budget; a sample that exceeds it stops and
    the result says so (overload="saturate") or raises (the default). Budgets count work, not
    time: the same answer whatever the threads."""
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=1.0)
    job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    bg = fs.Background(load=0.5, sizes=1e5)
    full = fs.tail_latency(fab, job, bg, samples=4, seed=1, event_budget=0)
    assert not full.saturated and np.isfinite(full.job_time_s).all()
    cut = [
        fs.tail_latency(
            fab, job, bg, samples=4, seed=1, event_budget=50, threads=t, overload="saturate"
        )
        for t in (1, 2)
    ]
    for r in cut:
        assert r.saturated and r.saturation == "event budget" and np.isinf(r.job_time_s).all()
    np.testing.assert_array_equal(cut[0].job_time_s, cut[1].job_time_s)
    with pytest.raises(fs.OverloadError, match="event budget"):
        fs.tail_latency(fab, job, bg, samples=4, seed=1, event_budget=50)
    roomy = fs.tail_latency(fab, job, bg, samples=4, seed=1, event_budget=10**9)
    np.testing.assert_array_equal(roomy.job_time_s, full.job_time_s)


def test_work_budget_marks_a_point_saturated_deterministically():
    """Issue 13: a stable but heavily loaded point re-rates hundreds of flows per event (the
    1:1 designs of the example at load 0.9 took 10 - 50 s). A budget of re-rated flows per
    sample bounds it: a sample past it makes the whole point saturated ("work budget"), for
    any thread count; a budget no sample reaches changes nothing, bit for bit."""
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=1.0)
    job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    bg = fs.Background(load=0.5, sizes=1e5)
    free = fs.tail_latency(fab, job, bg, samples=6, seed=3, work_budget=0)
    assert not free.saturated and np.isfinite(free.job_time_s).all()
    default = fs.tail_latency(fab, job, bg, samples=6, seed=3)
    np.testing.assert_array_equal(default.job_time_s, free.job_time_s)
    np.testing.assert_array_equal(default.bg_slowdown, free.bg_slowdown)
    roomy = fs.tail_latency(fab, job, bg, samples=6, seed=3, work_budget=10**12)
    np.testing.assert_array_equal(roomy.job_time_s, free.job_time_s)
    cut = [
        fs.tail_latency(
            fab, job, bg, samples=6, seed=3, work_budget=200, threads=t, overload="saturate"
        )
        for t in (1, 2, 3)
    ]
    for r in cut:
        assert r.saturated and r.saturation == "work budget"
        assert np.isinf(r.job_time_s).all() and len(r.job_time_s) == 6
        assert r.p99_s == np.inf and len(r.bg_slowdown) == 0
    with pytest.raises(fs.OverloadError, match="work budget"):
        fs.tail_latency(fab, job, bg, samples=6, seed=3, work_budget=200)
    with pytest.raises(fs.InvalidArgumentError, match="work_budget"):
        fs.tail_latency(fab, job, bg, samples=6, seed=3, work_budget=-1)


def test_progress_bar_runs_the_same_samples(capsys, monkeypatch):
    """Issue 16: ``progress=True`` runs the samples in chunks behind a bar; each sample is
    seeded by its number in the point, so the numbers are those of one run, for any thread
    count, and a point out of budget is saturated the same way."""
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the built-in bar, on stderr
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=2.0)
    ranks = [fab.gpus[0], fab.gpus[1], fab.gpus[4], fab.gpus[5]]
    others = [g for g in fab.gpus if g not in ranks]
    job = fs.Collective("all_reduce", 4 << 20, ranks, algorithm="ring")
    bg = fs.Background(load=0.5, sizes="websearch", endpoints=others)
    whole = fs.tail_latency(fab, job, bg, samples=45, seed=5, threads=2)
    capsys.readouterr()
    for threads in (1, 2):
        shown = fs.tail_latency(fab, job, bg, samples=45, seed=5, threads=threads, progress=True)
        np.testing.assert_array_equal(shown.job_time_s, whole.job_time_s)
        np.testing.assert_array_equal(shown.bg_slowdown, whole.bg_slowdown)
        np.testing.assert_array_equal(shown.bg_sample, whole.bg_sample)
        assert shown.bg_generated == whole.bg_generated
        err = capsys.readouterr().err
        assert "tail_latency samples" in err and "45/45" in err
    assert whole.bg_sample.max() > 40  # the later chunks' samples keep their numbers
    bg = fs.Background(load=0.5, sizes=1e5)
    job = fs.Collective("all_reduce", 1 << 20, algorithm="ring")
    fab = two_leaves(spines=2, per_leaf=4, oversubscription=1.0)
    cut = fs.tail_latency(fab, job, bg, samples=6, seed=3, work_budget=200, overload="saturate")
    shown = fs.tail_latency(
        fab, job, bg, samples=6, seed=3, work_budget=200, overload="saturate", progress=True
    )
    assert shown.saturated and shown.saturation == cut.saturation == "work budget"
    assert len(shown.job_time_s) == 6 and np.isinf(shown.job_time_s).all()
