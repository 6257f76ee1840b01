"""The ``fabricsim`` command: compare fabric designs from a scenario file.

::

    fabricsim compare [SCENARIO.toml]     design comparison + erosion per design (the main job)
    fabricsim erosion [SCENARIO.toml]     erosion tables only (step time, tokens/s vs load)
    fabricsim collective [SCENARIO.toml]  nccl-tests-style size sweep on one design
    fabricsim sweep [SCENARIO.toml]       every combination of [sweep.grid], locally or on Dask
    fabricsim calibrate LOG --design NAME  an nccl-tests log beside the simulated curve
    fabricsim scorecard [SCENARIO.toml]   site scorecard: power, cooling, location -> tokens/s
    fabricsim example [--scorecard]       print a built-in example scenario (to copy and edit)
    fabricsim demo                        a tour of one leaf-spine fabric: paths, ECMP collisions
    fabricsim [SCENARIO.toml] [options]   no command: ``fabricsim compare`` (so does
                                          ``python -m fabricsim``)

Without ``SCENARIO.toml`` the built-in example runs (``fabricsim example`` prints it;
``fabricsim scorecard`` runs its own, ``fabricsim example --scorecard``). The
format is documented in :mod:`fabricsim.cli.scenario`. ``fabricsim --version`` prints the
version. Every option is checked before anything is printed. Exit codes: 0 ok, 2 bad input
(the message names the file, line and key), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fabricsim import __version__, _validate
from fabricsim._files import write_text_atomic
from fabricsim._validate import printable
from fabricsim.analysis import nccl_tests
from fabricsim.analysis import sweep as sw
from fabricsim.analysis.training import _image_format, erosion, plot_erosion
from fabricsim.cli import demo, nccl_env
from fabricsim.cli.scenario import (
    example_path,
    example_text,
    load_scenario,
    parse_size,
    run_scenario,
    run_scorecard,
    scorecard_example_path,
    scorecard_example_text,
)
from fabricsim.exceptions import FabricError, ScenarioError
from fabricsim.traffic.collectives import (
    ALGORITHMS,
    DATATYPES,
    Collective,
    normalize_op,
    sweep_sizes,
)

EXAMPLE_LABEL = "example.toml (built-in)"
SCORECARD_LABEL = "scorecard.toml (built-in)"
COMMANDS = (
    "compare",
    "erosion",
    "collective",
    "sweep",
    "calibrate",
    "scorecard",
    "example",
    "demo",
)


class UsageError(Exception):
    """Bad command-line input found before any simulation runs (exit code 2)."""


# --------------------------------------------------------------------------- helpers


def _load(path: str | None):

    if path is None:
        return load_scenario(example_path(), name=EXAMPLE_LABEL)
    return load_scenario(Path(path))


def _checked(text: str, check) -> Any:
    """``check(int(text))`` with fabricsim._validate's message, as an argparse type error."""
    v: Any
    try:
        v = int(text)
    except ValueError:
        v = text  # reported by the check, in its words
    try:
        return check(v)
    except FabricError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None


def _positive_int(text: str) -> int:
    return _checked(text, lambda v: _validate.integer("value", v, minimum=1))


def _seed(text: str) -> int:
    return _checked(text, lambda v: _validate.seed(v, "seed"))


def _size(text: str) -> int:

    try:
        v = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a size >= 1 byte, got {text!r}")
    return v


def _load_fraction(text: str, what: str) -> float:
    try:
        v: Any = float(text)
    except ValueError:
        v = text
    try:
        return _validate.real(what, v, minimum=0.0, maximum=1.0, max_open=True)
    except FabricError as e:
        raise argparse.ArgumentTypeError(
            f"{str(e).split(': ', 1)[1]} (a fraction of NIC capacity)"
        ) from None


def _loads(text: str) -> tuple[float, ...]:
    vals = tuple(_load_fraction(x.strip(), "loads") for x in text.split(",") if x.strip())
    if not vals:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated loads like 0,0.3,0.6, got {text!r}"
        )
    return vals


