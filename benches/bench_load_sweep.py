"""The load sweep of issue 13: `fabricsim compare --loads 0,0.3,0.6,0.9,0.99` on the built-in
example against `--loads 0,0.3`, each in a fresh process, alternated, as a ratio (the goal:
within 2x). Run on a release build:

    python benches/bench_load_sweep.py [RUNS]      # RUNS per command, default 3

Prints wall time and CPU time (user + system of the child process) per run, the ratios of the
medians and the load average; nothing is asserted (the machine may be shared: CPU time says
more than wall time then). docs/reliability.md ("Stress run") has the figures measured so far.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_RATIO = 2.0
LOADS = ("0,0.3", "0,0.3,0.6,0.9,0.99")


def one_run(loads: str, out_dir: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `fabricsim compare --loads <loads>` with every output."""
    base = os.path.join(out_dir, loads.replace(",", "_"))
    code = "import sys; from fabricsim.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "compare", "--loads", loads, "--no-progress"]
    args += ["--json", base + ".json", "--csv", base + ".csv", "--plot", base + ".png"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 3
    times: dict[str, list[tuple[float, float]]] = {loads: [] for loads in LOADS}
    with tempfile.TemporaryDirectory() as out_dir:
        for i in range(runs):
            for loads in LOADS:
                wall, cpu = one_run(loads, out_dir)
                times[loads].append((wall, cpu))
                print(
                    f"run {i + 1}: --loads {loads:<20} wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
                    f"(load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    (short, long) = (times[LOADS[0]], times[LOADS[1]])
    wall_ratio = statistics.median(w for w, _ in long) / statistics.median(w for w, _ in short)
    cpu_ratio = statistics.median(c for _, c in long) / statistics.median(c for _, c in short)
    print(
        f"median ratio 0-0.99 / 0-0.3: wall {wall_ratio:.2f}x, CPU {cpu_ratio:.2f}x "
        f"(goal: within {GOAL_RATIO:g}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
