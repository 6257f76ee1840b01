"""Carrier-diverse edge paths: request latency, SLO attainment and availability per edge site.

Works on fabrics built with :func:`fabricsim.edge_sites`, whose ``G.graph["edge_sites"]`` records
the
carriers (capacity, availability, jitter), the sites (the carriers each is homed on, in order)
and the labels of the ``site/<name>``, ``pop/<carrier>`` and ``border`` nodes.

Model of one request from a site, served through carrier ``c``
---------------------------------------------------------------

* **Base latency**: the round trip site -> ``pop/c`` -> border -> fabric -> ``target`` GPU and
  back: the propagation latency of the routed path there (``Fabric.route(site, target,
  via=pop)``) plus that of the path back (``Fabric.route(target, site, via=pop)``), i.e.
  2 x the one-way latency on the symmetric fabrics the builders make. The site's circuit
  over ``c`` has ``base_latency_us + 5 µs/km x distance_km`` (light in fibre, refractive index
  about 1.47), so distance costs 10 µs of round trip per km.
* **Jitter**: each traversal of the site's circuit adds an exponential delay with mean the
  carrier's ``jitter_us`` (one draw each way, independent). The exponential is the
  maximum-entropy law for a non-negative delay of known mean and has the heavy-ish right tail
  WAN delay variation shows; a carrier with ``jitter_us = 0`` adds none.
* **Queueing** (only with ``carrier_load``): each direction of the circuit is an M/M/1 queue
  of ``mtu_bytes`` packets at utilisation ``carrier_load`` over the circuit's usable capacity,
  exactly as in :mod:`fabricsim.analysis.queueing` (Kleinrock): wait 0 with probability ``1 - rho``,
  else exponential with mean ``(mtu / C) / (1 - rho)``.
* ``server_ms`` is added to every served request. Request and response sizes are not
  modelled (serialisation of a small RPC on a WAN circuit is negligible next to distance).

Carrier state: per request every carrier is up with probability its own ``availability``,
independently of the other carriers and of the other requests (each carrier is one
shared-risk group: every site circuit over it and its hand-off share one draw per request;
availability is the carrier's, not a product over its edges). Carriers named in
``failed_carriers`` are always down; so are carriers a site cannot use on this fabric (its
circuit or the carrier's PoP was removed with :func:`fabricsim.analysis.failures.fail`, or no route
through the PoP reaches the target). The same carrier states and jitter draws are used for
every policy of a site (common random numbers), so the policies are compared on equal terms.

Policies (each request goes to one carrier that is up; with none up it fails):

* ``primary_backup``: the site's first carrier (``Site.carriers`` order); if down, the next up
  one in that order.
* ``split``: an up carrier drawn with probability proportional to the capacity of the site's
  circuit over it.
* ``lowest_latency``: the up carrier with the lowest base round trip.

A failed request counts as outside the SLO, has infinite latency and is left out of the
latency quantiles. ``availability`` = the simulated fraction of requests served;
``availability_expected`` = ``1 - prod(1 - a_i)`` over the site's usable carriers (``a`` for a
single-homed site; 0 when none is usable), the same for every policy since every policy fails
over to any up carrier.

>>> import fabricsim as fs
>>> G = fs.edge_sites(
...     fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1, gpus_per_host=1),
...     carriers=[{"name": "a", "capacity_gbps": 100.0, "availability": 0.99},
...               {"name": "b", "capacity_gbps": 100.0, "availability": 0.98}],
...     sites=[{"name": "lyon", "carriers": ["a", "b"], "distance_km": 400.0,
...             "capacity_gbps": 10.0},
...            {"name": "nice", "carriers": ["a"], "distance_km": 400.0, "capacity_gbps": 10.0}])
>>> rep = edge_latency(fs.Fabric.from_networkx(G), policies=("primary_backup",))
>>> [(r["site"], round(r["p50_ms"], 4), r["availability_expected"]) for r in rep.rows]
[('lyon', 4.0064, 0.9998), ('nice', 4.0064, 0.99)]
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabricsim import _memory, _validate
from fabricsim._display import html_table, pandas
from fabricsim.analysis.queueing import mm1_mean_wait_s, sample_mm1_wait_s
from fabricsim.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    UnknownNameError,
    UnreachableError,
)
from fabricsim.fabric import schema
from fabricsim.fabric.compiled import Fabric
from fabricsim.types import EdgePolicy

POLICIES: tuple[EdgePolicy, ...] = ("primary_backup", "split", "lowest_latency")
#: Requests per site, at most (10**8 tried to allocate tens of GiB).
MAX_REQUESTS = 10_000_000
COLUMNS = (
    "site",
    "policy",
    "carriers",
    "down_carriers",
    "requests",
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "within_slo",
    "availability",
    "availability_expected",
    "carrier_share",
)


@dataclass(frozen=True)
class CarrierPath:
    """One site's path through one carrier: whether it is usable, its base round trip (ms)
    and the quantities its latency model uses."""

    carrier: str
    usable: bool
    reason: str
    availability: float
    base_rtt_ms: float
    jitter_us: float
    circuit_gbps: float
    utilization: float
    mean_queueing_ms: float


@dataclass(frozen=True, eq=False)
class EdgeReport:
    """Rows per site x policy, the per-site carrier paths, and the raw request latencies
    (ms; ``inf`` for a failed request) per ``(site, policy)``.

    Each row is a dict with the keys :data:`COLUMNS`: ``carriers`` (the site's, in order),
    ``down_carriers`` (down for the whole run: in ``failed_carriers`` or not usable on this
    fabric), ``requests``, ``p50_ms`` / ``p99_ms`` / ``mean_ms`` over the served requests
    (NaN if none was served), ``within_slo`` and ``availability`` (fractions of all
    requests), ``availability_expected`` and ``carrier_share`` (fraction of all requests each
    carrier served)."""

    rows: tuple[dict, ...]
    paths: dict = field(repr=False)
    samples_ms: dict = field(repr=False)
    slo_ms: float = 100.0
    target: Hashable = None

    def row(self, site: str, policy: str) -> dict:
        """The row of one site and policy (UnknownNameError listing the valid ones)."""
        for r in self.rows:
            if r["site"] == site and r["policy"] == policy:
                return r
        sites = list(dict.fromkeys(r["site"] for r in self.rows))
        policies = list(dict.fromkeys(r["policy"] for r in self.rows))
        raise UnknownNameError(
            f"no row for site {site!r} and policy {policy!r}; sites: {', '.join(sites)}; "
            f"policies: {', '.join(policies)}"
        )

    def __repr__(self) -> str:
        worst = min((r["availability"] for r in self.rows), default=math.nan)
        return (
            f"<EdgeReport {len(self.rows)} site x policy rows, SLO {self.slo_ms:g} ms, "
            f"lowest availability {worst:.4%}>"
        )

    def _repr_html_(self) -> str:

        cols = (
            "site",
            "policy",
            "carriers",
            "p50 (ms)",
            "p99 (ms)",
            "within SLO",
            "availability",
            "expected",
        )
        rows = [
            (
                r["site"],
                r["policy"],
                "+".join(r["carriers"]),
                r["p50_ms"],
                r["p99_ms"],
                f"{r['within_slo']:.3%}",
                f"{r['availability']:.4%}",
                f"{r['availability_expected']:.4%}",
            )
            for r in self.rows
        ]
        return html_table(cols, rows, caption=repr(self))

    def to_pandas(self) -> Any:
        """One row per site and policy (the :data:`COLUMNS`)."""

        return pandas().DataFrame([dict(r) for r in self.rows], columns=list(COLUMNS))

    def table(self) -> str:
        """A fixed-width text table, one line per site and policy."""
        head = (
            "site",
            "policy",
            "carriers",
            "p50_ms",
            "p99_ms",
            f"<= {self.slo_ms:g} ms",
            "avail",
            "avail_expected",
        )
        lines = []
        for r in self.rows:
            lines.append(
                (
                    str(r["site"]),
                    r["policy"],
                    "+".join(r["carriers"])
                    + (
                        ""
                        if not r["down_carriers"]
                        else " (down: " + "+".join(r["down_carriers"]) + ")"
                    ),
                    _fmt(r["p50_ms"], 3),
                    _fmt(r["p99_ms"], 3),
                    f"{r['within_slo'] * 100:.3f}%",
                    f"{r['availability'] * 100:.4f}%",
                    f"{r['availability_expected'] * 100:.4f}%",
                )
            )
        widths = [
            max(len(h), *(len(x[i]) for x in lines)) if lines else len(h)
            for i, h in enumerate(head)
        ]
        left = {0, 1, 2}

        def render(cells: Sequence[str]) -> str:
            return "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        return "\n".join([render(head), *(render(x) for x in lines)])

    def to_csv(self, path: Any = None) -> str:
        """The rows as CSV (lists joined with ``+``, shares as ``carrier=fraction``); written to
        ``path`` too if given. Returns the text."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in self.rows:
            out = []
            for k in COLUMNS:
                v = r[k]
                if k in ("carriers", "down_carriers"):
                    v = "+".join(v)
                elif k == "carrier_share":
                    v = ";".join(f"{c}={s:.6g}" for c, s in v.items())
                elif isinstance(v, float):
                    v = "" if math.isnan(v) else repr(v)
                out.append(v)
            w.writerow(out)
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return text

    def to_json(self, path: Any = None) -> str:
        """The rows (and the SLO and target) as JSON, NaN as ``null``; written to ``path``
        too if given. Returns the text."""
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in self.rows
        ]
        text = json.dumps(
            {"slo_ms": self.slo_ms, "target": str(self.target), "rows": rows}, indent=2
        )
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text


