"""Read nccl-tests logs and set a measured curve beside fabricsim's.

nccl-tests (github.com/NVIDIA/nccl-tests) prints one line per message size::

    #                                                              out-of-place                       in-place
    #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
         1048576        262144     float     sum      -1    28.15   37.25   65.19      0    27.52   38.10   66.67      0
    # Avg bus bandwidth    : 65.93

(the layout of ``src/common.cu``; ``fabricsim collective`` prints the same). :func:`parse_log`
reads the column names from the header line, so older layouts (no ``root`` column, ``error``
instead of ``#wrong``, ``cputime`` with ``-C 1``, out-of-place only) and logs with NCCL INFO
lines, several runs or MPI rank banners in between read too. :func:`read_log` reads a file.
:func:`calibrate` runs the same sizes on a fabric and reports the error per size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabricsim._display import axes, html_table, pandas
from fabricsim._progress import progress_bar
from fabricsim.exceptions import InputFileNotFoundError, InvalidArgumentError, InvalidTypeError
from fabricsim.fabric.compiled import Fabric
from fabricsim.traffic.collectives import collective, normalize_op
from fabricsim.types import Algorithm, Op, Routing

if TYPE_CHECKING:
    from fabricsim.fabric.compiled import Fabric

#: nccl-tests binaries and the fabricsim op each measures.
BINARIES = {
    "all_reduce": "all_reduce",
    "all_gather": "all_gather",
    "alltoall": "all_to_all",
    "reduce_scatter": "reduce_scatter",
    "broadcast": "broadcast",
    "reduce": "reduce",
    "sendrecv": "send_recv",
}
_BINARY_RE = re.compile(
    r"\b(all_reduce|all_gather|alltoall|reduce_scatter|broadcast|reduce|"
    r"sendrecv)_perf\b"
)
_NAMES = {
    "time": "time_us",
    "cputime": "time_us",
    "algbw": "algbw_GBps",
    "busbw": "busbw_GBps",
    "#wrong": "wrong",
    "error": "wrong",
    "wrong": "wrong",
}


@dataclass(frozen=True)
class NcclLog:
    """A parsed nccl-tests log: ``rows`` (dicts, one per size and run), the ``op`` (from the
    binary's name when the log or its file name shows it), the rank count (``# Rank`` banner
    lines or ``nGpus``), and every ``# Avg bus bandwidth`` footer (GB/s)."""

    rows: tuple[dict, ...]
    op: str | None = None
    n_ranks: int | None = None
    avg_busbw_GBps: tuple[float, ...] = ()
    source: str = "<log>"

    def to_pandas(self) -> Any:

        df = pandas().DataFrame(list(self.rows), columns=_columns(self.rows))
        df.attrs.update(
            op=self.op,
            n_ranks=self.n_ranks,
            source=self.source,
            avg_busbw_GBps=list(self.avg_busbw_GBps),
        )
        return df


def _columns(rows: Any) -> list[str]:
    base = [
        "run",
        "size_bytes",
        "count",
        "type",
        "redop",
        "root",
        "time_us",
        "algbw_GBps",
        "busbw_GBps",
        "wrong",
        "in_place_time_us",
        "in_place_algbw_GBps",
        "in_place_busbw_GBps",
        "in_place_wrong",
    ]
    have = {k for r in rows for k in r}
    return [c for c in base if c in have or c in base[:9]]


def _number(tok: str) -> float | int | None:
    if tok in ("N/A", "n/a", "-"):
        return None
    try:
        return int(tok)
    except ValueError:
        return float(tok)


def parse(text: str, *, op: str | None = None, source: str = "<log>") -> NcclLog:
    """Parse nccl-tests output held in ``text`` (see the module docs); raises
    :class:`fabricsim.InvalidArgumentError` when there is no nccl-tests table in it."""
    if not isinstance(text, str):
        raise InvalidTypeError(f"text: expected the log as a string, got {type(text).__name__}")
    rows: list[dict] = []
    avg: list[float] = []
    cols: list[str] | None = None
    run = -1
    ranks: set[int] = set()
    n_gpus = None
    found = op
    for raw in text.splitlines():
        line = raw.strip()
        if found is None:
            m = _BINARY_RE.search(line)
            if m:
                found = BINARIES[m.group(1)]
        if line.startswith("#"):
            body = line[1:].split()
            if "size" in body and "busbw" in body and "count" in body:
                cols, run = body, run + 1
            elif line.startswith("# Avg bus bandwidth"):
                avg.append(float(line.split(":", 1)[1].split()[0]))
            elif len(body) > 1 and body[0] == "Rank" and body[1].isdigit():
                ranks.add(int(body[1]))
            elif body[:1] == ["nThread"] and "nGpus" in body:
                n_gpus = int(body[body.index("nGpus") + 1])
            continue
        if cols is None:
            continue
        toks = line.split()
        if len(toks) != len(cols) or not toks[0].isdigit():
            continue  # NCCL INFO lines, warnings, a rank's stray output
        try:
            row = _row(cols, toks)
        except ValueError:
            continue
        row["run"] = run
        rows.append(row)
    if not rows:
        raise InvalidArgumentError(
            f"{source}: no nccl-tests table found (a header line with "
            "size, count and busbw, then one line per size)"
        )
    n = len(ranks) if ranks else n_gpus
    return NcclLog(tuple(rows), found, n, tuple(avg), source)


