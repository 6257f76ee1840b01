"""edge.edge_latency: carrier availability (1 - prod(1 - a_i)), failover, policies, distance,
jitter, carrier queueing, reports and errors."""

from __future__ import annotations

import csv
import doctest
import io
import json
import math

import numpy as np
import pytest

import fabricsim as fs
from fabricsim.analysis import edge, failures
from fabricsim.analysis.edge import edge_latency
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
)

# One GPU per host: a request's fabric part is pop -> border (1 us) -> spine (1 us)
# -> leaf (0.6 us) -> GPU (0.6 us) = 3.2 us one way on top of the site's circuit.
FABRIC_ONE_WAY_US = 3.2


def build(carriers, sites, **kw):
    G = fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=carriers,
        sites=sites,
        **kw,
    )
    return fs.Fabric.from_networkx(G)


def carrier(name, availability=1.0, jitter_us=0.0, **kw):
    return {
        "name": name,
        "capacity_gbps": 100.0,
        "availability": availability,
        "jitter_us": jitter_us,
        **kw,
    }


def site(name, carriers, distance_km, capacity_gbps=10.0):
    return {
        "name": name,
        "carriers": carriers,
        "distance_km": distance_km,
        "capacity_gbps": capacity_gbps,
    }


def rtt_ms(km):
    return 2 * (5.0 * km + FABRIC_ONE_WAY_US) / 1e3


@pytest.fixture(scope="module")
def two_sites():
    """'dual' homed on slow (primary, 2000 km) and fast (400 km); 'single' on fast only."""
    return build(
        [carrier("slow", 0.95), carrier("fast", 0.9)],
        [
            site("dual", ["slow", "fast"], {"slow": 2000.0, "fast": 400.0}),
            site("single", ["fast"], 400.0),
        ],
    )


def test_doctests():
    assert doctest.testmod(edge).failed == 0


# ----------------------------------------------------------------------------- availability


def test_dual_carrier_availability_is_one_minus_product(two_sites):
    n = 200_000
    rep = edge_latency(two_sites, requests=n, seed=1)
    for policy in edge.POLICIES:
        dual, single = rep.row("dual", policy), rep.row("single", policy)
        assert dual["availability_expected"] == pytest.approx(1 - 0.05 * 0.1, abs=1e-15)
        assert single["availability_expected"] == pytest.approx(0.9, abs=1e-15)
        for row, a in ((dual, 1 - 0.05 * 0.1), (single, 0.9)):
            assert abs(row["availability"] - a) < 5 * math.sqrt(a * (1 - a) / n)
        # Side by side: diversity buys availability.
        assert dual["availability"] > single["availability"]
    # Every policy fails over to any up carrier: the same requests are served.
    served = {p: np.isfinite(rep.samples_ms[("dual", p)]) for p in edge.POLICIES}
    assert all(np.array_equal(served["split"], v) for v in served.values())


def test_three_carriers_and_table_side_by_side():
    fab = build(
        [carrier("a", 0.9), carrier("b", 0.8), carrier("c", 0.7)],
        [site("one", ["a"], 100.0), site("three", ["a", "b", "c"], 100.0)],
    )
    rep = edge_latency(fab, policies=("primary_backup",), requests=50_000)
    assert rep.row("three", "primary_backup")["availability_expected"] == pytest.approx(
        1 - 0.1 * 0.2 * 0.3, abs=1e-15
    )
    lines = rep.table().splitlines()
    assert lines[0].split()[:3] == ["site", "policy", "carriers"]
    assert lines[1].startswith("one ") and "a+b+c" in lines[2]
    assert rep.row("one", "primary_backup")["within_slo"] == pytest.approx(
        rep.row("one", "primary_backup")["availability"]
    )


def test_carrier_is_one_shared_risk_group(two_sites):
    # 'fast' is down for the same requests at both sites that use it.
    rep = edge_latency(two_sites, policies=("lowest_latency",), requests=5000, seed=3)
    single_down = ~np.isfinite(rep.samples_ms[("single", "lowest_latency")])
    dual = rep.samples_ms[("dual", "lowest_latency")]
    # Where 'fast' is down the dual site uses 'slow' (or nothing): never the fast latency.
    assert (dual[single_down] > rtt_ms(1000)).all()
    assert dual[~single_down] == pytest.approx(rtt_ms(400))


