"""Scenario files: fabric designs, a training job, background traffic and sweeps in one TOML file.

A scenario is what ``fabricsim compare SCENARIO.toml`` runs; :func:`load_scenario` reads one and
:func:`run_scenario` runs it through :func:`fabricsim.compare` with exactly the arguments the
file gives, so the command line and the Python API print the same numbers
(:func:`run_scorecard` does the same for ``fabricsim scorecard`` and :func:`fabricsim.scorecard`).

Format (every table but ``[[fabric]]`` and ``[job]`` is optional)::

    title = "64 H100s: rail-optimized vs leaf-spine"    # optional, printed above the table

    [[fabric]]                       # one per design, in the order the table lists them
    name = "leaf-spine 2:1"          # required, unique
    builder = "leaf_spine"           # leaf_spine | fat_tree | rail_optimized | graphml | gml
                                     # | cable_list
    leaves = 4                       # ... the builder's keyword arguments
    oversubscription = 2.0
    profile = "h100-ndr400"          # builder hardware defaults and usable-bandwidth fractions
    routing = "ecmp"                 # optional: ecmp (default) | spray
    # efficiency = 0.96              # optional: Fabric.from_networkx(efficiency=...)

    [fabric.edge]                    # optional: fabricsim.edge_sites(...) on this design
    border_gbps = 800.0
    [[fabric.edge.carriers]]
    name = "telco-a"
    capacity_gbps = 400.0
    availability = 0.999
    [[fabric.edge.sites]]
    name = "paris"
    carriers = ["telco-a"]
    distance_km = 20.0
    capacity_gbps = 100.0

    [job]                            # fabricsim.TrainingJob keyword arguments
    params = 1.24e8
    layers = 12
    hidden_size = 768
    data_parallel = 32
    global_batch_tokens = 262144

    [background]                     # fabricsim.Background keyword arguments (the template)
    sizes = "websearch"              # a distribution name, a size ("4MiB") or [[values], [cdf]]
    pattern = "uniform"
    # tenant = { op = "all_to_all", size_bytes = "64MiB" }    # pattern = "tenant"

    [sweep]
    loads = [0.0, 0.3, 0.6, 0.9]     # background loads of the erosion sweep
    load = 0.6                       # the headline load the comparison row reports
    samples = 4                      # Monte Carlo samples per loaded point
    seed = 0
    collective_size_bytes = "1GiB"   # the all-reduce behind the busbw column

    [sweep.grid]                     # optional: what ``fabricsim sweep`` runs (every combination)
    spines = [4, 8]                  # a builder keyword (of the designs whose builder takes it)
    routing = ["ecmp", "spray"]
    load = [0.0, 0.3]                # default: [sweep] loads
    "job.data_parallel" = [16, 32]   # qualified: fabric.X, job.X, background.X
    # or one [[sweep.axis]] table per axis: name = "spines", values = [4, 8]

    [edge]                           # fabricsim.edge_latency keyword arguments (not seed)
    requests = 20000
    slo_ms = 50.0

    [collective]                     # what ``fabricsim collective`` runs by default
    op = "all_reduce"
    algorithm = "auto"               # or "ring", ... or NCCL's "Ring", "Tree", "NVLSTree", ...
    protocol = "auto"                # or "ll", "ll128", "simple" (NCCL's LL, LL128, Simple)
    # channels = 8                   # default: one per GPU of the largest host
    # (algorithm, protocol: "auto" or no key -> NCCL_ALGO / NCCL_PROTO if set, else the model;
    #  no channels key -> NCCL_MIN_NCHANNELS / NCCL_MAX_NCHANNELS if set)
    min_bytes = 8
    max_bytes = "1GiB"
    design = "leaf-spine 2:1"        # default: the first design

    [scorecard]                      # what ``fabricsim scorecard`` runs (fabricsim.scorecard)
    regions = ["paris"]              # user regions (default: every region a site lists)
    slo_ms = 20.0                    # inference SLO on request latency
    server_ms = 0.0                  # server time added to each request
    requests = 20000                 # requests per region
    design = "leaf-spine 2:1"        # the design built at every site (default: the first)

    [[facility]]                     # one per site: fabricsim.Facility keyword arguments
    name = "metro"                   # required, unique
    preset = "legacy-air-colo"       # optional: start from fabricsim.analysis.facility.PRESETS
    cooling = "air"                  # air | rear_door | direct_liquid | immersion
    it_power_mw = 4.0                # ready-now IT power
    rack_power_kw = 9.0              # sustained kW per rack
    ambient_c = [18.0, 24.0, 31.0]   # design dry-bulb, one number or a series
    power_price_per_mwh = 140.0
    distance_km = { paris = 20.0 }   # great-circle km to each user region
    [[facility.carriers]]            # fabricsim.topology.Carrier fields
    name = "fibre-a"
    capacity_gbps = 400.0
    availability = 0.997

    The scorecard uses the job, the background at ``[sweep].load`` and ``[sweep].samples`` /
    ``seed``; ``fabricsim compare`` ignores ``[[facility]]`` and ``[scorecard]``.

Sizes (``*_bytes``, and a fixed background size) are integers or strings with a unit:
``K``/``M``/``G``/``T`` and ``KiB``/``MiB``/``GiB``/``TiB`` are powers of 1024 (as nccl-tests'
``-b 8 -e 8G``), ``KB``/``MB``/``GB``/``TB`` powers of 1000. A ``graphml`` / ``gml`` design
reads ``path`` (relative to the scenario file) with :func:`networkx.read_graphml` /
:func:`networkx.read_gml`
(a builder's graph written with ``nx.write_graphml`` / ``nx.write_gml`` reads back to the same
fabric); a ``cable_list`` design reads a CSV cable list (:mod:`fabricsim.fabric.io`). The
graph must follow :mod:`fabricsim.fabric.schema`.

Errors
------
Every problem raises :class:`fabricsim.ScenarioError` with the file, the line, the key path and
what is wrong, e.g. ``scenario.toml:12: fabric[1].oversubscription: expected a number, got
'two'``; unknown keys list the valid ones. TOML itself does not report where a key is, so the
line is found by scanning the text: the first line that sets the key inside its table section
(headers ``[...]`` / ``[[...]]`` are tracked, including arrays of tables, dotted keys, inline
tables and one-table-per-line arrays). A key whose line cannot be told apart (for example one
inside a table written on the same line as another) gets the line of its enclosing key or
table header. A missing required table has no line; the message names the table.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

import networkx as nx

from fabricsim import _validate
from fabricsim import types as fabricsim_types
from fabricsim._validate import MAX_SIZE_BYTES, parse_size
from fabricsim.analysis.sweep import DesignSpec, Sweep, SweepAxisError
from fabricsim.analysis.training import TrainingJob
from fabricsim.cli import nccl_env
from fabricsim.cli.toml_lines import PathKey, format_path, key_lines
from fabricsim.exceptions import FabricError, ScenarioError, ScenarioNotFoundError
from fabricsim.fabric import builders
from fabricsim.fabric.compiled import ROUTING_POLICIES, Fabric
from fabricsim.fabric.io import read_cable_list
from fabricsim.types import Routing

if TYPE_CHECKING:
    from fabricsim.analysis.comparison import Comparison
from fabricsim.analysis.comparison import Design, compare
from fabricsim.analysis.edge import MAX_REQUESTS, POLICIES
from fabricsim.analysis.facility import PRESETS, Facility
from fabricsim.analysis.scorecard import scorecard
from fabricsim.analysis.tail import MAX_SAMPLES
from fabricsim.traffic.background import Background
from fabricsim.traffic.collectives import Collective, normalize_op

BUILDERS: dict[str, Callable[..., nx.Graph] | None] = {
    "leaf_spine": builders.leaf_spine,
    "fat_tree": builders.fat_tree,
    "rail_optimized": builders.rail_optimized,
    "graphml": None,
    "gml": None,
    "cable_list": None,
}
#: Designs read from a file (``path``, relative to the scenario): the reader and what it reads.
FILE_BUILDERS: dict[str, tuple[Callable[..., nx.Graph], str]] = {
    "graphml": (nx.read_graphml, "GraphML"),
    "gml": (nx.read_gml, "GML"),
    "cable_list": (read_cable_list, "cable list"),
}
TOP_KEYS = (
    "title",
    "description",
    "fabric",
    "job",
    "background",
    "sweep",
    "edge",
    "collective",
    "facility",
    "scorecard",
)
FABRIC_KEYS = ("name", "builder", "routing", "efficiency", "edge")
EDGE_SITES_KEYS = ("sites", "carriers", "border_gbps", "border_latency_us")
SWEEP_DEFAULTS = {
    "loads": (0.0, 0.25, 0.5, 0.75),
    "load": 0.5,
    "samples": 10,
    "seed": 0,
    "collective_size_bytes": 1 << 30,
}
#: What ``[collective]`` holds when the file leaves a key out. ``algorithm``, ``protocol`` and
#: ``channels`` are there only when the file gives them: without them ``fabricsim collective``
#: reads NCCL's environment variables (NCCL_ALGO, NCCL_PROTO, NCCL_MIN/MAX_NCHANNELS), then
#: lets the model pick.
COLLECTIVE_DEFAULTS = {
    "op": "all_reduce",
    "min_bytes": 8,
    "max_bytes": 1 << 30,
    "step_factor": 2,
}


# --------------------------------------------------------------------------- validation helpers


class _Ctx:
    """Where the scenario came from, to build error messages."""

    def __init__(self, source: str, text: str, base_dir: Path):
        self.source, self.base_dir = source, base_dir
        self.lines = key_lines(text)

    def line(self, path: PathKey) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    def error(self, path: PathKey, msg: str) -> ScenarioError:
        no = self.line(path)
        where = f"{self.source}:{no}" if no is not None else self.source
        return ScenarioError(f"{where}: {format_path(path)}: {msg}" if path else f"{where}: {msg}")

    def wrap(self, err: Exception, table: PathKey, given: Mapping) -> ScenarioError:
        """A library error raised while building ``table`` from the keys ``given``: point at the
        first given key the message names (else at the table)."""
        msg = str(err)
        names = sorted(given, key=len, reverse=True)
        hits = [
            (m.start(), k) for k in names if (m := re.search(rf"(?<![\w.]){re.escape(k)}\b", msg))
        ]
        if hits:
            _, k = min(hits)
            msg = re.sub(rf"^{re.escape(k)}\s*:\s*", "", msg)
            return self.error(table + (k,), msg)
        return self.error(table, msg)


def _short(n: int) -> str:
    """A possibly huge integer, short enough for a message (10**300 has 301 digits)."""
    return f"{n:,}" if abs(n) < 10**18 else f"{float(n):.3g}"


def _describe(v: Any) -> str:
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


class _Type:
    """A value type a key accepts; ``check`` returns the converted value or raises ValueError."""

    def __init__(self, name: str, check: Callable[[Any], Any]):
        self.name, self.check = name, check


def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(f"expected an integer, got {_describe(v)}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    raise ValueError(f"expected an integer, got {_describe(v)}")


def _num(v: Any) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, got {_describe(v)}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {_describe(v)}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {_describe(v)}")
    return v


def _list_of(item: Callable[[Any], Any], what: str, *, allow_single: bool = False):
    def check(v: Any) -> list:
        if allow_single and not isinstance(v, (list, dict)):
            v = [v]
        if not isinstance(v, list):
            raise ValueError(f"expected an array of {what}, got {_describe(v)}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except ValueError as e:
                raise ValueError(f"element {i}: {e}") from None
        return out

    return check


def _num_or_table(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _num(x) for k, x in v.items()}
    return _num(v)


def _bg_sizes(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return parse_size(v)
        except ValueError:
            return v  # a distribution name; Background checks it
    if isinstance(v, list):
        if len(v) != 2 or not all(isinstance(x, list) for x in v):
            raise ValueError(
                "expected a distribution name, a size, or [[values_bytes...], [cdf...]]"
            )
        return tuple(_list_of(_num, "numbers")(x) for x in v)
    return _num(v)


INT, NUM, STR, BOOL = (
    _Type("an integer", _int),
    _Type("a number", _num),
    _Type("a string", _str),
    _Type("true/false", _bool),
)
SIZE = _Type("a size", parse_size)
STRS = _Type("strings", _list_of(_str, "strings", allow_single=True))
NUMS = _Type("numbers", _list_of(_num, "numbers"))

ANY = _Type("a value", lambda v: v)  # the library checks it
_ANNOTATION_TYPES = {
    "int": INT,
    "float": NUM,
    "str": STR,
    "bool": BOOL,
    "Any": STR,
    **{name: STR for name in fabricsim_types.__all__},
}  # Literal names


def _annotation_type(annotation: Any) -> _Type:
    """The TOML value type of a keyword argument, from its (string) annotation: ``int``,
    ``float``, ``str``, ``bool``; ``Any`` (profiles) is a name; tuples, lists and sequences
    (GPU labels) are arrays of strings."""
    text = str(annotation).replace(" | None", "")
    if text.startswith(("tuple", "list", "Sequence", "typing.Sequence")):
        return STRS
    return _ANNOTATION_TYPES.get(text, ANY)


def _builder_schema(fn: Callable) -> dict[str, _Type]:
    return {
        name: _annotation_type(p.annotation)
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _fields_schema(cls: type) -> dict[str, _Type]:
    return {f.name: _annotation_type(f.type) for f in dataclasses.fields(cls)}


JOB_SCHEMA = _fields_schema(TrainingJob)
BACKGROUND_SCHEMA = {
    **{k: t for k, t in _fields_schema(Background).items() if k not in ("tenant",)},
    "sizes": _Type("sizes", _bg_sizes),
    "endpoints": STRS,
    "tenant": _Type("a table", lambda v: v),  # checked by _tenant
}
TENANT_SCHEMA = {
    "op": STR,
    "size_bytes": SIZE,
    "ranks": STRS,
    "algorithm": STR,
    "channels": INT,
    "profile": STR,
    "pipeline_chunks": INT,
    "max_flows": INT,
}
SWEEP_SCHEMA = {
    "loads": NUMS,
    "load": NUM,
    "samples": INT,
    "seed": INT,
    "collective_size_bytes": SIZE,
}
EDGE_SCHEMA = {
    "sites": STRS,
    "policies": STRS,
    "requests": INT,
    "slo_ms": NUM,
    "server_ms": NUM,
    "failed_carriers": STRS,
    "target": STR,
    "carrier_load": _Type("a number or a table", _num_or_table),
    "mtu_bytes": NUM,
}
COLLECTIVE_SCHEMA = {
    "op": STR,
    "algorithm": STR,
    "protocol": STR,
    "min_bytes": SIZE,
    "max_bytes": SIZE,
    "step_factor": INT,
    "channels": INT,
    "routing": STR,
    "design": STR,
}
CARRIER_SCHEMA = {
    "name": STR,
    "capacity_gbps": NUM,
    "availability": NUM,
    "latency_us_per_km": NUM,
    "base_latency_us": NUM,
    "jitter_us": NUM,
}
FACILITY_SCHEMA = {
    "name": STR,
    "preset": STR,
    "it_power_mw": NUM,
    "rack_power_kw": NUM,
    "cooling": STR,
    "ambient_c": _Type(
        "a number or an array of numbers",
        lambda v: _list_of(_num, "numbers")(v) if isinstance(v, list) else _num(v),
    ),
    "pue": NUM,
    "growth_mw": NUM,
    "growth_lead_months": NUM,
    "distance_km": _Type(
        "a table region = km",
        lambda v: (
            {str(k): _num(x) for k, x in v.items()} if isinstance(v, dict) else _table_expected(v)
        ),
    ),
    "route_factor": NUM,
    "power_price_per_mwh": NUM,
    "cooling_limit_kw": NUM,
    "server_power_kw": NUM,
}
SCORECARD_SCHEMA = {
    "regions": STRS,
    "slo_ms": NUM,
    "server_ms": NUM,
    "requests": INT,
    "design": STR,
}
SCORECARD_DEFAULTS = {"slo_ms": 100.0, "server_ms": 0.0, "requests": 20_000}
SITE_SCHEMA = {
    "name": STR,
    "carriers": STRS,
    "distance_km": _Type("a number or a table", _num_or_table),
    "capacity_gbps": NUM,
}


def _table_expected(v: Any) -> dict:
    raise ValueError(f"expected a table, got {_describe(v)}")


def _table(ctx: _Ctx, path: PathKey, value: Any, what: str = "a table") -> dict:
    if not isinstance(value, dict):
        hint = ""
        if isinstance(value, list) and path:
            hint = f" (write [{format_path(path)}], not [[{format_path(path)}]])"
        raise ctx.error(path, f"expected {what}, got {_describe(value)}{hint}")
    return value


def _check_keys(ctx: _Ctx, path: PathKey, table: Mapping, valid) -> None:
    valid = list(valid)
    for k in table:
        if k not in valid:
            close = difflib.get_close_matches(k, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ctx.error(path + (k,), f"unknown key{hint}; valid keys: {', '.join(valid)}")


def _typed(ctx: _Ctx, path: PathKey, table: Mapping, schema: Mapping[str, _Type], extra=()) -> dict:
    """Check ``table``'s keys and value types against ``schema``; return converted values."""
    _check_keys(ctx, path, table, [*schema, *extra])
    out = {}
    for k, v in table.items():
        if k in extra:
            continue
        try:
            out[k] = schema[k].check(v)
        except ValueError as e:
            raise ctx.error(path + (k,), str(e)) from None
    return out