def _load_value(text: str) -> float:
    return _load_fraction(text, "load")


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before a long run if an output cannot be written: a missing or unwritable folder,
    a directory, an unknown image format, the input scenario itself, two outputs on one path,
    or plotting without matplotlib."""
    dests = [(opt, getattr(args, opt, None)) for opt in ("json", "csv", "plot")]
    if sum(1 for _, d in dests if d == "-") > 1:
        raise UsageError("only one of --json and --csv can write to stdout ('-')")
    if getattr(args, "plot", None) == "-":
        raise UsageError("--plot needs a file name (a PNG), not '-'")
    scenario = getattr(args, "scenario", None)
    source = Path(scenario).expanduser().resolve() if scenario else None
    seen: dict[Path, str] = {}
    for opt, d in dests:
        if d is None or d == "-":
            continue
        p = Path(d).expanduser().resolve()
        parent = p.parent
        if not parent.is_dir():
            raise UsageError(f"--{opt} {d}: the directory {parent} does not exist")
        if p.is_dir():
            raise UsageError(f"--{opt} {d}: is a directory; give a file name")
        if p.exists() and not os.access(p, os.W_OK) or not os.access(parent, os.W_OK):
            raise UsageError(f"--{opt} {d}: not writable")
        if source is not None and p == source:
            raise UsageError(f"--{opt} {d}: is the input scenario; it would be overwritten")
        if p in seen:
            raise UsageError(f"--{opt} {d}: --{seen[p]} writes to the same file")
        seen[p] = opt
    if getattr(args, "plot", None):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'fabricsim[plot]'") from None

        try:
            _image_format(args.plot)
        except FabricError as e:
            raise UsageError(f"--plot {args.plot}: {str(e).split(': ', 1)[1]}") from None


def _machine_output(args: argparse.Namespace) -> bool:
    """True when --json or --csv goes to stdout: print nothing else there."""
    return getattr(args, "json", None) == "-" or getattr(args, "csv", None) == "-"


def _write(dest: str, text: str) -> None:
    if dest == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(dest, text)


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() if args.progress is None else args.progress


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _fmt_count(x: float) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:g}"


def describe_job(job) -> str:
    parts = [f"DP {job.data_parallel}"]
    if job.tensor_parallel > 1:
        parts.append(f"TP {job.tensor_parallel}")
    if job.pipeline_parallel > 1:
        parts.append(f"PP {job.pipeline_parallel}")
    if job.expert_parallel > 1:
        parts.append(f"EP {job.expert_parallel}")
    return (
        f"{_fmt_count(job.params)}-parameter model, {' x '.join(parts)} = {job.gpus} GPUs, "
        f"{job.global_batch_tokens:,} tokens/step, compute {job.compute_time_s * 1e3:.1f} "
        f"ms/step, overlap {job.overlap:.0%}"
    )


def describe_background(bg) -> str:
    if isinstance(bg.sizes, str):
        sizes = bg.sizes
    elif isinstance(bg.sizes, (int, float)):
        sizes = f"{bg.sizes:,.0f}-byte"
    else:
        sizes = "custom-CDF"
    text = f"{bg.pattern} {sizes} background (mean flow {bg.mean_size_bytes / 1e6:.2g} MB)"
    if bg.static_fraction:
        text += f", {bg.static_fraction:.0%} of every link taken statically"
    return text


def _heading(sc, what: str) -> list[str]:
    title = printable(sc.title or "fabricsim scenario")
    lines = [f"== {title} ==", f"({what} of {printable(sc.source)})"]
    if sc.description:
        lines += ["", *(printable(x) for x in sc.description.strip().split("\n"))]
    return lines


def verdict(cmp) -> str:
    """Two sentences on which design loses the most throughput and where its data-parallel
    traffic saturates."""
    sat = [r for r in cmp.rows if r.get("saturated")]
    notes = []
    for r in sat:
        why = (
            "the background alone offers a link more than its capacity, so queues grow "
            "without bound (not simulated)"
            if r.get("saturation") in (None, "offered load")
            else f"a link is offered {r['offered_max']:.0%} of its capacity and a sample ran out "
            f"of its {r['saturation']} (queues too long to simulate in bounded work)"
        )
        notes.append(f"At {cmp.load:.0%} background load {r['design']!r} is saturated: {why}.")
    note = "\n".join(notes)
    rows = [r for r in cmp.rows if r.get("erosion_p50") is not None and not r.get("saturated")]
    if len(rows) < 2:
        return note
    text = _verdict(cmp, rows)  # names are printed with repr(): control characters escaped
    return f"{text}\n{note}" if note else text


def _verdict(cmp, rows) -> str:
    best = min(rows, key=lambda r: r["erosion_p50"])
    worst = max(rows, key=lambda r: r["erosion_p50"])
    if worst["erosion_p50"] - best["erosion_p50"] < 0.005:
        return (
            f"At {cmp.load:.0%} background load every design runs within 0.5 % of the "
            f"others ({best['erosion_p50']:.1%} erosion)."
        )
    ratio = worst["step_time_p50_s"] / best["step_time_p50_s"]
    lines = [
        f"At {cmp.load:.0%} background load {worst['design']!r} loses the most: "
        f"{worst['erosion_p50']:.1%} of the ideal fabric's tokens/s (p50; "
        f"{worst['erosion_p99']:.1%} at p99), with steps {ratio:.2f}x as long as on "
        f"{best['design']!r} ({best['erosion_p50']:.1%} erosion).",
    ]
    why = []
    if (
        worst.get("bisection_gbps")
        and best.get("bisection_gbps")
        and worst["bisection_gbps"] < 0.99 * best["bisection_gbps"]
    ):
        why.append(
            f"it has {worst['bisection_gbps'] / 1e3:.1f} Tb/s of bisection bandwidth "
            f"against {best['bisection_gbps'] / 1e3:.1f}"
        )
    if (
        worst.get("busbw_GBps")
        and best.get("busbw_GBps")
        and worst["busbw_GBps"] < 0.95 * best["busbw_GBps"]
    ):
        why.append(
            f"a ring all-reduce over the job's GPUs reaches {worst['busbw_GBps']:.1f} "
            f"GB/s bus bandwidth against {best['busbw_GBps']:.1f}"
        )
    if worst.get("bottleneck"):
        why.append(
            f"with no background its data-parallel traffic is busiest on "
            f"{worst['bottleneck']} links (mean utilisation)"
        )
    if why:
        lines.append("Why: " + "; ".join(why) + ".")
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


def cmd_compare(args: argparse.Namespace) -> int:

    _check_outputs(args)
    sc = _load(args.scenario)
    if args.loads is not None or args.load is not None:
        import dataclasses

        load = sc.load if args.load is None else args.load
        loads = sc.loads if args.loads is None else args.loads
        sc = dataclasses.replace(sc, load=load, loads=loads)
    quiet = _machine_output(args)
    if not quiet:
        print("\n".join(_heading(sc, "design comparison")))
        print(f"job: {describe_job(sc.job)}")
        print(
            f"traffic: {describe_background(sc.background)} at loads "
            f"{', '.join(f'{x:g}' for x in sc.sweep_loads)}; {args.samples or sc.samples} "
            f"samples per loaded point, seed {sc.seed if args.seed is None else args.seed}"
        )
        print(flush=True)
    cmp = run_scenario(
        sc, samples=args.samples, seed=args.seed, threads=args.threads, progress=_progress(args)
    )
    if not quiet:
        print(cmp.table())
        v = verdict(cmp)
        if v:
            print()
            print(v)
        print()
        print("== erosion vs background load, per design ==")
        for er in cmp.erosion.values():
            print()
            print(er.table())
    if args.json:
        _write(args.json, cmp.to_json())
    if args.csv:
        _write(args.csv, cmp.to_csv())
    if args.plot:
        cmp.plot(args.plot)
    _report_files(args, quiet)
    return 0


def _report_files(args: argparse.Namespace, quiet: bool) -> None:
    out = sys.stderr if quiet else sys.stdout
    for opt in ("json", "csv", "plot"):
        d = getattr(args, opt, None)
        if d and d != "-":
            print(f"wrote {d}", file=out)


def _pick_designs(sc, names: Sequence[str] | None) -> list[str]:
    if not names:
        return list(sc.fabrics)
    for n in names:
        if n not in sc.fabrics:
            raise UsageError(
                f"--design {n!r}: no such design in {sc.source}; designs: {', '.join(sc.fabrics)}"
            )
    return list(dict.fromkeys(names))


def cmd_erosion(args: argparse.Namespace) -> int:

    _check_outputs(args)
    sc = _load(args.scenario)
    names = _pick_designs(sc, args.design)
    loads = sc.sweep_loads if args.loads is None else tuple(sorted(set(args.loads)))
    samples = args.samples or sc.samples
    seed = sc.seed if args.seed is None else args.seed
    quiet = _machine_output(args)
    if not quiet:
        print("\n".join(_heading(sc, "erosion sweep")))
        print(f"job: {describe_job(sc.job)}")
        print(
            f"traffic: {describe_background(sc.background)}; {samples} samples per loaded "
            f"point, seed {seed}",
            flush=True,
        )
    results = []
    for name in names:
        er = erosion(
            sc.fabrics[name],
            sc.job,
            loads,
            samples,
            seed,
            background=sc.background,
            routing=sc.routing[name],
            threads=args.threads,
            name=name,
            progress=_progress(args),
        )
        results.append(er)
        if not quiet:
            print()
            print(er.table(), flush=True)
    if args.json:
        doc = {
            er.name: {
                "ideal_step_time_s": er.ideal_step_time_s,
                "ideal_tokens_per_s": er.ideal_tokens_per_s,
                "rows": [_clean(r) for r in er.rows],
            }
            for er in results
        }
        _write(args.json, json.dumps(doc, indent=2))
    if args.csv:
        _write(args.csv, _csv([{"design": er.name, **r} for er in results for r in er.rows]))
    if args.plot:
        plot_erosion(results, args.plot)
    _report_files(args, quiet)
    return 0


def _protocol(text: str) -> str:
    try:
        return nccl_env.protocol_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _channels(text: str) -> int:
    return _checked(
        text, lambda v: _validate.integer("value", v, minimum=1, maximum=nccl_env.MAX_CHANNELS)
    )


#: Ops NCCL runs as grouped point-to-point calls: NCCL_ALGO / NCCL_PROTO do not select them
#: (src/enqueue.cc picks LL or Simple for them by NCCL_P2P_LL_THRESHOLD).
_P2P_OPS = ("all_to_all", "send_recv")


def _collective_settings(args: argparse.Namespace, sc, op: str, env) -> tuple:
    """(algorithm, protocol) :class:`nccl_env.Setting` s: the flag, else the scenario's key
    (unless "auto"), else NCCL's variable, else auto."""
    defaults = sc.collective
    out = []
    for key, var, found in (
        ("algorithm", nccl_env.ALGO_VAR, env.algorithm),
        ("protocol", nccl_env.PROTO_VAR, env.protocol),
    ):
        flag = getattr(args, key)
        is_set = bool(os.environ.get(var, "").strip())
        if flag is not None:
            if key == "algorithm":  # checked here, as before NCCL's names were taken
                try:
                    flag = nccl_env.algorithm_name(flag)
                except ValueError as e:
                    raise UsageError(f"--algorithm: {e}") from None
            out.append(nccl_env.Setting(flag, f"flag --{key}", f"--{key}"))
        elif defaults.get(key, "auto") != "auto":
            out.append(
                nccl_env.Setting(
                    defaults[key], f"scenario [collective].{key}", f"{sc.source}: collective.{key}"
                )
            )
        elif is_set and op in _P2P_OPS:
            out.append(
                nccl_env.Setting(
                    "auto",
                    f"auto: {var}={os.environ[var].strip()} ignored, NCCL runs {op} as "
                    f"point-to-point calls, which {var} does not select",
                )
            )
        elif found is not None:
            out.append(found)
        else:
            what = "NCCL's model picks it" if key == "protocol" else "the fastest candidate"
            out.append(nccl_env.Setting("auto", f"auto: {var} unset; {what} at each size"))
    return tuple(out)