# ----------------------------------------------------------------------------- failover


def test_failing_the_primary_moves_traffic_to_the_backup(two_sites):
    before = edge_latency(two_sites, sites=["dual"], policies=("primary_backup",))
    row = before.row("dual", "primary_backup")
    assert row["p50_ms"] == pytest.approx(rtt_ms(2000), rel=1e-12)  # the primary, slow
    assert row["carrier_share"]["slow"] == pytest.approx(0.95, abs=0.01)
    for after in (
        edge_latency(
            two_sites, sites=["dual"], policies=("primary_backup",), failed_carriers=["slow"]
        ),
        edge_latency(
            failures.fail(two_sites, carriers=["slow"]),
            sites=["dual"],
            policies=("primary_backup",),
        ),
    ):
        r = after.row("dual", "primary_backup")
        assert r["down_carriers"] == ["slow"]
        assert r["carrier_share"]["slow"] == 0.0
        assert r["p50_ms"] == pytest.approx(rtt_ms(400), rel=1e-12)  # now the backup's
        assert r["p99_ms"] == pytest.approx(rtt_ms(400), rel=1e-12)
        assert r["availability_expected"] == pytest.approx(0.9)
        assert r["availability"] == pytest.approx(r["carrier_share"]["fast"])
        assert abs(r["availability"] - 0.9) < 0.01


def test_failing_every_carrier_of_a_site_gives_zero_availability(two_sites, tmp_path):
    rep = edge_latency(two_sites, failed_carriers=["slow", "fast"], requests=1000)
    for r in rep.rows:
        assert r["availability"] == 0 and r["availability_expected"] == 0
        assert r["within_slo"] == 0
        assert math.isnan(r["p50_ms"]) and math.isnan(r["p99_ms"])
        assert sorted(r["down_carriers"]) == sorted(r["carriers"])
    assert (np.isinf(rep.samples_ms[("dual", "split")])).all()
    assert "n/a" in rep.table()
    data = json.loads(rep.to_json(tmp_path / "r.json"))
    assert data["rows"][0]["p50_ms"] is None
    assert json.loads((tmp_path / "r.json").read_text())["rows"][0]["availability"] == 0.0
    # The same through the fabric: fail the only carrier of 'single'.
    rep2 = edge_latency(failures.fail(two_sites, carriers=["fast"]), sites=["single"])
    assert all(r["availability"] == 0 for r in rep2.rows)
    assert not rep2.paths["single"][0].usable


def test_failed_handoff_link_makes_the_carrier_unusable(two_sites):
    fab = failures.fail(two_sites, links=[("border", "pop/fast")])
    rep = edge_latency(fab, sites=["dual"], policies=("lowest_latency",))
    path = {p.carrier: p for p in rep.paths["dual"]}
    assert not path["fast"].usable and "unreachable" in path["fast"].reason
    assert rep.row("dual", "lowest_latency")["p50_ms"] == pytest.approx(rtt_ms(2000))


# ----------------------------------------------------------------------------- policies


def test_lowest_latency_beats_a_slow_primary():
    fab = build(
        [carrier("slow", 0.99, jitter_us=300.0), carrier("fast", 0.99, jitter_us=300.0)],
        [site("x", ["slow", "fast"], {"slow": 3000.0, "fast": 500.0})],
    )
    rep = edge_latency(fab, requests=20_000, seed=2)
    ll, pb, sp = (rep.row("x", p) for p in ("lowest_latency", "primary_backup", "split"))
    assert ll["p50_ms"] <= pb["p50_ms"]
    assert ll["p50_ms"] < rtt_ms(3000) < pb["p50_ms"]
    assert ll["p50_ms"] <= sp["p50_ms"] <= pb["p50_ms"]
    assert ll["carrier_share"]["fast"] > 0.98 and pb["carrier_share"]["slow"] > 0.98
    # The base round trips follow the distances.
    bases = {p.carrier: p.base_rtt_ms for p in rep.paths["x"]}
    assert bases == pytest.approx({"slow": rtt_ms(3000), "fast": rtt_ms(500)}, rel=1e-12)


