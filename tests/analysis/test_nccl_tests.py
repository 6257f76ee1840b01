"""nccl-tests logs: the reader on logs in the real formats (current, older, several
collectives, NCCL INFO noise), fabricsim's own table read back, and calibration."""

from __future__ import annotations

import json

import pytest

import fabricsim as fs
from fabricsim.analysis import nccl_tests
from fabricsim.cli.commands import main
from fabricsim.cli.scenario import load_scenario
from fabricsim.exceptions import InvalidArgumentError

# A small scenario (two 8-GPU leaf-spine designs), as tests/cli/test_scenario.py's TINY.
TINY = """
[[fabric]]
name = "ls 1:1"
builder = "leaf_spine"
leaves = 2
spines = 2
hosts_per_leaf = 2
gpus_per_host = 2

[job]
params = 1e8
layers = 2
hidden_size = 256
data_parallel = 8
global_batch_tokens = 32768
"""

# The header nccl-tests prints (src/common.cu, Reporter), verbatim.
HEAD = """\
#                                                              out-of-place                       in-place          
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       
"""  # noqa: W291


def row(size, count, typ, redop, root, t1, a1, b1, w1, t2, a2, b2, w2):
    # nccl-tests: "%12li  %12li  %8s  %6s  %6i" then "  %7s  %6.2f  %6.2f  %5li" twice
    def res(t, a, b, w):
        return f"  {t:>7}  {a:6.2f}  {b:6.2f}  {w:>5}"

    return (
        f"{size:12d}  {count:12d}  {typ:>8}  {redop:>6}  {root:6d}"
        + res(t1, a1, b1, w1)
        + res(t2, a2, b2, w2)
    )


ALL_REDUCE = (
    "# nThread 1 nGpus 8 minBytes 8 maxBytes 134217728 step: 2(factor) warmup iters: 5 iters: "
    "20 agg iters: 1 validation: 1 graph: 0\n#\n# Using devices\n"
    + "".join(
        f"#  Rank  {r} Group  0 Pid  28307 on      gpu59 device  {r} [0x16] NVIDIA H100 80GB HBM3\n"
        for r in range(8)
    )
    + "#\n"
    + "gpu59:28307:28307 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
    + "gpu59:28307:28307 [0] NCCL INFO NCCL version 2.18.5+cuda12.2\n"
    + HEAD
    + row(8, 2, "float", "sum", -1, "42.56", 0.00, 0.00, 0, "41.90", 0.00, 0.00, 0)
    + "\n"
    + row(1048576, 262144, "float", "sum", -1, "28.15", 37.25, 65.19, 0, "27.52", 38.10, 66.67, 0)
    + "\n"
    + row(
        134217728,
        33554432,
        "float",
        "sum",
        -1,
        "  619.0",
        216.83,
        379.45,
        0,
        "  617.4",
        217.39,
        380.43,
        0,
    )
    + "\n"
    + "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 148.624 \n#\n\n"
)

ALL_GATHER = (
    "$ ./build/all_gather_perf -b 16M -e 64M -f 2 -g 2 -d bfloat16\n"
    "# nThread 1 nGpus 2 minBytes 16777216 maxBytes 67108864 step: 2(factor) warmup iters: 5 "
    "iters: 20 agg iters: 1 validation: 1 graph: 0\n#\n"
    + HEAD
    + row(
        16777216,
        4194304,
        "bfloat16",
        "none",
        -1,
        "  108.8",
        154.20,
        77.10,
        0,
        "  98.19",
        170.86,
        85.43,
        0,
    )
    + "\n"
    + row(
        33554432,
        8388608,
        "bfloat16",
        "none",
        -1,
        "  183.0",
        183.33,
        91.66,
        0,
        "  156.1",
        214.95,
        107.48,
        0,
    )
    + "\n"
    + row(
        67108864,
        16777216,
        "bfloat16",
        "none",
        -1,
        "  292.3",
        229.59,
        114.79,
        0,
        "  256.5",
        261.63,
        130.82,
        0,
    )
    + "\n"
    + "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 104.565 \n#\n"
)