def _collective_request(args: argparse.Namespace, sc) -> dict:
    """Everything ``fabricsim collective`` will run, checked before anything is printed."""

    defaults = sc.collective
    name = args.design or defaults.get("design") or next(iter(sc.fabrics))
    _pick_designs(sc, [name])
    fab = sc.fabrics[name]
    try:
        op = normalize_op(args.op or defaults["op"])
    except FabricError as e:
        raise UsageError(f"--op: {e}") from None
    lo = args.min_bytes or defaults["min_bytes"]
    hi = args.max_bytes or defaults["max_bytes"]
    if hi < lo:
        raise UsageError(f"--max-bytes ({hi}) must be >= --min-bytes ({lo})")
    factor = args.step_factor or defaults["step_factor"]
    if factor < 2:
        raise UsageError(f"--step-factor: must be >= 2, got {factor}")
    datatype = args.datatype or "float"
    if datatype not in DATATYPES:
        raise UsageError(f"--datatype: unknown type {datatype!r}; valid: {', '.join(DATATYPES)}")
    ranks = None
    if args.ngpus is not None:
        if args.ngpus < 2 or args.ngpus > len(fab.gpus):
            raise UsageError(
                f"-g/--ngpus: design {name!r} has {len(fab.gpus)} GPUs; give 2.."
                f"{len(fab.gpus)}, got {args.ngpus}"
            )
        ranks = list(fab.gpus[: args.ngpus])

    # NCCL's variables count only where no flag or scenario key says otherwise (and not for
    # point-to-point ops), so only those are read: an overridden one may be anything.
    def unset(key: str) -> bool:
        return getattr(args, key) is None and defaults.get(key, "auto") == "auto"

    env = nccl_env.read(
        os.environ,
        algorithm=unset("algorithm") and op not in _P2P_OPS,
        protocol=unset("protocol") and op not in _P2P_OPS,
        channels=args.channels is None and defaults.get("channels") is None,
    )
    algorithm, protocol = _collective_settings(args, sc, op, env)
    if args.channels is not None:
        channels = nccl_env.Setting(args.channels, "flag --channels", "--channels")
    elif defaults.get("channels") is not None:
        channels = nccl_env.Setting(
            defaults["channels"],
            "scenario [collective].channels",
            f"{sc.source}: collective.channels",
        )
    else:
        found = Collective(op, lo, ranks).channel_count(fab)
        pinned = env.channels(found)
        if pinned is not None:
            note = env.channels_note or ""
            channels = nccl_env.Setting(pinned, f"environment {note}", note)
        else:
            channels = nccl_env.Setting(found, "auto: one per GPU of the largest host")
    for size in (lo, hi):  # what runs must build this op: fail here, not after the header
        try:
            coll = Collective(
                op,
                size,
                ranks,
                str(algorithm.value),  # type: ignore[arg-type]  # checked by Collective
                int(channels.value),
                protocol=str(protocol.value),
            )
            coll.choices(fab)
            if size == lo and algorithm.value != "auto":  # e.g. NVLS across hosts
                coll.plan(fab, str(algorithm.value))
        except FabricError as e:
            msg = str(e)
            for setting, key, other in (
                (algorithm, "algorithm", protocol),
                (protocol, "protocol", algorithm),
            ):
                if msg.startswith(f"{key}:"):  # name what set it, and what set the other
                    who = setting.name or f"{key} {setting.value} ({setting.source})"
                    rest = msg.split(": ", 1)[1]
                    also = f"{other.value} from {other.name}" if other.name else None
                    raise UsageError(f"{who}: {rest}" + (f" ({also})" if also else "")) from None
            raise UsageError(msg) from None
    return dict(
        name=name,
        fab=fab,
        op=op,
        lo=lo,
        hi=hi,
        factor=factor,
        datatype=datatype,
        ranks=ranks,
        algorithm=algorithm,
        protocol=protocol,
        channels=channels,
        routing=args.routing or defaults.get("routing") or sc.routing[name],
        seed=sc.seed if args.seed is None else args.seed,
    )