def _build(ctx: _Ctx, path: PathKey, fn: Callable, kwargs: Mapping, given: Mapping | None = None):
    try:
        return fn(**kwargs)
    except (FabricError, ValueError, TypeError) as e:
        raise ctx.wrap(e, path, given if given is not None else kwargs) from None


# --------------------------------------------------------------------------- the scenario


@dataclass(frozen=True, eq=False)
class Scenario:
    """A loaded scenario: the compiled fabric designs and everything :func:`fabricsim.compare`
    needs. ``collective`` holds the defaults of ``fabricsim collective``."""

    fabrics: dict  # name -> Fabric, in file order
    routing: dict[str, Routing]  # name -> "ecmp" | "spray"
    job: TrainingJob
    background: Background
    loads: tuple
    load: float
    samples: int
    seed: int
    collective_size_bytes: int
    edge: Any = None  # dict of edge_latency kwargs, True, or None
    collective: dict = field(default_factory=dict)
    title: str = ""
    description: str = ""
    source: str = "<scenario>"
    specs: dict = field(default_factory=dict)  # name -> DesignSpec (how a builder made it)
    axes: dict = field(default_factory=dict)  # [sweep.grid] / [[sweep.axis]]: name -> values
    facilities: tuple = ()  # fabricsim.Facility records, in file order ([[facility]])
    scorecard: dict = field(default_factory=dict)  # [scorecard]: regions, slo_ms, ...

    @property
    def designs(self) -> list:
        """The designs as :class:`fabricsim.Design` records (name, fabric, routing)."""

        return [Design(name, fab, self.routing[name]) for name, fab in self.fabrics.items()]

    @property
    def sweep_loads(self) -> tuple:
        """The loads the erosion sweep runs at (``loads`` plus the headline ``load``), as
        :func:`fabricsim.compare` runs them."""
        return tuple(sorted(set(self.loads) | {self.load}))

    @property
    def scorecard_design(self) -> str:
        """The design the scorecard builds at every site: ``[scorecard].design`` or the
        first ``[[fabric]]``."""
        return self.scorecard.get("design") or next(iter(self.fabrics))

    def scorecard_kwargs(self, **overrides: Any) -> dict:
        """The keyword arguments :func:`run_scorecard` passes to :func:`fabricsim.scorecard`
        (the background at the headline load; none at load 0)."""
        bg = dataclasses.replace(self.background, load=self.load) if self.load > 0 else None
        kw = dict(
            regions=tuple(self.scorecard.get("regions", ())),
            slo_ms=self.scorecard.get("slo_ms", 100.0),
            server_ms=self.scorecard.get("server_ms", 0.0),
            requests=self.scorecard.get("requests", 20_000),
            background=bg,
            samples=self.samples,
            seed=self.seed,
        )
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return kw

    def compare_kwargs(self, **overrides: Any) -> dict:
        """The keyword arguments :func:`run_scenario` passes to :func:`fabricsim.compare`."""
        kw = dict(
            load=self.load,
            loads=self.sweep_loads,
            samples=self.samples,
            seed=self.seed,
            collective_size_bytes=self.collective_size_bytes,
            edge=self.edge,
        )
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return kw