def test_split_is_proportional_to_circuit_capacity():
    G = fs.edge_sites(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[carrier("a"), carrier("b")],
        sites=[site("x", ["a", "b"], 100.0)],
    )
    G.edges["site/x", "pop/b"]["capacity_gbps"] = 30.0  # a's circuit keeps 10 Gb/s
    n = 100_000
    rep = edge_latency(fs.Fabric.from_networkx(G), policies=("split",), requests=n)
    share = rep.row("x", "split")["carrier_share"]
    assert abs(share["b"] - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)
    assert share["a"] + share["b"] == pytest.approx(1.0)


def test_split_only_uses_up_carriers(two_sites):
    rep = edge_latency(two_sites, sites=["dual"], policies=("split",), requests=50_000)
    r = rep.row("dual", "split")
    # Equal circuits: each carrier is picked by half of the requests with both up, and all
    # the requests with only it up.
    a_slow, a_fast = 0.95, 0.9
    expect_fast = a_fast * a_slow / 2 + a_fast * (1 - a_slow)
    assert abs(r["carrier_share"]["fast"] - expect_fast) < 0.01
    assert sum(r["carrier_share"].values()) == pytest.approx(r["availability"])


# ----------------------------------------------------------------------------- latency model


def test_distance_costs_5_us_per_km_each_way():
    fab = build([carrier("a")], [site(f"s{km}", ["a"], float(km)) for km in (1, 100, 1000)])
    rep = edge_latency(fab, policies=("primary_backup",), requests=100)
    p50 = {r["site"]: r["p50_ms"] for r in rep.rows}
    for km in (1, 100, 1000):
        assert p50[f"s{km}"] == pytest.approx(rtt_ms(km), rel=1e-12)
        assert np.ptp(rep.samples_ms[(f"s{km}", "primary_backup")]) == 0
    assert (p50["s1000"] - p50["s100"]) * 1e3 == pytest.approx(2 * 5.0 * 900, rel=1e-12)


def test_base_latency_and_target():
    fab = build([carrier("a", base_latency_us=250.0)], [site("x", ["a"], 10.0)])
    near = edge_latency(fab, policies=("primary_backup",), requests=10)
    assert near.target == fab.gpus[0]
    assert near.row("x", "primary_backup")["p50_ms"] == pytest.approx(
        2 * (250.0 + 50.0 + FABRIC_ONE_WAY_US) / 1e3, rel=1e-12
    )
    other = edge_latency(fab, policies=("primary_backup",), requests=10, target=fab.gpus[1])
    assert other.row("x", "primary_backup")["p50_ms"] == pytest.approx(
        near.row("x", "primary_backup")["p50_ms"]
    )


def test_jitter_is_exponential_each_way():
    fab = build([carrier("a", jitter_us=800.0)], [site("x", ["a"], 100.0)])
    n = 200_000
    lat = edge_latency(fab, policies=("primary_backup",), requests=n).samples_ms[
        ("x", "primary_backup")
    ]
    extra = lat - rtt_ms(100)
    assert extra.min() >= 0
    # Sum of two independent Exp(0.8 ms): mean 1.6 ms, variance 2 x 0.64 ms^2.
    assert abs(extra.mean() - 1.6) < 5 * math.sqrt(1.28 / n)
    assert abs(extra.var() - 1.28) < 0.05


def test_carrier_load_adds_mm1_queueing():
    fab = build([carrier("a"), carrier("b")], [site("x", ["a", "b"], 100.0, capacity_gbps=1.0)])
    n = 200_000
    rho = 0.8
    rep = edge_latency(fab, policies=("primary_backup",), requests=n, carrier_load={"a": rho})
    path = rep.paths["x"][0]
    service_ms = 4096 / 1.25e8 * 1e3  # 4096 B at 1 Gb/s
    expect = 2 * rho / (1 - rho) * service_ms
    assert path.mean_queueing_ms == pytest.approx(expect, rel=1e-12)
    extra = rep.samples_ms[("x", "primary_backup")] - rtt_ms(100)
    m = service_ms / (1 - rho)
    var = 2 * (2 * rho * m * m - (rho * m) ** 2)
    assert abs(extra.mean() - expect) < 5 * math.sqrt(var / n)
    assert rep.paths["x"][1].mean_queueing_ms == 0.0  # b carries no load
    with pytest.raises(InvalidArgumentError, match="carrier_load.*< 1"):
        edge_latency(fab, carrier_load=1.0)
    with pytest.raises(UnknownNameError, match="known carriers: a, b"):
        edge_latency(fab, carrier_load={"zz": 0.5})