def _fmt(x: float, digits: int) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


# ---------------------------------------------------------------------------- arguments


def _edge_info(fabric: Fabric) -> dict:
    info = schema.graph_record(fabric.graph, "edge_sites")
    if not isinstance(info, Mapping) or "sites" not in info or "carriers" not in info:
        raise InvalidArgumentError(
            "fabric: not an edge_sites fabric (its graph has no G.graph['edge_sites'] record of "
            "sites and carriers); build it with fs.edge_sites(fabric_graph, sites=[...], "
            "carriers=[...]) and compile that with fs.Fabric.from_networkx"
        )
    return dict(info)


def _names(what: str, value: Any) -> list:
    if isinstance(value, (str, bytes)):
        return [value]
    if not isinstance(value, Iterable):
        raise InvalidTypeError(f"{what}: expected a list of names, got {value!r}")
    return list(value)


def _carrier_loads(value: Any, carriers: list[str]) -> dict[str, float]:
    if value is None:
        return dict.fromkeys(carriers, 0.0)
    if isinstance(value, Mapping):
        out = dict.fromkeys(carriers, 0.0)
        for c, rho in value.items():
            if c not in out:
                raise UnknownNameError(
                    f"carrier_load: unknown carrier {c!r}; known carriers: {', '.join(carriers)}"
                )
            out[c] = _load(f"carrier_load[{c!r}]", rho)
        return out
    rho = _load("carrier_load", value)
    return dict.fromkeys(carriers, rho)


