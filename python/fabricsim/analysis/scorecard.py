"""The site scorecard: one row per facility with the decision factors measured, side by side,
and a verdict in words.

:func:`scorecard` runs the job's communication once through the network Monte Carlo
(:func:`fabricsim.step`: the same fabric design at every site, so every site sees the same
network samples: common random numbers) and combines it with each site's power-capped clocks
and straggler draws (:mod:`fabricsim.analysis.facility`); then each site's carriers serve
requests from every user region (:func:`fabricsim.edge_latency`).

Columns (:data:`COLUMNS`): see docs/facilities.md for each one and its source.

>>> import fabricsim as fs
>>> fab = fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1)
>>> job = fs.TrainingJob(params=1e9, layers=8, hidden_size=2048, data_parallel=16,
...                      global_batch_tokens=16 * 4096)
>>> sites = [fs.Facility.preset("legacy-air-colo", name="metro", distance_km={"paris": 20}),
...          fs.Facility.preset("liquid-ai-campus", name="campus", distance_km={"paris": 1500})]
>>> card = fs.scorecard(sites, fab, job, slo_ms=15.0, samples=4, requests=2000)
>>> [r["site"] for r in card.rows], card.training_winner, card.inference_winner
(['metro', 'campus'], 'campus', 'metro')
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabricsim import _validate
from fabricsim._display import axes as given_axes
from fabricsim._engine import bounded_threads
from fabricsim._progress import ProgressBar
from fabricsim.analysis.facility import Facility, combine_site, region_latency
from fabricsim.analysis.training import TrainingJob, step
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric import profiles
from fabricsim.fabric.compiled import Fabric
from fabricsim.types import Routing

#: (key, heading, format, scale) of the terminal table; the rows hold more (see to_json).
COLUMNS = (
    ("site", "site", "{}", None),
    ("cooling", "cooling", "{}", None),
    ("ready_gpus", "GPUs now", "{:,}", None),
    ("growth_gpus", "GPUs grown", "{:,}", None),
    ("rack_kw_usable", "kW/rack", "{:.0f}", None),
    ("gpu_clock_fraction", "clock", "{:.1%}", None),
    ("straggler_p50", "strag p50", "{:.2%}", None),
    ("straggler_p99", "strag p99", "{:.2%}", None),
    ("step_time_p50_s", "step p50 ms", "{:.1f}", 1e3),
    ("step_time_p99_s", "step p99 ms", "{:.1f}", 1e3),
    ("tokens_per_s", "tokens/s", "{:,.0f}", None),
    ("tokens_per_s_per_mw", "tok/s/MW", "{:,.0f}", None),
    ("tokens_per_mwh", "Mtok/MWh", "{:,.1f}", 1e-6),
    ("energy_cost_per_mtok", "cost/Mtok", "{:.4g}", None),
    ("pue", "PUE", "{:.2f}", None),
    ("availability", "avail", "{:.6f}", None),
    ("carriers", "carr.", "{}", None),
)


@dataclass(frozen=True, eq=False)
class Scorecard:
    """The scorecard: ``rows`` (one dict per site), the regions and SLO, the per-site
    step samples, and the verdict."""

    rows: tuple
    regions: tuple
    slo_ms: float
    job_gpus: int
    steps: dict = field(repr=False, default_factory=dict)

    def __repr__(self) -> str:
        sites = ", ".join(repr(r["site"]) for r in self.rows)
        return (
            f"<Scorecard {len(self.rows)} sites ({sites}), {self.job_gpus}-GPU job; training: "
            f"{self.training_winner!r}, inference: {self.inference_winner!r}>"
        )

    # -- winners ------------------------------------------------------------------------------
    @property
    def training_winner(self) -> str | None:
        ok = [r for r in self.rows if r["fits"]]
        return max(ok, key=lambda r: r["tokens_per_s"])["site"] if ok else None

    @property
    def inference_winner(self) -> str | None:
        if not self.regions:
            return None
        return max(self.rows, key=_inference_key)["site"]

    def row(self, site: str) -> dict:
        for r in self.rows:
            if r["site"] == site:
                return r
        raise InvalidArgumentError(
            f"site: no site {site!r}; sites: {', '.join(r['site'] for r in self.rows)}"
        )

    # -- outputs ------------------------------------------------------------------------------
    def table(self) -> str:
        """A fixed-width text table: the training columns, then one line per site with the
        inference p99 and SLO attainment per region."""
        cells = [[c[1] for c in COLUMNS]]
        for r in self.rows:
            line = []
            for key, _, fmt, scale in COLUMNS:
                v = r.get(key)
                if v is None or (isinstance(v, float) and not math.isfinite(v)):
                    line.append("-")
                    continue
                line.append(fmt.format(v * scale if scale else v))
            cells.append(line)
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        out = []
        for k, row in enumerate(cells):
            out.append(
                "  ".join(
                    s.ljust(w) if i < 2 else s.rjust(w)
                    for i, (s, w) in enumerate(zip(row, widths, strict=True))
                )
            )
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        if self.regions:
            out.append("")
            head = ["site"] + [f"{g} p99 ms / <= {self.slo_ms:g} ms" for g in self.regions]
            rows = [head]
            for r in self.rows:
                rows.append(
                    [r["site"]]
                    + [
                        f"{_fmt(r['inference_p99_ms'][g], '{:.1f}')} / {r['slo_attainment'][g]:.2%}"
                        for g in self.regions
                    ]
                )
            w = [max(len(x[i]) for x in rows) for i in range(len(head))]
            for k, row in enumerate(rows):
                out.append(
                    "  ".join(
                        s.ljust(wi) if i == 0 else s.rjust(wi)
                        for i, (s, wi) in enumerate(zip(row, w, strict=True))
                    )
                )
                if k == 0:
                    out.append("  ".join("-" * wi for wi in w))
        return "\n".join(out)

    def verdict(self) -> str:
        """Which site wins training and which wins inference, and why (the binding constraint
        of each site, named: power, cooling, network, location)."""
        return verdict(self)

    def to_records(self) -> list[dict]:
        """The rows as flat dicts (per-region values as ``<key>[<region>]`` columns)."""
        out = []
        for r in self.rows:
            flat = {}
            for k, v in r.items():
                if isinstance(v, Mapping):
                    for g, x in v.items():
                        flat[f"{k}[{g}]"] = x
                elif isinstance(v, (list, tuple)):
                    flat[k] = "+".join(map(str, v))
                else:
                    flat[k] = v
            out.append(flat)
        return out

    def to_pandas(self):
        """A pandas DataFrame of :meth:`to_records`, one row per site."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - optional dependency
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame(self.to_records())

    def to_csv(self, path: Any = None) -> str:
        """:meth:`to_records` as CSV; written to ``path`` too if given. Returns the text."""
        recs = self.to_records()
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in recs for k in r))
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for r in recs:
            w.writerow(
                {
                    k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in r.items()
                }
            )
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return text

    def to_json(self, path: Any = None) -> str:
        """Rows (nested per region), regions, SLO, winners and verdict as JSON (non-finite
        numbers as null); written to ``path`` too if given. Returns the text."""
        doc = {
            "regions": list(self.regions),
            "slo_ms": self.slo_ms,
            "job_gpus": self.job_gpus,
            "training_winner": self.training_winner,
            "inference_winner": self.inference_winner,
            "verdict": self.verdict(),
            "rows": [_clean(r) for r in self.rows],
        }
        text = json.dumps(doc, indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def plot(self, path: Any = None, *, ax: Any = None) -> Any:
        """One slide: tokens/s per site (with its binding constraint), energy cost per million
        tokens, and inference p99 per region against the SLO. Draws on ``ax`` (two axes, three
        with user regions) or a new figure; returns the Figure, and with ``path`` also writes
        it. Needs matplotlib; the backend is never changed (a new figure is drawn with the Agg
        canvas directly)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("plotting needs matplotlib: pip install 'fabricsim[plot]'") from None
        sites = [r["site"] for r in self.rows]
        x = np.arange(len(sites))
        ncols = 3 if self.regions else 2
        if ax is None:
            fig = Figure(figsize=(4.6 * ncols, 4.4))
            FigureCanvasAgg(fig)
            axes = list(fig.subplots(1, ncols))
        else:
            fig, axes = given_axes(ax, ncols=ncols)
        ax = axes[0]
        tps = [r["tokens_per_s"] for r in self.rows]
        bars = ax.bar(
            x, tps, color=["#2a9d8f" if s == self.training_winner else "#8d99ae" for s in sites]
        )
        for b, r in zip(bars, self.rows, strict=True):
            label = (
                r["binding_constraint"]
                if r["fits"]
                else (f"power: {r['ready_gpus']:,} of {self.job_gpus:,} GPUs now")
            )
            ax.annotate(
                label,
                (b.get_x() + b.get_width() / 2, b.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(x, sites, rotation=12, ha="right")
        ax.set_ylabel(f"tokens/s ({self.job_gpus}-GPU job, p50 step)")
        ax.set_title("Training throughput (binding constraint)")
        ax = axes[1]
        cost = [r["energy_cost_per_mtok"] for r in self.rows]
        ax.bar(x, [c if math.isfinite(c) else 0.0 for c in cost], color="#e9c46a")
        ax2 = ax.twinx()
        ax2.plot(
            x,
            [r["tokens_per_mwh"] / 1e6 if r["fits"] else math.nan for r in self.rows],
            "o",
            color="#264653",
        )
        ax.set_xticks(x, sites, rotation=12, ha="right")
        ax.set_ylabel("energy cost per million tokens (bars)")
        ax2.set_ylabel("million tokens per MWh (dots)")
        ax.set_title("Energy")
        if self.regions:
            ax = axes[2]
            width = 0.8 / len(self.regions)
            for k, g in enumerate(self.regions):
                ax.bar(
                    x + (k - (len(self.regions) - 1) / 2) * width,
                    [_finite(r["inference_p99_ms"][g]) for r in self.rows],
                    width,
                    label=g,
                )
            ax.axhline(self.slo_ms, color="#e63946", ls="--", label=f"SLO {self.slo_ms:g} ms")
            ax.set_xticks(x, sites, rotation=12, ha="right")
            ax.set_ylabel("request latency p99 (ms)")
            ax.set_title("Inference from each user region")
            ax.legend(fontsize=8)
        for a in axes:
            a.grid(True, axis="y", alpha=0.3)
        inf = f"; inference: {self.inference_winner}" if self.regions else ""
        fig.suptitle(
            f"Site scorecard — training: {self.training_winner or 'no site fits'}{inf}", fontsize=10
        )
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _finite(x: float) -> float:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else 0.0


def _fmt(x: Any, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _inference_key(r: dict) -> tuple:
    slo = r["slo_attainment"]
    p99 = [x for x in r["inference_p99_ms"].values() if math.isfinite(x)]
    return (min(slo.values()) if slo else 0.0, r["availability"], -(max(p99) if p99 else math.inf))


# --------------------------------------------------------------------------- verdict


def _binding(r: dict) -> str:
    """The constraint that costs this site the most throughput."""
    if not r["fits"]:
        return "power"
    losses = {
        "cooling" if r["capped_by"] == "cooling" else "power": 1.0 - r["gpu_clock_fraction"],
        "cooling (heat)": r["thermal_p99"],
        "network": r["exposed_comm_fraction"],
    }
    name, loss = max(losses.items(), key=lambda kv: kv[1])
    return name if loss > 0.001 else "none"


def verdict(card: Scorecard) -> str:
    """Sentences naming the training winner and the inference winner, with the binding
    constraint of the runner-up."""
    rows = list(card.rows)
    if not rows:
        return ""
    lines = []
    win = card.training_winner
    if win is None:
        need = card.job_gpus
        lines.append(
            f"No site can run the {need}-GPU job now: "
            + "; ".join(f"{r['site']} feeds {r['ready_gpus']:,} GPUs" for r in rows)
            + " (binding constraint: power)."
        )
    else:
        w = card.row(win)
        others = [r for r in rows if r["site"] != win]
        ties = [
            r["site"]
            for r in others
            if r["fits"] and r["tokens_per_s"] >= w["tokens_per_s"] * (1 - _TIE)
        ]
        if ties:
            lines.append(
                f"Training: {', '.join(repr(t) for t in [win, *ties])} tie within "
                f"{_TIE:.1%} ({w['tokens_per_s']:,.0f} tokens/s, step p99 "
                f"{w['step_time_p99_s'] * 1e3:.1f} ms)."
            )
        else:
            best_other = max(others, key=lambda r: r["tokens_per_s"], default=None)
            if best_other is not None and best_other["tokens_per_s"] > 0:
                gain = w["tokens_per_s"] / best_other["tokens_per_s"] - 1.0
                lines.append(
                    f"Training: {win!r} wins, {gain:.1%} more tokens/s than "
                    f"{best_other['site']!r} ({w['tokens_per_s']:,.0f} vs "
                    f"{best_other['tokens_per_s']:,.0f}; step p99 "
                    f"{w['step_time_p99_s'] * 1e3:.1f} vs "
                    f"{best_other['step_time_p99_s'] * 1e3:.1f} ms)."
                )
            elif best_other is not None:
                lines.append(
                    f"Training: {win!r} is the only site that can run the "
                    f"{card.job_gpus}-GPU job now."
                )
            else:
                lines.append(
                    f"Training: {win!r} runs the job at {w['tokens_per_s']:,.0f} tokens/s."
                )
        why = [_why(r, w, card.job_gpus) for r in others if r["site"] not in ties]
        if why:
            lines.append("Why: " + "; ".join(why) + ".")
        if w["binding_constraint"] == "network":
            tail = "the network's" if w["tail_dominant"] == "network" else "the stragglers'"
            lines.append(
                f"Network: {w['exposed_comm_fraction']:.1%} of every step is exposed "
                "communication on this fabric design, the same at every site: the "
                f"fabric, not the site, binds next (the p99 step is mostly {tail} "
                "tail)."
            )
        cheap = min(
            (r for r in rows if r["fits"] and math.isfinite(r["energy_cost_per_mtok"])),
            key=lambda r: r["energy_cost_per_mtok"],
            default=None,
        )
        if cheap is not None and cheap["energy_cost_per_mtok"] > 0:
            lines.append(
                f"Energy: {cheap['site']!r} is cheapest per token "
                f"({cheap['energy_cost_per_mtok']:.4g} per million tokens, PUE "
                f"{cheap['pue']:.2f}, {cheap['tokens_per_mwh'] / 1e6:,.1f}M tokens "
                "per MWh)."
            )
    if card.regions:
        iw = card.row(str(card.inference_winner))
        worst = {g: max(rows, key=lambda r: -r["slo_attainment"][g]) for g in card.regions}
        parts = [
            f"{g}: p99 {_fmt(iw['inference_p99_ms'][g], '{:.1f}')} ms, "
            f"{iw['slo_attainment'][g]:.2%} within {card.slo_ms:g} ms"
            for g in card.regions
        ]
        lines.append(
            f"Inference: {iw['site']!r} wins ({'; '.join(parts)}; availability "
            f"{iw['availability']:.6f} over {iw['carriers']} carrier"
            f"{'s' if iw['carriers'] != 1 else ''})."
        )
        misses = []
        for r in rows:
            bad = [g for g in card.regions if r["slo_attainment"][g] < 0.99]
            if bad:
                misses.append(
                    f"{r['site']!r} misses the SLO from {', '.join(bad)} "
                    f"(location: {max(r['route_km'][g] for g in bad):,.0f} km of "
                    "fibre)"
                )
            elif r["availability"] < iw["availability"] and r["site"] != iw["site"]:
                misses.append(
                    f"{r['site']!r} meets it but is less available "
                    f"({r['availability']:.6f}, {r['carriers']} carrier"
                    f"{'s' if r['carriers'] != 1 else ''})"
                )
        del worst
        if misses:
            lines.append("Why: " + "; ".join(misses) + ".")
    return "\n".join(lines)


_TIE = 0.005


def _why(r: dict, w: dict, job_gpus: int) -> str:
    """Why site ``r`` trains slower than the winner ``w``: the largest of its deficits."""
    s = repr(r["site"])
    if not r["fits"]:
        grow = (
            f"; {r['growth_gpus']:,} after {r['growth_lead_months']:g} months"
            if r["growth_gpus"] > r["ready_gpus"]
            else ""
        )
        return (
            f"{s} is bound by power: {r['it_power_mw']:g} MW feeds {r['ready_gpus']:,} GPUs "
            f"of the {job_gpus:,} the job needs, even at their minimum power cap{grow}"
        )
    clock_loss = w["gpu_clock_fraction"] / r["gpu_clock_fraction"] - 1.0
    heat_loss = (1 + r["straggler_p50"]) / (1 + w["straggler_p50"]) - 1.0
    if clock_loss >= heat_loss and clock_loss > 0:
        capped = (
            f"its GPUs run capped at {r['gpu_power_fraction']:.0%} power = "
            f"{r['gpu_clock_fraction']:.1%} throughput"
        )
        if r["capped_by"] == "power (MW)":
            return (
                f"{s} is bound by power: {r['it_power_mw']:g} MW ready now feeds "
                f"{r['ready_gpus']:,} GPUs at full draw, so to run the {job_gpus:,}-GPU job "
                f"{capped}"
                + (
                    f" ({r['growth_gpus']:,} GPUs after {r['growth_lead_months']:g} months)"
                    if r["growth_gpus"] > r["ready_gpus"]
                    else ""
                )
            )
        what = "power" if r["capped_by"] == "power (rack)" else "cooling"
        return (
            f"{s} is bound by {what}: {r['rack_kw_usable']:g} kW per rack cannot feed one "
            f"{r['server_power_kw']:g} kW server, so {capped}"
        )
    if heat_loss > 0:
        return (
            f"{s} is bound by cooling: its {r['cooling'].replace('_', '-')}-cooled GPUs at "
            f"{r['ambient_c_mean']:.0f} °C mean dry-bulb throttle, the slowest of the "
            f"job's GPUs adds {r['straggler_p50']:.2%} (p50) / {r['straggler_p99']:.2%} "
            f"(p99) to compute against {w['straggler_p50']:.2%} / "
            f"{w['straggler_p99']:.2%}"
        )
    return f"{s} trains within sampling noise of {w['site']!r}"


# --------------------------------------------------------------------------- scorecard


@bounded_threads
def scorecard(
    facilities: Sequence[Facility],
    fabric_design: Any,
    job: TrainingJob,
    *,
    regions: Sequence[str] | None = None,
    slo_ms: float = 100.0,
    server_ms: float = 0.0,
    background: Any = None,
    samples: int = 20,
    seed: int = 0,
    requests: int = 20_000,
    routing: Routing = "ecmp",
    threads: int | None = None,
    progress: bool = False,
) -> Scorecard:
    """Score ``facilities`` for ``job`` on ``fabric_design`` (a :class:`fabricsim.Fabric` or a
    networkx graph, built at every site). ``regions``: the user regions (default: every region
    some facility has a distance to, in order; each facility needs a distance to each).
    ``slo_ms``: the inference SLO on request latency (network round trip + ``server_ms``).
    ``background``: the east-west traffic of the network Monte Carlo (:class:`fabricsim.
    Background`, a load, or None); ``samples`` Monte Carlo samples (steps), ``requests``
    inference requests per region. Same seed, same numbers.

    Raises InvalidArgumentError naming the facility and field (e.g. a rack below one server at
    its minimum power cap, a region without a distance)."""
    if isinstance(facilities, Facility):
        facilities = [facilities]
    if isinstance(facilities, (str, bytes, Mapping)) or not isinstance(facilities, Sequence):
        raise InvalidTypeError("facilities: expected a list of fabricsim.Facility")
    facilities = list(facilities)
    if not facilities:
        raise InvalidArgumentError("facilities: give at least one facility")
    for i, f in enumerate(facilities):
        if not isinstance(f, Facility):
            raise InvalidTypeError(
                f"facilities[{i}]: expected a fabricsim.Facility, got {type(f).__name__}"
            )
    names = [f.name for f in facilities]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"facilities: a site name appears twice: {names}")
    if not isinstance(job, TrainingJob):
        raise InvalidTypeError(f"job: expected a fabricsim.TrainingJob, got {type(job).__name__}")
    if isinstance(fabric_design, nx.Graph):
        fabric = Fabric.from_networkx(fabric_design, profile=job.profile)
    elif isinstance(fabric_design, Fabric):
        fabric = fabric_design
    else:
        raise InvalidTypeError(
            f"fabric_design: expected a fabricsim.Fabric or a networkx graph, "
            f"got {type(fabric_design).__name__}"
        )
    slo_ms = _validate.positive("slo_ms", slo_ms)
    server_ms = _validate.positive("server_ms", server_ms, allow_zero=True)
    samples = _validate.integer("samples", samples)
    requests = _validate.integer("requests", requests)
    seed = _validate.seed(seed)
    if regions is None:
        regions = list(dict.fromkeys(g for f in facilities for g in f.distance_km))
    elif isinstance(regions, str):
        regions = [regions]
    regions = tuple(regions)
    for g in regions:
        if not isinstance(g, str):
            raise InvalidTypeError(f"regions: expected region names, got {g!r}")
    prof = profiles.get_profile(job.profile)
    # check every facility before the long work (a bad rack power fails here, by name)
    for f in facilities:
        try:
            f.clock_fraction(prof)
        except InvalidArgumentError as e:
            raise type(e)(f"facility {f.name!r}: {e}") from None
        for g in regions:
            if g not in f.distance_km:
                raise InvalidArgumentError(
                    f"facility {f.name!r}: distance_km: no distance to region {g!r}"
                )

    bar = None
    if progress:
        bar = ProgressBar(1 + len(facilities), "scorecard")
    net = step(fabric, job, background, samples, seed, routing=routing, threads=threads)
    if bar:
        bar.update()
    rows: list[dict] = []
    steps: dict[str, Any] = {}
    for f in facilities:
        rows.append(
            _row(
                f,
                fabric,
                job,
                prof,
                net.comm_time_s,
                regions,
                slo_ms,
                server_ms,
                samples,
                seed,
                requests,
                steps,
            )
        )
        if bar:
            bar.update()
    if bar:
        bar.close()
    return Scorecard(
        rows=tuple(rows), regions=regions, slo_ms=slo_ms, job_gpus=job.gpus, steps=steps
    )


def _row(
    f: Facility,
    fabric: Fabric,
    job: TrainingJob,
    prof: profiles.Profile,
    comm: dict,
    regions: tuple,
    slo_ms: float,
    server_ms: float,
    samples: int,
    seed: int,
    requests: int,
    steps: dict,
) -> dict:
    ready = f.ready_gpus(prof)
    grown = f.ready_gpus(prof, with_growth=True)
    job_frac = f.job_power_fraction(prof, job.gpus)
    fits = job_frac > 0
    rack_frac = f.gpu_power_fraction(prof)
    if not fits:
        capped_by = "power (MW)"
    elif job_frac < rack_frac - 1e-12:
        capped_by = "power (MW)"
    elif f.rack_power_kw <= f.cooling_max_kw:
        capped_by = "power (rack)"
    else:
        capped_by = "cooling"
    site = combine_site(job, f, comm, samples=samples, seed=seed)
    steps[f.name] = site
    gpu_kw = prof.gpus_per_node * float(prof.gpu_tdp_w or 0.0) / 1e3
    server_kw = float(f.server_power_kw or prof.server_power_kw or 0.0)  # checked above
    draw_kw = server_kw - gpu_kw * (1.0 - (job_frac if fits else rack_frac))
    job_servers = math.ceil(job.gpus / prof.gpus_per_node)
    it_kw = job_servers * draw_kw
    pue = f.pue_value
    facility_mw = it_kw * pue / 1e3
    tps = site.tokens_per_s if fits else 0.0
    tok_mwh = tps * 3600.0 / facility_mw if fits else 0.0
    price = f.power_price_per_mwh
    cost = price * 1e6 / tok_mwh if tok_mwh > 0 else math.nan
    row: dict[str, Any] = {
        "site": f.name,
        "cooling": f.cooling,
        "fits": fits,
        "it_power_mw": f.it_power_mw,
        "ready_gpus": ready,
        "growth_gpus": grown,
        "growth_lead_months": f.growth_lead_months,
        "rack_kw_usable": f.usable_rack_kw(prof),
        "capped_by": capped_by,
        "servers_per_rack": f.servers_per_rack(prof),
        "server_power_kw": server_kw,
        "gpu_power_fraction": job_frac if fits else rack_frac,
        "gpu_clock_fraction": site.clock_fraction,
        "ambient_c_mean": float(np.mean(f.ambient_series_c)),
        "straggler_p50": site.straggler_p50,
        "straggler_p99": site.straggler_p99,
        "thermal_p99": site.thermal_p99,
        "step_time_p50_s": site.step_time_p50_s if fits else math.nan,
        "step_time_p99_s": site.step_time_p99_s if fits else math.nan,
        "exposed_comm_fraction": float(np.median(site.exposed_comm_s / site.step_time_s)),
        "network_tail_s": site.network_tail_s,
        "straggler_tail_s": site.straggler_tail_s,
        "tail_dominant": site.dominant,
        "tokens_per_s": tps,
        "job_it_power_kw": it_kw,
        "job_facility_power_kw": it_kw * pue,
        "tokens_per_s_per_mw": tps / facility_mw if fits else 0.0,
        "tokens_per_mwh": tok_mwh,
        "energy_cost_per_mtok": cost,
        "power_price_per_mwh": price,
        "pue": pue,
        "carriers": len(f.carriers),
        "carrier_names": [c.name for c in f.carriers],
        "availability": float(1.0 - np.prod([1.0 - c.availability for c in f.carriers]))
        if f.carriers
        else 0.0,
        "route_km": {g: f.distance_km[g] * f.route_factor for g in regions},
        "inference_p50_ms": {},
        "inference_p99_ms": {},
        "slo_attainment": {},
    }
    if regions:
        lat = region_latency(
            f, fabric, regions, slo_ms=slo_ms, server_ms=server_ms, requests=requests, seed=seed
        )
        for g in regions:
            row["inference_p50_ms"][g] = lat[g]["p50_ms"]
            row["inference_p99_ms"][g] = lat[g]["p99_ms"]
            row["slo_attainment"][g] = lat[g]["within_slo"]
            row["availability"] = lat[g]["availability_expected"]
    row["binding_constraint"] = _binding(row)
    return row


__all__ = ["COLUMNS", "Scorecard", "scorecard", "verdict"]
