"""Side-by-side comparison of fabric designs for one training job: the numbers a platform team
decides on.

Each row: GPUs, switches and cables, bisection bandwidth, oversubscription, an all-reduce's bus
bandwidth over the job's GPUs, step time (p50 / p99) and tokens/s at the chosen background
load, throughput erosion against the ideal non-blocking fabric, MFU, where the data-parallel
traffic bottlenecks, and (for fabrics built with ``edge_sites``) edge p99 latency and
availability.

>>> import fabricsim as fs
>>> job = fs.TrainingJob(params=1e9, layers=8, hidden_size=2048, data_parallel=8,
...                      global_batch_tokens=8 * 4096)
>>> designs = {f"{o}:1": fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=4, gpus_per_host=1,
...                                    oversubscription=o) for o in (1, 4)}
>>> cmp = fs.compare(designs, job, loads=(0.0,), samples=1)
>>> [r["design"] for r in cmp.rows]
['1:1', '4:1']
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabricsim import _validate
from fabricsim._display import html_table, pandas
from fabricsim._engine import bounded_threads
from fabricsim._files import write_text_atomic
from fabricsim._progress import progress_bar
from fabricsim.analysis.edge import edge_latency
from fabricsim.analysis.failures import bisection_gbps
from fabricsim.analysis.training import (
    SATURATED_MARK,
    ErosionResult,
    TrainingJob,
    erosion,
    planned_communication,
    plot_erosion,
)
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric import schema
from fabricsim.fabric.compiled import ROUTING_POLICIES, Fabric
from fabricsim.traffic.background import Background, as_background
from fabricsim.traffic.collectives import Collective
from fabricsim.traffic.flows import run_flowset
from fabricsim.types import Routing


@dataclass(frozen=True)
class Design:
    """One fabric design to compare: a name, a fabric (or a networkx graph to compile) and how
    it routes."""

    name: str
    fabric: Any
    routing: Routing = "ecmp"


def _as_designs(designs: Any, job: TrainingJob) -> list[tuple[str, Fabric, Routing]]:
    if isinstance(designs, Mapping):
        items = [Design(str(k), v) for k, v in designs.items()]
    elif isinstance(designs, Sequence) and not isinstance(designs, (str, bytes)):
        items = [d if isinstance(d, Design) else Design(*d) for d in designs]
    else:
        raise InvalidTypeError(
            "designs: expected a mapping name -> fabric/graph, or a list of "
            f"Design(name, fabric, routing), got {type(designs).__name__}"
        )
    if not items:
        raise InvalidArgumentError("designs: nothing to compare")
    out, seen = [], set()
    for i, d in enumerate(items):
        _validate.name(f"designs[{i}].name", d.name)
        if d.name in seen:
            raise InvalidArgumentError(f"designs: the name {d.name!r} appears twice")
        seen.add(d.name)
        _validate.choice(f"design {d.name!r}: routing", d.routing, ROUTING_POLICIES)
        if isinstance(d.fabric, Fabric):
            fab = d.fabric
        elif isinstance(d.fabric, nx.Graph):
            fab = Fabric.from_networkx(d.fabric, profile=job.profile)
        else:
            raise InvalidTypeError(
                f"design {d.name!r}: expected a Fabric or a networkx graph, "
                f"got {type(d.fabric).__name__}"
            )
        out.append((d.name, fab, d.routing))
    return out


def _bottleneck(
    fabric: Fabric, job: TrainingJob, routing: Routing, seed: int
) -> tuple[str, float, str | None]:
    """Where the job's data-parallel (else its largest) traffic saturates, with no background:
    the tier of the busiest link, its mean utilisation, and the collective algorithm that
    traffic uses (NCCL's tuner may pick a tree, whose busiest link differs from a ring's)."""
    comms = planned_communication(job, fabric)
    if not comms:
        return ("none", 0.0, None)
    name = "data_parallel" if "data_parallel" in comms else next(iter(comms))
    flows = comms[name][0]
    algorithm = flows.meta.get("algorithm")
    sim = run_flowset(fabric, flows, routing=routing, seed=seed)
    t = sim.makespan_s
    if t <= 0:
        return ("none", 0.0, algorithm)
    util = sim.link_bytes / (fabric.usable_Bps * t)
    lid = int(np.argmax(util))
    roles = fabric.compiled.roles
    u, v = int(fabric.compiled.link_src[lid]), int(fabric.compiled.link_dst[lid])
    return (f"{roles[u]}->{roles[v]}", float(util[lid]), algorithm)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Rows (one dict per design), the erosion sweeps behind them, and ways out: a terminal
    table, CSV, JSON, a pandas DataFrame, a PNG plot."""

    rows: tuple
    erosion: dict = field(repr=False)
    load: float = 0.5

    COLUMNS = (
        ("design", "design", "{}"),
        ("routing", "routing", "{}"),
        ("gpus", "GPUs", "{}"),
        ("switches", "switches", "{}"),
        ("cables", "cables", "{}"),
        ("oversubscription", "oversub", "{:.2g}:1"),
        ("bisection_gbps", "bisection Tb/s", "{:.1f}", 1e-3),
        ("busbw_GBps", "AR busbw GB/s", "{:.1f}"),
        ("step_time_p50_s", "step p50 ms", "{:.1f}", 1e3),
        ("step_time_p99_s", "step p99 ms", "{:.1f}", 1e3),
        ("tokens_per_s_p50", "tokens/s", "{:,.0f}"),
        ("erosion_p50", "erosion p50", "{:.1%}"),
        ("erosion_p99", "erosion p99", "{:.1%}"),
        ("mfu_p50", "MFU", "{:.1%}"),
        ("dp_algorithm", "DP algorithm", "{}"),
        ("bottleneck", "DP bottleneck", "{}"),
        ("edge_p99_ms", "edge p99 ms", "{:.1f}"),
        ("edge_availability", "edge avail.", "{:.5f}"),
    )

    #: Columns that have no value at a saturated point (the table prints the mark instead).
    SATURATED_COLUMNS = (
        "step_time_p50_s",
        "step_time_p99_s",
        "tokens_per_s_p50",
        "erosion_p50",
        "erosion_p99",
        "mfu_p50",
    )

    def table(self) -> str:
        cols = [c for c in self.COLUMNS if any(r.get(c[0]) is not None for r in self.rows)]
        cells = [[c[1] for c in cols]]
        for r in self.rows:
            line = []
            for c in cols:
                v = r.get(c[0])
                if r.get("saturated") and c[0] in self.SATURATED_COLUMNS:
                    line.append(SATURATED_MARK if c[0].startswith("step") else "-")
                    continue
                if c[0] == "design":
                    v = _validate.printable(v)
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    line.append("-")
                    continue
                if len(c) > 3:
                    v = v * c[3]
                line.append(c[2].format(v))
            cells.append(line)
        widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
        out = []
        for k, row in enumerate(cells):
            out.append(
                "  ".join(s.rjust(w) if k else s.rjust(w) for s, w in zip(row, widths, strict=True))
            )
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append(
            f"(background load {self.load:.0%} of NIC capacity; erosion = throughput lost "
            "vs the same GPUs on an ideal non-blocking switch)"
        )
        sat = [r for r in self.rows if r.get("saturated")]
        if sat:
            out.append(
                f"({SATURATED_MARK}: at this load the background offers the busiest link "
                + ", ".join(
                    f"of {_validate.printable(r['design'])!r} {r['offered_max']:.0%}" for r in sat
                )
                + " of its capacity: at >= 100 % queues grow without bound and the "
                "point is not simulated; closer than that, a sample ran out of its event "
                "budget)"
            )
        return "\n".join(out)

    def to_records(self) -> list[dict]:
        return [dict(r) for r in self.rows]

    def to_pandas(self) -> Any:

        return pandas().DataFrame(self.to_records())

    def __repr__(self) -> str:
        names = ", ".join(repr(r["design"]) for r in self.rows)
        return f"<Comparison of {len(self.rows)} designs at load {self.load:g}: {names}>"

    def _repr_html_(self) -> str:

        cols = [c for c in self.COLUMNS if any(r.get(c[0]) is not None for r in self.rows)]
        body = []
        for r in self.rows:
            line: list[str | None] = []
            for c in cols:
                v = r.get(c[0])
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    line.append(None)
                else:
                    line.append(c[2].format(v * c[3] if len(c) > 3 else v))
            body.append(line)
        return html_table([c[1] for c in cols], body, caption=repr(self))

    def to_csv(self, path: str | None = None) -> str:
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in self.rows:
            w.writerow(r)
        text = buf.getvalue()
        if path:
            write_text_atomic(path, text)
        return text

    def to_json(self, path: str | None = None) -> str:
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        doc = {
            "load": self.load,
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows],
            "erosion": {
                name: [{k: clean(v) for k, v in row.items()} for row in e.rows]
                for name, e in self.erosion.items()
            },
        }
        text = json.dumps(doc, indent=2)
        if path:
            write_text_atomic(path, text)
        return text

    def plot(self, path: str | None = None, *, ax: Any = None) -> Any:
        """Tokens/s and p99 step time against load, one line per design (see
        :func:`fabricsim.plot_erosion`): on ``ax`` (two axes) or a new figure, written to
        ``path`` if given. Returns the Figure."""
        return plot_erosion(list(self.erosion.values()), path, ax=ax)


