"""``fabricsim collective``'s protocol and channel overrides: --protocol / --channels, the
``[collective]`` keys, NCCL's environment variables (NCCL_ALGO, NCCL_PROTO,
NCCL_MIN/MAX_NCHANNELS), which wins, what the header and the per-size lines say, and the
errors (exit 2, naming the flag, variable or key)."""

from __future__ import annotations

import json

import pytest
from test_scenario import TINY, line_of

import fabricsim as fs
from fabricsim.analysis import nccl_tests
from fabricsim.cli.commands import main
from fabricsim.cli.scenario import load_scenario
from fabricsim.traffic.collectives import tuner

SMALL, LARGE = 1024, 64 << 20
#: -b 1K -e 64M in one step: two sizes, one latency-bound, one bandwidth-bound
SIZES = ["-b", "1K", "-e", "64M", "-f", str(LARGE // SMALL)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "tiny.toml"
    path.write_text(TINY)
    return path


def run(capsys, tmp_path, scenario, *argv: str) -> tuple[dict, str]:
    """(JSON document, stdout) of one successful ``fabricsim collective`` run on design
    "ls 1:1" (8 GPUs, 2 per host, a NIC per GPU)."""
    out = tmp_path / "c.json"
    code = main(["collective", str(scenario), "--design", "ls 1:1", *argv, "--json", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.read_text()), text


def fails(capsys, scenario, *argv: str) -> str:
    """stderr of a ``fabricsim collective`` run that must exit 2 before printing anything."""
    code = main(["collective", str(scenario), *argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    return err


def setup_of(tiny):
    fab = load_scenario(tiny).fabrics["ls 1:1"]
    return fab, fs.Collective("all_reduce", SMALL, algorithm="ring")._base(fab)


def test_protocol_flag_moves_time_the_way_the_model_says(tiny, tmp_path, capsys):
    _, setup = setup_of(tiny)
    hw, C = setup.hardware, setup.channels
    # NCCL's model (tuning.cc, as tuner.py has it): LL has the lower latency and the lower
    # bandwidth of the two
    assert tuner.latency_us("all_reduce", "ring", "ll", hw) < tuner.latency_us(
        "all_reduce", "ring", "simple", hw
    )
    assert tuner.bandwidth_GBps("all_reduce", "ring", "ll", hw, C) < tuner.bandwidth_GBps(
        "all_reduce", "ring", "simple", hw, C
    )
    ll, _ = run(capsys, tmp_path, tiny, *SIZES, "--algorithm", "ring", "--protocol", "ll")
    simple, _ = run(capsys, tmp_path, tiny, *SIZES, "--algorithm", "ring", "--protocol", "Simple")
    assert [r["protocol"] for r in ll["rows"]] == ["ll", "ll"]
    assert [r["protocol"] for r in simple["rows"]] == ["simple", "simple"]
    assert ll["protocol"] == {"value": "ll", "source": "flag --protocol"}
    (ll_small, ll_large), (s_small, s_large) = ll["rows"], simple["rows"]
    assert ll_small["time_s"] < s_small["time_s"]  # latency-bound: LL wins
    assert ll_large["busbw_GBps"] < s_large["busbw_GBps"]  # bandwidth-bound: Simple wins
    # the same numbers as the Python API with the same protocol
    fab, _ = setup_of(tiny)
    want = fs.collective(fab, "all_reduce", LARGE, algorithm="ring", protocol="ll", seed=1)
    assert ll_large["busbw_GBps"] == want.busbw_GBps


def test_fewer_channels_lower_busbw_on_a_multi_nic_design(tiny, tmp_path, capsys):
    _, setup = setup_of(tiny)
    assert setup.nics >= 2 and setup.channels == 2  # two NICs per host: two rings by default
    base = ["-b", "64M", "-e", "64M", "--algorithm", "ring", "--protocol", "simple"]
    auto, text = run(capsys, tmp_path, tiny, *base)
    assert auto["channels"] == {"value": 2, "source": "auto: one per GPU of the largest host"}
    assert "# channels 2 (auto: one per GPU of the largest host)" in text
    one, text = run(capsys, tmp_path, tiny, *base, "--channels", "1")
    assert one["channels"] == {"value": 1, "source": "flag --channels"}
    assert "# channels 1 (flag --channels)" in text
    assert one["rows"][0]["channels"] == 1 and auto["rows"][0]["channels"] == 2
    assert one["rows"][0]["busbw_GBps"] < 0.75 * auto["rows"][0]["busbw_GBps"]


def test_nccl_environment_is_honoured_and_flags_override_it(tiny, tmp_path, capsys, monkeypatch):
    flags = ["--algorithm", "ring", "--protocol", "simple", "--channels", "1"]
    pinned, _ = run(capsys, tmp_path, tiny, *SIZES, *flags)
    monkeypatch.setenv("NCCL_ALGO", "Ring")
    monkeypatch.setenv("NCCL_PROTO", "SIMPLE")
    monkeypatch.setenv("NCCL_MIN_NCHANNELS", "1")
    monkeypatch.setenv("NCCL_MAX_NCHANNELS", "1")
    env, text = run(capsys, tmp_path, tiny, *SIZES)
    assert env["algorithm"] == {"value": "ring", "source": "environment NCCL_ALGO=Ring"}
    assert env["protocol"] == {"value": "simple", "source": "environment NCCL_PROTO=SIMPLE"}
    assert env["channels"] == {
        "value": 1,
        "source": "environment NCCL_MIN_NCHANNELS=1, NCCL_MAX_NCHANNELS=1",
    }
    assert "# protocol simple (environment NCCL_PROTO=SIMPLE)" in text
    assert env["rows"] == pinned["rows"]  # the same run as the flags
    assert "Bytes -> Algo" not in text  # nothing left to the model: no per-size lines
    # a flag beats its variable; the others still apply
    mixed, text = run(capsys, tmp_path, tiny, *SIZES, "--protocol", "LL", "--channels", "2")
    assert mixed["protocol"] == {"value": "ll", "source": "flag --protocol"}
    assert mixed["channels"]["source"] == "flag --channels"
    assert mixed["algorithm"]["source"] == "environment NCCL_ALGO=Ring"
    assert {(r["algorithm"], r["protocol"], r["channels"]) for r in mixed["rows"]} == {
        ("ring", "ll", 2)
    }
    # and "--protocol auto" is a way back to the model with NCCL_PROTO set
    auto, _ = run(capsys, tmp_path, tiny, *SIZES, "--protocol", "auto")
    assert auto["protocol"] == {"value": "auto", "source": "flag --protocol"}


def test_scenario_keys_sit_between_flags_and_environment(tiny, tmp_path, capsys, monkeypatch):
    p = tmp_path / "s.toml"
    p.write_text(TINY + '\n[collective]\nalgorithm = "Ring"\nprotocol = "LL128"\nchannels = 1\n')
    sc = load_scenario(p)
    assert (sc.collective["algorithm"], sc.collective["protocol"]) == ("ring", "ll128")
    monkeypatch.setenv("NCCL_PROTO", "Simple")
    monkeypatch.setenv("NCCL_MAX_NCHANNELS", "2")
    doc, text = run(capsys, tmp_path, p, *SIZES)
    assert doc["protocol"] == {"value": "ll128", "source": "scenario [collective].protocol"}
    assert doc["channels"] == {"value": 1, "source": "scenario [collective].channels"}
    assert {(r["algorithm"], r["protocol"], r["channels"]) for r in doc["rows"]} == {
        ("ring", "ll128", 1)
    }
    doc, _ = run(capsys, tmp_path, p, *SIZES, "--protocol", "simple")
    assert doc["protocol"]["source"] == "flag --protocol"
    # "auto" in the file (as in the built-in example) leaves the choice to NCCL_PROTO
    p.write_text(TINY + '\n[collective]\nalgorithm = "auto"\nprotocol = "auto"\n')
    doc, _ = run(capsys, tmp_path, p, *SIZES)
    assert doc["protocol"] == {"value": "simple", "source": "environment NCCL_PROTO=Simple"}


@pytest.mark.parametrize(
    "env, want",
    [
        ({"NCCL_MAX_NCHANNELS": "1"}, 1),  # min(2, 1)
        ({"NCCL_MIN_NCHANNELS": "4"}, 4),  # max(2, 4): NCCL duplicates channels up to MIN
        ({"NCCL_MIN_NCHANNELS": "4", "NCCL_MAX_NCHANNELS": "1"}, 4),  # max first, then min
        ({"NCCL_MIN_NRINGS": "3"}, 3),  # the legacy name
        ({"NCCL_MIN_NRINGS": "3", "NCCL_MIN_NCHANNELS": "5"}, 5),  # the new name wins
        ({"NCCL_MAX_NCHANNELS": "512"}, 2),  # limited to MAXCHANNELS (64): the default 2 stays
    ],
)
def test_channel_bounds_as_nccl_applies_them(tiny, tmp_path, capsys, monkeypatch, env, want):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    doc, _ = run(capsys, tmp_path, tiny, "-b", "1M", "-e", "1M", "--algorithm", "ring")
    assert doc["channels"]["value"] == want
    assert doc["channels"]["source"].startswith("environment ")
    assert doc["rows"][0]["channels"] == want


def test_auto_reports_what_ran_at_each_size(tiny, tmp_path, capsys):
    doc, text = run(capsys, tmp_path, tiny, *SIZES, "--algorithm", "ring")
    assert doc["protocol"]["value"] == "auto"
    notes = [line for line in text.splitlines() if "Bytes -> Algo" in line]
    names = {"ll": "LL", "ll128": "LL128", "simple": "Simple"}
    assert notes == [
        f"#  AllReduce: {r['size_bytes']} Bytes -> Algo Ring proto {names[r['protocol']]} "
        f"channel{{Lo..Hi}}={{0..{r['channels'] - 1}}}"
        for r in doc["rows"]
    ]
    # what the model picks per size is what ran: LL-family when small, Simple when large
    # (the tuner's estimate, fastest protocol for ring at each size)
    fab, setup = setup_of(tiny)
    for r in doc["rows"]:
        ests = tuner.estimates(
            "all_reduce",
            r["size_bytes"],
            setup.hardware,
            channels=setup.channels,
            algorithms=("ring",),
        )
        assert r["protocol"] == min(ests, key=lambda e: e.time_us).protocol
    # the per-size lines are comments: nccl-tests log readers read the same table
    log = nccl_tests.parse(text)
    assert [row["size_bytes"] for row in log.rows] == [SMALL, LARGE]


def test_p2p_ops_ignore_nccl_algo_and_proto(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NCCL_ALGO", "Ring")
    monkeypatch.setenv("NCCL_PROTO", "LL")
    doc, text = run(capsys, tmp_path, tiny, "-b", "1K", "-e", "1K", "--op", "all_to_all")
    assert doc["algorithm"]["value"] == "auto" and doc["protocol"]["value"] == "auto"
    assert "NCCL_ALGO=Ring ignored, NCCL runs all_to_all as point-to-point calls" in text
    assert "NCCL_PROTO=LL ignored" in text


def test_a_flag_overrides_even_a_malformed_variable(tiny, tmp_path, capsys, monkeypatch):
    """flag > scenario key > environment: a variable the flag overrides is not read at all,
    so an nccl-tests user's exported list or odd spelling does not stop the run; nor one an
    op ignores (point-to-point)."""
    monkeypatch.setenv("NCCL_ALGO", "Ring,Tree")
    monkeypatch.setenv("NCCL_PROTO", "^LL")
    monkeypatch.setenv("NCCL_MIN_NCHANNELS", "0x4")
    doc, _ = run(
        capsys,
        tmp_path,
        tiny,
        "-b",
        "1K",
        "-e",
        "1K",
        "--algorithm",
        "ring",
        "--protocol",
        "simple",
        "--channels",
        "2",
    )
    assert (doc["algorithm"]["value"], doc["protocol"]["value"], doc["channels"]["value"]) == (
        "ring",
        "simple",
        2,
    )
    doc, _ = run(
        capsys, tmp_path, tiny, "-b", "1K", "-e", "1K", "--op", "all_to_all", "--channels", "2"
    )
    assert doc["algorithm"]["value"] == "auto"
    # and where nothing overrides them, they are read and refused
    assert "NCCL_ALGO='Ring,Tree': a list" in fails(capsys, tiny, "--design", "ls 1:1")


def test_bad_flags_exit_2_naming_the_flag(tiny, capsys):
    assert "argument --protocol: unknown protocol 'LL129'" in fails(
        capsys, tiny, "--protocol", "LL129"
    )
    for bad in ("0", "65", "two"):
        assert "argument --channels: " in fails(capsys, tiny, "--channels", bad)
    assert "--algorithm: unknown algorithm 'rign'" in fails(capsys, tiny, "--algorithm", "rign")
    # the protocol exists, but not with this algorithm: the message names both origins
    err = fails(capsys, tiny, "--algorithm", "NVLSTree", "--protocol", "ll")
    assert "--protocol: NCCL's model runs nvls_tree with 'simple' only, got 'll'" in err
    assert "nvls_tree from --algorithm" in err


@pytest.mark.parametrize(
    "var, value, needle",
    [
        ("NCCL_ALGO", "Ring,Tree", "NCCL_ALGO='Ring,Tree': a list leaves NCCL's tuner a choice"),
        ("NCCL_ALGO", "^Tree", "NCCL_ALGO='^Tree': an exclusion ('^')"),
        ("NCCL_ALGO", "Rign", "NCCL_ALGO='Rign': unknown algorithm 'Rign'"),
        ("NCCL_ALGO", "NVLS", "NCCL_ALGO=NVLS: nvls runs inside one NVSwitch host"),
        ("NCCL_PROTO", "fast", "NCCL_PROTO='fast': unknown protocol 'fast'"),
        ("NCCL_PROTO", "LL,Simple", "NCCL_PROTO='LL,Simple': a list"),
        ("NCCL_PROTO", "auto", "NCCL_PROTO='auto': NCCL has no protocol named auto"),
        ("NCCL_MIN_NCHANNELS", "two", "NCCL_MIN_NCHANNELS='two': expected a whole number"),
        ("NCCL_MIN_NCHANNELS", "-1", "NCCL_MIN_NCHANNELS='-1': must be >= 0"),
        ("NCCL_MAX_NCHANNELS", "0", "NCCL_MAX_NCHANNELS='0': must be >= 1"),
    ],
)
def test_bad_environment_exits_2_naming_the_variable(tiny, capsys, monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    err = fails(capsys, tiny, "--design", "ls 1:1", "-b", "1K", "-e", "1K")
    assert err.startswith("fabricsim: error: ") and needle in err


@pytest.mark.parametrize(
    "key, needle",
    [
        ('protocol = "fast"', "collective.protocol: unknown protocol 'fast'"),
        ("protocol = 3", "collective.protocol: expected a string"),
        ('algorithm = "Rign"', "collective.algorithm: unknown algorithm 'Rign'"),
        ("channels = 0", "collective.channels: must be an integer in 1..64"),
        ("channels = 65", "collective.channels: must be an integer in 1..64"),
    ],
)
def test_bad_scenario_keys_exit_2_naming_file_line_and_key(tmp_path, capsys, key, needle):
    text = TINY + f"\n[collective]\n{key}\n"
    p = tmp_path / "bad.toml"
    p.write_text(text)
    err = fails(capsys, p)
    assert f"bad.toml:{line_of(text, key)}: {needle}" in err


def test_help_says_which_nccl_variables_it_reads(capsys):
    assert main(["collective", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for var in ("NCCL_ALGO", "NCCL_PROTO", "NCCL_MIN_NCHANNELS", "NCCL_MAX_NCHANNELS"):
        assert var in text
    assert "--protocol {auto,ll,ll128,simple}" in text and "--channels N" in text
