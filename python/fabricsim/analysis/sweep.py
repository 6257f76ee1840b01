"""Design-space sweeps: every combination of a scenario's axes, run locally or on Dask.

A :class:`Sweep` takes a base scenario (:func:`fabricsim.load_scenario`) and axes over any
builder keyword of its designs, any :class:`~fabricsim.TrainingJob` or
:class:`~fabricsim.Background` field, the routing policy, the background load, the Monte Carlo
seed and sample count. One *point* is one design (with its axis values) run by
:func:`fabricsim.compare` at one load: a row with the point's parameters and every metric the
comparison and the erosion sweep report, plus the cost proxies switches, cables and optics.

:func:`run_sweep` runs the points in local processes (the default; nothing to start), serially
in this process, or on a Dask cluster (a ``dask.distributed.Client`` or a scheduler address),
batching points so that a task lasts up to about :data:`TARGET_TASK_S`, the tasks shrinking
towards the end so that the workers finish together. It returns one tidy pandas
DataFrame, one row per point, and with ``out=`` writes the rows to a Parquet file as they come
in (each write replaces the file atomically, so it never holds a partial row); running it again
on the same file skips the points already there.

Axis names
----------
``design`` (the base scenario's design names), ``routing`` (``ecmp`` / ``spray``), ``load``,
``seed``, ``samples``, ``collective_size_bytes``, and fields qualified by where they live:
``fabric.<builder keyword>`` (e.g. ``fabric.spines``), ``job.<TrainingJob field>``,
``background.<Background field>``. A bare name is accepted when it names exactly one field
(``spines``, ``data_parallel``, ``pattern``); ``profile`` is both a builder keyword and a job
field, so it must be qualified. A fabric axis applies to the designs whose builder takes the
keyword: other designs do not multiply over it, and their rows hold no value in its column.
Without a ``load`` axis the points run at every load of the scenario's ``[sweep] loads`` (and
its headline ``load``). Each value is checked on its own against the base scenario before
anything runs: an unknown name, a value of the wrong type or out of range, an empty or
repeated value list raises one :class:`fabricsim.FabricError` naming the axis. A combination
that is invalid only together (say, a design too small for the job) becomes a row with an
``error`` message and no metrics.

>>> import fabricsim as fs
>>> sc = fs.load_scenario(fs.cli.scenario.example_path())
>>> sw = fs.Sweep(sc, axes={"design": ["leaf-spine 2:1"], "routing": ["ecmp", "spray"],
...                         "load": [0.0, 0.1]})
>>> len(sw), [p.params["routing"] for p in sw][:2]
(4, ['ecmp', 'ecmp'])
>>> sw.points[0].id == fs.Sweep(sc, axes={"routing": ["ecmp"], "load": [0.0]}).points[2].id
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import inspect
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim._display import axes as make_axes
from fabricsim._engine import __version__, bounded_threads, threads_in_use
from fabricsim._progress import ProgressBar
from fabricsim.analysis.comparison import Design, compare
from fabricsim.exceptions import (
    FabricError,
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
)
from fabricsim.fabric import builders
from fabricsim.fabric.compiled import ROUTING_POLICIES, Fabric

#: Builders a design can be rebuilt with when a ``fabric.*`` axis changes one of its keywords.
BUILDERS: dict[str, Callable[..., Any]] = {
    "leaf_spine": builders.leaf_spine,
    "fat_tree": builders.fat_tree,
    "rail_optimized": builders.rail_optimized,
}
#: Sweep-level axes (bare names) and what they set.
SWEEP_FIELDS = ("load", "seed", "samples", "collective_size_bytes")
#: Batches aim at tasks of about this many seconds: Dask's per-task overhead (its docs: from
#: about 200 us to 1 ms of scheduler time per task; measured end to end here, 6-15 ms a task on
#: a loaded 2-core LocalCluster, see docs/sweeps.md) then stays well below 5 % of a task.
TARGET_TASK_S = 2.0
#: ... and on Dask never shorter than this (when the first point has been timed): the tasks near
#: the end shrink so that the workers finish together. A worker starts its next task 1-3 ms
#: after the last ends when it holds it already (Dask's default worker-saturation), 2-4 ms when
#: it asks for it (:data:`DASK_CONFIG`'s 1.0; Dask's task stream, 2-worker LocalCluster,
#: docs/sweeps.md): 1-4 % of a task this long. With 0.25 s the example's last tasks held 2-3
#: points (0.4-0.67 s: points at higher loads cost more than the timed first one) and one
#: worker idled up to 0.6 s at the end.
MIN_DASK_TASK_S = 0.1
#: Local processes take shares of at most this many seconds of work (one point of the
#: example): a share costs one message through a pipe (well under a millisecond), so small
#: shares are free and let the processes finish together (with 2 s shares the caller waited
#: 0.1 - 0.3 s for the other's last one, with 0.25 s shares 0.1 - 0.2 s).
PROCESS_SHARE_S = 0.1
#: The Parquet schema-metadata key holding the sweep's fingerprint.
META_KEY = b"fabricsim.sweep"
DASK_HINT = "pip install 'fabricsim[dask]' (dask[distributed], pandas and pyarrow)"
#: Dask settings for the processes of a cluster that runs sweeps: ``dask.config.set(DASK_CONFIG)``
#: around ``LocalCluster(...)`` (its scheduler and nannies run in the calling process, its
#: workers get the config from their nanny), or :data:`DASK_ENV` in the environment of
#: ``dask scheduler`` / ``dask worker``. Dask's defaults suit interactive work on big machines;
#: a sweep worker computes one point after another and each default below takes a share of
#: its core (measured on a 2-vCPU VM, docs/sweeps.md, "Dask's own CPU"): an idle 2-worker
#: LocalCluster used 12.2 % of a core with Dask's defaults less the profiler, 2.1 % with these,
#: and while it computed a sweep 1.0-1.1 s of CPU outside the points, 0.2 s with these.
DASK_CONFIG: Mapping[str, Any] = MappingProxyType(
    {
        # The sampling profiler walks the running task's Python stack every 10 ms (distributed's
        # default): 2.5-5 % of a core while a point runs.
        "distributed.worker.profile.enabled": False,
        # Every scheduler, nanny and worker checks its event loop's health every 20 ms (the
        # default), waking the loop 50 times a second and, on a worker, taking the GIL from the
        # running point: 6.8 of the 12.2 % above. It only warns when the loop is blocked for
        # longer than `tick.limit` (3 s), which a 1 s check still sees.
        "distributed.admin.tick.interval": "1s",
        # psutil readings of CPU, memory, network and disk for the dashboard, every 500 ms by
        # default: 1.0 of the 12.2 %.
        "distributed.admin.system-monitor.interval": "5s",
        # Worker and nanny read the worker's memory every 100 ms by default (to spill, pause
        # or restart it): 2.3 of the 12.2 %. A sweep point holds well under the memory limit;
        # a worker that crosses it is caught within a second instead of 0.1 s.
        "distributed.worker.memory.monitor-interval": "1s",
        # The scheduler sends a 1-thread worker 2 tasks at a time by default (1.1, rounded up:
        # its next one waits on the worker behind the one it computes). A small task that
        # waits behind a long one ran last: in 9 runs of the 64-point benchmark one worker
        # idled 0.15-0.33 s at the end while the other finished it. With 1.0 a worker gets its
        # next task when it asks (one round trip, 2-4 ms a task here) and the two finished
        # within 0.01-0.08 s of each other (docs/sweeps.md, "Order").
        "distributed.scheduler.worker-saturation": 1.0,
    }
)
#: :data:`DASK_CONFIG` as environment variables (``DASK_`` + the key, ``.`` -> ``__``).
DASK_ENV: Mapping[str, str] = MappingProxyType(
    {
        "DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v)
        for k, v in DASK_CONFIG.items()
    }
)


class SweepAxisError(InvalidArgumentError):
    """A bad sweep axis; ``axis`` is its name as given."""

    def __init__(self, axis: str, message: str):
        super().__init__(f"axis {axis!r}: {message}")
        self.axis, self.detail = axis, message

    def __reduce__(self):  # keep ``axis`` across pickling (process pools, Dask)
        return (_axis_error, (self.axis, str(self)))


def _axis_error(axis: str, text: str) -> SweepAxisError:
    e = SweepAxisError(axis, "")
    e.args = (text,)
    e.detail = text.split(": ", 1)[-1]
    return e


# --------------------------------------------------------------------------- designs


@dataclass(frozen=True)
class DesignSpec:
    """How a scenario design was built: the builder's name and the keywords given to it, the
    ``[fabric.edge]`` keywords of :func:`fabricsim.edge_sites`, and the efficiency / profile
    given to :meth:`Fabric.from_networkx`. A sweep rebuilds the design from it with an axis
    value in place of one keyword."""

    builder: str
    kwargs: Mapping[str, Any]
    edge: Mapping[str, Any] | None = None
    efficiency: Any = None

    def takes(self, keyword: str) -> bool:
        fn = BUILDERS.get(self.builder)
        if fn is None:
            return False
        p = inspect.signature(fn).parameters.get(keyword)
        return p is not None and p.kind is inspect.Parameter.KEYWORD_ONLY

    def keywords(self) -> list[str]:
        fn = BUILDERS.get(self.builder)
        if fn is None:
            return []
        return [
            k
            for k, p in inspect.signature(fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]

    def graph(self, overrides: Mapping[str, Any]):
        kwargs = {**self.kwargs, **overrides}
        G = BUILDERS[self.builder](**kwargs)
        if self.edge:
            G = builders.edge_sites(G, **self.edge)
        return G

    def build(self, overrides: Mapping[str, Any], job_profile: Any) -> Fabric:
        """The design's fabric with ``overrides`` in place of its builder keywords (the
        efficiencies come from its ``profile`` keyword, else the job's, as when loaded)."""
        G = self.graph(overrides)
        profile = {**self.kwargs, **overrides}.get("profile", job_profile)
        return Fabric.from_networkx(G, efficiency=self.efficiency, profile=profile)


