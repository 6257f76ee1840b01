"""``[[facility]]`` tables in scenario files and ``fabricsim scorecard``: the built-in example,
outputs, errors naming file:line:key, and the same numbers as the Python API."""

from __future__ import annotations

import io
import json
import sys

import pytest

import fabricsim as fs
from fabricsim.cli.commands import main
from fabricsim.cli.scenario import (
    load_scenario,
    run_scorecard,
    scorecard_example_path,
    scorecard_example_text,
)
from scenario_text import TINY, line_of, replace

SITES = (
    TINY
    + """
[scorecard]
regions = ["paris"]
slo_ms = 15.0
requests = 2000

[[facility]]
name = "metro"
cooling = "air"
it_power_mw = 2.0
rack_power_kw = 9.0
ambient_c = [20.0, 30.0]
power_price_per_mwh = 140.0
distance_km = { paris = 20.0 }
[[facility.carriers]]
name = "fibre-a"
capacity_gbps = 400.0
availability = 0.997
[[facility.carriers]]
name = "fibre-b"
capacity_gbps = 400.0
availability = 0.997

[[facility]]
name = "campus"
preset = "liquid-ai-campus"
power_price_per_mwh = 55.0
distance_km = { paris = 1500.0 }
"""
)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(argv)
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def error(text: str) -> str:
    with pytest.raises(fs.ScenarioError) as info:
        load_scenario(text, name="bad.toml")
    return str(info.value)


# --------------------------------------------------------------------------- scenario


def test_facility_tables_load():
    sc = load_scenario(SITES, name="sites.toml")
    metro, campus = sc.facilities
    assert metro == fs.Facility(
        name="metro",
        cooling="air",
        it_power_mw=2.0,
        rack_power_kw=9.0,
        ambient_c=(20.0, 30.0),
        power_price_per_mwh=140.0,
        distance_km={"paris": 20.0},
        carriers=[
            dict(name="fibre-a", capacity_gbps=400.0, availability=0.997),
            dict(name="fibre-b", capacity_gbps=400.0, availability=0.997),
        ],
    )
    assert campus == fs.Facility.preset(
        "liquid-ai-campus", name="campus", power_price_per_mwh=55.0, distance_km={"paris": 1500.0}
    )
    assert sc.scorecard == {
        "regions": ["paris"],
        "slo_ms": 15.0,
        "server_ms": 0.0,
        "requests": 2000,
    }
    assert sc.scorecard_design == "ls 1:1"
    # a scenario without facilities still loads (fabricsim compare ignores them)
    assert load_scenario(TINY).facilities == ()


def test_built_in_example_has_three_contrasting_sites():
    sc = load_scenario(scorecard_example_path())
    names = [f.name for f in sc.facilities]
    assert names == ["metro-colo", "liquid-campus", "immersion-one-carrier"]
    metro, campus, tank = sc.facilities
    assert metro.cooling == "air" and metro.clock_fraction(sc.job.profile) < 1
    assert campus.cooling == "direct_liquid" and campus.distance_km["paris"] == 1500.0
    assert tank.cooling == "immersion" and len(tank.carriers) == 1
    assert tank.ready_gpus(sc.job.profile) < sc.job.gpus


@pytest.mark.parametrize(
    "old, new, key, message",
    [
        (
            "it_power_mw = 2.0",
            "it_power_mw = -2.0",
            "facility[0].it_power_mw",
            "must be a finite number > 0, got -2.0",
        ),
        (
            'cooling = "air"',
            'cooling = "swamp"',
            "facility[0].cooling",
            "unknown value 'swamp'; valid: air, rear_door, direct_liquid, immersion",
        ),
        (
            "ambient_c = [20.0, 30.0]",
            "ambient_c = [20.0, nan]",
            "facility[0].ambient_c",
            "ambient_c[1]: must be a finite number in [-60, 60], got nan",
        ),
        (
            "rack_power_kw = 9.0",
            "rack_power_kw = 5.0",
            "facility[0].rack_power_kw",
            "5 kW per rack is below one h100-ndr400 server at its minimum GPU power limit",
        ),
        (
            "rack_power_kw = 9.0",
            'rack_power_kw = "lots"',
            "facility[0].rack_power_kw",
            "expected a number, got 'lots'",
        ),
        (
            "availability = 0.997",
            "availability = 1.5",
            "facility[0].carriers[0].availability",
            "must be a finite number in [0, 1], got 1.5",
        ),
        (
            'preset = "liquid-ai-campus"',
            'preset = "liquid-campus"',
            "facility[1].preset",
            "unknown preset 'liquid-campus' (did you mean 'liquid-ai-campus'?)",
        ),
        (
            "power_price_per_mwh = 55.0",
            "power_prize_per_mwh = 55.0",
            "facility[1].power_prize_per_mwh",
            "unknown key (did you mean 'power_price_per_mwh'?)",
        ),
        ("slo_ms = 15.0", "slo_ms = 0", "scorecard.slo_ms", "must be > 0"),
    ],
)
def test_bad_facility_values_name_file_line_and_key(old, new, key, message):
    text = replace(SITES, old, new)
    msg = error(text)
    line = line_of(text, new)
    assert msg.startswith(f"bad.toml:{line}: {key}: "), msg
    assert message in msg, msg