def run_scenario(
    scenario: Scenario,
    *,
    samples: int | None = None,
    seed: int | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> Comparison:
    """Run ``scenario`` with :func:`fabricsim.compare` (``samples`` / ``seed`` override the
    file's). Returns the :class:`fabricsim.Comparison`; ``fabricsim compare`` prints it.

    >>> import fabricsim as fs
    >>> sc = fs.load_scenario(fs.cli.scenario.example_path())
    >>> list(sc.fabrics)[:2], sc.load
    (['rail-optimized 1:1', 'leaf-spine 1:1'], 0.3)
    >>> fs.load_scenario(sc.source.replace('example', 'exmple'))
    Traceback (most recent call last):
    ...
    fabricsim.exceptions.ScenarioNotFoundError: ...exmple.toml: no such scenario file
    """

    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario: expected a fabricsim.Scenario, got "
            f"{type(scenario).__name__} (load it with fabricsim.load_scenario)"
        )
    kw = scenario.compare_kwargs(samples=samples, seed=seed)
    return compare(
        scenario.designs,
        scenario.job,
        scenario.background,
        threads=threads,
        progress=progress,
        **kw,
    )


def example_path():
    """The built-in example scenario (a ``importlib.resources`` Traversable)."""
    from importlib import resources

    return resources.files("fabricsim.cli").joinpath("scenarios", "example.toml")


