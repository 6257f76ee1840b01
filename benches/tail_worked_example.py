"""The README's worked example for congestion and tail latency (issue 4).

1. A training job's 64 MiB ring all-reduce on 8 GPUs spread over a 2:1 oversubscribed
   leaf-spine, while the other 8 GPUs push web-search background traffic at 0-90 % of their NIC
   rate: p50 and p99 completion time side by side, from Monte Carlo samples (ECMP seeds and
   arrivals differ per sample).
2. One edge site reaching the factory over one carrier vs two: p50 / p99 request latency,
   requests within a 100 ms SLO, availability.

Run: python benches/tail_worked_example.py   (release build recommended)
"""

from __future__ import annotations

import time

import fabricsim as fs


def all_reduce_under_load(samples: int = 50) -> None:
    G = fs.leaf_spine(
        leaves=4,
        spines=2,
        hosts_per_leaf=4,
        gpus_per_host=1,
        oversubscription=2.0,
        profile="h100-ndr400",
    )
    fab = fs.Fabric.from_networkx(G, profile="h100-ndr400")
    by_leaf = [[g for g in fab.gpus if g.startswith(f"host{h}/")] for h in range(16)]
    job_ranks = [by_leaf[h][0] for h in range(16) if h % 4 < 2]  # 2 hosts under every leaf
    others = [g for g in fab.gpus if g not in job_ranks]
    job = fs.Collective("all_reduce", 64 << 20, job_ranks, algorithm="ring")
    print("64 MiB ring all-reduce, 8 GPUs over 4 leaves (2:1), background on the other 8 GPUs")
    print(
        f"{'load':>5} {'p50 (ms)':>10} {'p99 (ms)':>10} {'p99/p50':>8} {'p99 slowdown':>13}"
        f" {'bg flows':>9} {'bg FCT slowdown p99 (<100KB)':>29}"
    )
    t0 = time.perf_counter()
    for load in (0.0, 0.3, 0.6, 0.9):
        bg = fs.Background(load=load, sizes="websearch", endpoints=others) if load else None
        r = fs.tail_latency(fab, job, bg, samples=samples, seed=7)
        q = r.quantiles_s
        small = r.slowdown_by_size()["<100KB"]["p99"] if load else float("nan")
        print(
            f"{load:>5.1f} {q['p50'] * 1e3:>10.3f} {q['p99'] * 1e3:>10.3f} "
            f"{q['p99'] / q['p50']:>8.2f} {r.slowdown_p99:>12.2f}x {len(r.bg_slowdown):>9}"
            f" {small:>29.2f}"
        )
    print(f"({samples} samples per load, {time.perf_counter() - t0:.1f} s)")


def edge_single_vs_dual() -> None:
    base = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=1)
    carriers = [
        fs.builders.Carrier(
            name="carrier-a", capacity_gbps=100, availability=0.995, jitter_us=2000.0
        ),
        fs.builders.Carrier(
            name="carrier-b",
            capacity_gbps=100,
            availability=0.99,
            jitter_us=4000.0,
            latency_us_per_km=5.0,
            base_latency_us=500.0,
        ),
    ]
    sites = [
        fs.builders.Site(name="single", carriers=["carrier-a"], distance_km=1500, capacity_gbps=10),
        fs.builders.Site(
            name="dual", carriers=["carrier-a", "carrier-b"], distance_km=1500, capacity_gbps=10
        ),
    ]
    fab = fs.Fabric.from_networkx(fs.edge_sites(base, sites=sites, carriers=carriers))
    rep = fs.edge_latency(
        fab, requests=50_000, slo_ms=100.0, server_ms=20.0, seed=3, failed_carriers=()
    )
    print()
    print("Edge site 1,500 km away, 20 ms of serving time, carrier-a 99.5 %, carrier-b 99 %")
    print(rep.table())
    rep_fail = fs.edge_latency(
        fab, requests=50_000, slo_ms=100.0, server_ms=20.0, seed=3, failed_carriers=("carrier-a",)
    )
    print()
    print("... with carrier-a down")
    print(rep_fail.table())


if __name__ == "__main__":
    all_reduce_under_load()
    edge_single_vs_dual()
