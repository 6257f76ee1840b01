"""fabricsim against published nccl-tests measurements (docs/validation.md): each point is
simulated with the builder's profile given once, and must stay within the error measured when
the page was written (plus 2 points of slack), so a change that drifts away from the
measurements fails here. Sources and systems: docs/validation.md."""

from __future__ import annotations

import pytest

import fabricsim as fs

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

#: (nodes of 8 x H100 with 8 x 400G, op, algorithm, size, measured busbw GB/s, error when
#: recorded (sim / measured - 1), source key in docs/validation.md)
POINTS = [
    (1, "all_reduce", "auto", 1 * KiB, 0.07, 0.704, "azure"),
    (1, "all_reduce", "auto", 1 * MiB, 43.7, 0.416, "azure"),
    (1, "all_reduce", "auto", 16 * MiB, 234.5, 0.300, "azure"),
    (1, "all_reduce", "auto", 128 * MiB, 400.6, 0.082, "azure"),
    (1, "all_reduce", "auto", 1 * GiB, 466.4, -0.002, "azure"),
    (1, "all_reduce", "auto", 8 * GiB, 478.9, -0.019, "azure"),
    (1, "all_reduce", "ring", 4 * GiB, 367.5, 0.001, "nccl-1455"),
    (1, "all_gather", "auto", 1 * GiB, 370.0, -0.015, "nccl-tests-212"),
    (1, "reduce_scatter", "auto", 1 * GiB, 370.0, -0.015, "nccl-tests-212"),
    (1, "broadcast", "auto", 1 * GiB, 370.0, -0.108, "nccl-tests-212"),
    (2, "all_reduce", "auto", 4 * GiB, 430.0, 0.028, "nccl-1221"),
    (2, "all_reduce", "tree", 4 * GiB, 330.0, 0.196, "nccl-1221"),
    (2, "all_reduce", "tree", 8 * GiB, 368.76, 0.071, "nccl-tests-309"),
    (4, "all_reduce", "auto", 4 * GiB, 320.0, 0.147, "nccl-1221"),
    (6, "all_to_all", "auto", 1 * GiB, 48.0, -0.217, "nccl-tests-267"),
]

#: At scale (docs/validation.md, "256 GPUs"): (nodes, op, channels, size, measured busbw
#: GB/s, error when recorded, source). The measured run forced 16 channels. Provisional: the
#: all-gather figure is the issue's title; the "340" is read from a cut-off description (it
#: may not be the all-reduce's busbw) and the NICs' speed is assumed. These pin fabricsim's
#: number near what was recorded; they do not validate it.
POINTS_AT_SCALE = [
    (32, "all_reduce", 16, 2 * GiB, 340.0, -0.072, "nccl-1218"),
    (32, "all_gather", 16, 2 * GiB, 200.0, 0.577, "nccl-1218"),
]

_FABRICS: dict = {}


def fabric(nodes: int) -> fs.Fabric:
    if nodes not in _FABRICS:
        G = fs.rail_optimized(nodes_per_su=nodes, profile="h100-ndr400")
        _FABRICS[nodes] = fs.Fabric.from_networkx(G)
    return _FABRICS[nodes]


@pytest.mark.parametrize("nodes,op,algo,size,measured,error,source", POINTS)
def test_busbw_stays_within_the_recorded_error(nodes, op, algo, size, measured, error, source):
    res = fs.collective(fabric(nodes), op, size, algorithm=algo)
    got = res.busbw_GBps / measured - 1
    assert min(0.0, error) - 0.02 <= got <= max(0.0, error) + 0.02, (
        f"{source}: {nodes} node(s) {op} {size} B: sim {res.busbw_GBps:.2f} GB/s vs measured "
        f"{measured} GB/s: error {got:+.1%}, recorded {error:+.1%}"
    )


def test_single_node_nvls_large_sizes_within_ten_percent():
    """The issue's bar: 8 x H100, auto picks NVLS and lands within 10 % of the Azure table
    at 128 MiB - 8 GiB."""
    for _, op, _, size, measured, _, source in POINTS:
        if source == "azure" and size >= 128 * MiB:
            res = fs.collective(fabric(1), op, size)
            assert res.algorithm == "nvls"
            assert abs(res.busbw_GBps / measured - 1) <= 0.10


@pytest.mark.parametrize("nodes,op,channels,size,measured,error,source", POINTS_AT_SCALE)
def test_busbw_at_scale_stays_within_the_recorded_error(
    nodes, op, channels, size, measured, error, source
):
    res = fs.collective(fabric(nodes), op, size, channels=channels)
    got = res.busbw_GBps / measured - 1
    assert min(0.0, error) - 0.02 <= got <= max(0.0, error) + 0.02, (
        f"{source}: {nodes} nodes {op} {size} B: sim {res.busbw_GBps:.2f} GB/s vs measured "
        f"{measured} GB/s: error {got:+.1%}, recorded {error:+.1%}"
    )
