"""Scenario files: parsing, the key -> line scanner, errors that name file, line and key, and
run_scenario == fabricsim.compare with the same arguments."""

from __future__ import annotations

import doctest
import math
import re
from pathlib import Path

import networkx as nx
import pytest

import fabricsim as fs
from fabricsim.cli import scenario
from fabricsim.cli.scenario import example_path, example_text, key_lines, load_scenario, parse_size
from fabricsim.fabric.schema import graph_record
from scenario_text import TINY, line_of, replace


def error(text: str, name: str = "bad.toml") -> str:
    with pytest.raises(fs.ScenarioError) as info:
        load_scenario(text=text, name=name)
    return str(info.value)


# --------------------------------------------------------------------------- loading


def test_tiny_scenario_loads():
    sc = load_scenario(text=TINY, name="tiny.toml")
    assert list(sc.fabrics) == ["ls 1:1", "ls 2:1"]
    assert all(isinstance(f, fs.Fabric) for f in sc.fabrics.values())
    assert sc.routing == {"ls 1:1": "ecmp", "ls 2:1": "spray"}
    assert sc.fabrics["ls 2:1"].graph.graph["oversubscription"] == 2.0
    assert sc.job == fs.TrainingJob(
        params=2e7,
        layers=2,
        hidden_size=256,
        seq_len=512,
        data_parallel=8,
        global_batch_tokens=8192,
    )
    assert sc.background == fs.Background(sizes="websearch")
    assert (sc.loads, sc.load, sc.samples, sc.seed) == ((0.0, 0.3), 0.3, 2, 1)
    assert sc.collective_size_bytes == 16 << 20
    assert sc.edge is None and sc.title == "tiny" and sc.source == "tiny.toml"
    assert sc.collective["op"] == "all_reduce" and sc.collective["max_bytes"] == 1 << 30
    assert [d.name for d in sc.designs] == ["ls 1:1", "ls 2:1"]
    assert sc.sweep_loads == (0.0, 0.3)