def example_text() -> str:
    return example_path().read_text(encoding="utf-8")


def scorecard_example_path():
    """The built-in site-scorecard scenario (``fabricsim scorecard`` without a file)."""
    from importlib import resources

    return resources.files("fabricsim.cli").joinpath("scenarios", "scorecard.toml")


def scorecard_example_text() -> str:
    return scorecard_example_path().read_text(encoding="utf-8")


#: Scenario files are read up to this size (bytes): a path to an endless file (``/dev/zero``)
#: or a huge one is refused instead of read until memory runs out.
MAX_SCENARIO_BYTES = 16 << 20


def _read_scenario_file(path: Path, label: str) -> str:
    import stat

    try:
        st = path.stat()
    except FileNotFoundError:
        raise ScenarioNotFoundError(f"{label}: no such scenario file") from None
    except OSError as e:
        raise ScenarioError(f"{label}: cannot read the scenario: {e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ScenarioError(f"{label}: is {kind}; a scenario is a TOML file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCENARIO_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"{label}: cannot read the scenario: {e}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"{label}: larger than {MAX_SCENARIO_BYTES >> 20} MiB; a scenario "
            "is a small TOML file (GraphML designs are read from their own path)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{label}: cannot read the scenario: not UTF-8 text ({e})") from None


def load_scenario(
    source: Any = None, *, text: str | None = None, name: str | None = None
) -> Scenario:
    """Read a scenario from a path (``str`` / ``os.PathLike``) or an ``importlib.resources``
    file, or from TOML ``text=``. A ``str`` is a path (``"a=b.toml"`` is a file name); for
    backward compatibility a ``str`` with a newline in it is still read as TOML text, with a
    DeprecationWarning. Files are read up to :data:`MAX_SCENARIO_BYTES` and must be regular
    files. ``name`` is what error messages call the source (default: the path, or
    ``<scenario>`` for text).

    Raises :class:`fabricsim.ScenarioError` naming the file, line and key at fault.
    """
    base = Path.cwd()
    if text is not None:
        if source is not None:
            raise ScenarioError("load_scenario: give a path or text=, not both")
        if not isinstance(text, str):
            raise ScenarioError(f"text: must be TOML text (a str), got {type(text).__name__}")
        label = name or "<scenario>"
    elif isinstance(source, str) and "\n" in source:
        import warnings

        warnings.warn(
            "load_scenario(text): pass TOML text as load_scenario(text=...); a "
            "positional str is a path",
            DeprecationWarning,
            stacklevel=2,
        )
        text, label = source, name or "<scenario>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or str(source)
        text = _read_scenario_file(path, label)
        base = path.resolve().parent
    elif hasattr(source, "read_text"):  # importlib.resources Traversable
        text, label = (
            source.read_text(encoding="utf-8"),
            name or str(getattr(source, "name", "<scenario>")),
        )
    else:
        raise ScenarioError(f"scenario: expected a path or text=, got {type(source).__name__}")
    return _parse(text, label, base)