def test_slo_and_server_time():
    fab = build([carrier("a")], [site("x", ["a"], 1000.0)])  # 10.0064 ms round trip
    kw = dict(policies=("primary_backup",), requests=100)
    assert edge_latency(fab, slo_ms=10.1, **kw).row("x", "primary_backup")["within_slo"] == 1
    assert edge_latency(fab, slo_ms=9.9, **kw).row("x", "primary_backup")["within_slo"] == 0
    r = edge_latency(fab, slo_ms=20.0, server_ms=15.0, **kw).row("x", "primary_backup")
    assert r["p50_ms"] == pytest.approx(rtt_ms(1000) + 15.0) and r["within_slo"] == 0


# ----------------------------------------------------------------------------- determinism


def test_seeded_and_independent_of_other_sites(two_sites):
    a = edge_latency(two_sites, seed=4, requests=3000)
    b = edge_latency(two_sites, seed=4, requests=3000)
    c = edge_latency(two_sites, seed=4, requests=3000, sites=["single"])
    d = edge_latency(two_sites, seed=5, requests=3000)
    key = ("single", "split")
    assert np.array_equal(a.samples_ms[key], b.samples_ms[key])
    assert np.array_equal(a.samples_ms[key], c.samples_ms[key])
    assert not np.array_equal(a.samples_ms[("dual", "split")], d.samples_ms[("dual", "split")])
    assert a.rows == b.rows


# ----------------------------------------------------------------------------- reports


def test_csv_and_json(two_sites, tmp_path):
    rep = edge_latency(two_sites, requests=2000)
    text = rep.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 and list(rows[0]) == list(edge.COLUMNS)
    assert rows[0]["carriers"] == "slow+fast"
    assert float(rows[0]["p50_ms"]) == pytest.approx(rep.rows[0]["p50_ms"])
    assert rows[0]["carrier_share"].startswith("slow=")
    data = json.loads(rep.to_json())
    assert data["slo_ms"] == 100.0 and data["target"] == str(two_sites.gpus[0])
    assert [r["policy"] for r in data["rows"][:3]] == list(edge.POLICIES)


# ----------------------------------------------------------------------------- errors


def test_unknown_names_list_the_valid_ones(two_sites):
    with pytest.raises(UnknownNameError, match="valid sites: dual, single"):
        edge_latency(two_sites, sites=["paris"])
    with pytest.raises(UnknownNameError, match="known carriers: slow, fast"):
        edge_latency(two_sites, failed_carriers=["nope"])
    with pytest.raises(UnknownNameError, match="primary_backup, split, lowest_latency"):
        edge_latency(two_sites, policies=("cheapest",))
    rep = edge_latency(two_sites, sites="single", policies="split", requests=10)
    with pytest.raises(UnknownNameError, match="sites: single; policies: split"):
        rep.row("dual", "split")


def test_not_an_edge_sites_fabric():
    fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2))
    with pytest.raises(InvalidArgumentError, match=r"fs\.edge_sites"):
        edge_latency(fab)
    with pytest.raises(InvalidTypeError, match="Fabric.from_networkx"):
        edge_latency(fs.leaf_spine())
    with pytest.raises(InvalidTypeError, match="fabric"):
        edge_latency("fabric")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(requests=0), "requests"),
        (dict(slo_ms=0), "slo_ms"),
        (dict(server_ms=-1), "server_ms"),
        (dict(mtu_bytes=0), "mtu_bytes"),
        (dict(carrier_load=-0.1), "carrier_load"),
        (dict(seed=-1), "seed"),
        (dict(sites=[]), "at least one site"),
        (dict(policies=()), "at least one policy"),
        (dict(target="border"), "not a GPU"),
        (dict(target="nowhere"), "nowhere"),
    ],
)
def test_bad_arguments_are_named(two_sites, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        edge_latency(two_sites, **kwargs)