def test_path_and_text_give_the_same_scenario(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    a, b = load_scenario(p), load_scenario(str(p))
    c = load_scenario(text=TINY)
    assert a.source == str(p) and c.source == "<scenario>"
    for x in (b, c):
        assert x.job == a.job and x.loads == a.loads and list(x.fabrics) == list(a.fabrics)


def test_defaults_when_optional_tables_are_missing():
    text = TINY.split("[background]")[0]
    sc = load_scenario(text=text)
    assert sc.background == fs.Background()
    assert (sc.loads, sc.load, sc.samples, sc.seed) == ((0.0, 0.25, 0.5, 0.75), 0.5, 10, 0)


def test_background_load_is_the_headline_load():
    text = replace(TINY, "load = 0.3\n", "").replace(
        'sizes = "websearch"', 'sizes = "websearch"\nload = 0.2'
    )
    sc = load_scenario(text=text)
    assert sc.load == 0.2 and sc.background.load == 0.0
    both = replace(TINY, 'sizes = "websearch"', 'sizes = "websearch"\nload = 0.2')
    msg = error(both)
    assert f"bad.toml:{line_of(both, 'load = 0.2')}: background.load: conflicts" in msg


def test_background_sizes_tenant_and_fixed_size():
    text = replace(
        TINY,
        'sizes = "websearch"',
        'sizes = "4MiB"\npattern = "tenant"\n'
        'tenant = { op = "all_to_all", size_bytes = "1MiB" }\ntenant_repeats = 2',
    )
    bg = load_scenario(text=text).background
    assert bg.sizes == 4 << 20 and bg.pattern == "tenant" and bg.tenant_repeats == 2
    assert bg.tenant == fs.Collective("all_to_all", 1 << 20)
    cdf = replace(TINY, 'sizes = "websearch"', "sizes = [[1000, 2000], [0.0, 1.0]]")
    assert load_scenario(text=cdf).background.mean_size_bytes == pytest.approx(1500)


def test_built_in_example_ships_and_tells_designs_apart():
    assert example_path().is_file()
    sc = load_scenario(example_path())
    assert len(sc.fabrics) >= 3
    gpus = {len(f.gpus) for f in sc.fabrics.values()}
    assert gpus == {sc.job.gpus}  # one cluster, wired several ways
    over = sorted(f.graph.graph["oversubscription"] for f in sc.fabrics.values())
    assert over[0] == 1.0 and over[-1] > 1.0
    builders = {f.graph.graph["builder"] for f in sc.fabrics.values()}
    assert {"rail_optimized", "leaf_spine"} <= builders
    assert len(sc.sweep_loads) >= 3 and 0.0 in sc.sweep_loads
    assert sc.background.sizes == "websearch"
    assert load_scenario(text=example_text()).loads == sc.loads


@pytest.mark.parametrize("fmt", ["graphml", "gml"])
def test_graphml_and_gml_builders_give_the_same_fabric(tmp_path, fmt):
    G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    getattr(nx, f"write_{fmt}")(G, tmp_path / f"mine.{fmt}")  # the builder's graph, unchanged
    text = TINY.replace(
        'builder = "leaf_spine"\nleaves = 2\nspines = 2\nhosts_per_leaf = 2\ngpus_per_host = 2\n\n',
        f'builder = "{fmt}"\npath = "mine.{fmt}"\n\n',
        1,
    )
    (tmp_path / "s.toml").write_text(text)
    sc = load_scenario(tmp_path / "s.toml")
    fab, ref = sc.fabrics["ls 1:1"], load_scenario(TINY).fabrics["ls 1:1"]
    assert fab.graph.graph["builder"] == "leaf_spine"
    assert graph_record(fab.graph, "params") == graph_record(ref.graph, "params")
    for a, b in ((fab, ref),):
        assert list(a.graph.edges(data=True)) == list(b.graph.edges(data=True))
        ra, rb = fs.collective(a, "all_reduce", "16M"), fs.collective(b, "all_reduce", "16M")
        assert ra.time_s == rb.time_s and ra.algorithm == rb.algorithm
    (tmp_path / "s.toml").write_text(text.replace(f"mine.{fmt}", f"nope.{fmt}"))
    with pytest.raises(fs.ScenarioError, match=r"s\.toml:6: fabric\[0\]\.path: no such file"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / f"bad.{fmt}").write_text("not a graph")
    (tmp_path / "s.toml").write_text(text.replace(f"mine.{fmt}", f"bad.{fmt}"))
    with pytest.raises(fs.ScenarioError, match=r"s\.toml:6: fabric\[0\]\.path: cannot read"):
        load_scenario(tmp_path / "s.toml")


def test_cable_list_builder(tmp_path):
    lines = ["a_node,a_role,b_node,b_role,gbps,latency_us"]
    for h in range(4):
        for g in range(2):
            gpu = f"h{h}g{g}"
            lines += [
                f"{gpu},gpu,h{h}/nvs,nvswitch,3600,0.5",
                f"{gpu},gpu,leaf{h // 2},leaf,400,0.6",
            ]
    lines += [f"leaf{i},leaf,spine{s},spine,800,0.6" for i in range(2) for s in range(2)]
    (tmp_path / "cables.csv").write_text("\n".join(lines) + "\n")
    text = TINY.replace(
        'builder = "leaf_spine"\nleaves = 2\nspines = 2\nhosts_per_leaf = 2\ngpus_per_host = 2\n\n',
        'builder = "cable_list"\npath = "cables.csv"\n\n',
        1,
    )
    (tmp_path / "s.toml").write_text(text)
    fab = load_scenario(tmp_path / "s.toml").fabrics["ls 1:1"]
    assert len(fab.gpus) == 8 and fab.switch_count == 4
    assert fab.graph.nodes["h3g1"]["host"] == "h3/nvs"
    (tmp_path / "cables.csv").write_text("\n".join(lines[:3] + ["x,gpu,y,router,1,1"]) + "\n")
    with pytest.raises(
        fs.ScenarioError,
        match=r"fabric\[0\]\.path: .*cables\.csv:4: b_role: "
        r"unknown role 'router'",
    ):
        load_scenario(tmp_path / "s.toml")


EDGE = """
[fabric.edge]
border_gbps = 400.0
[[fabric.edge.carriers]]
name = "a"
capacity_gbps = 100.0
availability = 0.999
[[fabric.edge.carriers]]
name = "b"
capacity_gbps = 100.0
availability = 0.99
[[fabric.edge.sites]]
name = "paris"
carriers = ["a", "b"]
distance_km = 20.0
capacity_gbps = 10.0
"""


def test_edge_sites_and_edge_table():
    text = replace(TINY, '\n[[fabric]]\nname = "ls 2:1"', EDGE + '\n[[fabric]]\nname = "ls 2:1"')
    sc = load_scenario(text=text)
    info = graph_record(sc.fabrics["ls 1:1"].graph, "edge_sites")
    assert [c["name"] for c in info["carriers"]] == ["a", "b"]
    assert "edge" not in sc.fabrics["ls 2:1"].graph.graph
    assert sc.edge is True  # edge sites present: compare reports them
    sc = load_scenario(text=text + '\n[edge]\nrequests = 500\npolicies = "split"\n')
    assert sc.edge == {"requests": 500, "policies": ["split"]}
    bad = replace(text, 'carriers = ["a", "b"]', 'carriers = ["a", "c"]')
    msg = error(bad)
    no = line_of(bad, '["a", "c"]')
    assert msg == (
        f"bad.toml:{no}: fabric[0].edge.sites[0].carriers: unknown carrier 'c'; "
        "known carriers: a, b"
    )
    bad = replace(text, "capacity_gbps = 10.0", 'capacity_gbps = "ten"')
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'ten')}: fabric[0].edge.sites[0].capacity_gbps: expected a number"
    )
    msg = error(text + '\n[edge]\nsites = ["lyon"]\n')
    assert "edge.sites: design 'ls 1:1' has no site 'lyon'; it has: paris" in msg
    msg = error(TINY + "\n[edge]\nrequests = 5\n")
    assert "edge: no design has edge sites" in msg