def _row(cols: list[str], toks: list[str]) -> dict:
    out: dict = {}
    first = next(i for i, c in enumerate(cols) if c in ("time", "cputime"))
    for c, t in zip(cols[:first], toks[:first], strict=True):
        key = {"size": "size_bytes"}.get(c, c)
        out[key] = int(t) if key in ("size_bytes", "count", "root") else t
    groups = [(cols[i : i + 4], toks[i : i + 4]) for i in range(first, len(cols), 4)]
    for g, (names, vals) in enumerate(groups):
        prefix = "" if g == 0 else "in_place_"
        for c, t in zip(names, vals, strict=True):
            out[prefix + _NAMES.get(c, c)] = _number(t)
    return out


def parse_log(text: str, *, op: str | None = None) -> Any:
    """nccl-tests output in ``text`` as a pandas DataFrame (columns ``size_bytes``, ``count``,
    ``type``, ``redop``, ``root``, ``time_us``, ``algbw_GBps``, ``busbw_GBps``, ``wrong`` and
    the ``in_place_*`` ones, ``run`` when a log holds several tables; ``df.attrs`` has ``op``,
    ``n_ranks`` and ``avg_busbw_GBps``).

    >>> text = '''# nThread 1 nGpus 8 minBytes 8 maxBytes 16 step: 2(factor) warmup iters: 5
    ... #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    ...            8             2     float     sum      -1    42.56    0.00    0.00      0    41.90    0.00    0.00      0
    ...           16             4     float     sum      -1    42.61    0.00    0.00      0    42.02    0.00    0.00      0
    ... # Avg bus bandwidth    : 0.00123
    ... '''
    >>> df = parse_log(text)
    >>> df["size_bytes"].tolist(), df.attrs["n_ranks"], df["in_place_time_us"].tolist()
    ([8, 16], 8, [41.9, 42.02])
    """
    return parse(text, op=op).to_pandas()


def read_log(path: str | Path, *, op: str | None = None) -> Any:
    """Read an nccl-tests log file (``all_reduce_perf ... > log``) into a DataFrame, as
    :func:`parse_log`; ``op`` defaults to the binary named in the log or the file name."""
    return load(path, op=op).to_pandas()