# Before the root column (nccl-tests 2.x of 2019-2022, as in NVIDIA/nccl-tests#107): "error"
# columns, validation off prints N/A.
OLD_ALLTOALL = """\
# nThread 1 nGpus 1 minBytes 1048576 maxBytes 4194304 step: 2(factor) warmup iters: 5 iters: 20 validation: 0
#
# Using devices
#   Rank  0 Pid   1320 on ip-172-31-20-228 device  0 [0x00] Tesla V100-SXM2-16GB
#   Rank  1 Pid   2066 on ip-172-31-22-230 device  0 [0x00] Tesla V100-SXM2-16GB
#
#                                                       out-of-place                       in-place
#       size         count      type   redop     time   algbw   busbw  error     time   algbw   busbw  error
#        (B)    (elements)                       (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
     1048576        131072     float    none    904.1    1.16    0.58    N/A    899.9    1.17    0.58    N/A
     2097152        262144     float    none   1791.6    1.17    0.59    N/A   1790.2    1.17    0.59    N/A
     4194304        524288     float    none   3566.0    1.18    0.59    N/A   3568.4    1.18    0.59    N/A
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 0.586667
#
"""


def test_reads_a_current_all_reduce_log_with_nccl_info_noise():
    log = nccl_tests.parse(ALL_REDUCE, op="all_reduce")
    assert log.n_ranks == 8 and log.op == "all_reduce"
    assert [r["size_bytes"] for r in log.rows] == [8, 1048576, 134217728]
    r = log.rows[2]
    assert (r["count"], r["type"], r["redop"], r["root"]) == (33554432, "float", "sum", -1)
    assert (r["time_us"], r["algbw_GBps"], r["busbw_GBps"], r["wrong"]) == (
        619.0,
        216.83,
        379.45,
        0,
    )
    assert (r["in_place_time_us"], r["in_place_busbw_GBps"]) == (617.4, 380.43)
    assert log.avg_busbw_GBps == (148.624,)


def test_reads_several_collectives_and_names_the_op(tmp_path):
    p = tmp_path / "ag.log"
    p.write_text(ALL_GATHER)
    df = nccl_tests.read_log(p)
    assert df.attrs["op"] == "all_gather"  # from the command line in the log
    assert list(df["size_bytes"]) == [16777216, 33554432, 67108864]
    assert list(df["type"]) == ["bfloat16"] * 3 and set(df["redop"]) == {"none"}
    assert df["busbw_GBps"].tolist() == [77.10, 91.66, 114.79]
    assert df["in_place_algbw_GBps"].tolist() == [170.86, 214.95, 261.63]
    # the file name names the binary when the log does not
    q = tmp_path / "alltoall_perf-node12.txt"
    q.write_text(OLD_ALLTOALL)
    old = nccl_tests.load(q)
    assert old.op == "all_to_all" and old.n_ranks == 2
    assert [r["time_us"] for r in old.rows] == [904.1, 1791.6, 3566.0]
    assert "root" not in old.rows[0] and old.rows[0]["wrong"] is None
    assert old.rows[2]["in_place_busbw_GBps"] == 0.59


def test_several_runs_in_one_log_are_numbered():
    log = nccl_tests.parse(ALL_REDUCE + ALL_REDUCE)
    assert [r["run"] for r in log.rows] == [0, 0, 0, 1, 1, 1]
    assert log.avg_busbw_GBps == (148.624, 148.624)


def test_no_table_is_an_error(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no nccl-tests table"):
        nccl_tests.parse("NCCL INFO nothing here\n")
    with pytest.raises(InvalidArgumentError, match="no such nccl-tests log"):
        nccl_tests.load(tmp_path / "missing.log")


def fabric():
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    )


def test_fabricsims_own_table_reads_back_exactly():
    fab = fabric()
    for op in ("all_reduce", "all_gather", "all_to_all", "broadcast"):
        sweep = fs.sweep_sizes(fab, op, min_bytes="64K", max_bytes="1M", step_factor=4)
        log = nccl_tests.parse(sweep.table(), op=op)
        assert len(log.rows) == len(sweep) == 3
        for got, want in zip(log.rows, sweep.rows(), strict=True):
            for k in ("size_bytes", "count", "type", "redop", "root"):
                assert got[k] == want[k], (op, k)
            assert got["busbw_GBps"] == pytest.approx(want["busbw_GBps"], abs=0.005)
            assert got["algbw_GBps"] == pytest.approx(want["algbw_GBps"], abs=0.005)
            assert got["time_us"] == pytest.approx(want["time_us"], rel=1e-3, abs=0.006)
            assert got["wrong"] is None
        assert log.avg_busbw_GBps[0] == pytest.approx(sweep.avg_busbw_GBps, rel=1e-5)


