"""The direct-connect torus builder and forwarding GPUs (issue 17)."""

from __future__ import annotations

import io
import itertools

import networkx as nx
import numpy as np
import pytest

import fabricsim as fs
from fabricsim.exceptions import InvalidArgumentError, InvalidAttributeError, UnreachableError
from fabricsim.fabric import builders, schema


def torus_distance(a, b, dims):
    return sum(min(abs(x - y), k - abs(x - y)) for x, y, k in zip(a, b, dims, strict=True))


def label(c, g=0):
    return "node" + "-".join(map(str, c)) + f"/gpu{g}"


@pytest.mark.parametrize("dims", [(5,), (4, 3), (2, 3, 2), (3, 3, 3)])
def test_hop_counts_equal_torus_distance(dims):
    fab = fs.Fabric.from_networkx(fs.torus(dims=dims, gpus_per_node=1))
    coords = list(itertools.product(*(range(k) for k in dims)))
    for a, b in itertools.product(coords, repeat=2):
        assert fab.distance(label(a), label(b), metric="hops") == torus_distance(a, b, dims)


def test_shape_links_and_records():
    G = fs.torus(dims=(4, 2, 3), gpus_per_node=2, link_gbps=200.0)
    n = 4 * 2 * 3
    assert sum(1 for _, r in G.nodes(data="role") if r == "gpu") == 2 * n
    assert all(d.get("forwarding") for _, d in G.nodes(data=True) if d["role"] == "gpu")
    # degree per GPU: 2 (k=4) + 1 (k=2, one link) + 2 (k=3), plus its NVSwitch
    assert {G.degree(g) for g, r in G.nodes(data="role") if r == "gpu"} == {6}
    direct = [d for *_, d in G.edges(data=True) if d["kind"] == "fabric"]
    assert len(direct) == 2 * n * 5 // 2
    assert {d["capacity_gbps"] for d in direct} == {200.0}
    assert builders.params(G)["dims"] == [4, 2, 3]
    assert G.graph["builder"] == "torus"
    schema.validate(G)


def test_ring_all_reduce_runs_and_uses_direct_links():
    fab = fs.Fabric.from_networkx(fs.torus(dims=(4, 4), gpus_per_node=1, link_gbps=100.0))
    r = fs.collective(fab, "all_reduce", 64 << 20, algorithm="ring")
    assert r.algorithm == "ring" and r.time_s > 0
    # a ring over 16 GPUs on 100 Gb/s links: busbw cannot beat one link (12.5 GB/s)
    assert 0 < r.busbw_GBps <= 12.5


def test_traffic_is_forwarded_through_gpus():
    fab = fs.Fabric.from_networkx(fs.torus(dims=(6,), gpus_per_node=1))
    res = fs.simulate(fab, [("node0/gpu0", "node3/gpu0", 1 << 20)])
    # 3 hops either way round: ECMP picks one, and every link of it carries the flow
    assert np.count_nonzero(res.link_bytes) == 3
    assert res.finish_s[0] > 0


def test_graphml_and_gml_round_trip():
    G = fs.torus(dims=(3, 2), gpus_per_node=2, profile="h100-ndr400")
    for fmt in ("graphml", "gml"):
        buf = io.BytesIO()
        getattr(nx, f"write_{fmt}")(G, buf)
        buf.seek(0)
        H = getattr(nx, f"read_{fmt}")(buf)
        assert list(H.nodes(data=True)) == list(G.nodes(data=True))
        assert list(H.edges(data=True)) == list(G.edges(data=True))
        a, b = fs.Fabric.from_networkx(G), fs.Fabric.from_networkx(H)
        flows = [(g, a.gpus[-1 - i], 1 << 20) for i, g in enumerate(a.gpus[:6])]
        assert np.array_equal(fs.simulate(a, flows).finish_s, fs.simulate(b, flows).finish_s)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dims": 4}, "dims"),
        ({"dims": ()}, "dims"),
        ({"dims": (4, 1)}, r"dims\[1\]"),
        ({"dims": (4, 2.5)}, r"dims\[1\]"),
        ({"dims": "44"}, "dims"),
        ({"gpus_per_node": 0}, "gpus_per_node"),
        ({"link_gbps": -1}, "link_gbps"),
        ({"link_latency_us": 0}, "link_latency_us"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        fs.torus(**kwargs)


def _pair(forwarding):
    """gpu0 - gpu1 - gpu2 in a line, no switch."""
    G = nx.Graph()
    for i in range(3):
        G.add_node(f"gpu{i}", role="gpu", **({"forwarding": forwarding} if i == 1 else {}))
    for a, b in [(0, 1), (1, 2)]:
        G.add_edge(f"gpu{a}", f"gpu{b}", capacity_gbps=100.0, latency_us=1.0)
    return G


def test_forwarding_attribute_decides_reachability():
    with pytest.raises(UnreachableError, match="forwarding=True"):
        fs.Fabric.from_networkx(_pair(None))
    fab = fs.Fabric.from_networkx(_pair(True))
    assert fab.distance("gpu0", "gpu2", metric="hops") == 2
    assert fs.Fabric.from_networkx(_pair(1)).distance("gpu0", "gpu2", metric="hops") == 2


def test_forwarding_attribute_is_checked():
    with pytest.raises(InvalidAttributeError, match="forwarding"):
        fs.Fabric.from_networkx(_pair("yes"))
    G = _pair(True)
    G.add_node("sw", role="leaf", forwarding=False)
    G.add_edge("sw", "gpu0", capacity_gbps=1.0, latency_us=1.0)
    with pytest.raises(InvalidAttributeError, match="forwarding=False on role 'leaf'"):
        fs.Fabric.from_networkx(G)
