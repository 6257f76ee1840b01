"""The engine as a runtime: GIL released while it runs, Ctrl-C honoured, deterministic seeds."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fabricsim as fs

# An overloaded fabric: flows arrive faster than it drains them, so thousands are active at
# once and every event re-rates a big component (seconds of engine time, many events).
OVERLOAD = """
import numpy as np
import fabricsim as fs

def overload(m, seed=0):
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=4, spines=4, hosts_per_leaf=8, gpus_per_host=1))
    gi = fab.indices(fab.gpus)
    n = len(gi)
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = (src + rng.integers(1, n, m)) % n
    flows = fs.FlowSet.build(gi[src], gi[dst], rng.uniform(1e6, 1e8, m),
                             release_s=rng.uniform(0, 0.05, m))
    return fab, flows
"""
_ns: dict = {}
exec(OVERLOAD, _ns)
overload = _ns["overload"]


# ------------------------------------------------------------------------------------------ GIL
def test_gil_released_while_engine_runs():
    """A second Python thread keeps ticking while the engine runs in another thread."""
    m = 1500
    for _ in range(5):
        fab, flows = overload(m)
        box: dict = {}

        def work(fab=fab, flows=flows, box=box):
            box["t0"] = time.perf_counter()
            box["res"] = fs.simulate(fab, flows, routing="ecmp")
            box["t1"] = time.perf_counter()

        th = threading.Thread(target=work)
        ticks = []
        th.start()
        while th.is_alive():
            ticks.append(time.perf_counter())
            x = 0
            for i in range(200):  # a little pure-Python work that needs the GIL
                x += i
        th.join()
        assert len(box["res"].finish_s) == m
        t0, t1 = box["t0"], box["t1"]
        if t1 - t0 >= 0.3:
            break
        m *= 2  # a fast (release) build: make the run long enough to judge
    else:
        pytest.fail("could not make the engine run >= 0.3 s")
    during = np.array([t for t in ticks if t0 <= t <= t1])
    gaps = np.diff(np.concatenate([[t0], during, [t1]]))
    dur = t1 - t0
    assert len(during) > 100, f"only {len(during)} ticks in a {dur:.2f} s run: GIL held?"
    assert gaps.max() < dur / 4, (
        f"the ticking thread stalled {gaps.max():.3f} s of a {dur:.3f} s run: GIL held?"
    )


# ---------------------------------------------------------------------------------------- Ctrl-C
def _interrupt(script, *, after=1.0, grace=3.0):
    """Run ``script`` in a fresh interpreter; once it prints 'start', wait ``after`` s and send
    SIGINT. Returns (seconds from signal to exit or None if it had to be killed, returncode,
    stdout, stderr)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # A test runner started in the background (`cmd &` without job control) passes SIGINT on
    # ignored, and Python then installs no KeyboardInterrupt handler: give the child the
    # default, as an interactive shell would.
    p = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = p.stdout.readline()
        assert line.startswith("start"), (line, p.stderr.read() if p.poll() is not None else "")
        time.sleep(after)
        assert p.poll() is None, "the run ended before it could be interrupted"
        t_sig = time.perf_counter()
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=grace)
            took = time.perf_counter() - t_sig
        except subprocess.TimeoutExpired:
            took = None
            p.kill()
            out, err = p.communicate()
        return took, p.returncode, out, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_interrupts_a_long_run():
    """SIGINT during a many-event run: KeyboardInterrupt from the engine within ~1 s, long
    before the run would have ended."""
    script = OVERLOAD + textwrap.dedent("""
        fab, flows = overload(100_000)
        print("start", flush=True)
        fs.simulate(fab, flows)
        print("finished", flush=True)
    """)
    took, rc, out, err = _interrupt(script, grace=3.0)
    assert took is not None, "no reaction to SIGINT within 3 s"
    assert took < 1.5, f"exited {took:.2f} s after SIGINT"
    assert "finished" not in out
    assert "KeyboardInterrupt" in err and "fabricsim run interrupted" in err, err[-2000:]
    assert rc in (-signal.SIGINT, 1, 130), rc


