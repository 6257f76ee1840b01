"""Fabrics in files: builder graphs and ``to_networkx()`` through GraphML and GML unchanged
(and simulating identically), and CSV cable lists."""

from __future__ import annotations

import io

import networkx as nx
import numpy as np
import pytest

import fabricsim as fs
from fabricsim.exceptions import InvalidArgumentError
from fabricsim.fabric import builders, schema
from fabricsim.fabric.io import read_cable_list

CARRIERS = [
    {"name": 'telco "a" é', "capacity_gbps": 100.0, "availability": 0.999},
    {"name": "b", "capacity_gbps": 40.0, "availability": 0.99},
]
SITES = [
    {"name": "lyon", "carriers": ['telco "a" é', "b"], "distance_km": 400.0, "capacity_gbps": 10.0}
]


def graphs():
    ls = builders.leaf_spine(
        leaves=2, spines=3, hosts_per_leaf=2, gpus_per_host=2, oversubscription=2.0
    )
    edge = builders.edge_sites(ls, sites=SITES, carriers=CARRIERS)
    failed = fs.fail(fs.Fabric.from_networkx(edge), nodes=["spine0"]).to_networkx()
    return {
        "leaf_spine": ls,
        "fat_tree": builders.fat_tree(k=4),
        "rail_optimized": builders.rail_optimized(
            scalable_units=2, nodes_per_su=2, gpus_per_node=2, spines_per_su=2, cores=2
        ),
        "edge_sites": edge,
        "to_networkx": fs.Fabric.from_networkx(ls).to_networkx(),
        "failed": failed,
    }


def round_trip(G, fmt):
    buf = io.BytesIO()
    getattr(nx, f"write_{fmt}")(G, buf)
    buf.seek(0)
    return getattr(nx, f"read_{fmt}")(buf)


