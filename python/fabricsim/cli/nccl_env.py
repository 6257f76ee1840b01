"""NCCL's algorithm, protocol and channel overrides, as ``fabricsim collective`` takes them.

An nccl-tests user pins what NCCL runs with environment variables; ``fabricsim collective``
reads the same ones when neither its flag nor the scenario's ``[collective]`` key is given
(flag > scenario key > environment > auto). The Python API never reads the environment:
:class:`fabricsim.Collective` takes ``algorithm=``, ``protocol=`` and ``channels=`` only.

What NCCL does with them (NVIDIA NCCL documentation, "Environment Variables":
https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html, sections NCCL_ALGO,
NCCL_PROTO, NCCL_MIN_NCHANNELS and NCCL_MAX_NCHANNELS; and the source that implements them):

* ``NCCL_ALGO`` / ``NCCL_PROTO``: a comma-separated list of names, matched case-insensitively
  (src/graph/tuning.cc ``parseList``: ``strcasecmp``); a leading ``^`` excludes the names
  instead. Names: src/init.cc ``ncclAlgoStr`` (Tree, Ring, CollNetDirect, CollNetChain, NVLS,
  NVLSTree, PAT) and ``ncclProtoStr`` (LL, LL128, Simple). NCCL's tuner then picks among the
  names left. :class:`fabricsim.Collective` runs one algorithm and one protocol, or lets the
  model pick among all of them ("auto"): it cannot pick among a subset, so a single name is
  taken and a list or an exclusion is refused with a message saying so (never a silent
  approximation). All-to-all and send/recv are grouped point-to-point calls in NCCL, which
  ``NCCL_ALGO`` does not select: for them the variable is ignored, and the header says so.
* ``NCCL_MIN_NCHANNELS`` / ``NCCL_MAX_NCHANNELS`` (legacy ``NCCL_MIN_NRINGS`` /
  ``NCCL_MAX_NRINGS``, used when the new name is not set): bounds on the channels NCCL opens.
  src/graph/connect.cc ``ncclTopoPostset`` caps the channels its topology search found at the
  maximum, then duplicates channels up to the minimum ("We permit combining max, then min"):
  ``channels = max(min(found, MAX), MIN)``, both limited to ``MAXCHANNELS`` (64). Equal
  bounds pin the count. fabricsim's "found" is :meth:`fabricsim.Collective.channel_count`.
  NCCL quietly corrects a negative minimum or a maximum below 1; here those are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fabricsim.exceptions import InvalidArgumentError
from fabricsim.traffic.collectives.plan import (
    ALGORITHMS,
    NCCL_ALGORITHM_NAMES,
    NCCL_PROTOCOL_NAMES,
)
from fabricsim.traffic.collectives.tuner import PROTOCOLS

#: NCCL's MAXCHANNELS (src/include/device.h), the most channels a communicator opens; also
#: the most :class:`fabricsim.Collective` takes.
MAX_CHANNELS = 64
ALGO_VAR = "NCCL_ALGO"
PROTO_VAR = "NCCL_PROTO"
#: (new name, legacy name) of the channel bounds; the new name wins when both are set.
MIN_VARS = ("NCCL_MIN_NCHANNELS", "NCCL_MIN_NRINGS")
MAX_VARS = ("NCCL_MAX_NCHANNELS", "NCCL_MAX_NRINGS")
#: Every variable ``fabricsim collective`` reads.
VARIABLES = (ALGO_VAR, PROTO_VAR, *MIN_VARS, *MAX_VARS)


@dataclass(frozen=True)
class Setting:
    """One resolved setting and where it came from, for the output's header."""

    value: str | int
    #: "flag --protocol", "scenario [collective].protocol", "environment NCCL_PROTO=Simple",
    #: or "auto (...)" (what the model or the default did).
    source: str
    #: What set it, for error messages: "--protocol", "NCCL_PROTO=Simple", ...; "" for auto.
    name: str = ""

    def as_dict(self) -> dict:
        return {"value": self.value, "source": self.source}


def protocol_name(text: object) -> str:
    """``auto``, ``ll``, ``ll128`` or ``simple`` from any case of those names (NCCL spells
    them LL, LL128, Simple). Raises ValueError with the valid names."""
    key = text.strip().lower() if isinstance(text, str) else None
    if key in ("auto", *PROTOCOLS):
        return key
    valid = ", ".join(("auto", *PROTOCOLS))
    nccl = ", ".join(NCCL_PROTOCOL_NAMES.values())
    raise ValueError(f"unknown protocol {text!r}; valid: {valid} (or NCCL's {nccl})")


_NCCL_ALGORITHMS = {v.lower(): k for k, v in NCCL_ALGORITHM_NAMES.items()}


