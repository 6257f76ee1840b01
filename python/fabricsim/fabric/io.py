"""Fabrics from files: the plain CSV cable list inventory tools export, and the GraphML / GML
files ``networkx`` writes.

Cable list
----------
One cable per line, both ends with their role, the link rate and the one-way latency::

    a_node,a_role,b_node,b_role,gbps,latency_us[,carrier]
    host0/gpu0,gpu,host0/nvswitch,nvswitch,3600,0.5
    host0/gpu0,gpu,leaf0,leaf,400,0.6
    leaf0,leaf,spine0,spine,800,0.6

The header line is optional (without it the columns are in that order). With a header, the
columns may come in any order and these optional ones are read too: ``carrier``, ``kind``
(``nvlink`` / ``access`` / ``fabric`` / ``wan``), ``availability``, ``jitter_us``,
``a_host`` / ``b_host`` and ``a_rail`` / ``b_rail``. Roles are those of
:mod:`fabricsim.fabric.schema`; ``gbps`` is the rate per direction (Gb/s), as the schema's
``capacity_gbps``. Blank lines and lines starting with ``#`` are skipped.

Without ``kind`` a cable's kind follows from its ends, as the builders set it: ``nvlink``
between a GPU and an NVSwitch, ``wan`` when it has a carrier or touches an edge site or a
carrier PoP, ``access`` from a GPU to a switch, ``fabric`` between switches. A GPU without
``host`` is placed in the host of the NVSwitch it is cabled to (its label), so collectives
group it with its NVLink peers as NCCL does. Two cables between the same two nodes are
parallel links (a bundle): :meth:`~fabricsim.Fabric.from_networkx` aggregates them.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from fabricsim.exceptions import InputFileNotFoundError, InvalidArgumentError
from fabricsim.fabric.schema import KINDS, ROLES

#: The cable list's columns, in the order a file without a header gives them.
CABLE_COLUMNS = ("a_node", "a_role", "b_node", "b_role", "gbps", "latency_us", "carrier")
OPTIONAL_COLUMNS = (
    "carrier",
    "kind",
    "availability",
    "jitter_us",
    "a_host",
    "b_host",
    "a_rail",
    "b_rail",
)
_SWITCHES = ("leaf", "spine", "core", "border")


def _kind(a_role: str, b_role: str, carrier: str | None) -> str:
    roles = {a_role, b_role}
    if roles == {"gpu", "nvswitch"}:
        return "nvlink"
    if carrier or roles & {"edge_site", "carrier_pop"}:
        return "wan"
    if "gpu" in roles:
        return "access"
    return "fabric"


def read_cable_list(path: str | os.PathLike[str]) -> nx.Graph:
    """Read a CSV cable list (see the module docs) into a fabric graph: an ``nx.Graph``, or an
    ``nx.MultiGraph`` when two cables join the same nodes. Raises
    :class:`fabricsim.InvalidArgumentError` naming the file, line and column at fault.

    >>> import tempfile, os, fabricsim as fs
    >>> text = '''a_node,a_role,b_node,b_role,gbps,latency_us
    ... gpu0,gpu,leaf0,leaf,400,0.6
    ... gpu1,gpu,leaf0,leaf,400,0.6
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "cables.csv")
    ...     with open(p, "w") as f:
    ...         _ = f.write(text)
    ...     fab = fs.Fabric.from_cable_list(p)
    >>> fab.gpus, fab.cable_count, fab.graph.edges["gpu0", "leaf0"]["kind"]
    (['gpu0', 'gpu1'], 2, 'access')
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileNotFoundError(f"{path}: no such cable list") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"{path}: cannot read the cable list: {e}") from None
    lines = [
        (i + 1, ln)
        for i, ln in enumerate(text.splitlines())
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        raise InvalidArgumentError(f"{path}: the cable list is empty")
    first = next(csv.reader([lines[0][1]]))
    header = [c.strip().lower() for c in first]
    if "a_node" in header:
        missing = [c for c in CABLE_COLUMNS[:6] if c not in header]
        if missing:
            raise InvalidArgumentError(
                f"{path}:{lines[0][0]}: the header lacks {', '.join(missing)}"
            )
        unknown = [c for c in header if c not in CABLE_COLUMNS and c not in OPTIONAL_COLUMNS]
        if unknown:
            raise InvalidArgumentError(
                f"{path}:{lines[0][0]}: unknown column {unknown[0]!r}; valid: "
                f"{', '.join(dict.fromkeys((*CABLE_COLUMNS, *OPTIONAL_COLUMNS)))}"
            )
        columns, body = header, lines[1:]
    else:
        columns, body = list(CABLE_COLUMNS), lines
    rows = []
    for lineno, line in body:
        cells = [c.strip() for c in next(csv.reader([line]))]
        where = f"{path}:{lineno}"
        if len(cells) > len(columns) or len(cells) < 6:
            raise InvalidArgumentError(
                f"{where}: expected {', '.join(columns[:6])}[, ...] ({len(columns)} columns at "
                f"most), got {len(cells)} fields"
            )
        rows.append((where, dict(zip(columns, cells, strict=False))))
    return _graph(rows, str(path))


def _number(where: str, row: Mapping[str, str], key: str, *, positive: bool) -> float:
    text = row.get(key, "")
    try:
        x = float(text)
    except ValueError:
        raise InvalidArgumentError(f"{where}: {key}: expected a number, got {text!r}") from None
    if not math.isfinite(x) or (x <= 0 if positive else x < 0):
        raise InvalidArgumentError(
            f"{where}: {key}: must be a finite number {'> 0' if positive else '>= 0'}, got {text!r}"
        )
    return x


def _graph(rows: list[tuple[str, dict]], source: str) -> nx.Graph:
    roles: dict[str, tuple[str, str]] = {}
    attrs: dict[str, dict] = {}
    cables = []
    for where, row in rows:
        ends = []
        for side in ("a", "b"):
            node, role = row[f"{side}_node"], row[f"{side}_role"].lower()
            if not node:
                raise InvalidArgumentError(f"{where}: {side}_node: empty")
            if role not in ROLES:
                raise InvalidArgumentError(
                    f"{where}: {side}_role: unknown role {role!r}; valid: {', '.join(ROLES)}"
                )
            if node in roles and roles[node][0] != role:
                raise InvalidArgumentError(
                    f"{where}: {side}_role: {node!r} is a {role} here but a {roles[node][0]} "
                    f"at {roles[node][1]}"
                )
            roles.setdefault(node, (role, where))
            a = attrs.setdefault(node, {"role": role})
            if row.get(f"{side}_host"):
                a["host"] = row[f"{side}_host"]
            if row.get(f"{side}_rail"):
                try:
                    a["rail"] = int(row[f"{side}_rail"])
                except ValueError:
                    raise InvalidArgumentError(
                        f"{where}: {side}_rail: expected an integer, got {row[f'{side}_rail']!r}"
                    ) from None
            ends.append(node)
        if ends[0] == ends[1]:
            raise InvalidArgumentError(f"{where}: a cable from {ends[0]!r} to itself")
        carrier = row.get("carrier") or None
        kind = (row.get("kind") or "").lower() or _kind(
            roles[ends[0]][0], roles[ends[1]][0], carrier
        )
        if kind not in KINDS:
            raise InvalidArgumentError(
                f"{where}: kind: unknown kind {kind!r}; valid: {', '.join(KINDS)}"
            )
        edge: dict[str, Any] = {
            "capacity_gbps": _number(where, row, "gbps", positive=True),
            "latency_us": _number(where, row, "latency_us", positive=True),
            "kind": kind,
        }
        if carrier:
            edge["carrier"] = carrier
        for key in ("availability", "jitter_us"):
            if row.get(key):
                edge[key] = _number(where, row, key, positive=key == "availability")
        cables.append((ends[0], ends[1], edge))
    pairs = [frozenset((u, v)) for u, v, _ in cables]
    G: nx.Graph = nx.MultiGraph() if len(set(pairs)) < len(pairs) else nx.Graph()
    G.graph["builder"] = "cable_list"
    G.graph["source"] = source
    G.add_nodes_from(attrs.items())
    for u, v, e in cables:
        G.add_edge(u, v, **e)
    # GPUs without a host: one host per NVLink domain (GPUs and NVSwitches joined by nvlink
    # cables), named after its first NVSwitch.
    nvl = nx.Graph((u, v) for u, v, e in cables if e["kind"] == "nvlink")
    for comp in nx.connected_components(nvl):
        switches = sorted(str(n) for n in comp if attrs[n]["role"] == "nvswitch")
        if not switches:
            continue
        host = next(
            (attrs[n]["host"] for n in sorted(comp, key=str) if "host" in attrs[n]), switches[0]
        )
        for n in comp:
            if attrs[n]["role"] == "gpu" and "host" not in attrs[n]:
                G.nodes[n]["host"] = host
    return G


__all__ = ["CABLE_COLUMNS", "OPTIONAL_COLUMNS", "read_cable_list"]
