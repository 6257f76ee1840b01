"""fabricsim.testing.strategies: arguments checked up front, every draw valid, shrinking towards the
simplest fabric, type registration through Hypothesis's entry point, settings profiles."""

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import fabricsim as fs
from fabricsim.fabric import schema
from fabricsim.fabric.schema import graph_record
from fabricsim.testing import strategies as fst
from fabricsim.traffic.background import size_cdf

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
SMALL = fs.Fabric.from_networkx(
    fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=1, gpus_per_host=2)
)
ONE_GPU_HOSTS = fs.Fabric.from_networkx(
    fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=3, gpus_per_host=1)
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


# ------------------------------------------------------------------------------ import


def test_import_without_hypothesis_says_how_to_install():
    out = run_python("""
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        import fabricsim  # the package itself never needs Hypothesis
        try:
            import fabricsim.testing.strategies
        except ImportError as e:
            print("ImportError:", e)
    """)
    assert out.returncode == 0, out.stderr
    assert "pip install 'fabricsim[test]'" in out.stdout


def test_doctests():
    """The module's examples, including the property test of a user's own builder."""
    import doctest

    assert doctest.testmod(fst).failed == 0


# ------------------------------------------------------------------------------ arguments

BAD_ARGUMENTS = [
    (fst.fabric_graphs, {"min_gpus": 0}, "min_gpus"),
    (fst.fabric_graphs, {"min_gpus": 5, "max_gpus": 4}, "min_gpus"),
    (fst.fabric_graphs, {"max_switches": 1.5}, "max_switches"),
    (fst.fabric_graphs, {"max_switches": True}, "max_switches"),
    (fst.fabric_graphs, {"min_capacity_gbps": 0.0}, "min_capacity_gbps"),
    (fst.fabric_graphs, {"max_capacity_gbps": float("inf")}, "max_capacity_gbps"),
    (fst.fabric_graphs, {"min_capacity_gbps": 10.0, "max_capacity_gbps": 1.0}, "min_capacity_gbps"),
    (fst.fabric_graphs, {"max_latency_us": float("nan")}, "max_latency_us"),
    (fst.fabric_graphs, {"max_latency_us": 2e6}, "max_latency_us"),
    (fst.fabric_graphs, {"max_homes": 0}, "max_homes"),
    (fst.leaf_spine_graphs, {"max_leaves": 0}, "max_leaves"),
    (fst.leaf_spine_graphs, {"min_spines": 3, "max_spines": 2}, "min_spines"),
    (fst.leaf_spine_graphs, {"min_gpus": 100}, "min_gpus"),
    (fst.leaf_spine_graphs, {"oversubscription": -1.0}, "oversubscription"),
    (fst.leaf_spine_graphs, {"nic_gbps": "fast"}, "nic_gbps"),
    (fst.fat_tree_graphs, {"max_k": 5}, "max_k"),
    (fst.fat_tree_graphs, {"min_k": 6, "max_k": 4}, "min_k"),
    (fst.fat_tree_graphs, {"min_gpus": 10**6}, "min_gpus"),
    (fst.rail_optimized_graphs, {"max_nodes_per_su": 0}, "max_nodes_per_su"),
    (fst.rail_optimized_graphs, {"min_gpus": 10**6}, "min_gpus"),
    (fst.edge_site_graphs, {"base": 3}, "base"),
    (fst.edge_site_graphs, {"min_sites": 2, "max_sites": 1}, "min_sites"),
    (fst.edge_site_graphs, {"max_distance_km": -1.0}, "max_distance_km"),
    (fst.fabrics, {"graphs": nx.Graph()}, "graphs"),
    (fst.fabrics, {"efficiency": 1.5}, "efficiency"),
    (fst.fabrics, {"efficiency": {"access": 0.0}}, "efficiency['access']"),
    (fst.rank_sets, {"fabric": "not a fabric"}, "fabric"),
    (fst.rank_sets, {"fabric": SMALL, "min_size": 5}, "min_size"),
    (fst.rank_sets, {"fabric": SMALL, "min_size": 3, "max_size": 2}, "min_size"),
    (fst.collectives, {"ops": ["allreduce_x"]}, "ops"),
    (fst.collectives, {"ops": "all_reduce"}, "ops"),
    (fst.collectives, {"algorithms": []}, "algorithms"),
    (fst.collectives, {"min_size_bytes": 0}, "min_size_bytes"),
    (fst.collectives, {"max_size_bytes": 2**63}, "max_size_bytes"),
    (fst.collectives, {"max_channels": 65}, "max_channels"),
    (fst.collectives, {"ops": ["all_to_all"], "algorithms": ["ring"]}, "ops"),
    (fst.collectives, {"ops": ["all_gather"], "algorithms": ["hierarchical"]}, "algorithms"),
    (
        fst.collectives,
        {"fabric": ONE_GPU_HOSTS, "ops": ["all_reduce"], "algorithms": ["hierarchical"]},
        "algorithms",
    ),
    (fst.traffic_matrices, {"fabric": SMALL, "max_flows": -1}, "max_flows"),
    (fst.traffic_matrices, {"fabric": SMALL, "endpoints": ["nowhere"]}, "endpoints"),
    (fst.traffic_matrices, {"fabric": SMALL, "endpoints": ["host0/gpu0"]}, "endpoints"),
    (fst.traffic_matrices, {"fabric": SMALL, "max_size_bytes": 2**63}, "max_size_bytes"),
    (fst.traffic_matrices, {"fabric": SMALL, "max_start_s": float("nan")}, "max_start_s"),
    (fst.background_loads, {"max_load": 1.0}, "max_load"),
    (fst.background_loads, {"min_load": -0.1}, "min_load"),
    (fst.background_loads, {"min_load": 0.5, "max_load": 0.4}, "min_load"),
    (fst.size_cdfs, {"min_points": 1}, "min_points"),
    (fst.size_cdfs, {"min_bytes": 0.0}, "min_bytes"),
    (fst.backgrounds, {"patterns": ["bursty"]}, "patterns"),
    (fst.backgrounds, {"loads": 1.0}, "loads"),
    (fst.backgrounds, {"static_fraction": 1.0}, "static_fraction"),
    (fst.backgrounds, {"max_incast_receivers": 0}, "max_incast_receivers"),
    (fst.training_jobs, {"max_gpus": 0}, "max_gpus"),
    (fst.training_jobs, {"profiles": ["tpu-v9"]}, "profiles"),
    (fst.load_profile, {"name": "warp-speed"}, "warp-speed"),
]