def load(path: str | Path, *, op: str | None = None) -> NcclLog:
    """Read an nccl-tests log file into an :class:`NcclLog` (no pandas needed)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputFileNotFoundError(f"{path}: no such nccl-tests log") from None
    except OSError as e:
        raise InvalidArgumentError(f"{path}: cannot read the log: {e}") from None
    if op is None:
        m = _BINARY_RE.search(p.name)
        op = BINARIES[m.group(1)] if m else None
        if op is None:
            stem = p.name.lower().replace("-", "_")
            op = next((v for k, v in BINARIES.items() if k in stem), None)
    return parse(text, op=op, source=str(path))


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True, eq=False)
class Calibration:
    """Measured (an nccl-tests log) against simulated bus bandwidth, size by size.
    ``error`` = simulated / measured − 1 (positive: the model is optimistic)."""

    op: str
    n_ranks: int
    design: str
    rows: tuple[dict, ...]
    source: str = "<log>"
    results: tuple = field(default=(), repr=False)

    @property
    def mean_abs_error(self) -> float:
        errs = [abs(r["error"]) for r in self.rows if r["error"] is not None]
        return float(sum(errs) / len(errs)) if errs else math.nan

    def table(self) -> str:
        head = (
            f"# {self.op} on {self.n_ranks} ranks: measured ({self.source}) vs fabricsim "
            f"({self.design})"
        )
        lines = [
            head,
            f"#{'size':>12} {'measured':>10} {'simulated':>10} {'error':>8} "
            f"{'meas. us':>10} {'sim. us':>10}  algorithm",
            f"#{'(B)':>12} {'busbw GB/s':>10} {'busbw GB/s':>10} {'':>8} {'':>10} {'':>10}",
        ]
        for r in self.rows:
            err = "-" if r["error"] is None else f"{r['error']:+.1%}"
            meas = "-" if r["measured_busbw_GBps"] is None else f"{r['measured_busbw_GBps']:.2f}"
            mt = "-" if r["measured_time_us"] is None else f"{r['measured_time_us']:.1f}"
            lines.append(
                f" {r['size_bytes']:>12} {meas:>10} {r['simulated_busbw_GBps']:>10.2f} "
                f"{err:>8} {mt:>10} {r['simulated_time_us']:>10.1f}  {r['algorithm']}"
            )
        lines.append(f"# mean |error| {self.mean_abs_error:.1%} over {len(self.rows)} sizes")
        return "\n".join(lines)

    def to_pandas(self) -> Any:

        return pandas().DataFrame(list(self.rows))

    def plot(self, ax: Any = None) -> Any:
        """Measured and simulated bus bandwidth (GB/s) against size on ``ax`` (default: a new
        figure); returns the Figure."""

        fig, (a,) = axes(ax, figsize=(7.0, 4.2))
        sizes = [r["size_bytes"] for r in self.rows]
        a.plot(
            sizes,
            [r["measured_busbw_GBps"] for r in self.rows],
            marker="o",
            label=f"measured ({Path(self.source).name})",
        )
        a.plot(
            sizes,
            [r["simulated_busbw_GBps"] for r in self.rows],
            marker="s",
            label=f"fabricsim ({self.design})",
        )
        a.set_xscale("log", base=2)
        a.set_xlabel("size (bytes)")
        a.set_ylabel("bus bandwidth (GB/s)")
        a.set_title(f"{self.op}, {self.n_ranks} ranks: mean |error| {self.mean_abs_error:.1%}")
        a.grid(True, alpha=0.3)
        a.legend()
        return fig

    def __repr__(self) -> str:
        return (
            f"<Calibration {self.op} x{self.n_ranks} ranks on {self.design!r}: "
            f"{len(self.rows)} sizes, mean |error| {self.mean_abs_error:.1%}>"
        )

    def _repr_html_(self) -> str:

        keys = ("size_bytes", "measured_busbw_GBps", "simulated_busbw_GBps", "error", "algorithm")
        return html_table(
            ("size (B)", "measured busbw GB/s", "simulated busbw GB/s", "error", "algorithm"),
            [[r[k] for k in keys] for r in self.rows],
            caption=repr(self),
        )


def calibrate(
    fabric: Fabric,
    log: str | Path | NcclLog,
    *,
    op: Op | None = None,
    ranks: Sequence[Hashable] | None = None,
    algorithm: Algorithm = "auto",
    routing: Routing = "ecmp",
    seed: int = 0,
    design: str = "fabric",
    progress: bool = False,
) -> Calibration:
    """Run every size of an nccl-tests ``log`` (a path, log text or :class:`NcclLog`; its first
    table) on ``fabric`` and set the simulated bus bandwidth beside the measured one
    (out-of-place). ``ranks`` default: the log's rank count, taken as the fabric's first GPUs
    (host by host), or every GPU when the log does not say."""

    if not isinstance(fabric, Fabric):
        raise InvalidTypeError(f"fabric: expected a fabricsim.Fabric, got {type(fabric).__name__}")
    if isinstance(log, NcclLog):
        parsed = (
            log
            if op is None
            else NcclLog(log.rows, op, log.n_ranks, log.avg_busbw_GBps, log.source)
        )
    elif isinstance(log, str) and "\n" in log:
        parsed = parse(log, op=op)
    elif isinstance(log, (str, Path)):
        parsed = load(log, op=op)
    else:
        raise InvalidTypeError(
            f"log: expected a path, log text or NcclLog, got {type(log).__name__}"
        )
    if parsed.op is None:
        raise InvalidArgumentError(
            f"op: {parsed.source} does not name its nccl-tests binary "
            "(e.g. all_reduce_perf); pass op="
        )
    the_op = normalize_op(parsed.op)
    if ranks is None:
        n = parsed.n_ranks or len(fabric.gpus)
        if n > len(fabric.gpus):
            raise InvalidArgumentError(
                f"ranks: the log ran on {n} GPUs but the fabric has {len(fabric.gpus)}"
            )
        ranks = list(fabric.gpus[:n])
    rows0 = [r for r in parsed.rows if r.get("run", 0) == parsed.rows[0].get("run", 0)]
    bar = None
    if progress:
        bar = progress_bar(len(rows0), f"calibrate {the_op}")
    rows, results = [], []
    try:
        for r in rows0:
            res = collective(
                fabric, the_op, r["size_bytes"], ranks, algorithm, None, None, routing, seed
            )
            results.append(res)
            meas = r.get("busbw_GBps")
            err = (res.busbw_GBps / meas - 1.0) if meas else None
            rows.append(
                {
                    "size_bytes": r["size_bytes"],
                    "measured_busbw_GBps": meas,
                    "simulated_busbw_GBps": res.busbw_GBps,
                    "error": err,
                    "measured_time_us": r.get("time_us"),
                    "simulated_time_us": res.time_us,
                    "algorithm": res.algorithm,
                }
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return Calibration(the_op, len(ranks), design, tuple(rows), parsed.source, tuple(results))


__all__ = [
    "BINARIES",
    "NcclLog",
    "parse",
    "parse_log",
    "read_log",
    "load",
    "Calibration",
    "calibrate",
]
