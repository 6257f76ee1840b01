"""The ``fabricsim`` command: compare / erosion / collective / example / demo, outputs, exit
codes, and the same numbers as the Python API."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import pytest
from test_scenario import TINY, line_of, replace

import fabricsim as fs
from fabricsim.__main__ import main as python_m_main
from fabricsim.analysis import nccl_tests
from fabricsim.cli.commands import build_parser, main
from fabricsim.cli.scenario import example_text, load_scenario, run_scenario


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def compared(tiny, tmp_path_factory):
    """One `fabricsim compare` run writing every output; (exit code, stdout, out dir)."""
    out = tmp_path_factory.mktemp("out")
    cap = io.StringIO()
    old, sys.stdout = sys.stdout, cap
    try:
        code = main(
            [
                "compare",
                str(tiny),
                "--json",
                str(out / "c.json"),
                "--csv",
                str(out / "c.csv"),
                "--plot",
                str(out / "c.png"),
                "--no-progress",
            ]
        )
    finally:
        sys.stdout = old
    return code, cap.getvalue(), out


def clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


# --------------------------------------------------------------------------- compare


def test_compare_round_trips_to_the_python_api(compared, tiny):
    code, _, out = compared
    assert code == 0
    doc = json.loads((out / "c.json").read_text())
    api = run_scenario(load_scenario(tiny))
    assert doc["load"] == api.load
    assert doc["rows"] == [{k: clean(v) for k, v in r.items()} for r in api.rows]
    assert set(doc["erosion"]) == {"ls 1:1", "ls 2:1"}
    for name, er in api.erosion.items():
        assert doc["erosion"][name] == [{k: clean(v) for k, v in r.items()} for r in er.rows]


def test_compare_prints_table_verdict_and_erosion(compared):
    code, text, out = compared
    assert code == 0
    assert text.startswith("== tiny ==")
    assert "job: 20M-parameter model, DP 8 = 8 GPUs" in text
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("design"))
    for col in ("step p50 ms", "tokens/s", "erosion p50", "DP bottleneck"):
        assert col in lines[head]
    assert lines[head + 2].lstrip().startswith("ls 1:1")
    assert lines[head + 3].lstrip().startswith("ls 2:1")
    assert "At 30% background load" in text and "loses the most" in text
    assert "# ls 1:1: ideal step" in text and "# ls 2:1: ideal step" in text
    assert f"wrote {out / 'c.png'}" in text


def test_compare_outputs_parse(compared):
    _, _, out = compared
    rows = list(csv.DictReader(io.StringIO((out / "c.csv").read_text())))
    assert [r["design"] for r in rows] == ["ls 1:1", "ls 2:1"]
    doc = json.loads((out / "c.json").read_text())
    assert float(rows[0]["tokens_per_s_p50"]) == doc["rows"][0]["tokens_per_s_p50"]
    png = (out / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_json_to_stdout_is_only_json(tiny, capsys):
    assert (
        main(
            ["compare", str(tiny), "--json", "-", "--samples", "1", "--seed", "5", "--loads", "0.3"]
        )
        == 0
    )
    out = capsys.readouterr().out
    doc = json.loads(out)
    api = run_scenario(load_scenario(tiny), samples=1, seed=5)
    assert doc["rows"][0]["erosion_p50"] == api.rows[0]["erosion_p50"]
    assert [r["load"] for r in doc["erosion"]["ls 1:1"]] == [0.3]


def test_csv_to_stdout(tiny, capsys):
    assert main(["erosion", str(tiny), "--csv", "-", "--design", "ls 1:1", "--loads", "0"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["design"], float(r["load"])) for r in rows] == [("ls 1:1", 0.0)]


def test_python_dash_m_is_fabricsim_compare(tiny, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert python_m_main([str(tiny), "--json", str(a), "--load", "0", "--loads", "0"]) == 0
    assert main(["compare", str(tiny), "--json", str(b), "--load", "0", "--loads", "0"]) == 0
    assert a.read_text() == b.read_text()
    capsys.readouterr()
    proc = subprocess.run(
        [sys.executable, "-m", "fabricsim", str(tiny), "--load", "0", "--loads", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "== tiny ==" in proc.stdout and "loses the most" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("tqdm", [True, False])
def test_progress_bar_goes_to_stderr(tiny, capsys, monkeypatch, tqdm):
    if not tqdm:  # without tqdm the built-in bar draws
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    else:
        pytest.importorskip("tqdm.auto")
    assert main(["compare", str(tiny), "--load", "0", "--loads", "0", "--progress"]) == 0
    out, err = capsys.readouterr()
    bar = "compare: 100%|" if tqdm else "compare ["
    assert bar in err and "compare" not in out.split("==")[0]
    assert "6/6" in err


# --------------------------------------------------------------------------- erosion / collective


def test_erosion_command_matches_fs_erosion(tiny, tmp_path, capsys):
    path = tmp_path / "e.json"
    assert (
        main(
            [
                "erosion",
                str(tiny),
                "--design",
                "ls 2:1",
                "--json",
                str(path),
                "--plot",
                str(tmp_path / "e.png"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "# ls 2:1: ideal step" in text and "# ls 1:1" not in text
    sc = load_scenario(tiny)
    er = fs.erosion(
        sc.fabrics["ls 2:1"],
        sc.job,
        sc.sweep_loads,
        sc.samples,
        sc.seed,
        background=sc.background,
        routing="spray",
        name="ls 2:1",
    )
    doc = json.loads(path.read_text())
    assert doc["ls 2:1"]["rows"] == [{k: clean(v) for k, v in r.items()} for r in er.rows]
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_collective_command_prints_nccl_tests_table(tiny, tmp_path, capsys):
    path = tmp_path / "c.json"
    assert (
        main(
            [
                "collective",
                str(tiny),
                "--design",
                "ls 2:1",
                "--min-bytes",
                "1K",
                "--max-bytes",
                "4K",
                "--algorithm",
                "ring",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("# design 'ls 2:1' of ")
    assert (
        "# fabricsim all_reduce: 8 ranks, algorithm ring, protocol auto, channels auto, "
        "routing spray, seed 1" in text
    )
    sizes = [int(line.split()[0]) for line in text.splitlines() if line[:1] == " "]
    assert sizes == [1024, 2048, 4096]
    doc = json.loads(path.read_text())
    sc = load_scenario(tiny)
    want = fs.collective(
        sc.fabrics["ls 2:1"], "all_reduce", 2048, algorithm="ring", routing="spray", seed=sc.seed
    )
    assert doc["rows"][1]["busbw_GBps"] == want.busbw_GBps
    assert doc["design"] == "ls 2:1" and doc["routing"] == "spray"
    # the nccl-tests log reader reads it as it reads a real log
    log = nccl_tests.parse(text)
    assert [r["size_bytes"] for r in log.rows] == [1024, 2048, 4096]
    assert log.rows[1]["busbw_GBps"] == pytest.approx(want.busbw_GBps, abs=0.005)
    assert log.rows[1]["in_place_busbw_GBps"] == log.rows[1]["busbw_GBps"]
    assert log.rows[0]["redop"] == "sum" and log.rows[0]["root"] == -1
    assert log.avg_busbw_GBps[0] == pytest.approx(
        sum(r["busbw_GBps"] for r in doc["rows"]) / 3, rel=1e-5
    )


def test_collective_nccl_tests_aliases(tiny, capsys):
    argv = ["collective", str(tiny), "--design", "ls 2:1", "--op", "all_gather"]
    assert main([*argv, "-b", "1K", "-e", "4K", "-f", "4", "-g", "4", "-d", "half"]) == 0
    a = nccl_tests.parse(capsys.readouterr().out)
    assert (
        main(
            [
                *argv,
                "--minbytes",
                "1K",
                "--maxbytes",
                "4K",
                "--stepfactor",
                "4",
                "--ngpus",
                "4",
                "--datatype",
                "half",
            ]
        )
        == 0
    )
    b = nccl_tests.parse(capsys.readouterr().out)
    assert a.rows == b.rows
    assert [r["size_bytes"] for r in a.rows] == [1024, 4096]
    assert [r["count"] for r in a.rows] == [1024 // 2 // 4, 4096 // 2 // 4]  # per rank, half
    assert a.rows[0]["type"] == "half" and a.rows[0]["redop"] == "none"
    sc = load_scenario(tiny)
    fab = sc.fabrics["ls 2:1"]
    want = fs.collective(fab, "all_gather", 4096, fab.gpus[:4], routing="spray", seed=sc.seed)
    assert a.rows[1]["time_us"] == pytest.approx(want.time_us, abs=0.006)


def test_collective_options_fail_before_any_output(tiny, capsys):
    for extra in (
        ["--op", "all_to_all", "--algorithm", "ring"],
        ["-g", "99"],
        ["-d", "float7"],
        ["-f", "1"],
        ["--op", "all_scatter"],
        ["--algorithm", "ringg"],
    ):
        assert main(["collective", str(tiny), *extra]) == 2, extra
        out, err = capsys.readouterr()
        assert out == "", (extra, out)
        assert err.startswith("fabricsim: error: "), (extra, err)
    assert main(["collective", str(tiny), "--op", "all_to_all", "--algorithm", "ring"]) == 2
    assert "'ring' does not build all_to_all" in capsys.readouterr().err


def test_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--version"])
    assert e.value.code == 0
    capsys.readouterr()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"fabricsim {fs.__version__}\n"
    assert python_m_main(["--version"]) == 0
    assert capsys.readouterr().out == f"fabricsim {fs.__version__}\n"
    assert "Without a COMMAND, fabricsim runs compare" in build_parser().format_help()


def test_fabricsim_alone_runs_compare_like_python_m(tiny, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "fabricsim.cli.commands.cmd_compare",
        lambda args: calls.append(("compare", args.scenario)) or 0,
    )
    for entry in (main, python_m_main):
        assert entry([]) == 0
        assert entry([str(tiny)]) == 0
    assert calls == [("compare", None), ("compare", str(tiny))] * 2
    # the console script is the same function
    import importlib.metadata as md

    eps = [e for e in md.entry_points(group="console_scripts") if e.name == "fabricsim"]
    if eps:  # installed: the entry point is fabricsim.cli:main
        assert eps[0].value == "fabricsim.cli:main"


def test_collective_defaults_come_from_the_scenario(tiny, tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text(
        TINY + '\n[collective]\nop = "all_gather"\nmin_bytes = "64K"\n'
        'max_bytes = "128K"\ndesign = "ls 1:1"\n'
    )
    assert main(["collective", str(p), "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["op"], int(r["size_bytes"])) for r in rows] == [
        ("all_gather", 65536),
        ("all_gather", 131072),
    ]


def test_example_command_prints_the_built_in_scenario(capsys):
    assert main(["example"]) == 0
    assert capsys.readouterr().out == example_text()


def test_demo_command(capsys):
    assert main(["demo", "--leaves", "2", "--spines", "2"]) == 0
    assert "== cross-leaf permutation" in capsys.readouterr().out
    assert main(["demo", "--profile", "tpu"]) == 2


# --------------------------------------------------------------------------- bad input


def run_bad(tmp_path, capsys, text: str, *argv: str) -> str:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    code = main([*(argv or ("compare",)), str(p)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and err.startswith("fabricsim: error: ")
    return err


@pytest.mark.parametrize(
    "old, new, needle, key",
    [
        (
            "oversubscription = 2.0",
            'oversubscription = "two"',
            "two",
            "fabric[1].oversubscription: expected a number, got 'two'",
        ),
        (
            "spines = 2",
            "spines = 2\nspine = 2",
            "spine = 2",
            "fabric[0].spine: unknown key (did you mean 'spines'?); valid keys:",
        ),
        (
            'builder = "leaf_spine"',
            'builder = "clos"',
            "clos",
            "fabric[0].builder: unknown builder 'clos'",
        ),
        ("layers = 2", "layers = -1", "layers", "job.layers: must be an integer >= 1, got -1"),
        ("samples = 2", 'samples = "many"', "many", "sweep.samples: expected an integer"),
        (
            "hidden_size = 256",
            "hidden_size = 256 512",
            "hidden_size",
            "TOML syntax error: Expected",
        ),
    ],
)
def test_bad_scenarios_exit_2_naming_key_and_line(tmp_path, capsys, old, new, needle, key):
    bad = replace(TINY, old, new)
    err = run_bad(tmp_path, capsys, bad)
    assert f"bad.toml:{line_of(bad, needle)}: {key}" in err


def test_missing_job_exits_2(tmp_path, capsys):
    for cmd in ("compare", "erosion", "collective"):
        err = run_bad(tmp_path, capsys, TINY.split("[job]")[0], cmd)
        assert "bad.toml: job: missing: add a [job] table" in err


def test_bad_command_line_exits_2(tiny, tmp_path, capsys):
    cases = [
        ["compare", str(tmp_path / "missing.toml")],
        ["erosion", str(tiny), "--design", "nope"],
        ["collective", str(tiny), "--design", "nope"],
        ["collective", str(tiny), "--min-bytes", "1M", "--max-bytes", "1K"],
        ["collective", str(tiny), "--op", "all_scatter"],
        ["compare", str(tiny), "--json", "-", "--csv", "-"],
        ["compare", str(tiny), "--json", str(tmp_path / "no" / "dir" / "x.json")],
        ["compare", str(tiny), "--samples", "0"],
        ["compare", str(tiny), "--load", "1.5"],
        ["collective", str(tiny), "--max-bytes", "lots"],
        ["frobnicate"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and err, argv
    assert main(["compare", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: no such scenario file" in capsys.readouterr().err


def test_plot_without_matplotlib_fails_before_running(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    called = []
    monkeypatch.setattr("fabricsim.cli.commands.run_scenario", lambda *a, **k: called.append(1))
    assert main(["compare", str(tiny), "--plot", str(tmp_path / "x.png")]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err and not called


def test_ctrl_c_exits_130(tiny, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("fabricsim.cli.commands.run_scenario", interrupted)
    assert main(["compare", str(tiny)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert main(["compare", "--help"]) == 0
    assert "--json PATH|-" in capsys.readouterr().out


# --------------------------------------------------------------------------- issue 13


@pytest.mark.parametrize(
    "opts",
    [
        ["--json", "{dir}"],  # a directory
        ["--plot", "{dir}/x.xyz"],  # an unknown image format
        ["--json", "{dir}/o.json", "--csv", "{dir}/o.json"],  # two outputs on one path
        ["--json", "{scenario}"],  # the input scenario itself
    ],
    ids=["directory", "unknown-format", "same-path", "input-file"],
)
def test_outputs_are_checked_before_the_run(tiny, tmp_path, capsys, monkeypatch, opts):
    """These failed with a traceback after the whole run (results lost), or overwrote the
    input scenario / each other."""
    called = []
    monkeypatch.setattr("fabricsim.cli.commands.run_scenario", lambda *a, **k: called.append(1))
    monkeypatch.setattr("fabricsim.cli.commands.erosion", lambda *a, **k: called.append(1))
    before = tiny.read_text()
    for cmd in ("compare", "erosion"):
        argv = [cmd, str(tiny), *(o.format(dir=tmp_path, scenario=tiny) for o in opts)]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "fabricsim: error: --" in err and "Traceback" not in err, err
    assert not called and tiny.read_text() == before


def test_outputs_are_written_atomically(monkeypatch, tmp_path):
    """A failing write leaves the old file whole and no temporary file behind."""
    from fabricsim import _files

    dest = tmp_path / "out.json"
    dest.write_text("old")

    def broken(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        _files.write_atomic(dest, broken)
    assert dest.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    _files.write_text_atomic(dest, "new")
    assert dest.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_saturated_points_are_marked_not_simulated(tmp_path, capsys):
    """The example's 4:1 design saturates its spine uplinks at load 0.6: that point used to
    run for minutes and leave as an ordinary row; now every output marks it saturated."""
    out = tmp_path
    code = main(
        [
            "compare",
            "--loads",
            "0,0.6",
            "--load",
            "0.6",
            "--samples",
            "1",
            "--json",
            str(out / "c.json"),
            "--csv",
            str(out / "c.csv"),
            "--plot",
            str(out / "c.png"),
            "--no-progress",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "saturated" in text and "leaf-spine 4:1" in text
    doc = json.loads((out / "c.json").read_text())
    rows = {r["design"]: r for r in doc["rows"]}
    assert rows["leaf-spine 4:1"]["saturated"] is True
    assert rows["leaf-spine 4:1"]["offered_max"] > 1.0
    assert rows["leaf-spine 4:1"]["step_time_p50_s"] is None  # inf in the API
    assert rows["leaf-spine 1:1"]["saturated"] is False
    assert [r["saturated"] for r in doc["erosion"]["leaf-spine 4:1"]] == [False, True]
    with open(out / "c.csv") as f:
        csv_rows = {r["design"]: r for r in csv.DictReader(f)}
    assert csv_rows["leaf-spine 4:1"]["saturated"] == "True"
    assert (out / "c.png").stat().st_size > 0


def test_control_characters_in_names_are_escaped(tmp_path, capsys):
    text = TINY.replace('name = "ls 1:1"', 'name = "ls\\u001b[2J 1:1"')
    assert text != TINY
    path = tmp_path / "esc.toml"
    path.write_text(text)
    assert main(["compare", str(path), "--samples", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "ls\\x1b[2J 1:1" in out


def test_outputs_get_the_mode_a_plain_write_would(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay 0600."""
    import os

    from fabricsim._files import write_text_atomic

    out = tmp_path / "rows.csv"
    umask = os.umask(0o022)
    try:
        write_text_atomic(out, "a,b\n")
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o640)
        write_text_atomic(out, "a,b\n1,2\n")  # replacing a file keeps its mode
        assert out.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
