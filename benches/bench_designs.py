"""Fabric design comparisons, each printed as a `fabricsim.compare` table, and the time the
built-in example comparison (`fabricsim compare` / `python -m fabricsim`) takes.

    python benches/bench_designs.py            # every comparison (about a minute, release build)
    python benches/bench_designs.py ecmp edge  # only those (names below)

Comparisons (one cluster, one job, web-search background; nothing here asserts a speed):

  oversubscription  leaf-spine 1:1 vs 2:1 vs 4:1 (32 H100s, pure data-parallel job)
  rail              rail-optimized vs plain leaf-spine (32 H100s, TP 8 x DP 4: every
                    data-parallel ring is one rail)
  ecmp              ECMP vs packet spraying on the same 2:1 leaf-spine
  nic               400G vs 800G NICs (leaf-spine 1:1 sized for each)
  edge              single- vs dual-carrier edge sites on the same rail-optimized pod
  example           the built-in example scenario, timed

Use a release build (`maturin develop --release`, or `pip install .`); a dev build is several
times slower.
"""

from __future__ import annotations

import sys
import time

import fabricsim as fs

PROFILE = "h100-ndr400"
BG = fs.Background(sizes="websearch")

# The example's job: a 124M-parameter model, pure data parallel over 32 GPUs.
DP_JOB = fs.TrainingJob(
    params=1.24e8,
    layers=12,
    hidden_size=768,
    seq_len=2048,
    data_parallel=32,
    global_batch_tokens=262_144,
    profile=PROFILE,
    max_flows_per_collective=2000,
)
# Tensor parallel inside each host, data parallel across the 4 hosts (one rail per DP group).
TP_JOB = fs.TrainingJob(
    params=4e8,
    layers=24,
    hidden_size=1024,
    seq_len=2048,
    data_parallel=4,
    tensor_parallel=8,
    global_batch_tokens=4 * 2048 * 16,
    profile=PROFILE,
    max_flows_per_collective=2000,
)


def leaf_spine(oversubscription: float = 1.0, **kw):
    args = dict(
        leaves=2, hosts_per_leaf=2, spines=8, oversubscription=oversubscription, profile=PROFILE
    )
    args.update(kw)
    return fs.leaf_spine(**args)


def show(title: str, designs, job, *, loads=(0.0, 0.3), load=0.3, samples=4, **kw):
    print(f"== {title} ==")
    t0 = time.perf_counter()
    cmp = fs.compare(designs, job, BG, load=load, loads=loads, samples=samples, seed=0, **kw)
    dt = time.perf_counter() - t0
    print(cmp.table())
    print(f"({dt:.1f} s; erosion at each load:)")
    for er in cmp.erosion.values():
        cells = "  ".join(f"{r['load']:.1f}: {r['erosion_p50']:5.1%}" for r in er.rows)
        print(f"  {er.name:<22} {cells}")
    print()
    return dt


def oversubscription() -> float:
    return show(
        "leaf-spine oversubscription: 1:1 vs 2:1 vs 4:1",
        {f"leaf-spine {o:g}:1": leaf_spine(o) for o in (1, 2, 4)},
        DP_JOB,
    )


def rail() -> float:
    return show(
        "rail-optimized vs plain leaf-spine (TP 8 inside hosts, DP 4 across)",
        {
            "rail-optimized": fs.rail_optimized(nodes_per_su=4, profile=PROFILE),
            "leaf-spine 1:1": leaf_spine(1.0),
            "leaf-spine 2:1": leaf_spine(2.0),
        },
        TP_JOB,
    )


def ecmp() -> float:
    G = leaf_spine(2.0)
    return show(
        "ECMP vs packet spraying (leaf-spine 2:1)",
        [fs.Design("2:1 ECMP", G, "ecmp"), fs.Design("2:1 spraying", G, "spray")],
        DP_JOB,
    )


def nic() -> float:
    return show(
        "400G vs 800G NICs (leaf-spine 1:1)",
        {
            "400G NICs": leaf_spine(1.0, nic_gbps=400.0),
            "800G NICs": leaf_spine(1.0, nic_gbps=800.0),
        },
        DP_JOB,
    )


def edge() -> float:
    pod = fs.rail_optimized(nodes_per_su=4, profile=PROFILE)
    sites = [
        {"name": "paris", "distance_km": 20.0, "capacity_gbps": 100.0},
        {"name": "lyon", "distance_km": 450.0, "capacity_gbps": 100.0},
    ]
    a = {"name": "telco-a", "capacity_gbps": 400.0, "availability": 0.999, "jitter_us": 50.0}
    b = {
        "name": "telco-b",
        "capacity_gbps": 400.0,
        "availability": 0.995,
        "jitter_us": 200.0,
        "base_latency_us": 300.0,
    }
    single = fs.edge_sites(pod, carriers=[a], sites=[dict(s, carriers=["telco-a"]) for s in sites])
    dual = fs.edge_sites(
        pod, carriers=[a, b], sites=[dict(s, carriers=["telco-a", "telco-b"]) for s in sites]
    )
    return show(
        "single vs dual carrier to the edge sites (same pod, no background)",
        {"single carrier": single, "dual carrier": dual},
        DP_JOB,
        loads=(0.0,),
        load=0.0,
        samples=1,
        edge={"requests": 200_000, "slo_ms": 10.0},
    )


def example() -> float:
    sc = fs.load_scenario(fs.cli.scenario.example_path())
    print(
        f"== built-in example ({len(sc.fabrics)} designs x {len(sc.sweep_loads)} loads x "
        f"{sc.samples} samples) =="
    )
    t0 = time.perf_counter()
    cmp = fs.run_scenario(sc)
    dt = time.perf_counter() - t0
    print(cmp.table())
    print(f"built-in example comparison: {dt:.1f} s\n")
    return dt


BENCHES = {
    "oversubscription": oversubscription,
    "rail": rail,
    "ecmp": ecmp,
    "nic": nic,
    "edge": edge,
    "example": example,
}


def main(names) -> None:
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown comparison {unknown[0]!r}; choose from {', '.join(BENCHES)}")
    times = {n: BENCHES[n]() for n in (names or BENCHES)}
    print("== wall time ==")
    for n, dt in times.items():
        print(f"  {n:<18} {dt:6.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