def measured_log(fab, op, sizes, scale):
    """A log in nccl-tests' format whose busbw is ``scale`` x fabricsim's."""
    lines = [HEAD.rstrip("\n")]
    for s in sizes:
        r = fs.collective(fab, op, s)
        t = r.time_us / scale
        lines.append(
            row(
                s,
                s // 4,
                "float",
                "sum",
                -1,
                f"{t:7.1f}",
                r.algbw_GBps * scale,
                r.busbw_GBps * scale,
                0,
                f"{t:7.1f}",
                r.algbw_GBps * scale,
                r.busbw_GBps * scale,
                0,
            )
        )
    return "\n".join(lines) + "\n# Avg bus bandwidth    : 1 \n#\n"


def test_calibrate_reports_the_error_per_size():
    fab = fabric()
    sizes = [1 << 20, 4 << 20, 16 << 20]
    text = measured_log(fab, "all_reduce", sizes, 0.8)
    cal = nccl_tests.calibrate(fab, text, op="all_reduce", design="ls")
    assert [r["size_bytes"] for r in cal.rows] == sizes
    for r in cal.rows:  # simulated / measured - 1, measured printed to 2 decimals
        assert r["error"] == pytest.approx(1 / 0.8 - 1, abs=0.01)
    assert cal.mean_abs_error == pytest.approx(0.25, abs=0.01)
    assert "+25.0%" in cal.table() or "+24.9%" in cal.table() or "+25.1%" in cal.table()
    assert repr(cal).startswith("<Calibration all_reduce x8 ranks on 'ls'")
    assert "<table>" in cal._repr_html_()
    df = cal.to_pandas()
    assert list(df["size_bytes"]) == sizes
    # a log from fewer GPUs runs on the fabric's first GPUs
    few = nccl_tests.NcclLog(nccl_tests.parse(text).rows, "all_reduce", 4)
    assert nccl_tests.calibrate(fab, few).n_ranks == 4
    with pytest.raises(InvalidArgumentError, match="op"):
        nccl_tests.calibrate(fab, text)
    with pytest.raises(InvalidArgumentError, match="16"):
        nccl_tests.calibrate(fab, nccl_tests.NcclLog(few.rows, "all_reduce", 16))


def test_calibrate_command(tmp_path, capsys):
    sc_path = tmp_path / "tiny.toml"
    sc_path.write_text(TINY)
    sc = load_scenario(sc_path)
    fab = sc.fabrics["ls 1:1"]
    log = tmp_path / "all_reduce_perf.log"
    log.write_text(measured_log(fab, "all_reduce", [1 << 20, 4 << 20], 0.9))
    out_json, png = tmp_path / "cal.json", tmp_path / "cal.png"
    argv = [
        "calibrate",
        str(log),
        "--scenario",
        str(sc_path),
        "--design",
        "ls 1:1",
        "--routing",
        "ecmp",
        "--seed",
        "0",
        "--json",
        str(out_json),
        "--plot",
        str(png),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("# all_reduce on 8 ranks: measured")
    assert "mean |error|" in out
    doc = json.loads(out_json.read_text())
    assert [r["size_bytes"] for r in doc["rows"]] == [1 << 20, 4 << 20]
    assert all(abs(r["error"] - (1 / 0.9 - 1)) < 0.01 for r in doc["rows"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    # bad input fails before any output
    log2 = tmp_path / "mystery.log"
    log2.write_text(measured_log(fab, "all_reduce", [1 << 20], 0.9))
    for bad in (
        ["calibrate", str(log2), "--scenario", str(sc_path)],
        ["calibrate", str(log), "--scenario", str(sc_path), "--design", "nope"],
        ["calibrate", str(tmp_path / "none.log"), "--scenario", str(sc_path)],
    ):
        assert main(bad) == 2, bad
        o, e = capsys.readouterr()
        assert o == "" and e.startswith("fabricsim: error: "), (bad, o, e)