@pytest.mark.parametrize(
    ("fn", "kwargs", "culprit"),
    BAD_ARGUMENTS,
    ids=[f"{f.__name__}-{c}" for f, _, c in BAD_ARGUMENTS],
)
def test_bad_arguments_raise_invalid_argument_up_front(fn, kwargs, culprit):
    with pytest.raises(InvalidArgument) as info:
        fn(**kwargs)  # raised by the call itself, before anything is drawn
    assert culprit in str(info.value)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        fst.fabric_graphs(2, 8)  # type: ignore[misc]
    with pytest.raises(TypeError):
        fst.rank_sets(SMALL, 2)  # type: ignore[misc]


# ------------------------------------------------------------------------------ validity


@given(
    G=fst.fabric_graphs(min_gpus=2, max_gpus=6, min_switches=2, max_switches=5, max_edge_sites=2)
)
def test_fabric_graphs_are_schema_valid_and_within_bounds(G):
    H = schema.validate(G)
    roles = dict(H.nodes(data="role"))
    gpus = [n for n, r in roles.items() if r == "gpu"]
    switches = [n for n, r in roles.items() if r not in schema.ENDPOINT_ROLES]
    assert 2 <= len(gpus) <= 6 and 2 <= len(switches) <= 5
    assert nx.is_connected(H.subgraph(switches))  # the spanning tree
    for g in gpus:
        assert 1 <= H.degree(g) <= 2 and all(roles[v] not in ("gpu", "edge_site") for v in H[g])
    for _, _, d in H.edges(data=True):
        assert 1.0 <= d["capacity_gbps"] <= 3600.0 and 0.05 <= d["latency_us"] <= 10.0