def _load(what: str, rho: Any) -> float:
    x = _validate.positive(what, rho, allow_zero=True)
    if x >= 1:
        raise InvalidArgumentError(
            f"{what}: must be an M/M/1 utilisation < 1 (at >= 1 the queue grows without bound), "
            f"got {rho!r}"
        )
    return x


# ---------------------------------------------------------------------------- the model


def _carrier_path(
    fabric: Fabric,
    site_node: Hashable,
    pop: Hashable,
    carrier: dict,
    target: Hashable,
    seed: int,
    rho: float,
    mtu_bytes: float,
    down: bool,
) -> CarrierPath:
    name = carrier["name"]
    G = fabric.graph

    def unusable(reason: str) -> CarrierPath:
        return CarrierPath(
            name,
            False,
            reason,
            float(carrier["availability"]),
            math.inf,
            float(carrier["jitter_us"]),
            0.0,
            rho,
            0.0,
        )

    if down:
        return unusable("failed_carriers")
    if pop not in G or site_node not in G or not G.has_edge(site_node, pop):
        return unusable("circuit or PoP not in the fabric (failed)")
    try:
        # Hop-count routing through the PoP keeps the request on this carrier's own circuit
        # (the latency metric could detour through another carrier's faster PoP).
        there = fabric.route(site_node, target, via=pop, seed=seed, metric="hops")
        back = fabric.route(target, site_node, via=pop, seed=seed, metric="hops")
    except UnreachableError as e:
        return unusable(f"unreachable: {e}")
    lid = fabric.links_of_edge(site_node, pop)
    usable_Bps = fabric.usable_Bps[list(lid)]
    queue_ms = float(np.sum(mm1_mean_wait_s(rho, mtu_bytes / usable_Bps))) * 1e3
    return CarrierPath(
        carrier=name,
        usable=True,
        reason="",
        availability=float(carrier["availability"]),
        base_rtt_ms=(there.latency_us + back.latency_us) * 1e-3,
        jitter_us=float(carrier["jitter_us"]),
        circuit_gbps=float(G.edges[site_node, pop]["capacity_gbps"]),
        utilization=rho,
        mean_queueing_ms=queue_ms,
    )