def test_missing_region_distance_and_missing_name():
    text = replace(SITES, "distance_km = { paris = 1500.0 }", "distance_km = { berlin = 1.0 }")
    msg = error(text)
    assert msg.startswith(
        f"bad.toml:{line_of(text, 'berlin = 1.0')}: facility[1].distance_km: "
        "site 'campus' has no distance to region 'paris'"
    ), msg
    text = replace(SITES, 'name = "campus"\n', "")
    assert "facility[1]: missing key 'name'" in error(text)
    assert "write [[facility]]" in error(TINY + '[facility]\nname = "x"\n')


# --------------------------------------------------------------------------- command


@pytest.fixture(scope="module")
def sites_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sites") / "sites.toml"
    path.write_text(SITES)
    return path


def test_cli_round_trips_to_the_python_api(sites_file, tmp_path):
    code, out, _ = run(
        [
            "scorecard",
            str(sites_file),
            "--json",
            str(tmp_path / "s.json"),
            "--csv",
            str(tmp_path / "s.csv"),
            "--no-progress",
        ]
    )
    assert code == 0
    api = run_scorecard(load_scenario(sites_file))
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(api.to_json())
    assert (tmp_path / "s.csv").read_text() == api.to_csv()
    assert api.table() in out and api.verdict() in out
    assert "Training: 'campus' wins" in out and "Inference: 'metro' wins" in out
    # the same with the API called by hand
    sc = load_scenario(sites_file)
    bg = fs.Background(sizes="websearch", load=0.3)
    card = fs.scorecard(
        list(sc.facilities),
        sc.fabrics["ls 1:1"],
        sc.job,
        regions=["paris"],
        slo_ms=15.0,
        requests=2000,
        background=bg,
        samples=2,
        seed=1,
    )
    assert card.to_json() == api.to_json()


def test_cli_json_to_stdout_and_overrides(sites_file):
    code, out, _ = run(
        [
            "scorecard",
            str(sites_file),
            "--json",
            "-",
            "--samples",
            "3",
            "--seed",
            "4",
            "--no-progress",
        ]
    )
    assert code == 0
    doc = json.loads(out)
    api = run_scorecard(load_scenario(sites_file), samples=3, seed=4)
    assert doc == json.loads(api.to_json())


def test_built_in_scorecard_runs_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    code, out, err = run(["scorecard", "--plot", str(tmp_path / "card.png"), "--progress"])
    assert code == 0, err
    assert "metro-colo" in out and "liquid-campus" in out and "immersion-one-carrier" in out
    assert "Training: 'liquid-campus' wins" in out and "Inference: 'metro-colo' wins" in out
    assert "bound by power" in out
    assert (tmp_path / "card.png").read_bytes()[:4] == b"\x89PNG"
    assert "scorecard [" in err  # the progress bar


def test_example_scorecard_prints_the_built_in_file():
    code, out, _ = run(["example", "--scorecard"])
    assert code == 0 and out == scorecard_example_text()
    assert load_scenario(out, name="printed.toml").facilities


def test_cli_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(replace(SITES, 'cooling = "air"', 'cooling = "swamp"'))
    code, _, err = run(["scorecard", str(bad)])
    assert code == 2 and f"bad.toml:{line_of(bad.read_text(), 'swamp')}: facility[0].cooling" in err
    plain = tmp_path / "plain.toml"
    plain.write_text(TINY)
    code, _, err = run(["scorecard", str(plain)])
    assert code == 2 and "no [[facility]] tables" in err