@bounded_threads
def compare(
    designs: Any,
    job: TrainingJob,
    background: Any = None,
    *,
    load: float | None = None,
    loads: Sequence[float] | None = None,
    samples: int = 10,
    seed: int = 0,
    collective_size_bytes: int = 1 << 30,
    edge: Mapping | bool | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> Comparison:
    """Compare fabric ``designs`` (name -> Fabric or graph, or a list of :class:`Design`) for
    ``job``. The erosion sweep runs at exactly ``loads`` (default: 0, 0.25, 0.5, 0.75, plus
    ``load`` if given); each design's row reports the sweep at ``load``, which must be one of
    ``loads`` (default: 0.5 without ``loads``, else the highest of ``loads``). ``background``
    is the :class:`Background` template (sizes, pattern);
    its load is set per sweep point. ``edge``: True, or keyword arguments for
    :func:`fabricsim.edge_latency`, to add edge p99 latency and availability for designs built
    with :func:`fabricsim.edge_sites`."""
    if not isinstance(job, TrainingJob):
        raise InvalidTypeError(f"job: expected a fabricsim.TrainingJob, got {type(job).__name__}")
    template = as_background(background) or Background()
    if load is not None:
        load = _validate.real("load", load, minimum=0.0, maximum=1.0, max_open=True)
    if loads is None:
        load = 0.5 if load is None else load
        sweep = tuple(sorted({0.0, 0.25, 0.5, 0.75, load}))
    else:
        if isinstance(loads, (str, bytes)) or not isinstance(loads, Iterable):
            raise InvalidTypeError(f"loads: expected a list of loads, got {loads!r}")
        sweep = tuple(
            sorted(
                {
                    _validate.real(f"loads[{i}]", x, minimum=0.0, maximum=1.0, max_open=True)
                    for i, x in enumerate(loads)
                }
            )
        )
        if not sweep:
            raise InvalidArgumentError("loads: give at least one load")
        if load is None:
            load = sweep[-1]
        elif load not in sweep:
            raise InvalidArgumentError(
                f"load: {load:g} is not one of the loads swept "
                f"({', '.join(f'{x:g}' for x in sweep)})"
            )
    items = _as_designs(designs, job)
    rows, erosions = [], {}
    bar = None
    if progress:
        bar = progress_bar(len(items) * (len(sweep) + 2), "compare")
    for name, fab, routing in items:
        ranks = job.rank_to_gpu(fab)
        coll = Collective("all_reduce", collective_size_bytes, ranks, algorithm="ring")
        busbw = coll.run(fab, routing=routing, seed=seed).busbw_GBps
        where, util, dp_algorithm = _bottleneck(fab, job, routing, seed)
        if bar:
            bar.update()
        er: ErosionResult = erosion(
            fab,
            job,
            sweep,
            samples,
            seed,
            background=template,
            routing=routing,
            threads=threads,
            name=name,
        )
        if bar:
            bar.update(len(sweep))
        erosions[name] = er
        at = next(r for r in er.rows if r["load"] == load)
        G = fab.graph
        row = {
            "design": name,
            "saturated": bool(at["saturated"]),
            "saturation": at["saturation"],
            "offered_max": at["offered_max"],
            "routing": routing,
            "gpus": len(fab.gpus),
            "job_gpus": job.gpus,
            "switches": fab.switch_count,
            "cables": fab.cable_count,
            "oversubscription": float(G.graph.get("oversubscription", float("nan"))),
            "bisection_gbps": bisection_gbps(fab),
            "busbw_GBps": busbw,
            "step_time_p50_s": at["step_time_p50_s"],
            "step_time_p99_s": at["step_time_p99_s"],
            "tokens_per_s_p50": at["tokens_per_s_p50"],
            "erosion_p50": at["erosion_p50"],
            "erosion_p99": at["erosion_p99"],
            "mfu_p50": at["mfu_p50"],
            "ideal_tokens_per_s": er.ideal_tokens_per_s,
            "dp_algorithm": dp_algorithm,
            "bottleneck": f"{where} ({util:.0%})",
            "edge_p99_ms": None,
            "edge_availability": None,
        }
        if edge and schema.graph_record(G, "edge_sites") is not None:
            kwargs = dict(edge) if isinstance(edge, Mapping) else {}
            kwargs.setdefault("policies", ("primary_backup",))
            rep = edge_latency(fab, seed=seed, **kwargs)
            row["edge_p99_ms"] = max(r["p99_ms"] for r in rep.rows)
            row["edge_availability"] = min(r["availability_expected"] for r in rep.rows)
        rows.append(row)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return Comparison(tuple(rows), erosions, float(load))
