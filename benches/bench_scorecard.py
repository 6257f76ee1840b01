"""The built-in site scorecard (`fabricsim scorecard`): its wall time, and how it splits between
the network Monte Carlo (run once, shared by every site) and the per-site facility model
(straggler draws + each region's edge requests). Nothing here asserts a speed.

    python benches/bench_scorecard.py          # the built-in example, then a job 16x larger

Goal (issue 14): the built-in example finishes in well under a minute on a 2-core machine; the
facility part stays a small fraction of the network Monte Carlo.
"""

from __future__ import annotations

import time

import fabricsim as fs
from fabricsim.analysis.facility import straggler_factors
from fabricsim.cli.scenario import load_scenario, run_scorecard, scorecard_example_path


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<44} {dt:7.2f} s")
    return out, dt


def main() -> None:
    sc = load_scenario(scorecard_example_path())
    print(
        f"== built-in scorecard: {len(sc.facilities)} sites, {sc.job.gpus}-GPU job, "
        f"{sc.samples} samples, {sc.scorecard['requests']:,} requests x "
        f"{len(sc.scorecard['regions'])} regions =="
    )
    kw = sc.scorecard_kwargs()
    _, net = timed(
        "network Monte Carlo alone (fs.step)",
        lambda: fs.step(
            sc.fabrics[sc.scorecard_design], sc.job, kw["background"], sc.samples, sc.seed
        ),
    )
    card, total = timed("fabricsim scorecard (run_scorecard)", lambda: run_scorecard(sc))
    print(f"  facility + edge share of the scorecard: {(total - net) / total:6.1%}")
    big = 16 * 1024
    timed(
        f"straggler draws, {big:,} GPUs x 64 samples",
        lambda: straggler_factors(sc.facilities[0], big, 64, seed=0),
    )
    print()
    print(card.table())
    print()
    print(card.verdict())


if __name__ == "__main__":
    main()