def cmd_collective(args: argparse.Namespace) -> int:

    _check_outputs(args)
    sc = _load(args.scenario)
    req = _collective_request(args, sc)
    fab, name = req["fab"], req["name"]
    quiet = _machine_output(args)
    algorithm, protocol, channels = req["algorithm"], req["protocol"], req["channels"]
    if not quiet:
        print(
            f"# design {name!r} of {sc.source}: {len(fab.gpus)} GPUs, {fab.switch_count} switches",
            flush=True,
        )
        for what, setting in (
            ("algorithm", algorithm),
            ("protocol", protocol),
            ("channels", channels),
        ):
            print(f"# {what} {setting.value} ({setting.source})", flush=True)
    sweep = sweep_sizes(
        fab,
        req["op"],
        min_bytes=req["lo"],
        max_bytes=req["hi"],
        step_factor=req["factor"],
        ranks=req["ranks"],
        algorithm=algorithm.value,
        protocol=protocol.value,
        channels=int(channels.value) if channels.name else None,  # None: the API's default
        routing=req["routing"],
        seed=req["seed"],
        datatype=req["datatype"],
        file=None if quiet else sys.stdout,
        progress=_progress(args),
        # what ran at each size, when the model picked it
        tuning="auto" in (algorithm.value, protocol.value),
    )
    rows = [
        {k: v for k, v in r.as_dict().items() if k not in ("phases", "bottlenecks")} for r in sweep
    ]
    if args.json:
        _write(
            args.json,
            json.dumps(
                {
                    "design": name,
                    "routing": req["routing"],
                    "algorithm": algorithm.as_dict(),
                    "protocol": protocol.as_dict(),
                    "channels": channels.as_dict(),
                    "rows": [_clean(r) for r in rows],
                },
                indent=2,
            ),
        )
    if args.csv:
        _write(args.csv, _csv(rows))
    if args.plot:
        _save(sweep.plot(), args.plot)
    _report_files(args, quiet)
    return 0