@given(
    G=st.one_of(
        fst.leaf_spine_graphs(min_gpus=3),
        fst.fat_tree_graphs(min_gpus=3),
        fst.rail_optimized_graphs(min_gpus=3),
        fst.edge_site_graphs(),
    )
)
def test_builder_graphs_are_schema_valid(G):
    fab = fs.Fabric.from_networkx(G)
    assert len(fab.gpus) >= (3 if graph_record(G, "edge_sites") is None else 2)
    if graph_record(G, "edge_sites") is None:
        assert G.graph["builder"] in ("leaf_spine", "fat_tree", "rail_optimized")
    else:
        assert len(fab.compiled.roles[fab.compiled.roles == "edge_site"]) >= 1


@given(
    G=fst.leaf_spine_graphs(
        min_leaves=2,
        max_leaves=3,
        max_spines=2,
        max_hosts_per_leaf=2,
        max_gpus_per_host=3,
        oversubscription=st.sampled_from([1.0, 3.0]),
    )
)
def test_leaf_spine_parameters_stay_in_bounds(G):
    p = graph_record(G, "params")
    assert 2 <= p["leaves"] <= 3 and 1 <= p["spines"] <= 2
    assert 1 <= p["hosts_per_leaf"] <= 2 and 1 <= p["gpus_per_host"] <= 3
    assert G.graph["oversubscription"] == pytest.approx(p["oversubscription"])
    assert p["oversubscription"] in (pytest.approx(1.0), pytest.approx(3.0))


@given(data=st.data())
def test_rank_sets_are_distinct_gpus(data):
    fab = data.draw(fst.fabrics(), label="fabric")
    ranks = data.draw(fst.rank_sets(fab, min_size=2, max_size=5))
    assert 2 <= len(ranks) <= 5 and len(set(ranks)) == len(ranks)
    assert set(ranks) <= set(fab.gpus)


@given(data=st.data())
def test_collectives_are_valid_for_their_fabric(data):
    fab = data.draw(fst.fabrics(), label="fabric")
    coll = data.draw(fst.collectives(fab, max_size_bytes=1 << 16), label="collective")
    res = coll.run(fab)  # never an error: the strategy respects every algorithm's constraints
    assert res.op == coll.op and res.time_s > 0
    if coll.algorithm != "auto":
        assert res.algorithm == coll.algorithm
    n = len(fab.gpus) if coll.ranks is None else len(coll.ranks)
    assert res.n_ranks == n


@given(
    data=st.data(),
    algo=st.sampled_from(["hierarchical", "halving_doubling"]),
    op=st.sampled_from(["all_gather", "reduce_scatter", "all_reduce"]),
)
def test_constrained_algorithms_get_fitting_ranks(data, algo, op):
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2, gpus_per_host=3)
    )
    coll = data.draw(fst.collectives(fab, ops=[op], algorithms=[algo], max_size_bytes=1 << 12))
    ranks = fab.gpus if coll.ranks is None else coll.ranks
    if algo == "halving_doubling" and op != "all_reduce":
        assert len(ranks) & (len(ranks) - 1) == 0
    if algo == "hierarchical":
        hosts = [fab.graph.nodes[r]["host"] for r in ranks]
        sizes = {h: hosts.count(h) for h in hosts}
        assert len(sizes) >= 2 and len(set(sizes.values())) == 1 and min(sizes.values()) >= 2
    assert coll.run(fab).algorithm == algo


@given(coll=fst.collectives(max_size_bytes=1 << 12))
def test_collectives_without_a_fabric_run_on_any_fabric(coll):
    assert coll.ranks is None and coll.algorithm != "hierarchical"
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=1, spines=1, hosts_per_leaf=3, gpus_per_host=1)
    )
    assert coll.run(fab).time_s > 0  # 3 ranks: not a power of two either