def _parse(text: str, source: str, base_dir: Path) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", msg)
        if m:
            raise ScenarioError(
                f"{source}:{m.group(1)}: TOML syntax error: "
                f"{msg[: m.start()]} (column {m.group(2)})"
            ) from None
        raise ScenarioError(f"{source}: TOML syntax error: {msg}") from None
    ctx = _Ctx(source, text, base_dir)
    _check_keys(ctx, (), data, TOP_KEYS)
    for k in ("title", "description"):
        if k in data and not isinstance(data[k], str):
            raise ctx.error((k,), f"expected a string, got {_describe(data[k])}")

    if "job" not in data:
        raise ctx.error(
            ("job",),
            "missing: add a [job] table (fabricsim.TrainingJob keyword "
            f"arguments: {', '.join(JOB_SCHEMA)})",
        )
    job = _job(ctx, data["job"])

    if "fabric" not in data:
        raise ctx.error(("fabric",), "missing: add at least one [[fabric]] table (a design)")
    fabrics_raw = data["fabric"]
    if isinstance(fabrics_raw, dict):
        raise ctx.error(
            ("fabric",),
            "expected an array of tables: write [[fabric]] (one per design), not [fabric]",
        )
    if not isinstance(fabrics_raw, list) or not fabrics_raw:
        raise ctx.error(("fabric",), "expected at least one [[fabric]] table")
    fabrics: dict[str, Fabric] = {}
    routing: dict[str, fabricsim_types.Routing] = {}
    specs: dict[str, DesignSpec] = {}
    for i, raw in enumerate(fabrics_raw):
        name, fab, route, spec = _fabric(ctx, i, raw, job)
        if name in fabrics:
            raise ctx.error(("fabric", i, "name"), f"the design name {name!r} appears twice")
        fabrics[name] = fab
        routing[name] = _validate.choice("routing", route, ROUTING_POLICIES)
        if spec is not None:
            specs[name] = spec

    sweep: dict[str, Any] = dict(SWEEP_DEFAULTS)
    raw_sweep = _table(ctx, ("sweep",), data.get("sweep", {}))
    sweep.update(_typed(ctx, ("sweep",), raw_sweep, SWEEP_SCHEMA, extra=("grid", "axis")))
    axes, axis_paths = _sweep_axes(ctx, raw_sweep)
    background, bg_load = _background(ctx, data.get("background", {}))
    if bg_load is not None:
        if "load" in raw_sweep and raw_sweep["load"] != bg_load:
            raise ctx.error(
                ("background", "load"),
                f"conflicts with sweep.load = "
                f"{raw_sweep['load']}: give the headline "
                "load once, in [sweep]",
            )
        sweep["load"] = bg_load
    if job.ranks is not None:
        for name, fab in fabrics.items():
            bad = [r for r in job.ranks if r not in fab.gpus]
            if bad:
                raise ctx.error(("job", "ranks"), f"design {name!r} has no GPU {bad[0]!r}")
    if background.endpoints is not None:
        for name, fab in fabrics.items():
            unknown = [e for e in background.endpoints if e not in fab.graph]
            if unknown:
                raise ctx.error(
                    ("background", "endpoints"), f"design {name!r} has no node {unknown[0]!r}"
                )
    for i, x in enumerate(sweep["loads"]):
        if not 0 <= x < 1:
            raise ctx.error(
                ("sweep", "loads"),
                f"element {i}: a load must be in [0, 1) (a fraction of NIC capacity), got {x!r}",
            )
    if not sweep["loads"]:
        raise ctx.error(("sweep", "loads"), "give at least one load")
    if not 0 <= sweep["load"] < 1:
        raise ctx.error(("sweep", "load"), f"must be in [0, 1), got {sweep['load']!r}")

    if not 1 <= sweep["samples"] <= MAX_SAMPLES:
        raise ctx.error(
            ("sweep", "samples"), f"must be in 1..{MAX_SAMPLES:,}, got {sweep['samples']:,}"
        )
    if not 0 <= sweep["seed"] < 2**64:
        raise ctx.error(("sweep", "seed"), f"must be in [0, 2**64), got {sweep['seed']}")
    if not 1 <= sweep["collective_size_bytes"] <= MAX_SIZE_BYTES:
        raise ctx.error(
            ("sweep", "collective_size_bytes"),
            f"must be between 1 byte and 2**63 - 1 bytes, got "
            f"{_short(sweep['collective_size_bytes'])}",
        )

    edge: Any = None
    if "edge" in data:
        edge = _typed(ctx, ("edge",), _table(ctx, ("edge",), data["edge"]), EDGE_SCHEMA)
        if not any(
            builders.graph_record(f.graph, "edge_sites") is not None for f in fabrics.values()
        ):
            raise ctx.error(
                ("edge",),
                "no design has edge sites: add a [fabric.edge] table to at least one [[fabric]]",
            )
        _check_edge(ctx, edge, fabrics)
    elif any(builders.graph_record(f.graph, "edge_sites") is not None for f in fabrics.values()):
        edge = True

    coll = dict(COLLECTIVE_DEFAULTS)
    coll.update(
        _typed(
            ctx,
            ("collective",),
            _table(ctx, ("collective",), data.get("collective", {})),
            COLLECTIVE_SCHEMA,
        )
    )
    _check_collective(ctx, coll, fabrics)

    facilities, card = _facilities(ctx, data, job, fabrics)

    sc = Scenario(
        facilities=facilities,
        scorecard=card,
        fabrics=fabrics,
        routing=routing,
        job=job,
        background=background,
        loads=tuple(float(x) for x in sweep["loads"]),
        load=float(sweep["load"]),
        samples=int(sweep["samples"]),
        seed=int(sweep["seed"]),
        collective_size_bytes=int(sweep["collective_size_bytes"]),
        edge=edge,
        collective=coll,
        title=data.get("title", ""),
        description=data.get("description", ""),
        source=source,
        specs=specs,
        axes=axes,
    )
    if axes:  # every axis checked now, before anything runs
        try:
            Sweep(sc)
        except SweepAxisError as e:
            raise ctx.error(axis_paths.get(e.axis, ("sweep",)), e.detail) from None
    return sc