def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_calibrate(args: argparse.Namespace) -> int:

    _check_outputs(args)
    sc = _load(args.scenario)
    log = nccl_tests.load(args.log, op=args.op)
    if log.op is None:
        raise UsageError(
            f"{args.log}: the log does not name its nccl-tests binary (e.g. "
            "all_reduce_perf); give --op"
        )
    name = args.design or sc.collective.get("design") or next(iter(sc.fabrics))
    _pick_designs(sc, [name])
    fab = sc.fabrics[name]
    n = log.n_ranks or len(fab.gpus)
    if n > len(fab.gpus):
        raise UsageError(f"{args.log}: ran on {n} GPUs but design {name!r} has {len(fab.gpus)}")
    try:
        algorithm = _validate.choice("--algorithm", args.algorithm or "auto", ALGORITHMS)
        Collective(normalize_op(log.op), 1 << 20, list(fab.gpus[:n]), algorithm)
    except FabricError as e:
        raise UsageError(str(e)) from None
    routing = args.routing or sc.routing[name]
    cal = nccl_tests.calibrate(
        fab,
        log,
        algorithm=algorithm,
        routing=routing,
        seed=sc.seed if args.seed is None else args.seed,
        design=name,
        progress=_progress(args),
    )
    quiet = _machine_output(args)
    if not quiet:
        print(cal.table())
    if args.json:
        _write(
            args.json,
            json.dumps(
                {
                    "design": name,
                    "op": cal.op,
                    "n_ranks": cal.n_ranks,
                    "log": str(args.log),
                    "rows": [_clean(r) for r in cal.rows],
                },
                indent=2,
            ),
        )
    if args.csv:
        _write(args.csv, _csv(list(cal.rows)))
    if args.plot:
        _save(cal.plot(), args.plot)
    _report_files(args, quiet)
    return 0


