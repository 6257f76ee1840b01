"""The notebook layer: plots leave the matplotlib backend alone, draw on the given axes and
return the Figure; results have short reprs, HTML tables and ``to_pandas()``; progress bars
use tqdm when it is there and the built-in bar when it is not."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

import fabricsim as fs

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def fab():
    return fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    )


@pytest.fixture(scope="module")
def job():
    return fs.TrainingJob(
        params=1e8, layers=4, hidden_size=512, data_parallel=8, global_batch_tokens=8 * 4096
    )


@pytest.fixture(scope="module")
def eroded(fab, job):
    return fs.erosion(fab, job, (0.0, 0.3), samples=2, name="ls")


def test_plots_leave_the_backend_alone_and_return_figures(tmp_path):
    # A fresh interpreter, as a notebook that picked its backend first.
    code = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure
        import fabricsim as fs
        fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2,
                                                    gpus_per_host=1))
        job = fs.TrainingJob(params=1e8, layers=4, hidden_size=512, data_parallel=4,
                             global_batch_tokens=4 * 4096)
        cmp = fs.compare({{"a": fab}}, job, loads=(0.0,), load=0.0, samples=1)
        figs = [cmp.plot(), fs.plot_erosion(cmp.erosion), cmp.erosion["a"].plot(),
                fs.sweep_sizes(fab, min_bytes=8, max_bytes=64).plot()]
        fig, axes = plt.subplots(1, 2)
        assert cmp.plot(ax=axes) is fig
        fig2, ax = plt.subplots()
        assert fs.sweep_sizes(fab, min_bytes=8, max_bytes=64).plot(ax=ax) is fig2
        cmp.plot(r"{tmp_path / "c.svg"}")
        assert all(isinstance(f, Figure) for f in figs)
        print(matplotlib.get_backend())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "svg"
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_no_module_calls_matplotlib_use():
    import pathlib

    root = pathlib.Path(fs.__file__).parent
    offenders = [str(p) for p in root.rglob("*.py") if "matplotlib.use(" in p.read_text()]
    assert offenders == []


def test_erosion_result(eroded):
    df = eroded.to_pandas()
    assert list(df["load"]) == [0.0, 0.3] and set(df["design"]) == {"ls"}
    assert {"step_time_p50_s", "tokens_per_s_p50", "erosion_p50", "mfu_p50"} <= set(df.columns)
    assert df.attrs["ideal_tokens_per_s"] == eroded.ideal_tokens_per_s
    assert repr(eroded).startswith("<ErosionResult 'ls': 2 loads 0..0.3")
    assert eroded._repr_html_().startswith("<table>")


def test_simulation_result_frames(fab):
    res = fs.simulate(fab, [(g, fab.gpus[-1], "1M") for g in fab.gpus[:-1]])
    text = repr(res)
    assert text.startswith("<SimulationResult 7 flows") and len(text) < 200
    flows = res.to_pandas()
    assert list(flows["src"]) == fab.gpus[:-1] and set(flows["dst"]) == {fab.gpus[-1]}
    assert (flows["size_bytes"] == 1 << 20).all()
    assert flows["finish_s"].max() == res.makespan_s
    links = res.to_pandas("links")
    assert len(links) == fab.num_links
    assert tuple(links.loc[5, ["src", "dst"]]) == fab.link(5)
    assert links["bytes"].sum() == res.link_bytes.sum()
    assert "<table>" in res._repr_html_()
    with pytest.raises(fs.UnknownNameError):
        res.to_pandas("paths")


def test_collective_and_tail_results(fab):
    r = fs.collective(fab, "all_reduce", "16M")
    assert repr(r).startswith("<CollectiveResult all_reduce 16 MiB x8 ranks")
    flows = r.to_pandas()
    assert len(flows) == len(r.flow_src) and set(flows["src"]) <= set(fab.gpus)
    assert set(flows["phase"]) == {p.name for p in r.phases}
    assert r.to_pandas("summary").loc[0, "busbw_GBps"] == r.busbw_GBps
    assert len(r.to_pandas("steps")) == len(r.steps())
    assert "<table>" in r._repr_html_()
    t = fs.tail_latency(fab, fs.Collective("all_reduce", "4M"), 0.3, samples=4)
    assert len(repr(t)) < 200 and repr(t).startswith("<TailLatencyResult 4 samples")
    s = t.to_pandas()
    assert list(s["job_time_s"]) == list(t.job_time_s)
    bg = t.to_pandas("background")
    assert len(bg) == len(t.bg_slowdown)
    assert "<table>" in t._repr_html_()


def test_comparison_html(fab, job):
    cmp = fs.compare({"a": fab}, job, loads=(0.0,), load=0.0, samples=1)
    assert repr(cmp) == "<Comparison of 1 designs at load 0: 'a'>"
    assert "<th>design</th>" in cmp._repr_html_()


def test_progress_uses_tqdm_or_the_built_in_bar(fab, job, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    fs.erosion(fab, job, (0.0,), samples=1, name="x", progress=True)
    err = capsys.readouterr().err
    assert "erosion x: 100%|" in err  # tqdm's format
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    fs.erosion(fab, job, (0.0,), samples=1, name="x", progress=True)
    err = capsys.readouterr().err
    assert "erosion x [" in err and "1/1" in err  # the built-in bar
    buf = io.StringIO()
    fs.sweep_sizes(fab, min_bytes=8, max_bytes=16, progress=True, file=buf)
    assert "all_reduce sweep [" in capsys.readouterr().err
    assert "sweep [" not in buf.getvalue()


def test_edge_report():
    from fabricsim.fabric import builders

    G = builders.edge_sites(
        builders.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
        carriers=[{"name": "a", "capacity_gbps": 100.0, "availability": 0.999}],
        sites=[{"name": "lyon", "carriers": ["a"], "distance_km": 400.0, "capacity_gbps": 10.0}],
    )
    rep = fs.edge_latency(fs.Fabric.from_networkx(G), requests=1000)
    assert repr(rep).startswith("<EdgeReport ") and len(repr(rep)) < 120
    df = rep.to_pandas()
    assert list(df["site"]) == [r["site"] for r in rep.rows]
    assert "<td style='text-align:right'>lyon</td>" in rep._repr_html_()