@given(data=st.data())
def test_traffic_matrices_simulate(data):
    fab = data.draw(fst.fabrics(), label="fabric")
    flows = data.draw(fst.traffic_matrices(fab, max_flows=6), label="flows")
    for i, row in enumerate(flows):
        assert 3 <= len(row) <= 5 and row[0] != row[1]
        if len(row) == 5:
            assert all(0 <= j < i for j in row[4])
    res = fs.simulate(fab, flows)
    assert len(res.finish_s) == len(flows) and np.all(np.isfinite(res.finish_s))


@given(cdf=fst.size_cdfs())
def test_size_cdfs_are_valid(cdf):
    values, p = size_cdf(cdf)
    assert p[-1] == 1.0 and np.all(np.diff(values) >= 0) and np.all(np.diff(p) >= 0)
    assert fs.Background(load=0.5, sizes=cdf).mean_size_bytes > 0


@settings(max_examples=10)
@given(
    bg=fst.backgrounds(
        sizes=st.sampled_from(["websearch", "storage"]),
        patterns=("uniform", "permutation", "incast", "tenant"),
    ),
    load=fst.background_loads(min_load=0.1, max_load=0.5),
)
def test_backgrounds_run_in_tail_latency(bg, load):
    assert isinstance(bg, fs.Background) and 0.0 <= bg.load <= 0.9
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2, gpus_per_host=1)
    )
    job = fs.Collective("all_reduce", 1 << 20, fab.gpus[:2], algorithm="ring")
    # a drawn background may saturate a link (load + static_fraction): reported, not simulated
    res = fs.tail_latency(fab, job, bg, samples=2, overload="saturate")
    assert res.job_time_s.shape == (2,) and np.all(res.job_time_s >= res.unloaded_time_s * 0.999)
    assert 0.1 <= load <= 0.5


def test_training_jobs_are_valid():
    training = pytest.importorskip("fabricsim.analysis.training")

    @given(job=fst.training_jobs(max_gpus=16), kw=fst.training_job_kwargs(max_gpus=4))
    def check(job, kw):
        assert isinstance(job, training.TrainingJob) and job.gpus <= 16
        assert training.TrainingJob(**kw).gpus <= 4

    check()


def test_scenarios_run():
    @settings(max_examples=3, deadline=None)
    @given(sc=fst.scenarios(max_designs=2, max_samples=1))
    def check(sc):
        assert isinstance(sc, fs.Scenario)
        assert sc.load in sc.loads
        cmp = fs.run_scenario(sc)
        assert [r["design"] for r in cmp.rows] == list(sc.fabrics)

    check()


# ------------------------------------------------------------------------------ shrinking


def test_fabric_graphs_shrink_to_one_switch_two_gpus():
    G = find(fst.fabric_graphs(), lambda G: True)
    assert sorted(G.nodes(data="role")) == [("gpu0", "gpu"), ("gpu1", "gpu"), ("sw0", "leaf")]
    assert len({d["capacity_gbps"] for _, _, d in G.edges(data=True)}) == 1


def test_fabric_graphs_shrink_towards_a_path():
    G = find(fst.fabric_graphs(), lambda G: sum(1 for n in G if n.startswith("sw")) >= 4)
    sw = G.subgraph([n for n in G if n.startswith("sw")])
    assert sorted(sw.edges) == [("sw0", "sw1"), ("sw1", "sw2"), ("sw2", "sw3")]


def test_collectives_shrink_to_the_smallest():
    c = find(fst.collectives(SMALL), lambda c: True)
    assert (c.op, c.algorithm, c.size_bytes, c.channels) == ("all_reduce", "auto", 1, None)


# ------------------------------------------------------------------------------ types


