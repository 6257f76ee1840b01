"""Hardware profiles: values against the public figures in reference.md, lookup, validation."""

from __future__ import annotations

import dataclasses
import doctest
import math

import pytest

import fabricsim as fs
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError
from fabricsim.fabric import builders, profiles
from fabricsim.fabric.profiles import Profile
from fabricsim.fabric.schema import graph_record

H100 = profiles.get_profile("h100-ndr400")
A100 = profiles.get_profile("a100-hdr200")
B200 = profiles.get_profile("b200-xdr800")


def fields_of(p: Profile, **changes) -> dict:
    d = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    d.update(changes)
    return d


def test_builtin_names():
    assert profiles.list_profiles() == [
        "a100-hdr200",
        "a100-hdr200x4",
        "b200-xdr800",
        "gb200-nvl72",
        "h100-ndr400",
        "h100-roce200x8",
        "h100-roce400x4",
        "h200-ndr400",
    ]
    assert set(profiles.PROFILES) == set(profiles.list_profiles())
    for name, p in profiles.PROFILES.items():
        assert p.name == name
        assert isinstance(p, Profile)


@pytest.mark.parametrize(
    "p, gpu, nvlink_gbps, nic_gbps, tflops",
    [
        # NVLink per direction: H100 450 GB/s, A100 300 GB/s, B200 900 GB/s.
        (H100, "H100", 450 * 8, 400, 989),
        (A100, "A100", 300 * 8, 200, 312),
        (B200, "B200", 900 * 8, 800, 2250),
    ],
)
def test_datasheet_figures(p, gpu, nvlink_gbps, nic_gbps, tflops):
    assert gpu in p.gpu
    assert p.gpus_per_node == 8
    assert p.nvlink_gbps == nvlink_gbps
    assert p.nic_gbps == nic_gbps
    assert p.peak_tflops_bf16 == tflops
    assert p.node_nic_gbps == 8 * nic_gbps


def test_nic_busbw_lands_in_measured_ranges():
    # reference.md: 400G NDR / ConnectX-7 46-49 GB/s busbw per NIC; HDR 200G about 24 GB/s.
    assert 46.0 <= H100.nic_busbw_GBps <= 49.0
    assert 23.0 <= A100.nic_busbw_GBps <= 25.0
    assert B200.nic_busbw_GBps == pytest.approx(2 * H100.nic_busbw_GBps)


def test_nvlink_busbw_matches_ring_measurement():
    # reference.md: ring all-reduce on one 8 x H100 node reaches about 370 GB/s busbw, below
    # the 450 GB/s line rate (NVLS, which reduces in the switch, reaches ~479).
    assert 350.0 <= H100.nvlink_busbw_GBps <= 390.0
    assert H100.nvlink_busbw_GBps < 450.0
    # NCCL caps A100 (sm80) busbw at 235 GB/s.
    assert A100.nvlink_busbw_GBps == pytest.approx(235.0, abs=2.0)


def test_latencies_are_in_nccl_ranges():
    # NCCL tuning.cc: Ring/LL per-step NVLink latency 0.6 us bounds the 2-link NVLink path.
    for p in profiles.PROFILES.values():
        assert 2 * p.nvlink_latency_us <= 0.6 + 1e-12
        assert 0.1 <= p.fabric_latency_us <= 1.0
        assert 0.1 <= p.access_latency_us <= 1.0
        # "a few us" of per-step software overhead, below NCCL's per-collective baseLat 6.6.
        assert 0.5 <= p.base_latency_us < 6.6
        # a network step across one leaf (2 access links + overhead) within NCCL's
        # 2.7-4.0 us Ring LL/LL128 network step.
        assert 2.7 <= 2 * p.access_latency_us + p.base_latency_us <= 4.0