def edge_latency(
    fabric: Fabric,
    *,
    sites: Iterable[str] | None = None,
    policies: Sequence[EdgePolicy] = POLICIES,
    requests: int = 20_000,
    slo_ms: float = 100.0,
    server_ms: float = 0.0,
    failed_carriers: Iterable[str] = (),
    target: Hashable | None = None,
    seed: int = 0,
    carrier_load: float | Mapping[str, float] | None = None,
    mtu_bytes: float = 4096,
) -> EdgeReport:
    """Request latency, SLO attainment and availability for every site and policy (see the
    module docs for the model).

    ``sites``: site names (default: every site, in build order). ``target``: the GPU the
    requests go to (default: the fabric's first GPU). ``carrier_load``: utilisation of every
    site circuit, one number or ``{carrier: rho}``. ``requests`` Monte Carlo requests per site
    with a numpy Generator seeded by ``seed`` (each site has its own stream, so a site's
    numbers do not depend on which other sites are asked for).

    Raises InvalidArgumentError if the fabric was not built with ``fs.edge_sites``,
    UnknownNameError listing the valid names for an unknown site, carrier or policy.
    """
    if isinstance(fabric, nx.Graph):
        raise InvalidTypeError(
            "fabric: expected a fabricsim.Fabric; compile the graph first with "
            "fs.Fabric.from_networkx(G)"
        )
    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    info = _edge_info(fabric)
    all_sites = [s["name"] for s in info["sites"]]
    carriers = {c["name"]: c for c in info["carriers"]}
    site_recs = {s["name"]: s for s in info["sites"]}

    chosen = all_sites if sites is None else _names("sites", sites)
    for s in chosen:
        if s not in site_recs:
            raise UnknownNameError(
                f"sites: unknown site {s!r}; valid sites: {', '.join(all_sites)}"
            )
    if not chosen:
        raise InvalidArgumentError("sites: give at least one site")
    policies = tuple(_names("policies", (policies,) if isinstance(policies, str) else policies))
    if not policies:
        raise InvalidArgumentError("policies: give at least one policy")
    for p in policies:
        _validate.choice("policies", p, POLICIES)
    failed = _names("failed_carriers", failed_carriers)
    for c in failed:
        if c not in carriers:
            raise UnknownNameError(
                f"failed_carriers: unknown carrier {c!r}; known carriers: {', '.join(carriers)}"
            )
    requests = _validate.integer("requests", requests, maximum=MAX_REQUESTS)
    # per request: carrier states, and per site and policy a handful of float64 draws
    _memory.check(
        requests * (len(carriers) + 16 * len(chosen) * len(policies)) * 8,
        f"edge_latency(requests={requests:,})",
        "ask for fewer requests or sites",
    )
    slo_ms = _validate.positive("slo_ms", slo_ms)
    server_ms = _validate.positive("server_ms", server_ms, allow_zero=True)
    mtu_bytes = _validate.positive("mtu_bytes", mtu_bytes)
    seed = _validate.seed(seed)
    loads = _carrier_loads(carrier_load, list(carriers))
    if target is None:
        target = fabric.gpus[0]
    role = fabric.compiled.roles[fabric.index(target)]
    if role != "gpu":
        raise InvalidArgumentError(f"target: {target!r} is not a GPU (role {role!r})")

    # One stream for the carrier states (shared by every site: a carrier fails for all its
    # sites at once), one per site (in build order) for jitter, queueing and split draws.
    seq = np.random.SeedSequence(seed)
    streams = seq.spawn(1 + len(all_sites))
    carrier_names = list(carriers)
    avail = np.array([carriers[c]["availability"] for c in carrier_names])
    up_all = np.random.default_rng(streams[0]).random((requests, len(carrier_names))) < avail
    col = {c: i for i, c in enumerate(carrier_names)}
    failed_set = set(failed)

    rows, paths, samples = [], {}, {}
    for sname in chosen:
        rec = site_recs[sname]
        node = info["site_nodes"][sname]
        homed = list(rec["carriers"])
        cpaths = [
            _carrier_path(
                fabric,
                node,
                info["pop_nodes"][c],
                carriers[c],
                target,
                seed,
                loads[c],
                mtu_bytes,
                c in failed_set,
            )
            for c in homed
        ]
        paths[sname] = tuple(cpaths)
        usable = np.array([p.usable for p in cpaths])
        up = up_all[:, [col[c] for c in homed]] & usable
        rng = np.random.default_rng(streams[1 + all_sites.index(sname)])
        latency = _latency_matrix(rng, fabric, node, info, cpaths, requests, mtu_bytes)
        latency += server_ms
        a = np.array([p.availability for p in cpaths])
        expected = float(1.0 - np.prod(1.0 - a[usable])) if usable.any() else 0.0
        split_draw = rng.random(requests)
        for policy in policies:
            pick = _choose(policy, up, cpaths, split_draw=split_draw)
            served = pick >= 0
            lat = np.full(requests, math.inf)
            lat[served] = latency[np.flatnonzero(served), pick[served]]
            lat.flags.writeable = False
            samples[(sname, policy)] = lat
            ok = lat[served]
            share = {c: float(np.mean(pick == k)) for k, c in enumerate(homed)}
            rows.append(
                {
                    "site": sname,
                    "policy": policy,
                    "carriers": homed,
                    "down_carriers": [p.carrier for p in cpaths if not p.usable],
                    "requests": requests,
                    "p50_ms": float(np.quantile(ok, 0.5)) if len(ok) else math.nan,
                    "p99_ms": float(np.quantile(ok, 0.99)) if len(ok) else math.nan,
                    "mean_ms": float(ok.mean()) if len(ok) else math.nan,
                    "within_slo": float(np.count_nonzero(ok <= slo_ms)) / requests,
                    "availability": float(np.count_nonzero(served)) / requests,
                    "availability_expected": expected,
                    "carrier_share": share,
                }
            )
    return EdgeReport(
        rows=tuple(rows), paths=paths, samples_ms=samples, slo_ms=slo_ms, target=target
    )