def test_ctrl_c_interrupts_routing_and_few_huge_events():
    """1,023 x 1,024 sprayed all-to-all flows: the run is a few seconds of routing plus 4
    events that each re-rate a million flows. Ctrl-C must still stop it within ~1 s."""
    script = textwrap.dedent("""
        import fabricsim as fs
        from fabricsim.traffic.flows import run_flowset
        fab = fs.Fabric.from_networkx(
            fs.leaf_spine(leaves=16, spines=8, hosts_per_leaf=64, gpus_per_host=1))
        flows = fs.Collective("all_to_all", 1 << 30, algorithm="direct").plan(fab)
        print("start", len(flows), flush=True)
        res = run_flowset(fab, flows, routing="spray")
        print("finished events=%d" % res.events, flush=True)
    """)
    took, rc, out, err = _interrupt(script, after=1.0, grace=2.0)
    assert took is not None, (
        "still running 2 s after SIGINT: the engine only polls for Ctrl-C every 64 events, "
        "and neither routing nor a single million-flow rate computation polls"
    )
    assert took < 1.5, f"exited {took:.2f} s after SIGINT"
    assert "finished" not in out, "ran to completion instead of being interrupted"
    assert "fabricsim run interrupted" in err, err[-2000:]


# ----------------------------------------------------------------------------------- determinism
FIELDS = (
    "start_s",
    "transfer_end_s",
    "finish_s",
    "mean_rate_Bps",
    "min_rate_Bps",
    "max_rate_Bps",
    "latency_s",
    "link_bytes",
    "link_busy_s",
    "link_peak_utilization",
)


def _same(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.shape == y.shape, f
        assert x.tobytes() == y.tobytes(), f"{f} differs between identical runs"
    assert a.events == b.events


def _permutation():
    G = fs.leaf_spine(leaves=2, spines=8, hosts_per_leaf=8, gpus_per_host=1)
    fab = fs.Fabric.from_networkx(G)
    g = fab.gpus
    return G, fab, [(g[i], g[8 + i], 1e9) for i in range(8)]


def test_same_seed_bit_identical():
    G, fab, flows = _permutation()
    fab2, flows2 = overload(800, seed=3)
    for routing in ("ecmp", "spray"):
        for seed in (0, 7, 2**64 - 1):
            a = fs.simulate(fab, flows, routing=routing, seed=seed)
            b = fs.simulate(fab, flows, routing=routing, seed=seed)
            c = fs.simulate(fs.Fabric.from_networkx(G), flows, routing=routing, seed=seed)
            _same(a, b)
            _same(a, c)
            _same(
                fs.simulate(fab2, flows2, routing=routing, seed=seed),
                fs.simulate(fab2, flows2, routing=routing, seed=seed),
            )


def test_same_seed_identical_across_threads_and_precompute():
    """Concurrent runs (tables built lazily by several threads) match a sequential run."""
    G, _, flows = _permutation()
    fresh = fs.Fabric.from_networkx(G)
    want = fs.simulate(fs.Fabric.from_networkx(G), flows, seed=11)
    out = [None] * 4

    def run(i):
        out[i] = fs.simulate(fresh, flows, seed=11)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        _same(want, r)
    pre = fs.Fabric.from_networkx(G)
    assert pre.precompute_routes() > 0
    _same(want, fs.simulate(pre, flows, seed=11))


def test_collective_same_seed_identical():
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=4, hosts_per_leaf=2, gpus_per_host=2, oversubscription=2.0)
    )
    for algo in ("ring", "direct", "tree"):
        a = fs.collective(fab, "all_reduce", 3 << 20, algorithm=algo, seed=5)
        b = fs.collective(fab, "all_reduce", 3 << 20, algorithm=algo, seed=5)
        assert a.time_s == b.time_s
        assert a.flow_finish_s.tobytes() == b.flow_finish_s.tobytes()
        _same(a.simulation, b.simulation)


def test_different_seed_different_ecmp_outcome():
    _, fab, flows = _permutation()
    g = fab.gpus
    paths = {}
    makespans = set()
    for seed in range(20):
        res = fs.simulate(fab, flows, routing="ecmp", seed=seed)
        makespans.add(res.makespan_s)
        paths[seed] = tuple(
            fab.route(g[i], g[8 + i], seed=seed, flow_key=i).links[1][1] for i in range(8)
        )
        # where the bytes went follows the hash: each used spine uplink carries its flows
        for s in set(paths[seed]):
            lid = fab.links_of_edge("leaf0", s)[0]
            assert res.link_bytes[lid] == pytest.approx(paths[seed].count(s) * 1e9, rel=1e-9)
    assert len(set(paths.values())) >= 18, "seeds barely change the ECMP hash"
    assert len(makespans) >= 2, "every seed gave the same makespan"
    a = fs.simulate(fab, flows, routing="ecmp", seed=0)
    b = fs.simulate(fab, flows, routing="ecmp", seed=1)
    assert a.link_bytes.tobytes() != b.link_bytes.tobytes()
    # spraying does not depend on the seed at all
    _same(
        fs.simulate(fab, flows, routing="spray", seed=0),
        fs.simulate(fab, flows, routing="spray", seed=1),
    )