# --------------------------------------------------------------------------- errors


def test_wrong_type_names_key_and_line():
    bad = replace(TINY, "oversubscription = 2.0", 'oversubscription = "two"')
    assert error(bad) == (
        f"bad.toml:{line_of(bad, 'two')}: fabric[1].oversubscription: expected a number, got 'two'"
    )
    bad = replace(TINY, "layers = 2", "layers = 2.5")
    assert (
        error(bad) == f"bad.toml:{line_of(bad, 'layers')}: job.layers: expected an integer, got 2.5"
    )
    bad = replace(TINY, "samples = 2", "samples = true")
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'samples')}: sweep.samples: expected an integer, got true"
    )
    bad = replace(TINY, "loads = [0.0, 0.3]", 'loads = [0.0, "x"]')
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'loads')}: sweep.loads: element 1: expected a number"
    )
    bad = replace(TINY, 'title = "tiny"', "title = 3")
    assert error(bad) == "bad.toml:1: title: expected a string, got 3"


def test_unknown_keys_list_the_valid_ones():
    bad = replace(
        TINY,
        "spines = 2\nhosts_per_leaf = 2\ngpus_per_host = 2\noversub",
        "spines = 2\nhosts_per_leaf = 2\ngpus_per_host = 2\nspine = 3\noversub",
    )
    msg = error(bad)
    assert msg.startswith(
        f"bad.toml:{line_of(bad, 'spine = 3')}: fabric[1].spine: unknown key "
        "(did you mean 'spines'?); valid keys: leaves, spines,"
    )
    bad = replace(TINY, "params = 2e7", "parameters = 2e7")
    msg = error(bad)
    assert msg.startswith(f"bad.toml:{line_of(bad, 'parameters')}: job.parameters: unknown key")
    assert "params, layers, hidden_size" in msg
    bad = TINY + "\n[sweeps]\nsamples = 3\n"
    msg = error(bad)
    assert msg.startswith(
        f"bad.toml:{line_of(bad, '[sweeps]')}: sweeps: unknown key (did you "
        "mean 'sweep'?); valid keys: title, description, fabric, job"
    )
    bad = replace(TINY, 'sizes = "websearch"', 'sizes = "websearch"\ncolor = "red"')
    assert error(bad).startswith(f"bad.toml:{line_of(bad, 'color')}: background.color: unknown")