def _latency_matrix(
    rng: np.random.Generator,
    fabric: Fabric,
    node: Hashable,
    info: Mapping,
    cpaths: Sequence[CarrierPath],
    requests: int,
    mtu_bytes: float,
) -> np.ndarray:
    """Latency (ms) of every request through every carrier of a site, as if it were up."""
    k = len(cpaths)
    out = np.empty((requests, k))
    for j, p in enumerate(cpaths):
        # Draw for every carrier, usable or not, so the streams do not depend on failures.
        jitter_ms = rng.exponential(1.0, (requests, 2)).sum(axis=1) * p.jitter_us * 1e-3
        wait_ms = np.zeros(requests)
        if p.usable and p.utilization > 0:
            lid = fabric.links_of_edge(node, info["pop_nodes"][p.carrier])
            service_s = mtu_bytes / fabric.usable_Bps[list(lid)]
            wait_ms = (
                sample_mm1_wait_s(rng, p.utilization, service_s, (requests, 2)).sum(axis=1) * 1e3
            )
        out[:, j] = p.base_rtt_ms + jitter_ms + wait_ms
    return out


def _choose(
    policy: str, up: np.ndarray, cpaths: Sequence[CarrierPath], *, split_draw: np.ndarray
) -> np.ndarray:
    """Column of the carrier each request uses, -1 if none is up."""
    any_up = up.any(axis=1)
    if policy == "primary_backup":
        pick = np.argmax(up, axis=1)
    elif policy == "lowest_latency":
        order = np.argsort([p.base_rtt_ms for p in cpaths], kind="stable")
        pick = order[np.argmax(up[:, order], axis=1)]
    else:  # split: proportional to circuit capacity among the up carriers
        cap = np.array([p.circuit_gbps for p in cpaths])
        cw = np.cumsum(up * cap, axis=1)
        total = cw[:, -1]
        pick = np.minimum(np.sum(cw <= (split_draw * total)[:, None], axis=1), up.shape[1] - 1)
    return np.where(any_up, pick, -1)


__all__ = ["POLICIES", "COLUMNS", "CarrierPath", "EdgeReport", "edge_latency"]