def optics(fabric: Fabric) -> int:
    """Optical transceiver ports (one per cable end) a design needs: a cost proxy.

    The rule: a cable needs optics at both ends when it is longer than a passive copper DAC
    reaches; NVIDIA's 400G/800G OSFP DACs (MCP4Y10-Nxxx) come in 0.5-2 m lengths, beyond that
    NVIDIA's own cabling is optical transceivers and fibre (e.g. MMA4Z00-NS, 50 m multimode)
    [NVIDIA LinkX product specifications, docs.nvidia.com/networking]. So:

    * switch-to-switch cables (edge kind ``fabric``: leaf-spine, spine-core) run between racks:
      2 optics each;
    * NIC-to-leaf cables (kind ``access``) are 2 optics each when the leaf serves hosts in many
      racks: a rail leaf (``rail_optimized``, ``role="leaf"`` with a ``rail`` attribute) takes
      NIC ``i`` of every node of its scalable unit, as in the DGX SuperPOD (32 nodes per SU), so
      it cannot sit in the rack of most of them; a top-of-rack leaf (leaf_spine, fat_tree edge
      switches) is within DAC reach of its hosts: 0 optics;
    * NVLink (inside the host or NVLink domain) and WAN edges (the carrier's equipment): 0.

    >>> import fabricsim as fs
    >>> optics(fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1,
    ...                                              gpus_per_host=1)))
    8
    """
    G = fabric.graph
    n = 0
    for u, v, kind in zip(
        *zip(*fabric.compiled.edges, strict=True), fabric.compiled.kind, strict=True
    ):
        if kind == "fabric":
            n += 2
        elif kind == "access":
            if any(G.nodes[x].get("role") == "leaf" and "rail" in G.nodes[x] for x in (u, v)):
                n += 2
    return n


def cost_proxies(fabric: Fabric) -> dict[str, int]:
    """Switches, network cables and optical transceiver ports of a fabric (see
    :func:`optics`): what the sweep's Pareto front weighs tokens/s against. They count devices,
    not their speed, so an oversubscribed design with thinner uplinks costs the same here
    (docs/sweeps.md, "Limits")."""
    return {"switches": fabric.switch_count, "cables": fabric.cable_count, "optics": optics(fabric)}