def test_lanes_route_a_flow_as_several_at_one_rate():
    """A flow made of lanes is routed as each of them (its own src/dst are not routed) and
    moves at one rate split equally over them: two GPUs' 400G NICs as the lanes of one flow
    move 2 x 50 GB/s; one lane per flow changes nothing."""
    from dataclasses import replace

    from fabricsim.traffic.flows import FlowSet, run_flowset

    G = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=2)
    fab = fs.Fabric.from_networkx(G)
    a0, a1, b0, b1 = fab.indices(list(fab.gpus), "gpus")
    plain = FlowSet.build([a0], [b0], [1e9])
    one = run_flowset(fab, plain)
    same = replace(
        plain,
        lanes=(
            np.array([0, 1]),
            np.array([a0]),
            np.array([b0]),
            np.array([-1]),
            np.array([0], np.uint64),
        ),
    )
    assert run_flowset(fab, same).finish_s.tolist() == one.finish_s.tolist()
    two = replace(
        plain,
        size_bytes=np.array([2e9]),
        lanes=(
            np.array([0, 2]),
            np.array([a0, a1]),
            np.array([b0, b1]),
            np.array([-1, -1]),
            np.array([0, 1], np.uint64),
        ),
    )
    r = run_flowset(fab, two)
    assert r.mean_rate_Bps[0] == pytest.approx(2 * one.mean_rate_Bps[0], rel=1e-9)
    with pytest.raises(fs.FabricError, match="rust"):
        run_flowset(fab, two, engine="reference")
    with pytest.raises(fs.FabricError, match="lane_ptr"):
        fab._engine._core.simulate(
            *(plain.src, plain.dst, plain.size_bytes, plain.release_s, plain.delay_s),
            *(plain.dep_ptr, plain.dep_idx, plain.via, plain.flow_key),
            lane_ptr=np.array([0, 0]),
            lane_src=np.array([a0]),
            lane_dst=np.array([b0]),
            lane_via=np.array([-1]),
            lane_key=np.array([0], np.uint64),
        )


def test_a_threads_argument_bounds_every_core_call_it_reaches():
    """``threads`` given to a public function (``fs.step``, ``tail_latency``, ``erosion``,
    ``compare``, a sweep point) holds for every core call made inside it, nested calls
    included, and ends with it; None leaves the enclosing bound; a value the function will
    reject is not applied. (tests/test_resources.py measures the threads a call really uses.)"""
    from fabricsim import _engine

    seen = []

    @_engine.bounded_threads
    def inner(*, threads=None):
        seen.append(("inner", _engine.threads_bound(), _engine.threads_in_use(threads)))

    @_engine.bounded_threads
    def outer(*, threads=None):
        seen.append(("outer", _engine.threads_bound(), _engine.threads_in_use(threads)))
        inner()
        inner(threads=3)

    outer(threads=1)
    outer()
    outer(threads="2")  # not applied: the function's own check names it
    outer(threads=np.int64(2))  # a numpy integer is an integer
    pool = _engine.thread_count()
    assert seen == [
        ("outer", 1, 1),
        ("inner", 1, 1),
        ("inner", 3, 3),
        ("outer", None, pool),
        ("inner", None, pool),
        ("inner", 3, 3),
        ("outer", None, pool),
        ("inner", None, pool),
        ("inner", 3, 3),
        ("outer", 2, 2),
        ("inner", 2, 2),
        ("inner", 3, 3),
    ]
    assert _engine.threads_bound() is None
    with pytest.raises(fs.FabricError, match="threads"):
        fs.tail_latency(
            fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=1, hosts_per_leaf=2)),
            fs.Collective("all_reduce", 1 << 20),
            threads=-1,
        )
    assert _engine.threads_bound() is None