@pytest.mark.parametrize("fmt", ["graphml", "gml"])
@pytest.mark.parametrize("name", list(graphs()))
def test_fabricsim_graphs_write_and_read_back_unchanged(name, fmt):
    G = graphs()[name]
    H = round_trip(G, fmt)  # nx's own writer: every attribute is a plain scalar
    assert list(H.nodes(data=True)) == list(G.nodes(data=True))
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    assert {k: H.graph[k] for k in G.graph} == G.graph
    for key in schema.GRAPH_RECORDS:
        assert schema.graph_record(H, key) == schema.graph_record(G, key)
    a, b = fs.Fabric.from_networkx(G), fs.Fabric.from_networkx(H)
    flows = [(g, a.gpus[-1 - i], 4 << 20) for i, g in enumerate(a.gpus[: len(a.gpus) // 2])]
    ra, rb = fs.simulate(a, flows, seed=3), fs.simulate(b, flows, seed=3)
    assert np.array_equal(ra.finish_s, rb.finish_s)
    assert np.array_equal(ra.link_bytes, rb.link_bytes)


def test_records_are_json_text_and_builders_read_them():
    G = graphs()["edge_sites"]
    assert all(isinstance(G.graph[k], str) for k in ("params", "edge_sites"))
    assert builders.params(G)["leaves"] == 2
    assert schema.graph_record(G, "edge_sites")["site_nodes"] == {"lyon": "site/lyon"}
    assert schema.graph_record(G, "failed") is None
    # the failure record accumulates through GraphML too
    failed = graphs()["failed"]
    H = round_trip(failed, "graphml")
    again = fs.fail(fs.Fabric.from_networkx(H), nodes=["spine1"])
    assert schema.graph_record(again.graph, "failed")["nodes"] == ["spine0", "spine1"]
    # an oversubscription sweep rebuilds a design read from GraphML
    job = fs.TrainingJob(
        params=1e8, layers=2, hidden_size=256, data_parallel=8, global_batch_tokens=8 * 4096
    )
    ls = fs.Fabric.from_networkx(round_trip(graphs()["leaf_spine"], "graphml"))
    out = fs.sweep_oversubscription(ls, job, ratios=(1.0,), background_loads=(0.0,), samples=1)
    assert list(out) == ["1:1"]
    # hand-made records and the pre-0.2 dict are still read
    K = nx.Graph(params={"k": 1}, edge={"sites": []})
    assert schema.graph_record(K, "params") == {"k": 1}
    assert schema.graph_record(K, "edge_sites") == {"sites": []}
    with pytest.raises(fs.InvalidAttributeError, match="'params'"):
        schema.graph_record(nx.Graph(params="{not json"), "params")


def test_to_networkx_link_ids_are_scalars():
    fab = fs.Fabric.from_networkx(graphs()["leaf_spine"])
    H = fab.to_networkx()
    for u, v, d in H.edges(data=True):
        assert fab.link(d["link_id_uv"]) == (u, v) and fab.link(d["link_id_vu"]) == (v, u)


CABLES = """\
# exported from the inventory
a_node,a_role,b_node,b_role,gbps,latency_us,carrier
h0/gpu0,gpu,h0/nvs,nvswitch,3600,0.5,
h0/gpu1,gpu,h0/nvs,nvswitch,3600,0.5,
h1/gpu0,gpu,h1/nvs,nvswitch,3600,0.5,
h1/gpu1,gpu,h1/nvs,nvswitch,3600,0.5,
h0/gpu0,gpu,leaf0,leaf,400,0.6,
h0/gpu1,gpu,leaf0,leaf,400,0.6,
h1/gpu0,gpu,leaf1,leaf,400,0.6,
h1/gpu1,gpu,leaf1,leaf,400,0.6,
leaf0,leaf,spine0,spine,400,0.6,
leaf0,leaf,spine0,spine,400,0.6,
leaf1,leaf,spine0,spine,800,0.6,
spine0,spine,pop/a,carrier_pop,100,1.0,telco-a
"""


def test_cable_list(tmp_path):
    p = tmp_path / "cables.csv"
    p.write_text(CABLES)
    G = read_cable_list(p)
    assert isinstance(G, nx.MultiGraph)  # leaf0-spine0 has two cables
    assert G.graph["builder"] == "cable_list"
    assert G.nodes["h1/gpu0"] == {"role": "gpu", "host": "h1/nvs"}
    kinds = {(u, v): d["kind"] for u, v, d in G.edges(data=True)}
    assert kinds[("h0/gpu0", "h0/nvs")] == "nvlink" and kinds[("h0/gpu0", "leaf0")] == "access"
    assert kinds[("leaf0", "spine0")] == "fabric" and kinds[("spine0", "pop/a")] == "wan"
    assert G.edges["spine0", "pop/a", 0]["carrier"] == "telco-a"
    fab = fs.Fabric.from_cable_list(p)
    assert fab.graph.edges["leaf0", "spine0"]["capacity_gbps"] == 800.0  # the bundle
    assert fab.cable_count == 7  # 4 access, 2 leaf-spine (the bundle is one link), 1 wan
    r = fs.collective(fab, "all_reduce", "64M", algorithm="ring")
    assert r.channels == 2  # two GPUs per host: NCCL-style channels follow the hosts
    # without a header, the columns are positional
    q = tmp_path / "plain.csv"
    q.write_text("\n".join(CABLES.splitlines()[2:]) + "\n")
    H = read_cable_list(q)
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    # optional columns, in any order
    r2 = tmp_path / "more.csv"
    r2.write_text(
        "b_node,b_role,a_node,a_role,latency_us,gbps,kind,a_host,a_rail\n"
        "leaf0,leaf,x0,gpu,0.6,400,access,hostA,0\n"
        "leaf0,leaf,x1,gpu,0.6,400,access,hostA,1\n"
    )
    M = read_cable_list(r2)
    assert M.nodes["x1"] == {"role": "gpu", "host": "hostA", "rail": 1}


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("a_node,a_role,b_node,b_role,gbps\n", "lacks latency_us"),
        ("a_node,a_role,b_node,b_role,gbps,latency_us,colour\n", "unknown column 'colour'"),
        ("g0,gpu,leaf0,leaf,400\n", "cables.csv:1: expected"),
        ("g0,gpu,leaf0,router,400,0.6\n", "cables.csv:1: b_role: unknown role 'router'"),
        ("g0,gpu,leaf0,leaf,fast,0.6\n", "cables.csv:1: gbps: expected a number, got 'fast'"),
        ("g0,gpu,leaf0,leaf,400,-1\n", "cables.csv:1: latency_us: must be a finite number > 0"),
        (
            "g0,gpu,leaf0,leaf,400,0.6\ng0,leaf,leaf1,leaf,400,0.6\n",
            "cables.csv:2: a_role: 'g0' is a leaf here but a gpu at .*cables.csv:1",
        ),
        ("g0,gpu,g0,gpu,400,0.6\n", "cables.csv:1: a cable from 'g0' to itself"),
        ("g0,gpu,leaf0,leaf,400,0.6,,\n", "cables.csv:1: expected"),
    ],
)
def test_bad_cable_lists_name_file_line_and_column(tmp_path, text, match):
    p = tmp_path / "cables.csv"
    p.write_text(text)
    with pytest.raises(InvalidArgumentError, match=match):
        read_cable_list(p)


def test_missing_cable_list(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no such cable list"):
        fs.Fabric.from_cable_list(tmp_path / "none.csv")