# --------------------------------------------------------------------------- points


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: a design, its parameters (axis name -> value, in column order:
    ``design``, ``routing``, ``load``, ``seed``, ``samples``, then the axes) and a stable id,
    the first 16 hex digits of the SHA-256 of the parameters as canonical JSON."""

    id: str
    index: int
    design: str
    params: Mapping[str, Any]

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if k != "design")
        return f"<SweepPoint {self.id} {self.design!r} {extra}>"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__, **dataclasses.asdict(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def point_id(params: Mapping[str, Any]) -> str:
    """The stable id of a point's parameters (what resume matches rows on)."""
    return hashlib.sha256(_canonical(dict(params)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Axis:
    name: str  # as given
    column: str  # the row column: design, routing, load, ..., fabric.X, job.X, background.X
    namespace: str  # "design", "routing", "sweep", "fabric", "job", "background"
    field: str
    values: tuple
    designs: tuple = ()  # fabric axes: the designs it applies to


def _fabric_digest(fab: Fabric) -> str:
    c = fab.compiled
    h = hashlib.sha256()
    h.update(repr(list(c.nodes)).encode())
    for a in (c.link_src, c.link_dst, fab.usable_Bps, c.latency_s, c.transit):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Sweep:
    """Every combination of ``axes`` over the base scenario ``base`` (see the module docs).

    ``axes``: axis name -> list of values, in the order the columns should come; default: the
    scenario file's ``[sweep.grid]`` / ``[[sweep.axis]]``. ``len(sweep)`` is the number of
    points; iterating yields :class:`SweepPoint` in a fixed order (designs outermost, then the
    fabric axes, then the others, the load innermost), so points sharing a fabric are
    neighbours and land in the same batch.
    """

    def __init__(self, base: Any, axes: Mapping[str, Sequence[Any]] | None = None):
        need = (
            "fabrics",
            "routing",
            "job",
            "background",
            "sweep_loads",
            "samples",
            "seed",
            "collective_size_bytes",
        )
        if not all(hasattr(base, a) for a in need):
            raise InvalidTypeError(
                f"base: expected a fabricsim.Scenario (load_scenario), got {type(base).__name__}"
            )
        if axes is None:
            axes = getattr(base, "axes", None) or {}
        if not isinstance(axes, Mapping):
            raise InvalidTypeError(
                f"axes: expected a mapping axis name -> list of values, got {type(axes).__name__}"
            )
        self.base = base
        self.specs: dict[str, DesignSpec] = dict(getattr(base, "specs", None) or {})
        self.axes: tuple[_Axis, ...] = tuple(self._axis(str(k), v) for k, v in axes.items())
        cols = [a.column for a in self.axes]
        for c in cols:
            if cols.count(c) > 1:
                names = [a.name for a in self.axes if a.column == c]
                raise SweepAxisError(names[-1], f"sets {c} as {names[0]!r} does")
        self._check_values()
        self.points: tuple[SweepPoint, ...] = tuple(self._points())
        self.fingerprint = self._fingerprint()

    # -- axes ---------------------------------------------------------------------------------
    def _valid_names(self) -> list[str]:
        names = ["design", "routing", *SWEEP_FIELDS]
        fab = sorted({k for s in self.specs.values() for k in s.keywords()})
        names += [f"fabric.{k}" for k in fab]
        names += [f"job.{f.name}" for f in dataclasses.fields(self.base.job)]
        names += [
            f"background.{f.name}"
            for f in dataclasses.fields(self.base.background)
            if f.name != "load"
        ]
        return names

    def _resolve(self, name: str) -> tuple[str, str]:
        job_fields = [f.name for f in dataclasses.fields(self.base.job)]
        bg_fields = [f.name for f in dataclasses.fields(self.base.background)]
        fab_keys = {k for s in self.specs.values() for k in s.keywords()}
        if "." in name:
            ns, fld = name.split(".", 1)
            if ns == "sweep" and fld in SWEEP_FIELDS:
                return "sweep", fld
            if ns == "background" and fld == "load":
                return "sweep", "load"
            known = {"fabric": fab_keys, "job": job_fields, "background": bg_fields}.get(ns)
            if known is not None and fld in known:
                return ns, fld
            if ns == "fabric" and fld in {
                k for f in BUILDERS.values() for k in inspect.signature(f).parameters
            }:
                raise SweepAxisError(
                    name, f"no design of the scenario was made by a builder that takes {fld!r}"
                )
        else:
            if name in ("design", "routing"):
                return name, name
            if name in SWEEP_FIELDS:
                return "sweep", name
            hits = [
                (ns, name)
                for ns, known in (
                    ("fabric", fab_keys),
                    ("job", job_fields),
                    ("background", bg_fields),
                )
                if name in known
            ]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise SweepAxisError(
                    name, "ambiguous: write " + " or ".join(f"{ns}.{name}" for ns, _ in hits)
                )
        valid = self._valid_names()
        bare = list(dict.fromkeys(v.split(".", 1)[-1] for v in valid))
        close = difflib.get_close_matches(name, valid if "." in name else bare, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SweepAxisError(
            name,
            f"unknown field{hint}; valid: design, routing, "
            f"{', '.join(SWEEP_FIELDS)}, fabric.<a keyword of the "
            "design's builder>, job.<a TrainingJob field>, "
            "background.<a Background field>",
        )

    def _axis(self, name: str, values: Any) -> _Axis:
        ns, fld = self._resolve(name)
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(
            values, (Sequence, np.ndarray)
        ):
            raise SweepAxisError(name, f"expected a list of values, got {values!r}")
        vals = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
        if not vals:
            raise SweepAxisError(name, "empty: give at least one value")
        seen: list = []
        for v in vals:
            if any(_canonical(v) == _canonical(s) for s in seen):
                raise SweepAxisError(name, f"the value {v!r} appears twice")
            seen.append(v)
        column = {"design": "design", "routing": "routing", "sweep": fld}.get(ns, f"{ns}.{fld}")
        designs: tuple = ()
        if ns == "fabric":
            designs = tuple(d for d, s in self.specs.items() if s.takes(fld))
        return _Axis(name, column, ns, fld, vals, designs)

    def _check_values(self) -> None:
        """Each value on its own against the base: the error names the axis and the value."""
        for ax in self.axes:
            for v in ax.values:
                try:
                    self._check_value(ax, v)
                except SweepAxisError:
                    raise
                except (FabricError, ValueError, TypeError) as e:
                    raise SweepAxisError(ax.name, f"value {v!r}: {e}") from None

    def _check_value(self, ax: _Axis, v: Any) -> None:
        base = self.base
        if ax.namespace == "design":
            if not isinstance(v, str) or v not in base.fabrics:
                raise SweepAxisError(
                    ax.name, f"no design named {v!r}; designs: {', '.join(base.fabrics)}"
                )
        elif ax.namespace == "routing":
            _validate.choice("routing", v, ROUTING_POLICIES)
        elif ax.namespace == "sweep":
            if ax.field == "load":
                _validate.real("load", v, minimum=0.0, maximum=1.0, max_open=True)
            elif ax.field == "seed":
                _validate.seed(v)
            elif ax.field == "samples":
                _validate.integer("samples", v, minimum=1)
            else:
                _validate.size_bytes(v, ax.field)
        elif ax.namespace == "job":
            dataclasses.replace(base.job, **{ax.field: v})
        elif ax.namespace == "background":
            dataclasses.replace(base.background, **{ax.field: v})
        else:  # fabric: rebuild the graph of every design it applies to
            for d in ax.designs:
                self.specs[d].graph({ax.field: v})

    def _points(self) -> Iterator[SweepPoint]:
        base = self.base
        by_ns = {a.namespace: a for a in self.axes if a.namespace in ("design", "routing")}
        designs = by_ns["design"].values if "design" in by_ns else tuple(base.fabrics)
        fabric_axes = [a for a in self.axes if a.namespace == "fabric"]
        other = [a for a in self.axes if a.namespace not in ("design", "fabric")]
        if not any(a.column == "load" for a in other):
            other.append(_Axis("load", "load", "sweep", "load", tuple(base.sweep_loads)))
        for ax in fabric_axes:
            if not set(ax.designs) & set(designs):
                raise SweepAxisError(
                    ax.name,
                    f"no swept design's builder takes {ax.field!r} (designs: {', '.join(designs)})",
                )
        i = 0
        for d in designs:
            mine = [a for a in fabric_axes if d in a.designs]
            for fvals in itertools.product(*(a.values for a in mine)):
                for ovals in itertools.product(*(a.values for a in other)):
                    params: dict[str, Any] = {
                        "design": d,
                        "routing": base.routing[d],
                        "load": None,
                        "seed": base.seed,
                        "samples": base.samples,
                    }
                    for a, v in zip(mine, fvals, strict=True):
                        params[a.column] = v
                    for a, v in zip(other, ovals, strict=True):
                        params[a.column] = v
                    yield SweepPoint(point_id(params), i, d, params)
                    i += 1

    def _fingerprint(self) -> str:
        """What the points share and their parameters do not say: rows of another base
        scenario must not be taken for this one's."""
        b = self.base
        doc = {
            "job": b.job,
            "background": b.background,
            "collective_size_bytes": b.collective_size_bytes,
            "edge": getattr(b, "edge", None),
            "designs": {
                n: {"routing": b.routing[n], "spec": self.specs.get(n), "fabric": _fabric_digest(f)}
                for n, f in b.fabrics.items()
            },
        }
        return hashlib.sha256(_canonical(doc).encode()).hexdigest()[:16]

    # -- the sequence -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[SweepPoint]:
        return iter(self.points)

    @property
    def columns(self) -> list[str]:
        """The parameter columns of the rows, in order."""
        cols = ["design", "routing", "load", "seed", "samples"]
        return cols + [a.column for a in self.axes if a.column not in cols]

    def __repr__(self) -> str:
        axes = ", ".join(f"{a.column}[{len(a.values)}]" for a in self.axes)
        return f"<Sweep {len(self)} points over {len(self.base.fabrics)} designs; axes: {axes}>"


# --------------------------------------------------------------------------- one point

_FABRIC_CACHE: dict[tuple, Fabric] = {}
_FABRIC_CACHE_SIZE = 8


def _point_fabric(sweep: Sweep, point: SweepPoint, job: Any) -> Fabric:
    overrides = {k.split(".", 1)[1]: v for k, v in point.params.items() if k.startswith("fabric.")}
    spec = sweep.specs.get(point.design)
    profile_changed = (
        spec is not None and "profile" not in spec.kwargs and "job.profile" in point.params
    )
    if not overrides and not profile_changed:
        return sweep.base.fabrics[point.design]
    key = (sweep.fingerprint, point.design, _canonical(overrides), _canonical(job.profile))
    fab = _FABRIC_CACHE.get(key)
    if fab is None:
        fab = spec.build(overrides, job.profile)  # type: ignore[union-attr]
        if len(_FABRIC_CACHE) >= _FABRIC_CACHE_SIZE:
            _FABRIC_CACHE.pop(next(iter(_FABRIC_CACHE)))
        _FABRIC_CACHE[key] = fab
    return fab


#: Row columns after the parameters, in order (the comparison's, the erosion row's extras,
#: the cost proxies); any other metric follows, sorted.
METRIC_COLUMNS = (
    "builder",
    "gpus",
    "job_gpus",
    "switches",
    "cables",
    "optics",
    "oversubscription",
    "bisection_gbps",
    "busbw_GBps",
    "compute_time_s",
    "exposed_comm_p50_s",
    "step_time_p50_s",
    "step_time_p99_s",
    "tokens_per_s_p50",
    "tokens_per_s_p99",
    "ideal_tokens_per_s",
    "erosion_p50",
    "erosion_p99",
    "mfu_p50",
    "busy_fraction_p50",
    "dp_algorithm",
    "bottleneck",
    "edge_p99_ms",
    "edge_availability",
    "error",
)


@bounded_threads
def evaluate(sweep: Sweep, point: SweepPoint, *, threads: int | None = 1) -> dict[str, Any]:
    """Run one point: :func:`fabricsim.compare` of its design at its load. Returns the row
    (``point_id``, the parameters, the metrics). A point whose combination of values is
    invalid (a :class:`fabricsim.FabricError`) returns its parameters and ``error``."""

    b, p = sweep.base, point.params
    row: dict[str, Any] = {"point_id": point.id}
    row.update({k: _cell(v) for k, v in p.items()})
    try:
        job = b.job
        jf = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("job.")}
        if jf:
            job = dataclasses.replace(job, **jf)
        bg = b.background
        bf = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("background.")}
        if bf:
            bg = dataclasses.replace(bg, **bf)
        fab = _point_fabric(sweep, point, job)
        if len(fab.gpus) < job.gpus:
            raise InvalidArgumentError(
                f"design {point.design!r} has {len(fab.gpus)} GPUs but the job needs {job.gpus}"
            )
        cmp = compare(
            [Design(point.design, fab, p["routing"])],
            job,
            bg,
            load=p["load"],
            loads=(p["load"],),
            samples=p["samples"],
            seed=p["seed"],
            collective_size_bytes=p.get("collective_size_bytes", b.collective_size_bytes),
            edge=getattr(b, "edge", None),
            threads=threads,
        )
    except FabricError as e:
        row["error"] = f"{type(e).__name__}: {e}"
        return row
    metrics = dict(cmp.rows[0])
    er = cmp.erosion[point.design].rows[0]
    for k, v in er.items():
        metrics.setdefault(k, v)
    for k in ("design", "routing", "load"):
        metrics.pop(k, None)
    metrics["builder"] = fab.graph.graph.get("builder")
    metrics["optics"] = optics(fab)
    metrics["error"] = None
    row.update({k: _cell(v) for k, v in metrics.items()})
    return row


def _cell(v: Any) -> Any:
    """A Parquet-friendly scalar: numbers, strings, bools and None stay; the rest is JSON."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return _canonical(v)


def run_batch(
    sweep: Sweep, points: Sequence[SweepPoint], threads: int | None = 1
) -> tuple[list[dict], float]:
    """Evaluate ``points`` in order; returns the rows and the seconds it took (one task)."""
    t0 = time.perf_counter()
    rows = [evaluate(sweep, p, threads=threads) for p in points]
    return rows, time.perf_counter() - t0


# --------------------------------------------------------------------------- results file


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"sweeps need {module}: {DASK_HINT}, or pip install pandas pyarrow"
        ) from None


class ResultsFile:
    """The Parquet file a sweep writes: all rows so far, replaced atomically on each flush
    (written to a temporary file beside it, then renamed over it), with the sweep's
    fingerprint in the schema metadata so that a resume never mixes two base scenarios.

    Flushes come at most every ``flush_s`` seconds, and at most every 10 times the last
    write's duration (a 10,000-row file takes about half a second to rewrite: the driver
    then spends at most a tenth of its time writing); a kill loses the points finished
    since the last flush, which a resume runs again. ``order``: point ids in the order the
    file lists their rows (the sweep's; rows of other points follow), whatever order the
    points finish in."""

    def __init__(
        self,
        path: str | os.PathLike,
        fingerprint: str,
        *,
        flush_s: float = 1.0,
        order: Sequence[str] = (),
    ):
        self.path = Path(path).expanduser()
        self.fingerprint = fingerprint
        self.flush_s = flush_s
        self._rank = {pid: i for i, pid in enumerate(order)}
        self.rows: dict[str, dict] = {}
        self._dirty = False
        self._last = time.monotonic()
        self._interval = flush_s
        if self.path.exists():
            pq = _need("pyarrow.parquet")
            try:
                meta = pq.read_schema(self.path).metadata or {}
                table = pq.read_table(self.path)
            except Exception as e:  # pyarrow raises several kinds
                raise InvalidArgumentError(
                    f"out: {self.path} is not a readable Parquet file ({e}); give another path"
                ) from None
            info = json.loads(meta.get(META_KEY, b"{}") or b"{}")
            if info.get("fingerprint") != fingerprint:
                what = (
                    "was not written by fabricsim sweep"
                    if not info
                    else "holds another sweep (its base scenario differs)"
                )
                raise InvalidArgumentError(
                    f"out: {self.path} {what}; write to a new file or delete it"
                )
            for r in table.to_pylist():
                self.rows[r["point_id"]] = r

    def add(self, rows: Sequence[dict]) -> None:
        for r in rows:
            self.rows[r["point_id"]] = r
        self._dirty = True
        if time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        if not self._dirty and self.path.exists():
            return
        pa = _need("pyarrow")
        pq = _need("pyarrow.parquet")
        last = len(self._rank)
        rows = sorted(self.rows.values(), key=lambda r: self._rank.get(r["point_id"], last))
        df = frame(rows)
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})

        meta[META_KEY] = json.dumps(
            {"fingerprint": self.fingerprint, "fabricsim": __version__}
        ).encode()
        table = table.replace_schema_metadata(meta)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        t0 = time.monotonic()
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._dirty = False
        self._last = time.monotonic()
        self._interval = max(self.flush_s, 10 * (self._last - t0))


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None):
    """Rows as a pandas DataFrame with the columns in a fixed order: ``point_id``, the
    parameters, then :data:`METRIC_COLUMNS`, then any other metric (sorted)."""
    pd = _need("pandas")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    params = ["design", "routing", "load", "seed", "samples"]
    params += [c for c in (columns or ()) if c not in params]
    params += [k for k in keys if "." in k and k not in params]
    order = ["point_id"] + [c for c in params if c in keys or c in (columns or ())]
    order += [c for c in METRIC_COLUMNS if c in keys and c not in order]
    order += sorted(k for k in keys if k not in order)
    df = pd.DataFrame([{k: r.get(k) for k in order} for r in rows], columns=order)
    for c in df.columns:
        kinds = {
            type(v) for v in df[c] if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
        if str in kinds and len(kinds) > 1:  # a column mixing strings and numbers
            df[c] = [None if v is None else str(v) for v in df[c]]
    return df


# --------------------------------------------------------------------------- running


def _dask_client(executor: Any):
    """A ``distributed.Client`` for ``executor`` (a Client, or a scheduler address)."""
    import asyncio

    wrong = InvalidTypeError(
        f"executor: expected None, 'serial', 'processes', a "
        f"dask.distributed.Client or a scheduler address, got "
        f"{type(executor).__name__}"
    )
    try:
        import distributed
    except ImportError:
        if not isinstance(executor, str):
            raise wrong from None
        raise ImportError(
            f"running on a Dask cluster needs dask.distributed: {DASK_HINT}"
        ) from None
    if isinstance(executor, distributed.Client):
        return executor, False
    if isinstance(executor, str):
        try:
            return distributed.Client(executor, timeout="20s"), True
        except (OSError, TimeoutError, asyncio.TimeoutError) as e:
            raise InvalidArgumentError(
                f"executor: cannot reach the Dask scheduler at {executor!r}: {e}"
            ) from None
    raise wrong


def _worker_settings() -> dict[str, Any]:
    """On a Dask worker (or the scheduler): its values of the :data:`DASK_CONFIG` settings."""
    import dask

    return {k: dask.config.get(k, None) for k in DASK_CONFIG}


def costly_settings(values: Mapping[str, Any]) -> list[str]:
    """Which of ``values`` (setting -> value, as Dask's config holds them) cost a sweep worker
    more CPU than :data:`DASK_CONFIG`: ``["setting=value", ...]`` (a profiler that is on, an
    interval shorter than the recommended one).

    >>> costly_settings({"distributed.admin.tick.interval": "20ms",
    ...                  "distributed.worker.profile.enabled": False})
    ['distributed.admin.tick.interval=20ms']
    """
    from dask.utils import parse_timedelta

    out = []
    for key, value in values.items():
        want = DASK_CONFIG.get(key)
        if want is None or value is None:
            continue
        if isinstance(want, bool):
            costly = bool(value) != want
        elif isinstance(want, float):  # a worker's saturation: more tasks ahead than this
            try:
                costly = float(value) > want
            except (TypeError, ValueError):
                continue
        else:
            try:
                costly = parse_timedelta(value) < parse_timedelta(want)
            except (TypeError, ValueError, KeyError):  # not a duration Dask reads (KeyError: unit)
                continue
        if costly:
            out.append(f"{key}={value}")
    return out


def _scheduler_settings(dask_scheduler: Any = None) -> dict[str, Any]:
    """On a Dask scheduler: the worker saturation it runs with (read once, when it started:
    the config it sees now may differ, e.g. a LocalCluster started under
    ``dask.config.set(DASK_CONFIG)`` that has since exited)."""
    return {"distributed.scheduler.worker-saturation": dask_scheduler.WORKER_SATURATION}


def _workers_costly_settings(client: Any) -> list[str] | None:
    """:func:`costly_settings` over every worker of ``client``'s cluster (the worker
    settings) and over its scheduler (the scheduler's, as it runs): one round trip each; the
    ones that could not be asked are left out (None if neither could)."""
    found: set[str] = set()
    asked = False
    try:
        per_worker = client.run(_worker_settings)
    except Exception:  # an old or odd worker: the sweep itself will say what is wrong
        pass
    else:
        asked = True
        for values in per_worker.values():
            found.update(
                costly_settings(
                    {k: v for k, v in values.items() if not k.startswith("distributed.scheduler.")}
                )
            )
    try:  # a scheduler without fabricsim installed cannot run this
        found.update(costly_settings(client.run_on_scheduler(_scheduler_settings)))
        asked = True
    except Exception:
        pass
    return sorted(found) if asked else None


def _likely_cost(point: SweepPoint) -> float:
    """A point's likely cost, to order the work: its Monte Carlo samples times 1 / (1 - load)
    (a queue's mean number in system grows as load / (1 - load), and with it the background
    flows each sample simulates; 1 more for the job's own flows)."""
    load, samples = point.params.get("load"), point.params.get("samples")
    load = min(float(load), 0.99) if isinstance(load, (int, float)) else 0.0
    samples = float(samples) if isinstance(samples, (int, float)) and samples > 0 else 1.0
    return samples / (1.0 - max(load, 0.0))


def _costliest_first(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """``points`` in the order to hand out to workers: the likely costliest first, ties in
    sweep order (the longest-processing-time-first rule: the last tasks are the cheap points,
    so the workers finish together). The results are put back in sweep order."""
    return sorted(points, key=_likely_cost, reverse=True)


def _batches(points: Sequence[SweepPoint], size: int) -> list[list[SweepPoint]]:
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


def run_sweep(
    sweep: Sweep,
    *,
    executor: Any = None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    batch_size: int | None = None,
    threads: int | None = 1,
    progress: bool = False,
    on_rows: Callable[[list[dict]], None] | None = None,
):
    """Run every point of ``sweep`` and return a pandas DataFrame, one row per point in sweep
    order (``point_id``, the parameters, every metric; see the module docs).

    ``executor``: ``None`` or ``"processes"`` (``workers`` local processes, default one per
    core: this one, which starts computing at once, and ``workers - 1`` spawned ones, which
    join when they have started), ``"serial"`` (in this process, one point after another), a
    ``dask.distributed.Client``, or a scheduler address like ``"tcp://host:8786"``. In
    parallel, points go out the likely costliest first (more samples, higher background load;
    the rows come back in sweep order), in batches of at most ``batch_size`` (default: as
    many as take about :data:`TARGET_TASK_S`, timed on the first point, which runs here: in
    parallel the costliest), each at most 1/(2 x workers) of the points left, so that the
    last batches are small and the workers finish together (on Dask not below
    :data:`MIN_DASK_TASK_S` of the first point's work unless ``batch_size`` is given: cheaper
    points make shorter tasks); ``threads`` is the Rust core's threads per point (the
    parallelism is across points; results never depend on it). ``out``: a Parquet file the
    rows are written to as batches finish (flushed at most every second and at the
    end); points already in it are skipped, so a killed sweep resumes where it stopped.
    ``on_rows`` is called with each finished batch's rows. ``df.attrs["fabricsim.sweep"]``
    tells how many points ran, were skipped, the tasks, the largest batch, the wall time,
    for local processes what each process did (``processes``: points, start-up, CPU time; for
    one that died after all its rows had come in, its points and ``exitcode``) and
    on Dask the settings of :data:`DASK_CONFIG` the workers run with costlier values
    (``dask_costly_settings``, :func:`costly_settings`; ``fabricsim sweep`` prints them).

    >>> import fabricsim as fs
    >>> sc = fs.load_scenario(fs.cli.scenario.example_path())
    >>> sw = fs.Sweep(sc, axes={"design": ["leaf-spine 2:1"], "load": [0.0], "samples": [1]})
    >>> df = fs.run_sweep(sw, executor="serial")
    >>> df[["design", "load", "switches", "optics"]].values.tolist()
    [['leaf-spine 2:1', 0.0, 10, 32]]
    """
    if not isinstance(sweep, Sweep):
        raise InvalidTypeError(f"sweep: expected a fabricsim.Sweep, got {type(sweep).__name__}")
    if workers is not None:
        workers = _validate.integer("workers", workers, minimum=1)
    if batch_size is not None:
        batch_size = _validate.integer("batch_size", batch_size, minimum=1)
    if threads is not None:
        threads = _validate.integer("threads", threads, minimum=1)
    _need("pandas")
    if out is not None:
        _need("pyarrow")
        parent = Path(out).expanduser().resolve().parent
        if not parent.is_dir():
            raise InvalidArgumentError(f"out: the directory {parent} does not exist")
    mode = executor
    if executor is None:
        mode = "processes"
    elif isinstance(executor, str) and executor in ("serial", "processes"):
        pass
    elif isinstance(executor, str) and ("://" in executor or ":" in executor):
        mode = "dask"
    elif isinstance(executor, str):
        raise UnknownNameError(
            f"executor: unknown value {executor!r}; valid: serial, "
            "processes, a dask.distributed.Client or a scheduler address "
            "('tcp://host:8786')"
        )
    else:
        mode = "dask"
    results = None
    if out is not None:
        results = ResultsFile(out, sweep.fingerprint, order=[p.id for p in sweep.points])
    done: dict[str, dict] = {}
    if results is not None:
        done = {pid: r for pid, r in results.rows.items()}
    pending = [p for p in sweep.points if p.id not in done]
    skipped = len(sweep) - len(pending)
    t0 = time.perf_counter()
    stats: dict[str, Any] = {
        "points": len(sweep),
        "skipped": skipped,
        "ran": 0,
        "tasks": 0,
        "task_s": 0.0,
        "executor": mode if mode != "dask" else "dask",
        "batch_size": None,
    }
    bar = None
    if progress:
        bar = ProgressBar(len(sweep), "sweep")
        if skipped:
            bar.update(skipped)

    def finished(rows: list[dict], task_s: float) -> None:
        for r in rows:
            done[r["point_id"]] = r
        stats["ran"] += len(rows)
        stats["tasks"] += 1
        stats["task_s"] += task_s
        if results is not None:
            results.add(rows)
        if on_rows is not None:
            on_rows(rows)
        if bar:
            bar.update(len(rows))

    client = owned = None
    try:
        if mode == "dask":  # connect first: an unreachable scheduler fails before any work
            client, owned = _dask_client(executor)
            n_workers = max(
                1,
                sum(
                    w.get("nthreads", 1)
                    for w in client.scheduler_info().get("workers", {}).values()
                ),
            )
            stats["dask_costly_settings"] = _workers_costly_settings(client)
        else:
            n_workers = workers or os.cpu_count() or 1
        stats["workers"] = 1 if mode == "serial" else n_workers
        if mode == "serial":
            if pending and batch_size is None:
                rows, dt = run_batch(sweep, pending[:1], threads)  # time one point
                finished(rows, dt)
                pending = pending[1:]
                batch_size = _size_for(dt, TARGET_TASK_S)
            stats["batch_size"] = batch_size
            for b in _batches(pending, batch_size or 1):
                finished(*run_batch(sweep, b, threads))
        elif mode == "processes":
            stats["batch_size"], stats["processes"] = _run_processes(
                sweep, _costliest_first(pending), n_workers, batch_size, threads, finished
            )
        else:
            stats["batch_size"] = _run_dask(
                client, sweep, _costliest_first(pending), n_workers, batch_size, threads, finished
            )
    finally:
        if results is not None:
            results.flush()
        if bar:
            bar.close()
        if owned and client is not None:
            client.close()
    stats["wall_s"] = time.perf_counter() - t0
    df = frame([done[p.id] for p in sweep.points], sweep.columns)
    df.attrs["fabricsim.sweep"] = stats
    return df


def _size_for(dt: float, task_s: float) -> int:
    """How many points of ``dt`` seconds fill a task of ``task_s`` seconds (at least 1)."""
    return max(1, round(task_s / max(dt, 1e-6)))


def _point_s(wall_s: float, cpu0: float, threads: int | None) -> float:
    """The seconds a point took to compute: its wall time, or if that is longer, the CPU time
    this process used for it over the threads it could use (other processes -- the workers of
    a local cluster, say -- may be taking the cores while it is timed): ``threads``, or with
    None the Rust core's own pool (``RAYON_NUM_THREADS`` or the cores), at most the cores."""
    could = min(threads_in_use(threads), os.cpu_count() or 1)
    return min(wall_s, (time.process_time() - cpu0) / could)


def _guided(remaining: int, workers: int, largest: int, smallest: int = 1) -> int:
    """The size of the next task: at most 1/(2 x workers) of the points left (guided
    self-scheduling, so that the tasks shrink towards the end and the workers finish
    together), within [``smallest``, ``largest``] and never more than are left."""
    size = max(smallest, min(largest, math.ceil(remaining / (2 * workers))))
    return max(0, min(size, remaining))


def _guided_sizes(n: int, workers: int, largest: int, smallest: int = 1) -> list[int]:
    """Task sizes for ``n`` points handed out in order (see :func:`_guided`).

    >>> _guided_sizes(63, 2, 4)
    [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 2, 2, 1, 1, 1, 1]
    """
    sizes = []
    while n > 0:
        sizes.append(_guided(n, workers, largest, smallest))
        n -= sizes[-1]
    return sizes


def _claim(counter: Any, largest: Any, n: int, workers: int, size: int | None) -> range:
    """Take the next points off the shared counter of a process sweep: ``size`` of them, or
    (``None``) a guided share of what is left with :func:`_guided`."""
    lock = counter.get_lock()
    if not lock.acquire(timeout=60):  # a worker killed inside this lock: fail, never hang
        raise RuntimeError("sweep: the work counter stayed locked for 60 s (a worker died?)")
    try:
        start = counter.value
        k = min(size, n - start) if size is not None else _guided(n - start, workers, largest.value)
        k = max(0, k)
        counter.value = start + k
    finally:
        lock.release()
    return range(start, start + k)


def _process_worker(
    blob: bytes,
    indices: list[int],
    counter: Any,
    largest: Any,
    workers: int,
    threads: int | None,
    conn: Any,
    t0_wall: float,
) -> None:
    """A spawned sweep process: take guided shares of the points off the shared counter until
    none is left, telling the parent each share as it takes it and sending the share's rows
    when they are computed, then what it cost (its start-up CPU time, up to its first share,
    and its total)."""
    import pickle

    try:
        sweep = pickle.loads(blob)
        points = [sweep.points[i] for i in indices]
        ready_s, startup_cpu_s, ran = time.time() - t0_wall, time.process_time(), 0
        while True:
            share = _claim(counter, largest, len(points), workers, None)
            if not share:
                break
            conn.send(("claim", os.getpid(), share.start, share.stop))
            rows, dt = run_batch(sweep, points[share.start : share.stop], threads)
            conn.send(("rows", rows, dt, os.getpid()))
            ran += len(rows)
        conn.send(
            (
                "done",
                os.getpid(),
                {
                    "pid": os.getpid(),
                    "points": ran,
                    "ready_s": ready_s,
                    "startup_cpu_s": startup_cpu_s,
                    "cpu_s": time.process_time(),
                },
            )
        )
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or the parent is gone
        pass
    except BaseException as e:
        import traceback

        try:
            conn.send(("error", e))
        except Exception:
            conn.send(("error", RuntimeError(traceback.format_exc())))
    finally:
        conn.close()


def _forward(children: Mapping[Any, Any], inbox: Any) -> None:
    """In a thread of the parent: pass every message of the children to ``inbox`` as it
    arrives (so that they never wait on a full pipe while the parent computes a point), then
    ("exit", process) when a child's pipe closes."""
    from multiprocessing.connection import wait

    live = dict(children)
    while live:
        for ready in wait(list(live)):
            conn: Any = ready  # a multiprocessing Connection (wait() returns what it was given)
            try:
                inbox.put(conn.recv())
            except (EOFError, OSError):
                proc = live.pop(conn)
                proc.join(timeout=10)
                inbox.put(("exit", proc))
            except Exception as e:  # a message that does not unpickle here (an exception
                # class whose __init__ takes other arguments): pass the failure on, never die
                # silently and leave the parent waiting for messages that cannot come
                inbox.put(
                    ("error", RuntimeError(f"sweep: a worker's message was unreadable: {e!r}"))
                )


def _run_processes(
    sweep: Sweep,
    points: list[SweepPoint],
    n_workers: int,
    batch_size: int | None,
    threads: int | None,
    finished: Callable,
) -> tuple[int | None, list[dict]]:
    """``n_workers`` processes share the points: this one and ``n_workers - 1`` spawned ones.

    While the spawned processes start (an interpreter and ``import fabricsim`` each) this one
    is already computing, one point at a time (the first, timed, sets the largest share when
    ``batch_size`` is None); the spawned ones take guided shares (at most 1/(2 x workers) of
    the points left, at most ``batch_size``) off a shared counter, so no one waits for work and
    the shares shrink towards the end. Returns the largest share and what each process did
    (this one first: points, seconds it waited with nothing to compute; then the spawned ones:
    points, when they were ready, their start-up and total CPU seconds; a spawned process that
    ended without its cost report, after every share it took had come in: its points and
    ``exitcode``). A spawned process that ends while a share it took has not come in, or that
    fails before computing anything, fails the sweep with ``BrokenProcessPool`` naming it (the
    other processes' rows are kept)."""
    import multiprocessing
    import pickle
    import queue
    import threading
    from concurrent.futures.process import BrokenProcessPool

    if not points:
        return batch_size, []
    n = len(points)
    t0_wall = time.time()
    # spawn, not fork: in a forked process the Rust core routes on one thread (its global
    # thread pool does not survive a fork: docs/reliability.md, "Forked processes")
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("q", 0)
    largest = ctx.Value("q", batch_size or 1)
    spawned = max(0, min(n_workers, n) - 1)
    children: dict[Any, Any] = {}
    inbox: queue.Queue = queue.Queue()
    got, here, idle_s, timed = 0, 0, 0.0, batch_size is not None
    done: dict[int, dict] = {}
    working: set[int] = set()
    taken: dict[int, range] = {}  # per spawned process, the share it computes
    points_of: dict[int, int] = {}  # per spawned process, the points whose rows came in
    ended: dict[int, int | None] = {}  # per spawned process whose pipe closed, its exit code
    try:
        if spawned:
            blob = pickle.dumps(sweep)
            indices = [p.index for p in points]
            for _ in range(spawned):
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_process_worker,
                    args=(blob, indices, counter, largest, n_workers, threads, writer, t0_wall),
                    daemon=True,
                    name="fabricsim-sweep",
                )
                proc.start()
                writer.close()
                children[reader] = proc
            threading.Thread(
                target=_forward, args=(children, inbox), daemon=True, name="fabricsim-sweep"
            ).start()

        def handle(msg: tuple) -> int:
            if msg[0] == "claim":
                taken[msg[1]] = range(msg[2], msg[3])
            elif msg[0] == "rows":
                working.add(msg[3])
                taken.pop(msg[3], None)
                points_of[msg[3]] = points_of.get(msg[3], 0) + len(msg[1])
                finished(msg[1], msg[2])
                return len(msg[1])
            elif msg[0] == "done":
                done[msg[1]] = msg[2]
            elif msg[0] == "error":
                raise msg[1]
            elif msg[0] == "exit":
                pid, code = msg[1].pid, msg[1].exitcode
                ended[pid] = code
                lost = taken.get(pid)
                if lost:
                    raise BrokenProcessPool(
                        f"sweep: a worker process (pid {pid}) died with exit code {code} "
                        f"before sending the rows of its {len(lost)} point(s) "
                        f"({', '.join(points[i].id for i in lost[:3])}"
                        f"{', ...' if len(lost) > 3 else ''})"
                    )
                if code != 0 and not points_of.get(pid) and pid not in done:
                    # it failed before sending anything: at start-up (an import error, a
                    # script without the `if __name__ == "__main__":` guard that spawn needs),
                    # or holding a share it had not announced. Say so rather than finish the
                    # sweep alone in this process.
                    raise BrokenProcessPool(
                        f"sweep: a worker process (pid {pid}) died with exit code {code} "
                        "before sending any rows (any error it printed is above; a script that "
                        "runs a sweep needs `if __name__ == '__main__':`, as the processes are "
                        "spawned)"
                    )
            return 0

        while got < n:
            with contextlib.suppress(queue.Empty):
                while True:
                    got += handle(inbox.get_nowait())
            if got >= n:
                break
            mine = _claim(counter, largest, n, n_workers, 1)
            if mine:
                c0 = time.process_time()
                rows, dt = run_batch(sweep, points[mine.start : mine.stop], threads)
                if not timed:  # the first point sets how large a share may be
                    largest.value = _size_for(_point_s(dt, c0, threads), PROCESS_SHARE_S)
                    timed = True
                finished(rows, dt)
                got += len(rows)
                here += len(rows)
                continue
            t_wait = time.perf_counter()
            with contextlib.suppress(queue.Empty):
                got += handle(inbox.get(timeout=0.5))
            idle_s += time.perf_counter() - t_wait
            if got < n and len(ended) == spawned and inbox.empty():
                # every point is taken and every spawned process has ended, yet rows are
                # missing: one died between taking a share and telling this process
                gone = [f"pid {pid}, exit code {c}" for pid, c in ended.items() if pid not in done]
                raise BrokenProcessPool(
                    f"sweep: {n - got} point(s) never came back; the worker processes have "
                    f"ended ({'; '.join(gone) or 'all reported'})"
                )
        # every row is in: the processes that computed are sending what they cost; one that
        # ended without it (after its last rows) lost nothing, and is recorded
        deadline = time.monotonic() + 5
        while working - done.keys() - ended.keys() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                handle(inbox.get(timeout=0.1))
    finally:
        # every row is in (or the sweep failed): a process still starting has no point to
        # finish, so stop it rather than wait for its imports
        for proc in children.values():
            if proc.is_alive():
                proc.terminate()
        for proc in children.values():
            proc.join(timeout=10)
    here_stats = {"pid": os.getpid(), "points": here, "idle_s": idle_s}
    died = [
        {"pid": pid, "points": points_of.get(pid, 0), "exitcode": code}
        for pid, code in ended.items()
        if pid not in done
    ]
    return largest.value, [here_stats, *done.values(), *died]


def _run_dask(
    client: Any,
    sweep: Sweep,
    points: list[SweepPoint],
    n_workers: int,
    batch_size: int | None,
    threads: int | None,
    finished: Callable,
) -> int | None:
    """One task per batch on the Dask cluster, submitted in order, largest first: at most
    ``batch_size`` points each (default: :data:`TARGET_TASK_S` of work, timed on the first
    point, which runs here while every worker already computes two one-point tasks), shrinking
    towards the end (:func:`_guided`, not below :data:`MIN_DASK_TASK_S` of work) so that the
    workers finish together. Returns the largest batch."""
    from distributed import as_completed

    if not points:
        return batch_size
    handle = client.scatter(sweep, broadcast=True, hash=False)
    futures = []

    def submit(batch: list[SweepPoint]) -> None:
        futures.append(
            client.submit(
                run_batch,
                handle,
                batch,
                threads,
                key=f"fabricsim-sweep-{sweep.fingerprint}-{batch[0].id}-{len(batch)}",
                retries=2,
            )
        )

    try:
        i, smallest = 0, 1
        if batch_size is None:
            probes = points[1 : 1 + 2 * n_workers]
            for p in probes:
                submit([p])
            c0 = time.process_time()
            rows, dt = run_batch(sweep, points[:1], threads)
            finished(rows, dt)
            dt = _point_s(dt, c0, threads)
            batch_size = _size_for(dt, TARGET_TASK_S)
            smallest = min(batch_size, _size_for(dt, MIN_DASK_TASK_S))
            i = 1 + len(probes)
        for size in _guided_sizes(len(points) - i, n_workers, batch_size, smallest):
            submit(points[i : i + size])
            i += size
        for fut in as_completed(futures):
            finished(*fut.result())
    except BaseException:
        client.cancel(futures)
        raise
    return batch_size


# --------------------------------------------------------------------------- summary


def _short(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _label(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    extra = [
        f"{c.split('.', 1)[-1]}={_short(row[c])}"
        for c in columns
        if c not in ("design", "load", "seed")
        and row.get(c) is not None
        and not (isinstance(row[c], float) and math.isnan(row[c]))
    ]
    return f"{row['design']}" + (f" ({', '.join(extra)})" if extra else "")


def designs_table(df, columns: Sequence[str]):
    """One row per design variant and load: the mean over seeds of tokens/s, erosion and step
    time, with the cost proxies. Variant = every parameter but the seed."""
    pd = _need("pandas")
    ok = df[df["error"].isna()] if "error" in df else df
    if "saturated" in ok:  # a saturated point has no throughput to rank (0 tokens/s)
        ok = ok[~ok["saturated"].fillna(False).astype(bool)]
    keys = [c for c in columns if c != "seed" and c in ok]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "label", "tokens_per_s_p50"])
    agg = {
        "tokens_per_s_p50": "mean",
        "erosion_p50": "mean",
        "step_time_p99_s": "mean",
        "switches": "first",
        "cables": "first",
        "optics": "first",
    }
    g = ok.groupby(keys, dropna=False, sort=False).agg(agg).reset_index()
    varying = [c for c in keys if ok[c].nunique(dropna=False) > 1]
    g["label"] = [_label(r, varying) for r in g.to_dict("records")]
    return g


def pareto_front(g, costs: Sequence[str] = ("switches", "cables", "optics")):
    """The rows of ``g`` no other row beats: at least as many tokens/s with no cost proxy
    higher and one of them strictly better. Sorted by tokens/s."""
    vals = g[["tokens_per_s_p50", *costs]].to_numpy(dtype=float)
    keep = []
    for i in range(len(vals)):
        better = (vals[:, 0] >= vals[i, 0]) & np.all(vals[:, 1:] <= vals[i, 1:], axis=1)
        strictly = (vals[:, 0] > vals[i, 0]) | np.any(vals[:, 1:] < vals[i, 1:], axis=1)
        if not np.any(better & strictly):
            keep.append(i)
    return g.iloc[keep].sort_values("tokens_per_s_p50")


def headline_load(df, base: Any) -> float:
    loads = sorted(set(df["load"].dropna()))
    return base.load if base.load in loads else loads[-1]


def summary(df, sweep: Sweep) -> str:
    """The best design variant at each load (highest mean tokens/s over seeds) and the Pareto
    front of tokens/s against switches, cables and optics at the scenario's headline load."""
    g = designs_table(df, sweep.columns)
    lines = []
    errors = int(df["error"].notna().sum()) if "error" in df else 0
    if errors:
        first = df.loc[df["error"].notna(), "error"].iloc[0]
        lines.append(f"{errors} of {len(df)} points failed (see the error column); first: {first}")
    if g.empty:
        return "\n".join(lines + ["no point produced metrics"])
    lines.append("best design per load (mean tokens/s over seeds):")
    w = max(len(s) for s in g["label"])
    lines.append(
        f"  {'load':>5}  {'design':<{w}}  {'tokens/s':>14}  {'erosion p50':>11}  "
        f"{'switches':>8}  {'cables':>6}  {'optics':>6}"
    )
    for load, part in g.groupby("load", sort=True):
        r = part.loc[part["tokens_per_s_p50"].idxmax()]
        lines.append(
            f"  {load:>5.2f}  {r['label']:<{w}}  {r['tokens_per_s_p50']:>14,.0f}  "
            f"{r['erosion_p50']:>11.1%}  {int(r['switches']):>8}  "
            f"{int(r['cables']):>6}  {int(r['optics']):>6}"
        )
    load = headline_load(g, sweep.base)
    front = pareto_front(g[g["load"] == load])
    lines.append("")
    lines.append(
        f"Pareto front at load {load:g}: no other design has as many tokens/s for no "
        "more switches, cables and optics"
    )
    for _, r in front.iloc[::-1].iterrows():
        lines.append(
            f"  {r['label']:<{w}}  {r['tokens_per_s_p50']:>14,.0f} tokens/s  "
            f"{int(r['switches']):>4} switches  {int(r['cables']):>5} cables  "
            f"{int(r['optics']):>5} optics"
        )
    return "\n".join(lines)


def plot_pareto(df, sweep: Sweep, path: str | None = None, *, ax: Any = None) -> Any:
    """Tokens/s against switches, cables and optics at the headline load, every design variant
    a dot and the Pareto front drawn over them: three panels on ``ax`` (three matplotlib axes)
    or a new figure. Returns the Figure; with ``path`` also writes it (PNG, SVG, PDF by the
    suffix). Never changes the matplotlib backend."""

    g = designs_table(df, sweep.columns)
    load = headline_load(g, sweep.base)
    at = g[g["load"] == load]
    front = pareto_front(at)
    fig, panels = make_axes(ax, ncols=3, figsize=(14, 4.4))
    for pane, cost in zip(panels, ("switches", "cables", "optics"), strict=True):
        pane.scatter(
            at[cost], at["tokens_per_s_p50"] / 1e6, color="0.6", s=18, label="design variant"
        )
        f = front.sort_values(cost)
        pane.plot(f[cost], f["tokens_per_s_p50"] / 1e6, "o-", color="C3", label="Pareto front")
        pane.set_xlabel(cost)
        pane.grid(True, alpha=0.3)
    panels[0].set_ylabel("million tokens/s (p50, mean over seeds)")
    panels[0].legend(loc="lower right")
    fig.suptitle(
        f"{getattr(sweep.base, 'title', '') or 'sweep'}: tokens/s vs cost proxies at "
        f"background load {load:g} ({len(at)} variants, {len(front)} on the front)"
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


__all__ = [
    "Sweep",
    "SweepPoint",
    "SweepAxisError",
    "DesignSpec",
    "run_sweep",
    "evaluate",
    "run_batch",
    "optics",
    "cost_proxies",
    "summary",
    "pareto_front",
    "designs_table",
    "plot_pareto",
    "frame",
    "ResultsFile",
    "point_id",
    "TARGET_TASK_S",
    "MIN_DASK_TASK_S",
    "DASK_CONFIG",
    "DASK_ENV",
    "costly_settings",
]