def _sweep_axes(ctx: _Ctx, raw_sweep: Mapping) -> tuple[dict, dict]:
    """``[sweep.grid]`` (name = [values]; a nested table qualifies: ``[sweep.grid.job]``) and
    ``[[sweep.axis]]`` (name, values) as one ordered mapping, with each axis's key path."""
    axes: dict[str, list] = {}
    paths: dict[str, PathKey] = {}

    def add(name: str, values: Any, path: PathKey) -> None:
        if name in axes:
            raise ctx.error(path, f"the axis {name!r} is given twice")
        if not isinstance(values, list):
            raise ctx.error(path, f"expected an array of values, got {_describe(values)}")
        fld = name.rsplit(".", 1)[-1]
        conv = parse_size if fld.endswith("_bytes") else _bg_sizes if fld == "sizes" else None
        if conv is not None:
            out = []
            for i, v in enumerate(values):
                try:
                    out.append(conv(v))
                except ValueError as e:
                    raise ctx.error(path, f"element {i}: {e}") from None
            values = out
        axes[name], paths[name] = values, path

    if "grid" in raw_sweep:
        grid = _table(ctx, ("sweep", "grid"), raw_sweep["grid"])
        for k, v in grid.items():
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    add(f"{k}.{k2}", v2, ("sweep", "grid", k, k2))
            else:
                add(k, v, ("sweep", "grid", k))
    if "axis" in raw_sweep:
        items = raw_sweep["axis"]
        if not isinstance(items, list):
            raise ctx.error(
                ("sweep", "axis"),
                f"expected [[sweep.axis]] tables (name, values), got {_describe(items)}",
            )
        for j, item in enumerate(items):
            path = ("sweep", "axis", j)
            item = _table(ctx, path, item)
            _check_keys(ctx, path, item, ("name", "values"))
            for k in ("name", "values"):
                if k not in item:
                    raise ctx.error(path, f"missing key {k!r} (an axis has a name and values)")
            if not isinstance(item["name"], str):
                raise ctx.error(
                    path + ("name",), f"expected a string, got {_describe(item['name'])}"
                )
            add(item["name"], item["values"], path + ("values",))
            paths[item["name"]] = path + ("name",)
    return axes, paths


def _job(ctx: _Ctx, raw: Any) -> TrainingJob:
    path = ("job",)
    kwargs = _typed(ctx, path, _table(ctx, path, raw), JOB_SCHEMA)
    required = [f.name for f in dataclasses.fields(TrainingJob) if f.default is dataclasses.MISSING]
    missing = [k for k in required if k not in kwargs]
    if missing:
        raise ctx.error(path, f"missing key {missing[0]!r} (required: {', '.join(required)})")
    return _build(ctx, path, TrainingJob, kwargs)