def test_missing_job_and_fabrics():
    no_job = TINY.split("[job]")[0]
    msg = error(no_job)
    assert msg.startswith("bad.toml: job: missing: add a [job] table") and "params" in msg
    msg = error(replace(TINY, "params = 2e7\n", ""))
    assert msg.startswith(f"bad.toml:{line_of(TINY, '[job]')}: job: missing key 'params'")
    no_fabric = "[job]" + TINY.split("[job]")[1]
    assert "fabric: missing: add at least one [[fabric]]" in error(no_fabric)
    single = (
        replace(TINY, "[[fabric]]", "[fabric]").split("\n[[fabric]]")[0]
        + "\n[job]"
        + TINY.split("[job]")[1]
    )
    assert "write [[fabric]]" in error(single)


def test_unknown_builder_and_routing():
    bad = replace(TINY, 'builder = "leaf_spine"', 'builder = "leafspine"')
    assert error(bad) == (
        f"bad.toml:{line_of(bad, 'leafspine')}: fabric[0].builder: unknown "
        "builder 'leafspine' (did you mean 'leaf_spine'?); valid: leaf_spine, "
        "fat_tree, rail_optimized, graphml, gml, cable_list"
    )
    bad = replace(TINY, 'routing = "spray"', 'routing = "random"')
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'random')}: fabric[1].routing: unknown routing 'random'"
    )
    bad = replace(TINY, 'builder = "leaf_spine"\n', "")
    assert error(bad).startswith("bad.toml:3: fabric[0]: missing key 'builder'")


def test_toml_syntax_error_has_the_line():
    bad = replace(TINY, "hidden_size = 256", "hidden_size = ")
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'hidden_size')}: TOML syntax error: Invalid value"
    )
    bad = replace(TINY, "[job]", "[job")
    assert error(bad).startswith(f"bad.toml:{line_of(bad, '[job')}: TOML syntax error")
    bad = replace(TINY, "layers = 2", "layers = 2\nlayers = 3")
    assert error(bad).startswith(f"bad.toml:{line_of(bad, 'layers = 3')}: TOML syntax error")


def test_library_value_errors_point_at_the_key():
    bad = replace(TINY, "leaves = 2", "leaves = 0")
    msg = error(bad)
    assert msg.startswith(f"bad.toml:{line_of(bad, 'leaves = 0')}: fabric[0].leaves: ")
    assert "integer >= 1, got 0" in msg
    bad = replace(TINY, "layers = 2", "layers = 0")
    assert error(bad) == (
        f"bad.toml:{line_of(bad, 'layers = 0')}: job.layers: must be an integer >= 1, got 0"
    )
    bad = replace(TINY, "global_batch_tokens = 8192", "global_batch_tokens = 1000")
    assert error(bad).startswith(f"bad.toml:{line_of(bad, '= 1000')}: job.global_batch_tokens: ")
    bad = replace(TINY, 'sizes = "websearch"', 'sizes = "websurf"')
    msg = error(bad)
    assert msg.startswith(f"bad.toml:{line_of(bad, 'websurf')}: background.sizes: ")
    assert "websearch" in msg
    bad = replace(TINY, 'sizes = "websearch"', 'sizes = "websearch"\npattern = "all"')
    assert error(bad).startswith(f"bad.toml:{line_of(bad, 'pattern')}: background.pattern: ")
    bad = replace(TINY, "load = 0.3\n", "load = 1.5\n")
    assert (
        error(bad) == f"bad.toml:{line_of(bad, 'load = 1.5')}: sweep.load: must be in [0, 1),"
        " got 1.5"
    )
    bad = replace(TINY, "loads = [0.0, 0.3]", "loads = [0.0, 1.0]")
    assert "sweep.loads: element 1: a load must be in [0, 1)" in error(bad)