def test_efficiency_dict():
    for p in profiles.PROFILES.values():
        e = p.efficiency
        assert e == {
            "nvlink": p.nvlink_efficiency,
            "access": p.nic_efficiency,
            "fabric": p.nic_efficiency,
            "wan": p.nic_efficiency,
            "pcie": p.nic_efficiency,
            "default": p.nic_efficiency,
        }
        assert set(e) == {*fs.schema.KINDS, "default"}
        e["nvlink"] = 0.1  # a fresh dict every time: mutating it cannot change the profile
        assert p.efficiency["nvlink"] == p.nvlink_efficiency


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        H100.nic_gbps = 800.0  # type: ignore[misc]


def test_get_profile_passes_instances_through():
    custom = Profile(**fields_of(H100, name="custom", nic_gbps=200.0))
    assert profiles.get_profile(custom) is custom
    assert profiles.get_profile(H100) is H100


def test_get_profile_aliases_and_case():
    assert profiles.get_profile("H100-NDR400") is H100
    assert profiles.get_profile(" a100 ") is A100
    assert profiles.get_profile("b200") is B200


def test_unknown_profile_lists_valid_names():
    with pytest.raises(UnknownNameError) as ei:
        profiles.get_profile("tpu-v5")
    msg = str(ei.value)
    assert "'tpu-v5'" in msg
    for name in profiles.list_profiles():
        assert name in msg
    assert isinstance(ei.value, ValueError)


@pytest.mark.parametrize("bad", [None, 3, 1.5, ["h100"]])
def test_get_profile_wrong_type(bad):
    with pytest.raises(InvalidTypeError, match="profile"):
        profiles.get_profile(bad)


@pytest.mark.parametrize(
    "key, value",
    [
        ("nic_gbps", 0.0),
        ("nic_gbps", -400.0),
        ("nic_gbps", math.nan),
        ("nvlink_gbps", math.inf),
        ("nvlink_gbps", "3600"),
        ("fabric_latency_us", 0.0),
        ("access_latency_us", True),
        ("nvlink_latency_us", -0.1),
        ("base_latency_us", -1.0),
        ("base_latency_us", math.nan),
        ("peak_tflops_bf16", 0),
        ("nvlink_efficiency", 0.0),
        ("nvlink_efficiency", 1.01),
        ("nic_efficiency", math.nan),
        ("gpus_per_node", 0),
        ("gpus_per_node", 8.0),
        ("gpus_per_node", True),
    ],
)
def test_profile_validation_names_the_field(key, value):
    with pytest.raises(InvalidArgumentError) as ei:
        Profile(**fields_of(H100, name="bad", **{key: value}))
    assert key in str(ei.value)
    assert "'bad'" in str(ei.value)


def test_profile_validation_name_and_strings():
    with pytest.raises(InvalidArgumentError, match="name"):
        Profile(**fields_of(H100, name=""))
    with pytest.raises(InvalidTypeError, match="gpu"):
        Profile(**fields_of(H100, name="x", gpu=None))


def test_zero_base_latency_allowed():
    assert Profile(**fields_of(H100, name="x", base_latency_us=0.0)).base_latency_us == 0.0


def test_builders_read_profile_by_name():
    G = builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, profile="a100-hdr200")
    gpus = [n for n, r in G.nodes(data="role") if r == "gpu"]
    assert len(gpus) == 2 * A100.gpus_per_node
    acc = {d["capacity_gbps"] for _, _, d in G.edges(data=True) if d["kind"] == "access"}
    nvl = {d["capacity_gbps"] for _, _, d in G.edges(data=True) if d["kind"] == "nvlink"}
    lat = {d["latency_us"] for _, _, d in G.edges(data=True) if d["kind"] == "nvlink"}
    assert acc == {A100.nic_gbps}
    assert nvl == {A100.nvlink_gbps}
    assert lat == {A100.nvlink_latency_us}
    assert graph_record(G, "params")["profile"] == "a100-hdr200"


