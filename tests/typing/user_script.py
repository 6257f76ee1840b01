"""A user's analysis script, type-checked with ``mypy --strict`` in CI (.ci/run).

It is not a test module (pytest does not collect it); it shows that fabricsim's public API is
fully annotated: a strict type checker accepts ordinary use and infers the result types."""

from __future__ import annotations

import fabricsim as fs
from fabricsim.types import Algorithm, Op, Routing


def busbw_by_design(size_bytes: int, op: Op = "all_reduce") -> dict[str, float]:
    """busbw (GB/s) of one collective on three designs."""
    out: dict[str, float] = {}
    for ratio in (1.0, 2.0, 4.0):
        G = fs.leaf_spine(
            leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2, oversubscription=ratio
        )
        fab: fs.Fabric = fs.Fabric.from_networkx(G)
        algorithm: Algorithm = "ring"
        routing: Routing = "ecmp"
        res: fs.CollectiveResult = fs.collective(
            fab, op, size_bytes, algorithm=algorithm, routing=routing
        )
        out[f"{ratio:g}:1"] = res.busbw_GBps
    return out


def step_time_p99_ms(fab: fs.Fabric, job: fs.TrainingJob, load: float) -> float:
    res: fs.StepResult = fs.step(fab, job, fs.Background(load=load), samples=4, seed=1)
    return float(res.as_dict()["step_time_p99_s"]) * 1e3


def main() -> None:
    table = busbw_by_design(1 << 26)
    for design, busbw in sorted(table.items()):
        print(f"{design:>6}  {busbw:7.1f} GB/s")
    fab = fs.Fabric.from_networkx(
        fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=2, gpus_per_host=2)
    )
    job = fs.TrainingJob(
        params=1e9, layers=8, hidden_size=2048, data_parallel=8, global_batch_tokens=8 * 4096
    )
    print(f"p99 step at load 0.2: {step_time_p99_ms(fab, job, 0.2):.2f} ms")


if __name__ == "__main__":
    main()
