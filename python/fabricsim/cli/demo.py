"""``fabricsim demo``: a tour of one oversubscribed leaf-spine fabric.

Builds a leaf-spine fabric of H100 hosts (by default 4 leaves x 4 spines, 2 hosts of 8 GPUs
per leaf, 2:1 oversubscribed), then prints

1. what it is made of: role counts, links and capacity per tier, the oversubscription;
2. how a few GPU pairs are routed: the equal-cost paths and the one ECMP hashes each flow to;
3. what that costs: a cross-leaf permutation (every GPU sends to the same-rank GPU one leaf
   over) simulated with ECMP and with packet spraying, against the bisection-limited ideal.

Every number comes from the public API (``leaf_spine``, ``Fabric.from_networkx``, ``paths``,
``route``, ``simulate``). The package's main job is ``fabricsim compare`` (:mod:`fabricsim.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

import fabricsim as fs
from fabricsim.fabric import builders, profiles
from fabricsim.types import Metric

METRIC: Metric = (
    "latency"  # intra-host traffic stays on NVLink (see docs/schema.md, "Routing semantics")
)
_TIER_ORDER = {"nvlink": 0, "access": 1, "fabric": 2, "wan": 3}


def table(head: Sequence[str], rows: Sequence[Sequence[object]], right: set[int]) -> str:
    """A plain-text table; columns in ``right`` are right-aligned."""
    cells = [[str(c) for c in head]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def describe(fab: fs.Fabric) -> str:
    G = fab.graph
    role_rows: list[tuple[str, int]] = sorted(fab.role_counts().items(), key=lambda kv: -kv[1])
    p = builders.params(G)
    out = [
        "== fabric ==",
        f"leaf_spine: {p['leaves']} leaves x {p['spines']} spines, {p['hosts_per_leaf']} hosts "
        f"of {p['gpus_per_host']} GPUs per leaf, profile {p['profile']}",
        "",
        table(
            ("role", "count"),
            role_rows,
            right={1},
        ),
        "",
    ]
    tiers: dict[str, list[float]] = {}
    for _, _, d in G.edges(data=True):
        tiers.setdefault(d["kind"], []).append(d["capacity_gbps"])
    names = {"nvlink": "GPU - NVSwitch", "access": "GPU NIC - leaf", "fabric": "leaf - spine"}
    rows = [
        (
            kind,
            names.get(kind, kind),
            len(caps),
            "/".join(f"{c:g}" for c in sorted(set(caps))),
            f"{sum(caps) / 1000:g}",
            f"{fab.efficiency.get(kind, fab.efficiency['default']):g}",
        )
        for kind, caps in sorted(tiers.items(), key=lambda kv: _TIER_ORDER.get(kv[0], 9))
    ]
    out.append(
        table(
            ("tier", "between", "links", "Gb/s each", "total Tb/s", "usable fraction"),
            rows,
            right={2, 3, 4, 5},
        )
    )
    down = p["hosts_per_leaf"] * p["gpus_per_host"] * p["nic_gbps"]
    up = p["spines"] * p["uplink_gbps"]
    out += [
        "",
        f"oversubscription per leaf: {down:g} Gb/s down / {up:g} Gb/s up = "
        f"{G.graph['oversubscription']:g}:1",
    ]
    return "\n".join(out)


def routing(fab: fs.Fabric, seed: int) -> str:
    p = builders.params(fab.graph)
    gph, hpl = p["gpus_per_host"], p["hosts_per_leaf"]
    g0 = fab.gpus[0]
    pairs = [(g0, fab.gpus[1], "same host")] if gph > 1 else []
    if hpl > 1:
        pairs.append((g0, fab.gpus[gph], "same leaf"))
    per_leaf = gph * hpl
    if p["leaves"] > 1:
        pairs.append((g0, fab.gpus[per_leaf], "next leaf"))
        pairs.append((fab.gpus[per_leaf - 1], fab.gpus[-1], "cross leaf"))
    rows = []
    for src, dst, what in pairs:
        paths = fab.paths(src, dst, metric=METRIC)
        r = fab.route(src, dst, seed=seed, metric=METRIC)
        via = " > ".join(v for _, v in r.links[:-1]) or "(direct)"
        rows.append((f"{src} -> {dst}", what, r.hops, len(paths), f"{r.latency_us:.1f}", via))
    return "\n".join(
        [
            f"== routing (metric={METRIC}, ECMP seed={seed}, flow key 0) ==",
            table(
                ("pair", "where", "hops", "equal-cost paths", "latency us", "ECMP picks"),
                rows,
                right={2, 3, 4},
            ),
        ]
    )


def permutation(fab: fs.Fabric, size_bytes: float, seed: int) -> str:
    p = builders.params(fab.graph)
    per_leaf = p["gpus_per_host"] * p["hosts_per_leaf"]
    gpus = fab.gpus
    n = len(gpus)
    if p["leaves"] < 2:
        return "== permutation ==\n(one leaf: no cross-leaf traffic)"
    flows = [(gpus[i], gpus[(i + per_leaf) % n], size_bytes) for i in range(n)]
    # Ideal: every leaf's uplinks shared evenly by its GPUs, or the NIC if that is slower.
    eff = fab.efficiency
    nic_Bps = p["nic_gbps"] * 1e9 / 8 * eff.get("access", eff["default"])
    up_Bps = p["spines"] * p["uplink_gbps"] * 1e9 / 8 * eff.get("fabric", eff["default"])
    ideal_s = size_bytes / min(nic_Bps, up_Bps / per_leaf)
    rows = []
    results = {}
    for policy in ("ecmp", "spray"):
        res = fs.simulate(fab, flows, routing=policy, seed=seed, metric=METRIC)
        results[policy] = res
        fin = res.finish_s
        rows.append(
            (
                policy,
                f"{np.median(fin) * 1e3:.2f}",
                f"{fin.max() * 1e3:.2f}",
                f"{ideal_s / fin.max():.0%}",
                f"{res.link_peak_utilization.max():.2f}",
            )
        )
    out = [
        f"== cross-leaf permutation: {n} flows of {size_bytes / 2**20:g} MiB, "
        f"GPU i -> GPU i+{per_leaf} ==",
        f"ideal (bisection-limited, perfectly balanced): {ideal_s * 1e3:.2f} ms",
        table(
            ("routing", "median ms", "completion ms", "of ideal", "peak link util"),
            rows,
            right={1, 2, 3, 4},
        ),
    ]
    ecmp, spray = results["ecmp"], results["spray"]
    uplinks = [
        lid
        for lid in range(fab.num_links)
        if fab.graph.nodes[fab.link(lid)[0]]["role"] == "leaf"
        and fab.graph.nodes[fab.link(lid)[1]]["role"] == "spine"
    ]
    load = np.array([ecmp.link_bytes[lid] for lid in uplinks]) / size_bytes
    out += [
        "",
        f"ECMP flows per leaf->spine uplink: min {load.min():.0f}, max {load.max():.0f} "
        f"(balanced: {len(flows) / len(uplinks):g}).",
        f"The permutation ends with its most loaded uplink: ECMP hash collisions make it "
        f"{ecmp.makespan_s / spray.makespan_s:.2f}x slower than spraying.",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None, prog: str = "fabricsim demo") -> int:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Demo: an oversubscribed leaf-spine fabric, its ECMP paths and what hash "
        "collisions cost a cross-leaf permutation.",
    )
    ap.add_argument("--leaves", type=int, default=4)
    ap.add_argument("--spines", type=int, default=4)
    ap.add_argument("--hosts-per-leaf", type=int, default=2)
    ap.add_argument("--oversubscription", type=float, default=2.0)
    ap.add_argument("--profile", default="h100-ndr400", help=", ".join(profiles.list_profiles()))
    ap.add_argument("--size-mib", type=float, default=256.0, help="bytes per flow, MiB")
    ap.add_argument("--seed", type=int, default=0, help="ECMP hash seed")
    args = ap.parse_args(argv)
    try:
        G = fs.leaf_spine(
            leaves=args.leaves,
            spines=args.spines,
            hosts_per_leaf=args.hosts_per_leaf,
            oversubscription=args.oversubscription,
            profile=args.profile,
        )
        fab = fs.Fabric.from_networkx(G, profile=args.profile)
        parts = [
            describe(fab),
            routing(fab, args.seed),
            permutation(fab, args.size_mib * 2**20, args.seed),
        ]
    except fs.FabricError as e:
        print(f"fabricsim: error: {e}", file=sys.stderr)
        return 2
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