def test_design_level_errors():
    bad = replace(TINY, "data_parallel = 8", "data_parallel = 16").replace(
        "global_batch_tokens = 8192", "global_batch_tokens = 16384"
    )
    assert error(bad) == (
        "bad.toml:3: fabric[0]: design 'ls 1:1' has 8 GPUs but the job needs "
        "16 (data_parallel x tensor_parallel x pipeline_parallel)"
    )
    bad = replace(TINY, 'name = "ls 2:1"', 'name = "ls 1:1"')
    assert error(bad) == (
        f"bad.toml:{line_of(TINY, 'ls 2:1')}: fabric[1].name: the design name "
        "'ls 1:1' appears twice"
    )
    bad = replace(TINY, 'name = "ls 2:1"\n', "")
    assert error(bad).startswith("bad.toml:11: fabric[1]: missing key 'name'")
    bad = replace(
        TINY, 'sizes = "websearch"', 'sizes = "websearch"\nendpoints = ["host0/gpu0", "gpu9"]'
    )
    assert "background.endpoints: design 'ls 1:1' has no node 'gpu9'" in error(bad)
    bad = TINY + '\n[collective]\nop = "all_reduce"\ndesign = "ls 3:1"\n'
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'ls 3:1')}: collective.design: no "
        "design named 'ls 3:1'; designs: ls 1:1, ls 2:1"
    )
    bad = TINY + '\n[collective]\nop = "allreduce2"\n'
    assert "collective.op:" in error(bad)
    bad = TINY + '\n[collective]\nmin_bytes = "1M"\nmax_bytes = "1K"\n'
    assert "collective.max_bytes: (1024) must be >= min_bytes (1048576)" in error(bad)


def test_job_ranks():
    ranks = '["host0/gpu0", "host0/gpu1", "host2/gpu0", "host2/gpu1"]'
    text = replace(TINY, "data_parallel = 8", f"data_parallel = 4\nranks = {ranks}")
    sc = load_scenario(text=text)
    assert sc.job.ranks == ("host0/gpu0", "host0/gpu1", "host2/gpu0", "host2/gpu1")
    bad = text.replace("host2/gpu1", "host9/gpu1")
    assert error(bad) == (
        f"bad.toml:{line_of(bad, 'ranks')}: job.ranks: design 'ls 1:1' has no GPU 'host9/gpu1'"
    )
    bad = replace(text, ranks, '"host0/gpu0"')
    assert error(bad).startswith(
        f"bad.toml:{line_of(bad, 'ranks')}: job.ranks: the job needs 4 GPUs, 1 given"
    )


def test_missing_file():
    with pytest.raises(fs.ScenarioError, match=r"nope\.toml: no such scenario file"):
        load_scenario("nope.toml")


# --------------------------------------------------------------------------- line scanner


def test_key_lines_tracks_tables_arrays_and_inline_values():
    text = """\
a = 1
[t]
b.c = 2   # dotted
s = "x = [not a table]"
[[arr]]
k = 1
[arr.sub]
m = 3
[[arr]]
k = 2
[[arr.items]]
n = 1
[[arr.items]]
n = 2
inl = { p = 1, q = [1, 2] }
multi = [
  { name = "x", v = 1 },
  { name = "y", v = 2 },
]
after = 5
"""
    lines = key_lines(text)
    assert lines[("a",)] == 1 and lines[("t",)] == 2 and lines[("t", "b", "c")] == 3
    assert lines[("t", "s")] == 4
    assert lines[("arr", 0)] == 5 and lines[("arr", 0, "k")] == 6
    assert lines[("arr", 0, "sub", "m")] == 8
    assert lines[("arr", 1, "k")] == 10
    assert lines[("arr", 1, "items", 0, "n")] == 12 and lines[("arr", 1, "items", 1, "n")] == 14
    assert lines[("arr", 1, "items", 1, "inl", "q")] == 15
    assert lines[("arr", 1, "items", 1, "multi", 1, "v")] == 18
    assert lines[("arr", 1, "items", 1, "after")] == 20


