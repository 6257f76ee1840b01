"""fs.scorecard: rows, winners and verdict, outputs, energy and availability properties."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fabricsim as fs
from fabricsim.analysis.scorecard import COLUMNS
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError

FABRIC = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2))
JOB = fs.TrainingJob(
    params=1e9, layers=8, hidden_size=2048, data_parallel=32, global_batch_tokens=32 * 4096
)
A = dict(name="a", capacity_gbps=400.0, availability=0.997)
B = dict(name="b", capacity_gbps=400.0, availability=0.995)


def sites():
    return [
        fs.Facility(
            name="metro",
            it_power_mw=4.0,
            rack_power_kw=9.0,
            cooling="air",
            ambient_c=[20.0, 33.0],
            power_price_per_mwh=140.0,
            carriers=[A, B],
            distance_km={"paris": 20.0, "berlin": 900.0},
        ),
        fs.Facility.preset(
            "liquid-ai-campus",
            name="campus",
            ambient_c=12.0,
            power_price_per_mwh=55.0,
            distance_km={"paris": 1500.0, "berlin": 1100.0},
        ),
        fs.Facility.preset(
            "immersion-site",
            name="tank",
            it_power_mw=0.01,
            ambient_c=20.0,
            growth_mw=5.0,
            growth_lead_months=9.0,
            distance_km={"paris": 450.0, "berlin": 300.0},
        ),
    ]


@pytest.fixture(scope="module")
def card():
    return fs.scorecard(
        sites(),
        FABRIC,
        JOB,
        slo_ms=15.0,
        samples=6,
        requests=4000,
        seed=2,
        background=fs.Background(load=0.2),
    )


def test_rows_winners_and_verdict(card):
    assert [r["site"] for r in card.rows] == ["metro", "campus", "tank"]
    metro, campus, tank = card.rows
    assert not tank["fits"] and tank["tokens_per_s"] == 0 and tank["binding_constraint"] == "power"
    assert tank["growth_gpus"] > tank["ready_gpus"]
    assert metro["gpu_clock_fraction"] < 1
    # the binding constraint is the largest loss: the power cap's or the exposed network's
    assert metro["binding_constraint"] == (
        "power" if 1 - metro["gpu_clock_fraction"] > metro["exposed_comm_fraction"] else "network"
    )
    assert campus["gpu_clock_fraction"] == 1
    assert card.training_winner == "campus" and card.inference_winner == "metro"
    assert campus["slo_attainment"]["paris"] == 0.0  # 1,950 km of fibre: 19.5 ms round trip
    assert metro["slo_attainment"]["paris"] > 0.99
    v = card.verdict()
    assert "Training: 'campus' wins" in v and "Inference: 'metro' wins" in v
    assert "'metro' is bound by power: 9 kW per rack" in v
    assert "'tank' is bound by power" in v and "misses the SLO from paris" in v
    assert "location" in v


def test_numbers_follow_the_definitions(card):
    for r in card.rows:
        if not r["fits"]:
            continue
        assert r["tokens_per_s"] == pytest.approx(JOB.global_batch_tokens / r["step_time_p50_s"])
        mw = r["job_facility_power_kw"] / 1e3
        assert r["job_facility_power_kw"] == pytest.approx(r["job_it_power_kw"] * r["pue"])
        assert r["tokens_per_mwh"] == pytest.approx(r["tokens_per_s"] * 3600 / mw)
        assert r["tokens_per_s_per_mw"] == pytest.approx(r["tokens_per_s"] / mw)
        assert r["energy_cost_per_mtok"] == pytest.approx(
            r["power_price_per_mwh"] * 1e6 / r["tokens_per_mwh"]
        )
        assert r["step_time_p99_s"] >= r["step_time_p50_s"]


def test_same_seed_same_numbers():
    kw = dict(slo_ms=15.0, samples=3, requests=500, seed=5)
    a = fs.scorecard(sites(), FABRIC, JOB, **kw).to_json()
    b = fs.scorecard(sites(), FABRIC, JOB, **kw).to_json()
    assert a == b


def test_outputs(card, tmp_path):
    text = card.table()
    for r in card.rows:
        assert r["site"] in text
    for _, head, _, _ in COLUMNS:
        assert head in text
    assert "paris p99 ms / <= 15 ms" in text
    df = card.to_pandas()
    assert list(df["site"]) == ["metro", "campus", "tank"]
    assert "slo_attainment[paris]" in df.columns
    rows = list(csv.DictReader(io.StringIO(card.to_csv(tmp_path / "c.csv"))))
    assert rows[1]["site"] == "campus" and (tmp_path / "c.csv").exists()
    doc = json.loads(card.to_json(tmp_path / "c.json"))
    assert doc["training_winner"] == "campus" and doc["rows"][2]["step_time_p50_s"] is None
    assert (
        doc["rows"][0]["inference_p99_ms"]["berlin"] == card.rows[0]["inference_p99_ms"]["berlin"]
    )


def test_plot_writes_a_png_without_touching_the_backend(card, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    before = matplotlib.get_backend()
    fig = card.plot(tmp_path / "card.png")
    assert (tmp_path / "card.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert hasattr(fig, "savefig") and matplotlib.get_backend() == before
    plt = pytest.importorskip("matplotlib.pyplot")
    f2, axes = plt.subplots(1, 3 if card.regions else 2)
    assert card.plot(ax=axes) is f2  # draws on the caller's axes (a notebook's)
    plt.close(f2)


@settings(deadline=None, max_examples=10)
@given(pues=st.lists(st.floats(1.0, 3.0), min_size=2, max_size=4, unique=True))
def test_tokens_per_mwh_falls_as_pue_rises(pues):
    base = fs.Facility.preset("liquid-ai-campus")
    fs_ = [dataclasses.replace(base, name=f"pue{i}", pue=p) for i, p in enumerate(pues)]
    card = fs.scorecard(fs_, FABRIC, JOB, samples=2, regions=())
    order = np.argsort(pues)
    per_mwh = [card.rows[i]["tokens_per_mwh"] for i in order]
    assert all(b < a for a, b in zip(per_mwh, per_mwh[1:], strict=False))
    # the throughput itself does not depend on PUE
    assert len({r["tokens_per_s"] for r in card.rows}) == 1


@settings(deadline=None, max_examples=10)
@given(avail=st.lists(st.sampled_from([0.9, 0.95, 0.99, 0.997]), min_size=1, max_size=3))
def test_availability_over_carriers_is_one_minus_the_product_of_outages(avail):
    carriers = [
        dict(name=f"c{i}", capacity_gbps=100.0, availability=a) for i, a in enumerate(avail)
    ]
    f = fs.Facility(
        name="s",
        it_power_mw=1.0,
        rack_power_kw=40.0,
        cooling="air",
        carriers=carriers,
        distance_km={"here": 10.0},
    )
    card = fs.scorecard([f], FABRIC, JOB, samples=1, requests=20_000, seed=1)
    expected = 1 - math.prod(1 - a for a in avail)
    assert card.rows[0]["availability"] == pytest.approx(expected)
    # the simulated requests agree: every request inside the SLO was served
    served = card.rows[0]["slo_attainment"]["here"]
    assert served == pytest.approx(
        expected, abs=4 * math.sqrt(expected * (1 - expected) / 2e4) + 1e-4
    )


def test_errors_name_the_facility_and_field():
    bad_rack = fs.Facility(name="shed", it_power_mw=1.0, rack_power_kw=5.0, cooling="air")
    with pytest.raises(InvalidArgumentError, match=r"^facility 'shed': rack_power_kw: 5 kW"):
        fs.scorecard([bad_rack], FABRIC, JOB, samples=1)
    with pytest.raises(
        InvalidArgumentError,
        match=r"facility 'metro': distance_km: no distance "
        r"to region 'tokyo'",
    ):
        fs.scorecard(sites(), FABRIC, JOB, regions=["tokyo"], samples=1)
    with pytest.raises(InvalidArgumentError, match="appears twice"):
        fs.scorecard([sites()[0], sites()[0]], FABRIC, JOB, samples=1)
    with pytest.raises(InvalidArgumentError, match="^facilities: give at least one"):
        fs.scorecard([], FABRIC, JOB)
    with pytest.raises(InvalidTypeError, match=r"^facilities\[0\]"):
        fs.scorecard([{"name": "x"}], FABRIC, JOB)
    with pytest.raises(InvalidArgumentError, match="^slo_ms"):
        fs.scorecard(sites(), FABRIC, JOB, slo_ms=0)
    with pytest.raises(InvalidTypeError, match="^fabric_design"):
        fs.scorecard(sites(), "leaf-spine", JOB)


def test_docs_example_runs(tmp_path, monkeypatch):
    """docs/facilities.md's Python example is complete and runs (it writes its outputs)."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "facilities.md"
    if not doc.exists():
        pytest.skip("docs/ not next to tests/")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    code = doc.read_text(encoding="utf-8").split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/facilities.md", "exec"), {"__name__": "docs_example"})
    assert (tmp_path / "card.png").exists() and (tmp_path / "card.json").exists()


def test_doctests():
    import doctest

    from fabricsim.analysis import scorecard as module

    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_a_design_with_its_own_edge_sites_is_scored_with_the_facilitys_wan():
    """A [fabric.edge] design used to fail the scorecard ("already has a node 'border'"): the
    facility's carriers and regions replace the design's own edge sites."""
    from fabricsim.analysis.facility import region_latency

    G = fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[{"name": "old", "capacity_gbps": 100.0, "availability": 0.99}],
        sites=[
            {"name": "elsewhere", "carriers": ["old"], "distance_km": 5000.0, "capacity_gbps": 10.0}
        ],
    )
    fab = fs.Fabric.from_networkx(G)
    site = dataclasses.replace(fs.Facility.preset("legacy-air-colo"), distance_km={"paris": 20.0})
    regions = ["paris"]
    with_edge = region_latency(site, fab, regions, requests=2_000)
    plain = region_latency(site, FABRIC, regions, requests=2_000)
    assert set(with_edge) == set(regions)
    assert with_edge[regions[0]]["p99_ms"] == pytest.approx(plain[regions[0]]["p99_ms"], rel=0.2)