def _has_dask() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def cmd_sweep(args: argparse.Namespace) -> int:

    _check_outputs(args)
    for mod in ("pandas", "pyarrow"):
        import importlib.util

        if importlib.util.find_spec(mod) is None:
            raise UsageError(f"fabricsim sweep needs {mod}: {sw.DASK_HINT}")
    if args.out is not None:
        parent = Path(args.out).expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--out {args.out}: the directory {parent} does not exist")
    if args.scheduler is not None and not _has_dask():
        raise UsageError(f"--scheduler needs dask.distributed: {sw.DASK_HINT}")
    sc = _load(args.scenario)
    try:
        sweep = sw.Sweep(sc)
    except sw.SweepAxisError as e:  # a Scenario built by hand; files are checked when loaded
        raise UsageError(str(e)) from None
    print("\n".join(_heading(sc, "design-space sweep")))
    print(f"job: {describe_job(sc.job)}")
    axes = ", ".join(f"{a.column} ({len(a.values)})" for a in sweep.axes) or "none"
    print(
        f"{len(sweep)} points: {len(sc.fabrics)} designs x axes {axes}"
        + (
            ""
            if any(a.column == "load" for a in sweep.axes)
            else f" x loads {', '.join(f'{x:g}' for x in sc.sweep_loads)}"
        )
    )
    if args.scheduler is not None:
        executor, where = args.scheduler, f"on the Dask cluster at {args.scheduler}"
    elif args.local_workers == 1:
        executor, where = "serial", "in this process"
    else:
        n = args.local_workers or os.cpu_count() or 1
        executor, where = "processes", f"in {n} local processes (this one and {n - 1} spawned)"
    print(
        f"running {where}"
        + ("" if args.out is None else f", writing {args.out}")
        + (
            ""
            if _has_dask() or args.scheduler
            else f" (to run on a Dask cluster: {sw.DASK_HINT}, then --scheduler ADDRESS)"
        ),
        flush=True,
    )
    try:
        df = sw.run_sweep(
            sweep,
            executor=executor,
            workers=args.local_workers,
            out=args.out,
            batch_size=args.batch_size,
            progress=_progress(args),
        )
    except ImportError as e:
        raise UsageError(str(e)) from None
    stats = df.attrs.get("fabricsim.sweep", {})
    print()
    print(sw.summary(df, sweep))
    print()
    done = f"{stats.get('ran', 0)} points ran in {stats.get('wall_s', 0.0):.1f} s"
    if stats.get("skipped"):
        done += f"; {stats['skipped']} were already in {args.out}"
    print(done)
    if stats.get("dask_costly_settings"):
        print(
            f"note: the Dask cluster runs with {', '.join(stats['dask_costly_settings'])}, "
            "which cost the sweep time (CPU taken from the points, or a worker idle at the "
            "end): start the scheduler and workers with the variables of "
            "fabricsim.analysis.sweep.DASK_ENV (docs/sweeps.md, Running)"
        )
    if args.out:
        print(f"wrote {args.out} ({len(df)} rows; pandas.read_parquet({str(args.out)!r}))")
    if args.plot:
        _save(sw.plot_pareto(df, sweep), args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_scorecard(args: argparse.Namespace) -> int:

    _check_outputs(args)
    if args.scenario is None:
        sc = load_scenario(scorecard_example_path(), name=SCORECARD_LABEL)
    else:
        sc = load_scenario(Path(args.scenario))
    if not sc.facilities:
        raise UsageError(
            f"{sc.source}: no [[facility]] tables to score (fabricsim example "
            "--scorecard prints the format)"
        )
    samples = args.samples or sc.samples
    seed = sc.seed if args.seed is None else args.seed
    quiet = _machine_output(args)
    if not quiet:
        print("\n".join(_heading(sc, "site scorecard")))
        print(f"job: {describe_job(sc.job)}")
        bg = (
            f"{describe_background(sc.background)} at load {sc.load:g}"
            if sc.load > 0
            else "no background traffic"
        )
        print(
            f"fabric: {sc.scorecard_design!r} at every site; {bg}; {samples} Monte Carlo "
            f"steps per site, seed {seed}"
        )
        card = sc.scorecard
        if card.get("regions"):
            print(
                f"users: {', '.join(card['regions'])}; inference SLO {card['slo_ms']:g} ms "
                f"(network round trip + {card['server_ms']:g} ms server time), "
                f"{card['requests']:,} requests per region"
            )
        print(flush=True)
    result = run_scorecard(
        sc, samples=args.samples, seed=args.seed, threads=args.threads, progress=_progress(args)
    )
    if not quiet:
        print(result.table())
        print()
        print(result.verdict())
        print()
        print(
            "(columns: docs/facilities.md; constants and their sources: "
            "python -c 'import fabricsim; print(fabricsim.profiles.sources())')"
        )
    if args.json:
        _write(args.json, result.to_json())
    if args.csv:
        _write(args.csv, result.to_csv())
    if args.plot:
        result.plot(args.plot)
    _report_files(args, quiet)
    return 0


def cmd_example(args: argparse.Namespace) -> int:

    sys.stdout.write(scorecard_example_text() if args.scorecard else example_text())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:

    try:
        return demo.main(args.demo_args, prog="fabricsim demo")
    except SystemExit as e:  # its own argparse usage errors / --help
        return e.code if isinstance(e.code, int) else 2


# --------------------------------------------------------------------------- parser


def build_parser(prog: str = "fabricsim") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="How much model throughput does this GPU-cluster fabric cost us? Compare "
        "fabric designs for a training job under background traffic.",
        epilog="Without a COMMAND, fabricsim runs compare (fabricsim [SCENARIO.toml] is fabricsim "
        "compare [SCENARIO.toml]; so does python -m fabricsim). Without SCENARIO.toml the "
        "built-in example runs (fabricsim example prints it). Exit codes: 0 ok, 2 bad input, "
        "130 interrupted.",
    )

    ap.add_argument("--version", action="version", version=f"fabricsim {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser, *, sweep: bool) -> None:
        p.add_argument(
            "scenario",
            nargs="?",
            metavar="SCENARIO.toml",
            help="scenario file (default: the built-in example)",
        )
        p.add_argument("--seed", type=_seed, help="override the scenario's seed")
        if sweep:
            p.add_argument(
                "--samples",
                type=_positive_int,
                help="Monte Carlo samples per loaded point (override)",
            )
            p.add_argument(
                "--threads",
                type=_positive_int,
                help="worker threads for the Monte Carlo samples (default: all "
                "cores); results do not depend on it",
            )
            p.add_argument(
                "--loads",
                type=_loads,
                metavar="L1,L2,...",
                help="background loads of the sweep (override)",
            )
        p.add_argument("--json", metavar="PATH|-", help="write the results as JSON ('-': stdout)")
        p.add_argument("--csv", metavar="PATH|-", help="write the results as CSV ('-': stdout)")
        p.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bar on stderr (default: when stderr is a terminal)",
        )

    p = sub.add_parser(
        "compare",
        help="compare the scenario's designs (the main job)",
        description="One row per design: switches, cables, bisection, all-reduce "
        "busbw, step time p50/p99, tokens/s, erosion vs an ideal non-blocking "
        "fabric at the headline load, MFU and where data-parallel traffic "
        "bottlenecks; then each design's erosion at every load.",
    )
    common(p, sweep=True)
    p.add_argument("--load", type=_load_value, help="the headline load the rows report (override)")
    p.add_argument("--plot", metavar="PNG", help="write tokens/s and p99 step time vs load")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "erosion",
        help="erosion tables: step time and tokens/s vs load",
        description="Step time, tokens/s and throughput lost vs an ideal "
        "non-blocking fabric at every background load, per design.",
    )
    common(p, sweep=True)
    p.add_argument(
        "--design",
        action="append",
        metavar="NAME",
        help="only this design (repeatable; default: every design)",
    )
    p.add_argument("--plot", metavar="PNG", help="write tokens/s and p99 step time vs load")
    p.set_defaults(func=cmd_erosion)

    p = sub.add_parser(
        "collective",
        help="nccl-tests-style size sweep of one collective",
        description="Run a collective over the GPUs of one design at sizes "
        "min..max (x step factor) and print nccl-tests' table: size, count, "
        "type, redop, root, out-of-place and in-place time / algbw / busbw / "
        "#wrong, and the '# Avg bus bandwidth' footer, so nccl-tests log parsers "
        "read it. -b/-e/-f/-g/-d as in nccl-tests. Defaults come from the "
        "scenario's [collective] table. Like NCCL, it reads NCCL_ALGO and NCCL_PROTO (one "
        "name each: fabricsim runs one algorithm and protocol or picks among all, so a list "
        "or a '^' exclusion is an error; ignored for all_to_all and send_recv, which NCCL "
        "runs as point-to-point calls) and NCCL_MIN_NCHANNELS / NCCL_MAX_NCHANNELS "
        "(channels = max(min(default, MAX), MIN); equal bounds pin the count) when neither "
        "the flag nor the [collective] key is given. The header says which algorithm, "
        "protocol and channels ran and where each came from; when the model picks, a "
        "'#  AllReduce: <size> Bytes -> Algo Ring proto LL ...' line (NCCL's "
        "NCCL_DEBUG_SUBSYS=TUNING words) precedes each row (not for all_to_all and "
        "send_recv, which NCCL logs otherwise).",
    )
    common(p, sweep=False)
    p.add_argument(
        "--design",
        metavar="NAME",
        help="the design (default: [collective].design or the first design)",
    )
    p.add_argument(
        "--op",
        help="all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, reduce, send_recv",
    )
    p.add_argument(
        "-b",
        "--min-bytes",
        "--minbytes",
        dest="min_bytes",
        type=_size,
        metavar="SIZE",
        help="smallest size, e.g. 8, 64K, 1M",
    )
    p.add_argument(
        "-e",
        "--max-bytes",
        "--maxbytes",
        dest="max_bytes",
        type=_size,
        metavar="SIZE",
        help="largest size, e.g. 1G, 8G",
    )
    p.add_argument(
        "-f",
        "--step-factor",
        "--stepfactor",
        dest="step_factor",
        type=_positive_int,
        metavar="F",
        help="size multiplier (>= 2)",
    )
    p.add_argument(
        "-g",
        "--ngpus",
        type=_positive_int,
        metavar="N",
        help="use the design's first N GPUs (default: all of them)",
    )
    p.add_argument(
        "-d",
        "--datatype",
        metavar="TYPE",
        help="nccl-tests data type for the "
        "count and type columns: float (default), half, bfloat16, double, int8, ...",
    )
    p.add_argument(
        "--algorithm",
        help="one of: " + ", ".join(ALGORITHMS) + " (or NCCL's Ring, Tree, NVLS, NVLSTree, "
        "CollNetDirect, CollNetChain, PAT); default: [collective].algorithm, else NCCL_ALGO, "
        "else auto",
    )
    p.add_argument(
        "--protocol",
        type=_protocol,
        metavar="{auto,ll,ll128,simple}",
        help="NCCL protocol (NCCL's LL, LL128, Simple in any case); default: "
        "[collective].protocol, else NCCL_PROTO, else auto (NCCL's model picks it per size)",
    )
    p.add_argument(
        "--channels",
        type=_channels,
        metavar="N",
        help="channels (rings) per collective, 1..64; default: [collective].channels, else "
        "NCCL_MIN_NCHANNELS / NCCL_MAX_NCHANNELS (as NCCL applies them), else one per GPU "
        "of the largest host",
    )
    p.add_argument("--routing", choices=("ecmp", "spray"), help="default: the design's")
    p.add_argument("--plot", metavar="PNG", help="write bus bandwidth vs size")
    p.set_defaults(func=cmd_collective)

    p = sub.add_parser(
        "sweep",
        help="run every combination of the scenario's [sweep.grid]",
        description="One point per design variant, routing, job/background "
        "variant, seed and load ([sweep.grid] or [[sweep.axis]] tables; default: "
        "every design at every load of [sweep]). Runs in local processes, or on "
        "an existing Dask cluster with --scheduler; writes one Parquet row per "
        "point as points finish and skips the points already in --out, so a "
        "killed sweep resumes. Ends with the best design per load and the "
        "Pareto front of tokens/s against switches, cables and optics.",
    )
    p.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO.toml",
        help="scenario file (default: the built-in example)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler, e.g. tcp://host:8786 (needs fabricsim[dask])",
    )
    where.add_argument(
        "--local-workers",
        type=_positive_int,
        metavar="N",
        help="local processes computing points, this one included (default: one per core; "
        "1 = only this one)",
    )
    p.add_argument(
        "--out",
        metavar="PATH.parquet",
        help="Parquet file of the rows, written as points finish; points already "
        "in it are skipped (resume)",
    )
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="write tokens/s vs switches, cables and optics with the Pareto front",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="K",
        help="points per task (default: about 2 s of work per task)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser(
        "calibrate",
        help="an nccl-tests log beside the simulated curve",
        description="Read an nccl-tests log (all_reduce_perf, all_gather_perf, "
        "alltoall_perf, ... output), run the same collective at the same sizes "
        "on one design and print measured and simulated bus bandwidth and the "
        "error per size.",
    )
    p.add_argument("log", metavar="LOG", help="nccl-tests output saved to a file")
    p.add_argument(
        "--scenario",
        metavar="SCENARIO.toml",
        help="where the designs come from (default: the built-in example)",
    )
    p.add_argument(
        "--design",
        metavar="NAME",
        help="the design (default: [collective].design or the first design)",
    )
    p.add_argument(
        "--op",
        help="the collective, when neither the log nor its file name names the nccl-tests binary",
    )
    p.add_argument("--algorithm", help="default: auto (the fastest, as NCCL's tuner picks)")
    p.add_argument("--routing", choices=("ecmp", "spray"), help="default: the design's")
    p.add_argument("--seed", type=_seed, help="override the scenario's seed")
    p.add_argument("--json", metavar="PATH|-", help="write the rows as JSON ('-': stdout)")
    p.add_argument("--csv", metavar="PATH|-", help="write the rows as CSV ('-': stdout)")
    p.add_argument("--plot", metavar="PNG", help="write measured and simulated busbw vs size")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser(
        "scorecard",
        help="score sites: power, cooling, climate and location "
        "turned into tokens/s, energy per token and inference latency",
        description="One row per [[facility]] of the scenario: ready-now and "
        "grown GPUs, usable kW per rack, GPU clock fraction, straggler penalty, "
        "step time p50/p99, tokens/s, tokens/s per MW, tokens per MWh, energy "
        "cost per million tokens, PUE, availability and carriers; inference p99 "
        "and SLO attainment per user region; and a verdict naming the binding "
        "constraint. Without SCENARIO.toml a built-in three-site example runs "
        "(fabricsim example --scorecard prints it).",
    )
    common(p, sweep=False)
    p.add_argument(
        "--samples",
        type=_positive_int,
        help="Monte Carlo steps per site (override [sweep].samples)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="worker threads for the network Monte Carlo (results do not depend on it)",
    )
    p.add_argument("--plot", metavar="PNG", help="write the scorecard as one picture")
    p.set_defaults(func=cmd_scorecard)

    p = sub.add_parser("example", help="print the built-in example scenario")
    p.add_argument(
        "--scorecard",
        action="store_true",
        help="print the built-in site-scorecard scenario instead",
    )
    p.set_defaults(func=cmd_example)

    p = sub.add_parser(
        "demo", help="a tour of one leaf-spine fabric (paths, ECMP collisions)", add_help=False
    )
    p.add_argument("demo_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_demo)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A user of the command wants the advice, not the library line that raised it.
    print(f"fabricsim: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None, *, prog: str = "fabricsim") -> int:
    """Run the ``fabricsim`` command with ``argv`` (default: ``sys.argv[1:]``); returns the
    exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["compare", *argv]  # `fabricsim [SCENARIO.toml] [options]` is `fabricsim compare`
    if argv[:1] == ["demo"]:  # the demo parses its own options (REMAINDER would not take them)
        args = argparse.Namespace(func=cmd_demo, demo_args=argv[1:])
    else:
        try:
            args = build_parser(prog).parse_args(argv)
        except SystemExit as e:  # --help or a usage error; argparse printed it
            return e.code if isinstance(e.code, int) else 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("\nfabricsim: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ScenarioError, FabricError) as e:
        print(f"fabricsim: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `fabricsim compare | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