@pytest.mark.parametrize(
    "text, expected",
    [
        (8, 8),
        (8.0, 8),
        ("8", 8),
        ("8K", 8192),
        ("1 GiB", 1 << 30),
        ("8G", 8 << 30),
        ("4MB", 4_000_000),
        ("1.5K", 1536),
        ("1e3", 1000),
        ("2kib", 2048),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["8X", "", "1.5", 1.5, True, "0.1K", [1]])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


# --------------------------------------------------------------------------- running


def test_run_scenario_is_compare_with_the_files_arguments():
    sc = load_scenario(text=TINY)
    got = fs.run_scenario(sc)
    want = fs.compare(
        [
            fs.Design("ls 1:1", sc.fabrics["ls 1:1"], "ecmp"),
            fs.Design("ls 2:1", sc.fabrics["ls 2:1"], "spray"),
        ],
        fs.TrainingJob(
            params=2e7,
            layers=2,
            hidden_size=256,
            seq_len=512,
            data_parallel=8,
            global_batch_tokens=8192,
        ),
        fs.Background(sizes="websearch"),
        load=0.3,
        loads=[0.0, 0.3],
        samples=2,
        seed=1,
        collective_size_bytes=16 << 20,
    )
    assert got.load == want.load == 0.3
    assert [r["design"] for r in got.rows] == ["ls 1:1", "ls 2:1"]
    for a, b in zip(got.rows, want.rows, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            same = a[k] == b[k] or (
                isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])
            )
            assert same, (k, a[k], b[k])
    assert got.rows[1]["routing"] == "spray"
    # overrides
    one = fs.run_scenario(sc, samples=1, seed=3)
    assert one.rows[0]["erosion_p50"] != got.rows[0]["erosion_p50"]


def test_doctests():
    assert doctest.testmod(scenario, optionflags=doctest.ELLIPSIS).failed == 0


def test_run_scenario_rejects_other_objects():
    with pytest.raises(fs.ScenarioError, match="load it with fabricsim.load_scenario"):
        fs.run_scenario("tiny.toml")


def test_readme_scenario_snippet_loads():
    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not next to tests/")
    text = readme.read_text(encoding="utf-8")
    section = text.split("## Comparing designs", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    sc = load_scenario(text=block, name="README.md")
    assert list(sc.fabrics) == ["leaf-spine 2:1"] and sc.load == 0.3 and sc.samples == 8
    assert sc.job.params == 1.24e8 and sc.job.gpus == 32


def test_scenario_files_are_read_with_a_size_limit(tmp_path):
    """An endless or huge file used to be read until memory ran out."""
    from fabricsim.cli import scenario

    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (scenario.MAX_SCENARIO_BYTES + 1))
    with pytest.raises(fs.ScenarioError, match=r"big.toml: larger than 16 MiB"):
        load_scenario(big)
    with pytest.raises(fs.ScenarioError, match="is a directory"):
        load_scenario(tmp_path)


def test_text_is_explicit_and_a_str_is_a_path(tmp_path, monkeypatch):
    """load_scenario("a=b.toml") used to parse the file name as TOML text."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a=b.toml").write_text(TINY)
    assert list(load_scenario("a=b.toml").fabrics) == list(load_scenario(text=TINY).fabrics)
    with pytest.warns(DeprecationWarning, match="text="):
        load_scenario(TINY)
    with pytest.raises(fs.ScenarioError, match="not both"):
        load_scenario("a=b.toml", text=TINY)