def _fabric(
    ctx: _Ctx, i: int, raw: Any, job: TrainingJob
) -> tuple[str, Fabric, str, DesignSpec | None]:
    path = ("fabric", i)
    raw = _table(ctx, path, raw)
    if "builder" not in raw:
        raise ctx.error(path, f"missing key 'builder' (one of {', '.join(BUILDERS)})")
    builder = raw["builder"]
    if not isinstance(builder, str) or builder not in BUILDERS:
        close = difflib.get_close_matches(str(builder), list(BUILDERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ctx.error(
            path + ("builder",), f"unknown builder {builder!r}{hint}; valid: {', '.join(BUILDERS)}"
        )
    fn = BUILDERS[builder]
    schema = {"path": STR, "profile": STR} if fn is None else _builder_schema(fn)
    common = {
        "name": STR,
        "builder": STR,
        "routing": STR,
        "efficiency": _Type("a number or a table", _num_or_table),
    }
    kwargs = _typed(ctx, path, raw, {**schema, **common}, extra=("edge",))
    if "name" not in kwargs:
        raise ctx.error(path, "missing key 'name' (what the comparison calls this design)")
    name = kwargs.pop("name")
    if not name.strip():
        raise ctx.error(
            path + ("name",),
            f"must be a non-empty string (what the comparison calls this design), got {name!r}",
        )
    kwargs.pop("builder")
    route = kwargs.pop("routing", "ecmp")
    if route not in ("ecmp", "spray"):
        raise ctx.error(path + ("routing",), f"unknown routing {route!r}; valid: ecmp, spray")
    efficiency = kwargs.pop("efficiency", None)
    if fn is None:
        reader, what = FILE_BUILDERS[builder]
        if "path" not in kwargs:
            raise ctx.error(path, f"missing key 'path' (the {what} file of builder = {builder!r})")
        gpath = ctx.base_dir / kwargs["path"]
        if not gpath.is_file():
            raise ctx.error(path + ("path",), f"no such file: {gpath}")
        try:
            G = reader(gpath)
        except FabricError as e:
            raise ctx.error(path + ("path",), str(e)) from None
        except Exception as e:  # networkx raises several parser errors
            raise ctx.error(path + ("path",), f"cannot read {what} {gpath}: {e}") from None
    else:
        G = _build(ctx, path, fn, kwargs)
    edge_kwargs = None
    if "edge" in raw:
        G, edge_kwargs = _edge_sites(ctx, path + ("edge",), raw["edge"], G)
    spec = None if fn is None else DesignSpec(builder, dict(kwargs), edge_kwargs, efficiency)
    profile = kwargs.get("profile", job.profile)
    try:
        fab = Fabric.from_networkx(G, efficiency=efficiency, profile=profile)
    except (FabricError, ValueError, TypeError) as e:
        raise ctx.wrap(
            e, path, {k: v for k, v in raw.items() if k in ("efficiency", "profile")}
        ) from None
    if len(fab.gpus) < job.gpus:
        raise ctx.error(
            path,
            f"design {name!r} has {len(fab.gpus)} GPUs but the job needs "
            f"{job.gpus} (data_parallel x tensor_parallel x "
            "pipeline_parallel)",
        )
    return name, fab, route, spec


def _edge_sites(ctx: _Ctx, path: PathKey, raw: Any, G: nx.Graph) -> tuple[nx.Graph, dict]:
    raw = _table(ctx, path, raw)
    _check_keys(ctx, path, raw, EDGE_SITES_KEYS)
    kwargs: dict[str, Any] = {}
    for key, schema in (("carriers", CARRIER_SCHEMA), ("sites", SITE_SCHEMA)):
        items = raw.get(key)
        if items is None:
            raise ctx.error(path, f"missing [[{format_path(path + (key,))}]] tables")
        if not isinstance(items, list):
            raise ctx.error(path + (key,), f"expected an array of tables, got {_describe(items)}")
        recs = []
        for j, item in enumerate(items):
            item = _table(ctx, path + (key, j), item)
            recs.append(_typed(ctx, path + (key, j), item, schema))
        kwargs[key] = recs
    for key in ("border_gbps", "border_latency_us"):
        if key in raw:
            try:
                kwargs[key] = _num(raw[key])
            except ValueError as e:
                raise ctx.error(path + (key,), str(e)) from None
    try:
        return builders.edge_sites(G, **kwargs), kwargs
    except (FabricError, ValueError, TypeError) as e:
        msg = str(e)
        # "sites[0] ('paris').carriers: unknown carrier ..." -> that element's key
        m = re.match(
            r"(carriers|sites)\[(\d+)\](?: \('[^']*'\))?(?:\.(\w+))?(?:\[[^\]]*\])?"
            r"\s*:?\s*",
            msg,
        )
        if m:
            key, j, fld = m.group(1), int(m.group(2)), m.group(3)
            raise ctx.error(path + (key, j) + ((fld,) if fld else ()), msg[m.end() :]) from None
        raise ctx.wrap(e, path, raw) from None


def _background(ctx: _Ctx, raw: Any) -> tuple[Background, float | None]:
    path = ("background",)
    kwargs = _typed(ctx, path, _table(ctx, path, raw), BACKGROUND_SCHEMA)
    load = kwargs.pop("load", None)
    if "tenant" in kwargs:
        traw = _table(ctx, path + ("tenant",), kwargs["tenant"])
        tk = _typed(ctx, path + ("tenant",), traw, TENANT_SCHEMA)
        if "op" not in tk or "size_bytes" not in tk:
            raise ctx.error(
                path + ("tenant",),
                "needs op and size_bytes (a fabricsim.Collective: the other tenant's job)",
            )
        kwargs["tenant"] = _build(ctx, path + ("tenant",), Collective, tk)
    if load is not None and not 0 <= load < 1:
        raise ctx.error(path + ("load",), f"must be in [0, 1), got {load!r}")
    return _build(ctx, path, Background, kwargs, raw), load


def _facilities(ctx: _Ctx, data: Mapping, job: TrainingJob, fabrics: dict) -> tuple[tuple, dict]:
    """The ``[[facility]]`` tables as :class:`fabricsim.Facility` records and the
    ``[scorecard]`` settings (defaults filled in, regions checked against every facility)."""

    raw_list = data.get("facility", [])
    if isinstance(raw_list, dict):
        raise ctx.error(
            ("facility",),
            "expected an array of tables: write [[facility]] (one per site), not [facility]",
        )
    if not isinstance(raw_list, list):
        raise ctx.error(("facility",), f"expected [[facility]] tables, got {_describe(raw_list)}")
    out: list = []
    for i, raw in enumerate(raw_list):
        path = ("facility", i)
        raw = _table(ctx, path, raw)
        kwargs = _typed(ctx, path, raw, FACILITY_SCHEMA, extra=("carriers",))
        if "name" not in kwargs:
            raise ctx.error(path, "missing key 'name' (what the scorecard calls this site)")
        if "carriers" in raw:
            items = raw["carriers"]
            if not isinstance(items, list):
                raise ctx.error(
                    path + ("carriers",),
                    f"expected an array of tables ([[facility.carriers]]), got {_describe(items)}",
                )
            kwargs["carriers"] = [
                _typed(
                    ctx,
                    path + ("carriers", j),
                    _table(ctx, path + ("carriers", j), item),
                    CARRIER_SCHEMA,
                )
                for j, item in enumerate(items)
            ]
        preset = kwargs.pop("preset", None)
        if preset is None:
            missing = [k for k in ("it_power_mw", "rack_power_kw", "cooling") if k not in kwargs]
            if missing:
                raise ctx.error(
                    path,
                    f"missing key {missing[0]!r} (or start from a preset: "
                    f"preset = one of {', '.join(_presets())})",
                )
            fn: Callable = Facility
        else:
            if preset not in _presets():
                close = difflib.get_close_matches(preset, _presets(), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ctx.error(
                    path + ("preset",),
                    f"unknown preset {preset!r}{hint}; valid: {', '.join(_presets())}",
                )

            fn = functools.partial(Facility.preset, preset)
        given = {k: v for k, v in raw.items() if k != "carriers"}
        try:
            fac = fn(**kwargs)
            fac.clock_fraction(job.profile)  # a rack below one server at minimum cap
        except (FabricError, ValueError, TypeError) as e:
            msg = str(e)
            m = re.match(r"carriers\[(\d+)\](?:\.(\w+))?\s*:?\s*", msg)
            if m:
                j, fld = int(m.group(1)), m.group(2)
                raise ctx.error(
                    path + ("carriers", j) + ((fld,) if fld else ()), msg[m.end() :]
                ) from None
            raise ctx.wrap(e, path, given) from None
        if any(f.name == fac.name for f in out):
            raise ctx.error(path + ("name",), f"the site name {fac.name!r} appears twice")
        out.append(fac)

    card: dict[str, Any] = dict(SCORECARD_DEFAULTS)
    raw_card = _table(ctx, ("scorecard",), data.get("scorecard", {}))
    if raw_card and not out:
        raise ctx.error(("scorecard",), "no [[facility]] tables to score")
    card.update(_typed(ctx, ("scorecard",), raw_card, SCORECARD_SCHEMA))
    if "regions" not in card:
        card["regions"] = list(dict.fromkeys(g for f in out for g in f.distance_km))
    for g in card["regions"]:
        for i, f in enumerate(out):
            if g not in f.distance_km:
                where = (
                    ("facility", i, "distance_km")
                    if "distance_km" in raw_list[i]
                    else ("facility", i)
                )
                raise ctx.error(
                    where,
                    f"site {f.name!r} has no distance to region {g!r} "
                    "(every site needs one per region in [scorecard].regions)",
                )
    for k in ("slo_ms",):
        if not card[k] > 0:
            raise ctx.error(("scorecard", k), f"must be > 0, got {card[k]!r}")
    if card["server_ms"] < 0:
        raise ctx.error(("scorecard", "server_ms"), f"must be >= 0, got {card['server_ms']!r}")
    if card["requests"] < 1:
        raise ctx.error(("scorecard", "requests"), f"must be >= 1, got {card['requests']!r}")
    if card.get("design") is not None and card["design"] not in fabrics:
        raise ctx.error(
            ("scorecard", "design"),
            f"no design named {card['design']!r}; designs: {', '.join(fabrics)}",
        )
    return tuple(out), card


def _presets() -> list[str]:

    return list(PRESETS)


def run_scorecard(
    scenario: Scenario,
    *,
    samples: int | None = None,
    seed: int | None = None,
    threads: int | None = None,
    progress: bool = False,
):
    """Run the scenario's ``[[facility]]`` sites through :func:`fabricsim.scorecard` on its
    scorecard design (``[scorecard].design``, default the first ``[[fabric]]``), its job and
    its background at the headline load (``[sweep].load``). ``fabricsim scorecard`` prints it.

    >>> import fabricsim as fs
    >>> sc = fs.load_scenario(fs.cli.scenario.scorecard_example_path())
    >>> [f.name for f in sc.facilities]
    ['metro-colo', 'liquid-campus', 'immersion-one-carrier']
    """

    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario: expected a fabricsim.Scenario, got "
            f"{type(scenario).__name__} (load it with fabricsim.load_scenario)"
        )
    if not scenario.facilities:
        raise ScenarioError(
            f"{scenario.source}: no [[facility]] tables: the scorecard needs "
            "at least one site (fabricsim example --scorecard shows the format)"
        )
    return scorecard(
        list(scenario.facilities),
        scenario.fabrics[scenario.scorecard_design],
        scenario.job,
        **scenario.scorecard_kwargs(samples=samples, seed=seed),
        threads=threads,
        progress=progress,
        routing=scenario.routing[scenario.scorecard_design],
    )


def _check_edge(ctx: _Ctx, edge: dict, fabrics: dict) -> None:

    if "requests" in edge and not 1 <= edge["requests"] <= MAX_REQUESTS:
        raise ctx.error(
            ("edge", "requests"), f"must be in 1..{MAX_REQUESTS:,}, got {_short(edge['requests'])}"
        )
    for p in edge.get("policies", ()):
        if p not in POLICIES:
            raise ctx.error(
                ("edge", "policies"), f"unknown policy {p!r}; valid: {', '.join(POLICIES)}"
            )
    for name, fab in fabrics.items():
        info = builders.graph_record(fab.graph, "edge_sites")
        if info is None:
            continue
        sites = [s["name"] for s in info["sites"]]
        carriers = [c["name"] for c in info["carriers"]]
        for key, valid in (("sites", sites), ("failed_carriers", carriers)):
            for s in edge.get(key, ()):
                if s not in valid:
                    what = "site" if key == "sites" else "carrier"
                    raise ctx.error(
                        ("edge", key),
                        f"design {name!r} has no {what} {s!r}; it has: {', '.join(valid)}",
                    )
        target = edge.get("target")
        if target is not None and target not in fab.gpus:
            raise ctx.error(("edge", "target"), f"design {name!r} has no GPU {target!r}")


def _check_collective(ctx: _Ctx, coll: dict, fabrics: dict) -> None:

    path = ("collective",)
    try:
        coll["op"] = normalize_op(coll["op"])
    except FabricError as e:
        raise ctx.error(path + ("op",), str(e)) from None
    for key, parse in (
        ("algorithm", nccl_env.algorithm_name),
        ("protocol", nccl_env.protocol_name),
    ):
        if key in coll:
            try:
                coll[key] = parse(coll[key])
            except ValueError as e:
                raise ctx.error(path + (key,), str(e)) from None
    if "channels" in coll and not 1 <= coll["channels"] <= nccl_env.MAX_CHANNELS:
        raise ctx.error(
            path + ("channels",),
            f"must be an integer in 1..{nccl_env.MAX_CHANNELS} (NCCL's MAXCHANNELS), "
            f"got {coll['channels']}",
        )
    if coll.get("design") is not None and coll["design"] not in fabrics:
        raise ctx.error(
            path + ("design",), f"no design named {coll['design']!r}; designs: {', '.join(fabrics)}"
        )
    if coll.get("routing", "ecmp") not in ("ecmp", "spray"):
        raise ctx.error(
            path + ("routing",), f"unknown routing {coll['routing']!r}; valid: ecmp, spray"
        )
    for k in ("min_bytes", "max_bytes"):
        if not 1 <= coll[k] <= MAX_SIZE_BYTES:
            raise ctx.error(
                path + (k,), f"must be between 1 byte and 2**63 - 1 bytes, got {_short(coll[k])}"
            )
    if coll["max_bytes"] < coll["min_bytes"]:
        raise ctx.error(
            path + ("max_bytes",),
            f"({coll['max_bytes']}) must be >= min_bytes ({coll['min_bytes']})",
        )
    if coll["step_factor"] < 2:
        raise ctx.error(path + ("step_factor",), f"must be >= 2, got {coll['step_factor']}")


__all__ = [
    "Scenario",
    "load_scenario",
    "run_scenario",
    "run_scorecard",
    "example_path",
    "example_text",
    "scorecard_example_path",
    "scorecard_example_text",
    "parse_size",
    "key_lines",
]