def test_setup_hook_registers_fabricsim_types():
    fst._hypothesis_setup_hook()  # what the entry point does once fabricsim is imported
    fab = find(st.from_type(fs.Fabric), lambda f: len(f.gpus) >= 3)
    assert isinstance(fab, fs.Fabric) and len(fab.gpus) >= 3
    assert isinstance(find(st.from_type(fs.Collective), lambda c: True), fs.Collective)
    bg = find(st.from_type(fs.Background), lambda b: b.load > 0)
    assert isinstance(bg, fs.Background)
    assert isinstance(find(st.from_type(fs.TrainingJob), lambda j: True), fs.TrainingJob)
    sc = find(st.from_type(fs.Scenario), lambda s: True)
    assert isinstance(sc, fs.Scenario) and sc.job.gpus <= min(
        len(f.gpus) for f in sc.fabrics.values()
    )


def test_pyproject_declares_the_entry_point():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    hook = data["project"]["entry-points"]["hypothesis"]["_"]
    module, _, attr = hook.partition(":")
    assert (module, attr) == ("_fabricsim_hypothesis", "_hypothesis_setup_hook")
    assert "_fabricsim_hypothesis" in data["tool"]["maturin"]["python-packages"]
    assert (ROOT / "python" / "_fabricsim_hypothesis" / "__init__.py").is_file()


REGISTERED = """
    import sys, warnings
    {first}
    from hypothesis import strategies as st
    import fabricsim as fs
    {hook}
    warnings.simplefilter("ignore")  # .example() outside a test
    print(type(st.from_type(fs.Fabric).example()).__name__,
          type(st.from_type(fs.Scenario).example()).__name__)
"""


def test_types_register_whichever_is_imported_first():
    # Without the installed entry point too: fabricsim registers when Hypothesis came first,
    # the entry point's hook when fabricsim did.
    for first, hook in (
        ("import hypothesis", ""),
        ("import fabricsim", "import _fabricsim_hypothesis as h; h._hypothesis_setup_hook()"),
    ):
        out = run_python(REGISTERED.format(first=first, hook=hook), HYPOTHESIS_NO_PLUGINS="1")
        assert out.returncode == 0, (first, out.stderr)
        assert out.stdout.split() == ["Fabric", "Scenario"], (first, out.stdout)


def test_the_hook_does_not_import_fabricsim():
    out = run_python("""
        import sys
        import _fabricsim_hypothesis as h
        h._hypothesis_setup_hook()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("fabricsim", "numpy",
                                                                  "networkx")))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_entry_point_registers_types_in_a_fresh_interpreter():
    eps = importlib.metadata.entry_points(group="hypothesis")
    if not any(ep.value == "_fabricsim_hypothesis:_hypothesis_setup_hook" for ep in eps):
        pytest.skip(
            "installed metadata predates the lazy entry point: reinstall fabricsim "
            "(pip install -e . / maturin develop)"
        )
    out = run_python("""
        import sys
        import hypothesis
        print("fabricsim" in sys.modules)
    """)
    assert out.stdout.strip() == "False", out.stderr  # import hypothesis stays light
    for first in ("import hypothesis", "import fabricsim.testing.strategies", "import fabricsim"):
        out = run_python(REGISTERED.format(first=first, hook=""))
        assert out.returncode == 0, (first, out.stderr)
        assert out.stdout.split() == ["Fabric", "Scenario"]


# ------------------------------------------------------------------------------ profiles


@pytest.fixture
def restore_profile():
    yield
    fst.load_profile()


def test_profiles(restore_profile):
    assert fst.load_profile("fast") == "fabricsim-fast"
    assert settings.default.max_examples == 25 and settings.default.deadline is None
    assert fst.load_profile("thorough") == "fabricsim-thorough"
    assert settings.default.max_examples == 2000 and settings.default.deadline is None
    assert fst.load_profile("fabricsim-fast") == "fabricsim-fast"


def test_profile_from_environment():
    code = """
        from hypothesis import settings
        from fabricsim.testing.strategies import load_profile
        print(load_profile(), settings.default.max_examples)
    """
    out = run_python(code, FABRICSIM_HYPOTHESIS_PROFILE="thorough")
    assert out.stdout.split() == ["fabricsim-thorough", "2000"], out.stderr
    env = {k: v for k, v in os.environ.items() if k != fst.PROFILE_ENV}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.stdout.split() == ["fabricsim-fast", "25"], out.stderr