def algorithm_name(text: object) -> str:
    """One of fabricsim's algorithm names from itself or from NCCL's spelling of it (Ring,
    NVLSTree, CollNetDirect, ...), in any case. Raises ValueError with the valid names."""
    key = text.strip().lower() if isinstance(text, str) else None
    if key in ALGORITHMS:
        return key
    if key in _NCCL_ALGORITHMS:
        return _NCCL_ALGORITHMS[key]
    raise ValueError(
        f"unknown algorithm {text!r}; valid: {', '.join(ALGORITHMS)} (or NCCL's "
        f"{', '.join(NCCL_ALGORITHM_NAMES.values())})"
    )


def _one_name(var: str, text: str, parse, what: str) -> str:
    shown = f"{var}={text!r}"
    body = text.strip()
    if body.startswith("^"):
        raise InvalidArgumentError(
            f"{shown}: an exclusion ('^') leaves NCCL's tuner a choice among the other "
            f"{what}s, which fabricsim cannot express (it runs one {what}, or picks among "
            f"all of them: auto); give one name, or unset {var}"
        )
    names = [t.strip() for t in body.split(",") if t.strip()]
    if len(names) > 1:
        raise InvalidArgumentError(
            f"{shown}: a list leaves NCCL's tuner a choice among {len(names)} {what}s, which "
            f"fabricsim cannot express (it runs one {what}, or picks among all of them: "
            f"auto); give one name, or unset {var}"
        )
    try:
        return parse(names[0] if names else body)
    except ValueError as e:
        raise InvalidArgumentError(f"{shown}: {e}") from None


def _channel_bound(environ: Mapping[str, str], names: tuple[str, str], lowest: int):
    """(value, "VAR=text" note) of the first of ``names`` set, or (None, None)."""
    for var in names:
        text = environ.get(var)
        if text is None or not text.strip():
            continue
        try:
            value = int(text.strip())
        except ValueError:
            raise InvalidArgumentError(
                f"{var}={text!r}: expected a whole number of channels"
            ) from None
        if value < lowest:
            raise InvalidArgumentError(
                f"{var}={text!r}: must be >= {lowest} (NCCL would quietly use {lowest})"
            )
        note = f"{var}={value}"
        if value > MAX_CHANNELS:
            note += f" limited to {MAX_CHANNELS} as NCCL does (its MAXCHANNELS)"
            value = MAX_CHANNELS
        return value, note
    return None, None


@dataclass(frozen=True)
class Environment:
    """What NCCL's variables in one environment ask for (None: not set)."""

    algorithm: Setting | None
    protocol: Setting | None
    min_channels: int | None
    max_channels: int | None
    #: "NCCL_MIN_NCHANNELS=4, NCCL_MAX_NCHANNELS=4", or None when neither bound is set.
    channels_note: str | None

    def channels(self, found: int) -> int | None:
        """NCCL's rule applied to the ``found`` channels: ``max(min(found, MAX), MIN)``;
        None when no bound is set."""
        if self.channels_note is None:
            return None
        n = min(found, self.max_channels if self.max_channels is not None else MAX_CHANNELS)
        return max(n, self.min_channels or 0)


def read(
    environ: Mapping[str, str],
    *,
    algorithm: bool = True,
    protocol: bool = True,
    channels: bool = True,
) -> Environment:
    """Parse NCCL's variables in ``environ`` (e.g. ``os.environ``); an empty variable counts
    as unset. Only the settings asked for are read (a flag or scenario key that overrides a
    variable makes even a malformed one irrelevant); the others read as unset. Raises
    :class:`fabricsim.InvalidArgumentError` naming the variable."""
    settings: dict[str, Setting | None] = {}
    for var, parse, what, wanted in (
        (ALGO_VAR, algorithm_name, "algorithm", algorithm),
        (PROTO_VAR, protocol_name, "protocol", protocol),
    ):
        text = environ.get(var)
        if not wanted or text is None or not text.strip():
            settings[what] = None
            continue
        value = _one_name(var, text, parse, what)
        if value == "auto":  # "auto" is fabricsim's word, not an NCCL name: keep it honest
            raise InvalidArgumentError(
                f"{var}={text!r}: NCCL has no {what} named auto; unset {var} to let the model pick"
            )
        given = f"{var}={text.strip()}"
        settings[what] = Setting(value, f"environment {given}", given)
    lo, lo_note = _channel_bound(environ, MIN_VARS, 0) if channels else (None, None)
    hi, hi_note = _channel_bound(environ, MAX_VARS, 1) if channels else (None, None)
    notes = [n for n in (lo_note, hi_note) if n]
    return Environment(
        settings["algorithm"],
        settings["protocol"],
        lo,
        hi,
        ", ".join(notes) if notes else None,
    )


__all__ = [
    "ALGO_VAR",
    "MAX_CHANNELS",
    "MAX_VARS",
    "MIN_VARS",
    "PROTO_VAR",
    "VARIABLES",
    "Environment",
    "Setting",
    "algorithm_name",
    "protocol_name",
    "read",
]
