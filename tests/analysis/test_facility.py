"""The facility model: power -> GPUs and clocks, cooling and heat -> stragglers, PUE, carriers;
the properties of issue 14's "Done when" and the calibration against the published figures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.analysis import facility as fac
from fabricsim.analysis.facility import Facility, combine_site, straggler_factors
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError
from fabricsim.fabric import profiles
from fabricsim.testing.strategies import facilities

H100 = profiles.get_profile("h100-ndr400")
JOB = fs.TrainingJob(
    params=1e9, layers=8, hidden_size=2048, data_parallel=32, global_batch_tokens=32 * 4096
)
SAMPLES = 16
# A fixed network: the same communication samples for every site (as fs.scorecard does), so a
# property compares facilities and nothing else.
COMM = {"data_parallel": np.linspace(0.010, 0.014, SAMPLES)}


def tokens_per_s(f: Facility, job=JOB, seed: int = 0) -> float:
    return combine_site(job, f, COMM, samples=SAMPLES, seed=seed).tokens_per_s


def site(**kw) -> Facility:
    base = dict(name="s", it_power_mw=10.0, rack_power_kw=40.0, cooling="air", ambient_c=25.0)
    base.update(kw)
    return Facility(**base)


# --------------------------------------------------------------------------- power -> GPUs


def test_dgx_h100_figures_and_servers_per_rack():
    assert H100.server_power_kw == 10.2 and H100.gpu_tdp_w == 700 and H100.gpu_min_power_w == 200
    f = site(rack_power_kw=30.0)
    assert f.servers_per_rack(H100) == 2  # 30 // 10.2
    assert f.ready_gpus(H100) == math.floor(10_000 / 10.2) * 8
    assert f.clock_fraction(H100) == 1.0
    # the cooling limit binds when the electrical path carries more
    g = site(rack_power_kw=80.0, cooling="air")
    assert g.usable_rack_kw() == profiles.COOLING["air"].max_rack_kw == 30.0
    assert site(rack_power_kw=80.0, cooling="rear_door").usable_rack_kw() == 55.0
    assert site(rack_power_kw=80.0, cooling="direct_liquid").usable_rack_kw() == 80.0
    assert site(rack_power_kw=80.0, cooling="air", cooling_limit_kw=45.0).usable_rack_kw() == 45


def test_growth_adds_gpus():
    f = site(it_power_mw=1.0, growth_mw=4.0, growth_lead_months=9.0)
    assert f.ready_gpus(H100, with_growth=True) == math.floor(5000 / 10.2) * 8
    assert f.ready_gpus(H100) == math.floor(1000 / 10.2) * 8


def test_a_rack_that_cannot_power_its_server_runs_it_capped_and_slower():
    full = site(rack_power_kw=20.0)
    capped = site(rack_power_kw=9.0)
    frac = capped.gpu_power_fraction(H100)
    assert frac == pytest.approx((9.0 - (10.2 - 5.6)) / 5.6)
    assert capped.clock_fraction(H100) == pytest.approx(
        profiles.throughput_fraction(H100.power_curve, frac)
    )
    assert capped.clock_fraction(H100) < 1.0
    assert capped.server_draw_kw(H100) == 9.0 and capped.servers_per_rack(H100) == 1
    assert tokens_per_s(capped) < tokens_per_s(full)
    step_capped = combine_site(JOB, capped, COMM, samples=SAMPLES)
    step_full = combine_site(JOB, full, COMM, samples=SAMPLES)
    # same straggler draws: compute is exactly 1 / clock longer
    np.testing.assert_allclose(
        step_capped.compute_s * step_capped.clock_fraction, step_full.compute_s
    )


def test_a_job_larger_than_the_ready_power_runs_capped_to_fit_or_not_at_all():
    job = dataclasses.replace(JOB)  # 32 GPUs = 4 servers
    roomy = site(it_power_mw=4 * 10.2e-3)
    assert roomy.job_power_fraction(H100, job.gpus) == 1.0
    tight = site(it_power_mw=4 * 8.0e-3)  # 8 kW per server
    frac = tight.job_power_fraction(H100, job.gpus)
    assert frac == pytest.approx((8.0 - 4.6) / 5.6)
    assert tokens_per_s(tight, job) < tokens_per_s(roomy, job)
    too_small = site(it_power_mw=4 * 6.0e-3)  # below 6.2 kW: no cap fits
    assert too_small.job_power_fraction(H100, job.gpus) == 0.0


def test_power_curve_is_the_published_point():
    p, t = profiles.POWER_CAP_CURVE[0]
    assert p == pytest.approx(0.85 * 0.97) and t == 0.97  # NVIDIA Max-Q: 15 % energy, >= 97 %
    xs = np.linspace(0.05, 1.2, 200)
    ys = [profiles.throughput_fraction(profiles.POWER_CAP_CURVE, x) for x in xs]
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    assert ys[-1] == 1.0
    # below the published point: that point's performance per watt, no better
    assert profiles.throughput_fraction(profiles.POWER_CAP_CURVE, 0.4) == pytest.approx(
        0.97 * 0.4 / (0.85 * 0.97)
    )


def test_power_curve_override_is_used():
    steep = dataclasses.replace(H100, name="steep", power_curve=((0.5, 0.5), (1.0, 1.0)))
    f = site(rack_power_kw=9.0)
    frac = f.gpu_power_fraction(steep)
    assert f.clock_fraction(steep) == pytest.approx(0.5 + (frac - 0.5))
    with pytest.raises(InvalidArgumentError, match="power_curve"):
        dataclasses.replace(H100, power_curve=((0.5, 0.9), (0.8, 0.7), (1.0, 1.0)))
    with pytest.raises(InvalidArgumentError, match=r"end at \(1.0, 1.0\)"):
        dataclasses.replace(H100, power_curve=((0.5, 0.9),))


@settings(deadline=None)
@given(f=facilities(), extra_kw=st.floats(0.0, 200.0))
def test_more_rack_power_never_lowers_tokens_per_s(f, extra_kw):
    g = dataclasses.replace(f, rack_power_kw=f.rack_power_kw + extra_kw)
    assert tokens_per_s(g) >= tokens_per_s(f) * (1 - 1e-12)
    assert g.job_clock_fraction(H100, JOB.gpus) >= f.job_clock_fraction(H100, JOB.gpus)


def _better(a: str, b: str) -> bool:
    """Cooling b is at least as good as a: removes at least as much heat per rack, is no more
    sensitive to ambient temperature and has no worse a PUE range."""
    ca, cb = profiles.COOLING[a], profiles.COOLING[b]
    return (
        cb.max_rack_kw >= ca.max_rack_kw
        and cb.thermal_sensitivity <= ca.thermal_sensitivity
        and cb.pue_range[1] <= ca.pue_range[1]
    )


BETTER = [(a, b) for a in fac.COOLING_TYPES for b in fac.COOLING_TYPES if a != b and _better(a, b)]


def test_cooling_order_covers_the_classes():
    assert ("air", "rear_door") in BETTER and ("air", "direct_liquid") in BETTER
    assert ("rear_door", "immersion") in BETTER and ("rear_door", "direct_liquid") in BETTER


@settings(deadline=None)
@given(f=facilities(coolings=["air", "rear_door", "immersion"]), data=st.data())
def test_better_cooling_never_lowers_tokens_per_s(f, data):
    better = [b for a, b in BETTER if a == f.cooling]
    assume(better)
    g = dataclasses.replace(f, cooling=data.draw(st.sampled_from(better)))
    assert tokens_per_s(g) >= tokens_per_s(f) * (1 - 1e-12)
    if f.pue is None:
        assert g.pue_value <= f.pue_value


# --------------------------------------------------------------------------- stragglers


def mean_penalty(f: Facility, gpus: int, samples: int = 400) -> tuple[float, float]:
    total, thermal = straggler_factors(f, gpus, samples, seed=3)
    return float(total.mean() - 1), float(thermal.mean() - 1)


def test_straggler_penalty_grows_with_job_size():
    f = site(ambient_c=30.0)
    pens = [mean_penalty(f, n)[0] for n in (8, 64, 512, 4096)]
    assert pens == sorted(pens) and pens[-1] > 2 * pens[0]
    liquid = site(cooling="direct_liquid", rack_power_kw=100.0)
    pens = [mean_penalty(liquid, n)[0] for n in (8, 64, 512, 4096)]
    assert pens == sorted(pens)


def test_straggler_penalty_grows_with_ambient_for_air():
    pens = [mean_penalty(site(ambient_c=t), 1024) for t in (10.0, 20.0, 27.0, 35.0, 45.0)]
    thermal = [p[1] for p in pens]
    assert thermal[0] == 0.0  # below the free-cooling temperature
    assert thermal == sorted(thermal) and thermal[-1] > thermal[1] > 0
    assert [p[0] for p in pens] == sorted(p[0] for p in pens)


@pytest.mark.parametrize("cooling", ["direct_liquid", "immersion"])
def test_liquid_cooling_below_its_limit_has_no_thermal_penalty(cooling):
    hot = site(cooling=cooling, rack_power_kw=60.0, ambient_c=45.0)
    _, thermal = mean_penalty(hot, 4096)
    assert thermal == 0.0
    # what remains is the manufacturing spread every cooling type shows, the same as air at a
    # cool ambient
    cold_air = site(ambient_c=10.0)
    assert mean_penalty(hot, 4096)[0] == pytest.approx(mean_penalty(cold_air, 4096)[0])


def test_straggler_model_reproduces_the_published_figures():
    # Sinha et al.: 8 % spread across the measured GPUs
    rng = np.random.default_rng(0)
    n = profiles.GPU_VARIATION_GPUS
    spread = [np.ptp(np.exp(fac.SIGMA_VARIATION * rng.standard_normal(n))) for _ in range(20)]
    assert np.mean(spread) == pytest.approx(0.08, rel=0.05)
    # Llama 3: a 16,384-GPU air-cooled job at the top of the envelope loses ~1.5 % to heat
    hot = site(ambient_c=profiles.AMBIENT_MECHANICAL_C)
    _, thermal = straggler_factors(hot, profiles.DIURNAL_JOB_GPUS, 60, seed=1)
    assert thermal.mean() - 1 == pytest.approx(0.015, rel=0.1)
    night = site(ambient_c=profiles.AMBIENT_FREE_COOLING_C)
    assert straggler_factors(night, 4096, 4, seed=1)[1].max() == 1.0


def test_ambient_series_puts_the_hot_hours_in_the_tail():
    day = site(ambient_c=[15.0] * 9 + [40.0])
    total, thermal = straggler_factors(day, 2048, 400, seed=0)
    assert np.quantile(thermal, 0.5) == 1.0 and np.quantile(thermal, 0.99) > 1.0


def test_same_seed_same_factors():
    f = site(ambient_c=[20.0, 30.0])
    a = straggler_factors(f, 256, 10, seed=7)
    b = straggler_factors(f, 256, 10, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], straggler_factors(f, 256, 10, seed=8)[0])


def test_site_step_runs_the_network_monte_carlo():
    fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2))
    s = fs.site_step(fab, JOB, site(), fs.Background(load=0.3), samples=4, seed=1)
    assert s.exposed_comm_s.shape == (4,) and (s.step_time_s > s.compute_s).all()
    assert s.dominant in ("network", "stragglers")
    assert s.step_time_p99_s >= s.step_time_p50_s


# --------------------------------------------------------------------------- energy, carriers


def test_pue_from_cooling_and_climate():
    assert site(ambient_c=10.0).pue_value == 1.5
    assert site(ambient_c=35.0).pue_value == 1.6
    assert site(ambient_c=22.5).pue_value == pytest.approx(1.55)
    assert site(cooling="direct_liquid", ambient_c=10.0).pue_value == 1.1
    assert site(pue=1.3).pue_value == 1.3


def test_availability_is_one_minus_the_product_of_outages():
    assert fac.availability([0.997, 0.997]) == pytest.approx(1 - 0.003**2)
    assert fac.availability([0.99, 0.98, 0.9]) == pytest.approx(1 - 0.01 * 0.02 * 0.1)


# --------------------------------------------------------------------------- presets, errors


@pytest.mark.parametrize("name", sorted(fac.PRESETS))
def test_presets_build_and_host_every_profile_that_fits_a_rack(name):
    """Every preset hosts every 8-GPU server profile; a rack-scale system (GB200 NVL72, ~120
    kW) fits only where one rack carries its minimum draw, and is refused naming the field."""
    f = Facility.preset(name)
    for p in profiles.list_profiles():
        prof = profiles.get_profile(p)
        floor_kw = (
            prof.server_power_kw
            - prof.gpus_per_node * (prof.gpu_tdp_w - prof.gpu_min_power_w) / 1e3
        )
        if floor_kw <= f.usable_rack_kw(p):
            assert f.ready_gpus(p) > 0 and 0 < f.clock_fraction(p) <= 1
        else:
            assert prof.gpus_per_node > 8
            with pytest.raises(fs.InvalidArgumentError, match="rack_power_kw"):
                f.ready_gpus(p)


@pytest.mark.parametrize(
    "changes, error, field",
    [
        ({"it_power_mw": -1.0}, InvalidArgumentError, "it_power_mw"),
        ({"it_power_mw": 0.0}, InvalidArgumentError, "it_power_mw"),
        ({"rack_power_kw": float("inf")}, InvalidArgumentError, "rack_power_kw"),
        ({"cooling": "swamp"}, UnknownNameError, "cooling"),
        ({"ambient_c": float("nan")}, InvalidArgumentError, "ambient_c"),
        ({"ambient_c": [20.0, float("nan")]}, InvalidArgumentError, r"ambient_c\[1\]"),
        ({"ambient_c": []}, InvalidArgumentError, "ambient_c"),
        ({"ambient_c": "warm"}, InvalidTypeError, "ambient_c"),
        ({"pue": 0.9}, InvalidArgumentError, "pue"),
        ({"growth_mw": -1}, InvalidArgumentError, "growth_mw"),
        ({"growth_lead_months": float("nan")}, InvalidArgumentError, "growth_lead_months"),
        ({"power_price_per_mwh": -5}, InvalidArgumentError, "power_price_per_mwh"),
        ({"route_factor": 0.5}, InvalidArgumentError, "route_factor"),
        (
            {"distance_km": {"paris": -3}, "carriers": [{"name": "a", "capacity_gbps": 1.0}]},
            InvalidArgumentError,
            r"distance_km\['paris'\]",
        ),
        ({"distance_km": {"paris": 3}}, InvalidArgumentError, "carriers"),
        (
            {"carriers": [{"name": "a", "capacity_gbps": 1.0, "availability": 1.5}]},
            InvalidArgumentError,
            r"carriers\[0\].availability",
        ),
        (
            {"carriers": [{"name": "a", "capacity_gbps": 1.0, "colour": "red"}]},
            InvalidArgumentError,
            r"carriers\[0\]",
        ),
        (
            {"carriers": [{"name": "a", "capacity_gbps": 1.0}, {"name": "a", "capacity_gbps": 2}]},
            InvalidArgumentError,
            "carriers",
        ),
        ({"name": ""}, InvalidArgumentError, "name"),
        ({"it_power_mw": True}, InvalidArgumentError, "it_power_mw"),
    ],
)
def test_every_bad_value_is_one_error_naming_the_field(changes, error, field):
    with pytest.raises(error, match=rf"^{field}"):
        site(**changes)


def test_rack_below_one_server_at_minimum_cap_names_the_rack_power():
    f = site(rack_power_kw=6.0)  # < 4.6 kW + 8 x 200 W = 6.2 kW
    with pytest.raises(
        InvalidArgumentError,
        match=r"^rack_power_kw: 6 kW per rack is below one "
        r"h100-ndr400 server at its minimum",
    ):
        f.clock_fraction("h100")
    assert site(rack_power_kw=fac.min_rack_power_kw("h100")).clock_fraction("h100") > 0
    g = site(rack_power_kw=40.0, cooling_limit_kw=5.0)
    with pytest.raises(InvalidArgumentError, match=r"^cooling \(air, 5 kW per rack\)"):
        g.clock_fraction("h100")


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="preset: unknown value 'colo'; valid: "):
        Facility.preset("colo")


def test_sources_list_every_constant():
    names = {r["name"] for r in profiles.sources()}
    for c in fac.COOLING_TYPES:
        assert f"cooling[{c}]" in names
    for key in (
        "POWER_CAP_CURVE",
        "GPU_VARIATION_SPREAD",
        "DIURNAL_SLOWDOWN",
        "FIBRE_ROUTE_FACTOR",
        "CARRIER_AVAILABILITY",
    ):
        assert key in names
    assert all(r["source"] and r["value"] is not None for r in profiles.sources())


def test_doctests():
    import doctest
    import importlib

    fst_facilities = importlib.import_module("fabricsim.testing.strategies.facilities")
    assert doctest.testmod(fac, optionflags=doctest.ELLIPSIS).failed == 0
    assert doctest.testmod(fst_facilities).failed == 0


def test_step_and_erosion_report_both_effects():
    fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2))
    hot = site(rack_power_kw=9.0, ambient_c=[20.0, 35.0])
    plain = fs.step(fab, JOB, fs.Background(load=0.3), 4, 1)
    res = fs.step(fab, JOB, fs.Background(load=0.3), 4, 1, facility=hot)
    np.testing.assert_array_equal(res.exposed_comm_s, res.site.exposed_comm_s)
    # same network samples; compute slower by the cap and the stragglers
    for k, v in plain.comm_time_s.items():
        np.testing.assert_array_equal(v, res.comm_time_s[k])
    assert (res.step_time_s > plain.step_time_s).all()
    d = res.as_dict()
    assert d["gpu_clock_fraction"] < 1 and d["straggler_p99"] >= d["straggler_p50"] > 0
    assert d["tail_dominant"] in ("network", "stragglers")
    er = fs.erosion(fab, JOB, (0.0, 0.3), 4, 1, facility=hot)
    assert {"straggler_p99", "tail_dominant"} <= set(er.rows[0])
    assert er.rows[0]["erosion_p50"] >= -1e-9
    with pytest.raises(InvalidTypeError, match="^facility"):
        fs.step(fab, JOB, facility="metro")


def test_facilities_are_hashable_values():
    a = Facility.preset("legacy-air-colo", distance_km={"paris": 20.0})
    b = Facility.preset("legacy-air-colo", distance_km={"paris": 20.0})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != dataclasses.replace(a, distance_km={"paris": 30.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.it_power_mw = 1.0  # type: ignore[misc]