def test_builder_with_unknown_profile_name():
    with pytest.raises(UnknownNameError, match="h100-ndr400"):
        builders.rail_optimized(nodes_per_su=2, profile="nope")


def test_fabric_uses_profile_efficiency():
    G = builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2)
    fab = fs.Fabric.from_networkx(G, profile="h100-ndr400")
    assert fab.efficiency == H100.efficiency
    H = fab.to_networkx()
    for _, _, d in H.edges(data=True):
        eff = H100.nvlink_efficiency if d["kind"] == "nvlink" else H100.nic_efficiency
        assert d["usable_gbps"] == pytest.approx(d["capacity_gbps"] * eff)
    # An explicit efficiency wins over the profile.
    assert fs.Fabric.from_networkx(G, profile="h100", efficiency=0.5).efficiency == {"default": 0.5}


def test_fabric_with_unknown_profile():
    G = builders.leaf_spine(leaves=1, spines=1, hosts_per_leaf=1, gpus_per_host=2)
    with pytest.raises(UnknownNameError, match="valid"):
        fs.Fabric.from_networkx(G, profile="h200-magic")


def test_single_nic_transfer_time_matches_measured_busbw():
    # A 1 GiB point-to-point transfer through one leaf at the H100 profile's usable rate:
    # 48 GB/s (inside nccl-tests' 46-49 GB/s per NIC).
    G = builders.leaf_spine(leaves=1, spines=1, hosts_per_leaf=2, gpus_per_host=1)
    fab = fs.Fabric.from_networkx(G, profile="h100-ndr400")
    a, b = fab.gpus
    size = 2**30
    res = fs.simulate(fab, [(a, b, size)])
    rate_GBps = size / res.transfer_end_s[0] / 1e9
    assert 46.0 <= rate_GBps <= 49.0


def test_doctests():
    result = doctest.testmod(profiles, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5
    assert result.failed == 0


def test_issue17_profiles_and_their_nics():
    """H200, GB200 NVL72, A100 with 4 HDR NICs, cloud H100 with 8 x 200G / 4 x 400G."""
    g = profiles.get_profile
    assert g("h200").nvlink_gbps == 3600.0 and g("h200").nic_gbps == 400.0
    assert g("h200").nvls_algbw_GBps == g("h100").nvls_algbw_GBps == 273.0
    nvl72 = g("gb200")
    assert nvl72.gpus_per_node == 72 and nvl72.nvlink_gbps == 7200.0
    assert nvl72.nvls_algbw_GBps is None  # no public per-GPU NVLS figure
    assert g("a100-hdr200x4").nics_per_node == 4 and g("a100-hdr200x4").nccl_arch == "ampere"
    assert g("a100-hdr200x4").node_nic_gbps == 4 * 200.0 == g("a100").node_nic_gbps / 2
    assert g("h100-roce200x8").node_nic_gbps == 8 * 200.0
    assert g("h100-roce400x4").node_nic_gbps == 4 * 400.0
    # the builders take the NIC count from the profile: one call describes the shared NICs
    G = fs.rail_optimized(nodes_per_su=2, profile="h100-roce400x4")
    assert sum(1 for _, r in G.nodes(data="role") if r == "nic") == 2 * 4
    assert fs.builders.params(G)["nics_per_node"] == 4


@pytest.mark.parametrize("bad", [0, 3, True, 2.0])
def test_nics_per_node_checked(bad):
    with pytest.raises(InvalidArgumentError, match="nics_per_node"):
        Profile(
            name="x",
            gpu="X",
            gpus_per_node=8,
            nvlink_gbps=1.0,
            nic_gbps=1.0,
            nvlink_latency_us=1.0,
            access_latency_us=1.0,
            fabric_latency_us=1.0,
            base_latency_us=0.0,
            nvlink_efficiency=1.0,
            nic_efficiency=1.0,
            peak_tflops_bf16=1.0,
            nics_per_node=bad,
        )
